//! [`OrtEngine`]: one ONNX Runtime session per worker (its `run` takes
//! `&mut self`, so sessions are never shared behind a lock), all sessions of
//! a model sharing one container of pre-packed weights so that N workers do
//! not hold N packed copies of the big matrices.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use inferd_backend::onnx_signature::signature_of_file;
use inferd_backend::{BackendError, Engine, LoadedModel, Session};
use inferd_tensor::{Signature, Tensor, TensorSpec};
use ort::ep::{CUDA, ExecutionProvider};
use ort::logging::LogLevel;
use ort::session::Session as OrtSession;
use ort::session::builder::{PrepackedWeights, SessionBuilder};

use crate::convert::{from_value, to_value};
use crate::library::{LibraryError, OrtRuntime};
use crate::run_error::run_error;

/// Where the sessions run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Cpu,
    /// The CUDA execution provider on this GPU (`gpuCores` / `--gpu-device`).
    Cuda {
        device_id: u32,
    },
}

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct OrtOptions {
    /// The shared library; `None` looks up `libonnxruntime.so` on the
    /// loader's path.
    pub library: Option<PathBuf>,
    pub device: Device,
    /// When CUDA is asked for and cannot be used, run on the CPU (with a
    /// warning) instead of refusing to start.
    pub allow_cpu_fallback: bool,
    /// Threads inside one run (ONNX Runtime's intra-op pool), per session.
    pub intra_threads: usize,
}

impl Default for OrtOptions {
    fn default() -> Self {
        OrtOptions {
            library: None,
            device: Device::Cpu,
            allow_cpu_fallback: false,
            intra_threads: 1,
        }
    }
}

/// Why the engine cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum OrtError {
    #[error(transparent)]
    Library(#[from] LibraryError),

    #[error(
        "CUDA was asked for (enableGpu), but the ONNX Runtime library {library} has no CUDA execution provider: \
         install the CUDA build (onnxruntime-gpu; scripts/onnxruntime.sh --gpu) or allow running on the CPU \
         (--gpu-fallback-cpu)"
    )]
    NoCuda { library: String },
}

/// The ONNX Runtime engine.
#[derive(Debug, Clone)]
pub struct OrtEngine {
    runtime: Arc<OrtRuntime>,
    device: Device,
    allow_cpu_fallback: bool,
    intra_threads: usize,
    /// What the engine fell back from, for the logs.
    fallback_note: Option<String>,
}

impl OrtEngine {
    /// Loads the library (once per process) and checks that the device asked
    /// for can be used.
    pub fn new(options: OrtOptions) -> Result<OrtEngine, OrtError> {
        let runtime = OrtRuntime::load(options.library.as_deref())?;
        let mut engine = OrtEngine {
            runtime,
            device: options.device,
            allow_cpu_fallback: options.allow_cpu_fallback,
            intra_threads: options.intra_threads.max(1),
            fallback_note: None,
        };
        if let Device::Cuda { .. } = engine.device {
            // An error here means the provider list itself could not be read:
            // treat it as "no CUDA".
            if !CUDA::is_available().unwrap_or(false) {
                if !engine.allow_cpu_fallback {
                    return Err(OrtError::NoCuda {
                        library: engine.runtime.source.clone(),
                    });
                }
                engine.fallback_note = Some(format!(
                    "the ONNX Runtime library {} has no CUDA execution provider; running on the CPU",
                    engine.runtime.source
                ));
                engine.device = Device::Cpu;
            }
        }
        Ok(engine)
    }

    /// The device sessions are created for (after any fallback).
    pub fn device(&self) -> Device {
        self.device
    }

    /// Why the device differs from the one asked for, if it does.
    pub fn fallback_note(&self) -> Option<&str> {
        self.fallback_note.as_deref()
    }

    /// ONNX Runtime's description of itself (version, commit).
    pub fn build_info(&self) -> &str {
        &self.runtime.build_info
    }

    /// The library the engine runs.
    pub fn library(&self) -> &str {
        &self.runtime.source
    }

    fn session(
        &self,
        path: &Path,
        device: Device,
        weights: &PrepackedWeights,
    ) -> Result<OrtSession, String> {
        let text = |e: ort::Error<SessionBuilder>| e.to_string();
        let mut builder = OrtSession::builder(&self.runtime.environment)
            .map_err(|e| e.to_string())?
            .with_intra_threads(self.intra_threads)
            .map_err(text)?
            .with_inter_threads(1)
            .map_err(text)?
            // Spinning intra-op threads would take CPU from the HTTP threads
            // and the other workers between runs.
            .with_intra_op_spinning(false)
            .map_err(text)?
            .with_prepacked_weights(weights)
            .map_err(text)?;
        // Every failure reaches the caller as an error and is reported
        // there; ONNX Runtime's own coloured lines on stderr would only break
        // the server's JSON log lines. ORT_LOG asks for them back.
        if std::env::var_os("ORT_LOG").is_none() {
            builder = builder.with_log_level(LogLevel::Fatal).map_err(text)?;
        }
        if let Device::Cuda { device_id } = device {
            let cuda = CUDA::default()
                .with_device_id(device_id as i32)
                .build()
                .error_on_failure();
            builder = builder
                .with_execution_providers([cuda])
                .map_err(|e| format!("the CUDA execution provider cannot start: {e}"))?;
        }
        builder.commit_from_file(path).map_err(|e| e.to_string())
    }
}

