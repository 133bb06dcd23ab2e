//! Which engine runs each model. tract unless the inference config asks for
//! ONNX Runtime (`runtime: onnxruntime`) or a GPU (`enableGpu`, ONNX Runtime
//! with CUDA), per model. ONNX Runtime is in builds with the `ort` feature;
//! asking for it in a build without is a start-up error, never a silent
//! substitution.

use std::collections::HashMap;

use anyhow::{Result, bail};
use inferd_backend::{Engine, TractEngine};
use inferd_config::Runtime;
use inferd_engine::EngineChoice;

use crate::service_api::Inference;

/// Engine settings of `inferd serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EngineArgs {
    /// The ONNX Runtime shared library (libonnxruntime.so, 1.31 or newer) for
    /// models that ask for ONNX Runtime; default: the loader's path.
    #[arg(
        long = "onnxruntime-library",
        env = "ORT_DYLIB_PATH",
        value_name = "FILE"
    )]
    pub onnxruntime_library: Option<std::path::PathBuf>,

    /// The CUDA device for models with enableGpu.
    #[arg(
        long,
        env = "INFERD_GPU_DEVICE",
        default_value_t = 0,
        value_name = "ID"
    )]
    pub gpu_device: u32,

    /// When a GPU is asked for but cannot be used (no CUDA build of ONNX
    /// Runtime, no device, gpuCores 0), run on the CPU with a warning
    /// instead of refusing to start.
    #[arg(long, env = "INFERD_GPU_FALLBACK_CPU")]
    pub gpu_fallback_cpu: bool,
}

/// The engine one model asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Tract,
    OrtCpu,
    OrtCuda,
}

/// What each model asked for, from the inference config. `enableGpu` means
/// ONNX Runtime with CUDA (tract has no GPU); with an explicit
/// `runtime: tract` it is a contradiction and refused.
pub fn choices(inference: Option<&Inference>) -> Result<HashMap<String, Choice>> {
    let mut chosen = HashMap::new();
    let Some(inference) = inference else {
        return Ok(chosen);
    };
    let config = &inference.config;
    for (index, entry) in config.models.iter().enumerate() {
        let explicit_runtime = entry.runtime.or(config.runtime);
        let choice = match (config.runtime_of(entry), config.gpu_of(entry)) {
            (Runtime::Tract, true) if explicit_runtime.is_some() => bail!(
                "inference config {}: models[{index}] ({}): enableGpu with runtime tract; tract runs on the CPU only \
                 (use runtime onnxruntime for a GPU)",
                inference.path,
                entry.model
            ),
            (_, true) => Choice::OrtCuda,
            (Runtime::Onnxruntime, false) => Choice::OrtCpu,
            (Runtime::Tract, false) => Choice::Tract,
        };
        chosen.insert(entry.name().to_owned(), choice);
    }
    Ok(chosen)
}

/// The engines of one server, and which model runs on which.
pub struct Engines {
    tract: TractEngine,
    chosen: HashMap<String, Choice>,
    #[cfg(feature = "ort")]
    ort_cpu: Option<inferd_ort::OrtEngine>,
    #[cfg(feature = "ort")]
    ort_cuda: Option<inferd_ort::OrtEngine>,
}

/// What the container offers the engines. Only ONNX Runtime reads it: tract
/// has one thread per worker and no GPU.
#[cfg_attr(not(feature = "ort"), allow(dead_code))]
pub struct Resources {
    /// `gpuCores` from the deployment config, when given.
    pub gpu_cores: Option<u32>,
    /// Threads inside one run, per worker.
    pub intra_threads: usize,
}

