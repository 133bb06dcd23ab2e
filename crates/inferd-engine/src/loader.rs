//! From `name[:version]` to a running model: resolve in the registry, find
//! the ONNX file, load it once, start its workers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use inferd_backend::{Engine, LoadedModel};
use inferd_registry::{ModelRef, ModelVersion, Registry};

use crate::served::ModelIdentity;
use crate::{Admission, BatchPolicy, ExecutorOptions, LoadError, ModelSet, ServedModel};

/// Loads every model in `refs` (in order; the first is the default), all
/// behind the same container-wide `admission`.
pub fn load_models(
    registry: &Registry,
    refs: &[ModelRef],
    engine: &dyn Engine,
    options: ExecutorOptions,
    admission: Arc<Admission>,
) -> Result<ModelSet, LoadError> {
    let none = BatchPolicy::default();
    load_models_batched(registry, refs, engine, options, &none, admission)
}

/// Which engine loads each model (a single engine loads them all).
pub trait EngineChoice: Sync {
    fn engine_for(&self, model: &str) -> &dyn Engine;
}

impl<E: Engine> EngineChoice for E {
    fn engine_for(&self, _model: &str) -> &dyn Engine {
        self
    }
}

/// As [`load_models`], each model batching requests as `batching` says.
pub fn load_models_batched(
    registry: &Registry,
    refs: &[ModelRef],
    engine: &dyn Engine,
    options: ExecutorOptions,
    batching: &BatchPolicy,
    admission: Arc<Admission>,
) -> Result<ModelSet, LoadError> {
    struct One<'a>(&'a dyn Engine);
    impl EngineChoice for One<'_> {
        fn engine_for(&self, _model: &str) -> &dyn Engine {
            self.0
        }
    }
    load_models_with(registry, refs, &One(engine), options, batching, admission)
}

/// As [`load_models_batched`], each model on the engine `engines` picks
/// for its name.
pub fn load_models_with(
    registry: &Registry,
    refs: &[ModelRef],
    engines: &dyn EngineChoice,
    options: ExecutorOptions,
    batching: &BatchPolicy,
    admission: Arc<Admission>,
) -> Result<ModelSet, LoadError> {
    let mut models: Vec<ServedModel> = Vec::with_capacity(refs.len());
    for reference in refs {
        if models.iter().any(|m| m.name == reference.name) {
            return Err(LoadError::Duplicate(reference.name.clone()));
        }
        models.push(load_one(
            registry,
            reference,
            engines.engine_for(&reference.name),
            options,
            batching,
            admission.clone(),
        )?);
    }
    Ok(ModelSet::new(models))
}

fn load_one(
    registry: &Registry,
    reference: &ModelRef,
    engine: &dyn Engine,
    options: ExecutorOptions,
    batching: &BatchPolicy,
    admission: Arc<Admission>,
) -> Result<ServedModel, LoadError> {
    let started = Instant::now();
    let (identity, loaded) = read_version(registry, reference, engine)?;
    let batching = batching.for_model(&identity.name).cloned();
    let mut served = ServedModel::start_batched(identity, loaded, options, batching, admission)?;
    served.load_duration = started.elapsed();
    Ok(served)
}

/// Resolves `reference` in the registry and has `engine` read and optimise
/// its model file, once; no worker starts (see [`ServedModel::start_checked`]).
pub fn read_version(
    registry: &Registry,
    reference: &ModelRef,
    engine: &dyn Engine,
) -> Result<(ModelIdentity, Arc<dyn LoadedModel>), LoadError> {
    read_registered(registry.get(reference)?, engine)
}

/// [`read_version`] of a version already looked up in the registry.
pub fn read_registered(
    entry: ModelVersion,
    engine: &dyn Engine,
) -> Result<(ModelIdentity, Arc<dyn LoadedModel>), LoadError> {
    let label = format!("{}:{}", entry.name, entry.version);
    let file = onnx_file(&entry.model_path()).map_err(|reason| LoadError::NoModelFile {
        model: label.clone(),
        reason,
    })?;
    let loaded = engine.load(&file).map_err(|source| LoadError::Backend {
        model: label.clone(),
        source,
    })?;
    let identity = ModelIdentity {
        name: entry.name,
        version: entry.version,
        sha256: entry.sha256,
        engine: engine.name(),
    };
    Ok((identity, loaded))
}

/// The model file itself: the registered file, or the one `.onnx` file at the
/// top of a registered folder.
fn onnx_file(path: &Path) -> Result<PathBuf, String> {
    if path.is_file() {
        return Ok(path.to_owned());
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "onnx"))
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(format!("no .onnx file in {}", path.display())),
        _ => {
            found.sort();
            let names: Vec<_> = found
                .iter()
                .filter_map(|p| p.file_name()?.to_str())
                .collect();
            Err(format!(
                "several .onnx files in {} ({}); register one model per name",
                path.display(),
                names.join(", ")
            ))
        }
    }
}
