//! The ONNX Runtime shared library: found from an explicit path (the
//! `--onnxruntime-library` flag or `ORT_DYLIB_PATH`) or the platform's
//! loader path, checked for a version `ort` can drive, and loaded once per
//! process together with ONNX Runtime's one environment.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What loading the library can fail with. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error(
        "the ONNX Runtime library {0} does not exist; point ORT_DYLIB_PATH (or --onnxruntime-library) \
         at libonnxruntime.so, which the onnxruntime wheel on PyPI ships in onnxruntime/capi/ \
         (scripts/onnxruntime.sh installs it and prints its path)"
    )]
    Missing(PathBuf),

    #[error(
        "cannot load the ONNX Runtime library {what}: {reason}; point ORT_DYLIB_PATH (or --onnxruntime-library) \
         at libonnxruntime.so 1.31 or newer, which the onnxruntime wheel on PyPI ships in onnxruntime/capi/ \
         (scripts/onnxruntime.sh installs it and prints its path)"
    )]
    Load { what: String, reason: String },

    #[error(
        "ONNX Runtime is already loaded from {loaded} in this process; it cannot also be loaded from {asked}"
    )]
    AlreadyLoaded { loaded: String, asked: String },

    #[error("cannot create the ONNX Runtime environment: {0}")]
    Environment(String),
}

/// The loaded library and ONNX Runtime's process-wide environment, which
/// every session is created in.
pub struct OrtRuntime {
    pub(crate) environment: ort::environment::Environment,
    /// The path asked for, or the platform's library name when none was.
    pub source: String,
    /// ONNX Runtime's own build description (version, commit).
    pub build_info: String,
}

impl std::fmt::Debug for OrtRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtRuntime")
            .field("source", &self.source)
            .field("build_info", &self.build_info)
            .finish_non_exhaustive()
    }
}

/// `ort` allows one library and one environment per process.
static LOADED: Mutex<Option<Arc<OrtRuntime>>> = Mutex::new(None);

impl OrtRuntime {
    /// Loads the library at `path` (or `libonnxruntime.so` from the loader's
    /// path when `None`) the first time; later calls get the same runtime, or
    /// an error when they ask for another file.
    pub fn load(path: Option<&Path>) -> Result<Arc<OrtRuntime>, LibraryError> {
        let default_name = format!(
            "{}onnxruntime{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        let source = match path {
            Some(path) => path.display().to_string(),
            None => default_name.clone(),
        };
        let mut loaded = LOADED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(runtime) = loaded.as_ref() {
            if runtime.source != source {
                return Err(LibraryError::AlreadyLoaded {
                    loaded: runtime.source.clone(),
                    asked: source,
                });
            }
            return Ok(runtime.clone());
        }
        if let Some(path) = path
            && !path.exists()
        {
            return Err(LibraryError::Missing(path.to_owned()));
        }
        let what = match path {
            Some(path) => path.display().to_string(),
            None => format!(
                "{default_name} from the loader's path (no ORT_DYLIB_PATH or --onnxruntime-library was given)"
            ),
        };
        let library: PathBuf = path.map_or_else(|| PathBuf::from(&default_name), Path::to_owned);
        let builder = ort::init_from(&library).map_err(|e| LibraryError::Load {
            what,
            reason: e.to_string(),
        })?;
        let environment = builder
            .with_name("inferd")
            .with_telemetry(false)
            .build()
            .map_err(|e| LibraryError::Environment(e.to_string()))?;
        let runtime = Arc::new(OrtRuntime {
            environment,
            source,
            build_info: ort::info().to_owned(),
        });
        *loaded = Some(runtime.clone());
        Ok(runtime)
    }
}