impl Engines {
    /// Sets up the engines the models ask for; the ONNX Runtime library is
    /// loaded only when some model asks for it.
    pub fn resolve(
        args: &EngineArgs,
        inference: Option<&Inference>,
        resources: &Resources,
    ) -> Result<Engines> {
        let chosen = choices(inference)?;
        #[cfg(not(feature = "ort"))]
        {
            let _ = (args, resources);
            if let Some((model, choice)) = chosen.iter().find(|(_, c)| **c != Choice::Tract) {
                bail!(
                    "model {model} asks for {}, but this build of inferd has no ONNX Runtime engine: \
                     build it with `cargo build --release --features ort`",
                    if *choice == Choice::OrtCuda {
                        "a GPU (enableGpu: ONNX Runtime with CUDA)"
                    } else {
                        "runtime onnxruntime"
                    }
                );
            }
            Ok(Engines {
                tract: TractEngine,
                chosen,
            })
        }
        #[cfg(feature = "ort")]
        {
            let wants = |c: Choice| chosen.values().any(|x| *x == c);
            let library = args.onnxruntime_library.clone();
            let ort = |device, fallback| -> Result<inferd_ort::OrtEngine> {
                Ok(inferd_ort::OrtEngine::new(inferd_ort::OrtOptions {
                    library: library.clone(),
                    device,
                    allow_cpu_fallback: fallback,
                    intra_threads: resources.intra_threads,
                })?)
            };
            let ort_cpu = if wants(Choice::OrtCpu) {
                Some(ort(inferd_ort::Device::Cpu, false)?)
            } else {
                None
            };
            let ort_cuda = if wants(Choice::OrtCuda) {
                let device = match resources.gpu_cores {
                    Some(0) if args.gpu_fallback_cpu => {
                        tracing::warn!(
                            "enableGpu, but the deployment config gives gpuCores 0; running on the CPU (--gpu-fallback-cpu)"
                        );
                        inferd_ort::Device::Cpu
                    }
                    Some(0) => bail!(
                        "enableGpu, but the deployment config gives gpuCores 0; give the service a GPU \
                         or allow running on the CPU (--gpu-fallback-cpu)"
                    ),
                    _ => inferd_ort::Device::Cuda {
                        device_id: args.gpu_device,
                    },
                };
                let engine = ort(device, args.gpu_fallback_cpu)?;
                if let Some(note) = engine.fallback_note() {
                    tracing::warn!(
                        note,
                        "GPU asked for; running on the CPU (--gpu-fallback-cpu)"
                    );
                }
                Some(engine)
            } else {
                None
            };
            for engine in ort_cpu.iter().chain(&ort_cuda) {
                tracing::info!(
                    library = engine.library(),
                    build = engine.build_info(),
                    "ONNX Runtime loaded"
                );
            }
            Ok(Engines {
                tract: TractEngine,
                chosen,
                ort_cpu,
                ort_cuda,
            })
        }
    }

    /// The engines in this server's build, for the build-info metric.
    pub fn built_in() -> &'static str {
        if cfg!(feature = "ort") {
            "tract,onnxruntime"
        } else {
            "tract"
        }
    }
}

impl EngineChoice for Engines {
    fn engine_for(&self, model: &str) -> &dyn Engine {
        // `resolve` builds every engine a model chose, or fails.
        match self.chosen.get(model).copied().unwrap_or(Choice::Tract) {
            Choice::Tract => &self.tract,
            #[cfg(feature = "ort")]
            Choice::OrtCpu => self.ort_cpu.as_ref().expect("resolved with the models"),
            #[cfg(feature = "ort")]
            Choice::OrtCuda => self.ort_cuda.as_ref().expect("resolved with the models"),
            #[cfg(not(feature = "ort"))]
            Choice::OrtCpu | Choice::OrtCuda => unreachable!("refused by resolve"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inference(text: &str) -> Inference {
        Inference {
            path: "inferenceconfig.json".to_owned(),
            config: serde_json::from_str(text).unwrap(),
        }
    }

    #[test]
    fn each_model_gets_the_engine_its_entry_or_the_config_names() {
        let config = inference(
            r#"{"runtime": "onnxruntime", "models": [
                {"model": "a"},
                {"model": "b:2", "runtime": "tract"},
                {"model": "c", "enableGpu": true},
                {"model": "d", "runtime": "tract", "enableGpu": false}]}"#,
        );
        let chosen = choices(Some(&config)).unwrap();
        assert_eq!(chosen["a"], Choice::OrtCpu);
        assert_eq!(chosen["b"], Choice::Tract);
        assert_eq!(chosen["c"], Choice::OrtCuda);
        assert_eq!(chosen["d"], Choice::Tract);
        assert!(choices(None).unwrap().is_empty());
    }

    #[test]
    fn a_gpu_with_tract_named_explicitly_is_a_contradiction() {
        let config =
            inference(r#"{"models": [{"model": "a", "runtime": "tract", "enableGpu": true}]}"#);
        let err = choices(Some(&config)).unwrap_err().to_string();
        assert!(
            err.contains("models[0] (a): enableGpu with runtime tract"),
            "{err}"
        );
        let gpu_default_runtime = inference(r#"{"enableGpu": true, "models": [{"model": "a"}]}"#);
        assert_eq!(
            choices(Some(&gpu_default_runtime)).unwrap()["a"],
            Choice::OrtCuda
        );
    }

    #[cfg(not(feature = "ort"))]
    #[test]
    fn a_build_without_onnx_runtime_refuses_a_model_that_asks_for_it() {
        let config = inference(r#"{"models": [{"model": "a", "runtime": "onnxruntime"}]}"#);
        let err = Engines::resolve(
            &EngineArgs::default(),
            Some(&config),
            &Resources {
                gpu_cores: None,
                intra_threads: 1,
            },
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("--features ort"), "{err}");
    }
}