impl Engine for OrtEngine {
    fn name(&self) -> &'static str {
        match self.device {
            Device::Cpu => "onnxruntime",
            Device::Cuda { .. } => "onnxruntime-cuda",
        }
    }

    fn load(&self, path: &Path) -> Result<Arc<dyn LoadedModel>, BackendError> {
        let signature = signature_of_file(path)?;
        let weights = PrepackedWeights::new();
        let load_err = |reason: String| BackendError::Load {
            path: path.to_owned(),
            reason: format!("ONNX Runtime: {reason}"),
        };
        let mut device = self.device;
        let mut placement = describe(device, self.fallback_note.as_deref());
        // The first session proves the model loads; the first worker gets it.
        let first = match self.session(path, device, &weights) {
            Ok(session) => session,
            Err(reason) if device != Device::Cpu && self.allow_cpu_fallback => {
                device = Device::Cpu;
                placement = describe(device, Some(&reason));
                self.session(path, device, &weights).map_err(load_err)?
            }
            Err(reason) => return Err(load_err(reason)),
        };
        check_names(&first, &signature).map_err(load_err)?;
        Ok(Arc::new(OrtModel {
            engine: self.clone(),
            path: path.to_owned(),
            device,
            placement,
            signature,
            weights,
            first: Mutex::new(Some(first)),
        }))
    }
}

/// The device in words, with why it is not the one asked for.
fn describe(device: Device, fallback: Option<&str>) -> String {
    let device = match device {
        Device::Cpu => "cpu".to_owned(),
        Device::Cuda { device_id } => format!("cuda:{device_id}"),
    };
    match fallback {
        Some(why) => format!("{device} (CPU fallback: {why})"),
        None => device,
    }
}

/// ONNX Runtime and our signature reader must agree on the inputs, since
/// inputs are handed over by name in the signature's order.
fn check_names(session: &OrtSession, signature: &Signature) -> Result<(), String> {
    let theirs: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
    let ours: Vec<&str> = signature.inputs.iter().map(|s| s.name.as_str()).collect();
    if theirs != ours {
        return Err(format!(
            "the session's inputs {theirs:?} differ from the graph's {ours:?}"
        ));
    }
    Ok(())
}

struct OrtModel {
    engine: OrtEngine,
    path: PathBuf,
    device: Device,
    placement: String,
    signature: Signature,
    weights: PrepackedWeights,
    first: Mutex<Option<OrtSession>>,
}

impl LoadedModel for OrtModel {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn device(&self) -> String {
        self.placement.clone()
    }

    fn new_session(&self) -> Result<Box<dyn Session>, BackendError> {
        let first = self
            .first
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let session = match first {
            Some(session) => session,
            None => self
                .engine
                .session(&self.path, self.device, &self.weights)
                .map_err(|reason| BackendError::Load {
                    path: self.path.clone(),
                    reason: format!("ONNX Runtime: {reason}"),
                })?,
        };
        Ok(Box::new(OrtWorkerSession {
            session,
            inputs: self.signature.input_names(),
            outputs: self.signature.outputs.clone(),
        }))
    }
}

struct OrtWorkerSession {
    session: OrtSession,
    inputs: Vec<String>,
    outputs: Vec<TensorSpec>,
}

impl Session for OrtWorkerSession {
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BackendError> {
        if inputs.len() != self.inputs.len() {
            return Err(BackendError::InputCount {
                expected: self.inputs.len(),
                actual: inputs.len(),
            });
        }
        let values = self
            .inputs
            .iter()
            .zip(inputs)
            .map(|(name, tensor)| Ok((name.as_str(), to_value(tensor)?)))
            .collect::<Result<Vec<_>, String>>()
            .map_err(BackendError::Run)?;
        let outputs = self
            .session
            .run(values)
            .map_err(|e| run_error(e.code(), e.message(), &self.inputs))?;
        self.outputs
            .iter()
            .map(|spec| {
                let value = outputs.get(&spec.name).ok_or_else(|| {
                    BackendError::Run(format!("ONNX Runtime returned no output '{}'", spec.name))
                })?;
                from_value(value, spec.dtype, &spec.name).map_err(BackendError::Run)
            })
            .collect()
    }
}
