//! The models a server serves, and how a request finds one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use inferd_backend::LoadedModel;
use inferd_tensor::Signature;

use crate::batcher::{BatchOptions, check_batchable};
use crate::executor::Scored;
use crate::worker::Prepare;
use crate::{Admission, EngineError, Executor, ExecutorOptions, LoadError, Ticket};

/// One model version, loaded and with its workers running.
pub struct ServedModel {
    pub name: String,
    pub version: u32,
    /// The registry's content hash of the version's files.
    pub sha256: String,
    pub engine: &'static str,
    /// Where the engine runs it (`cpu`, `cuda:0`, or a CPU fallback and why).
    pub device: String,
    pub signature: Signature,
    pub executor: Executor,
    pub admission: Arc<Admission>,
    /// Reading, optimising and starting the workers (zero when not loaded
    /// from a registry).
    pub load_duration: Duration,
}

/// Where a model version comes from, for logs and routes.
#[derive(Debug, Clone)]
pub struct ModelIdentity {
    pub name: String,
    pub version: u32,
    pub sha256: String,
    pub engine: &'static str,
}

impl ServedModel {
    /// Starts the workers of a loaded model behind the container's `admission`.
    pub fn start(
        identity: ModelIdentity,
        loaded: Arc<dyn LoadedModel>,
        options: ExecutorOptions,
        admission: Arc<Admission>,
    ) -> Result<ServedModel, LoadError> {
        ServedModel::start_batched(identity, loaded, options, None, admission)
    }

    /// As [`ServedModel::start`], batching requests as `batching` says
    /// (refused when the model's inputs have no free first dimension).
    pub fn start_batched(
        identity: ModelIdentity,
        loaded: Arc<dyn LoadedModel>,
        options: ExecutorOptions,
        batching: Option<BatchOptions>,
        admission: Arc<Admission>,
    ) -> Result<ServedModel, LoadError> {
        let label = format!("{}:{}", identity.name, identity.version);
        if batching.is_some() {
            check_batchable(loaded.signature()).map_err(|reason| LoadError::Batching {
                model: label.clone(),
                reason,
            })?;
        }
        let executor = Executor::start_batched(&identity.name, loaded.clone(), options, batching)
            .map_err(|e| LoadError::Workers {
            model: label,
            reason: e.to_string(),
        })?;
        Ok(ServedModel {
            name: identity.name,
            version: identity.version,
            sha256: identity.sha256,
            engine: identity.engine,
            device: loaded.device(),
            signature: loaded.signature().clone(),
            executor,
            admission,
            load_duration: Duration::ZERO,
        })
    }

    /// Counts a request for this model while the guard lives: from before
    /// its body is read until its answer, so a batch knows whether company
    /// may still come.
    pub fn arrive(&self, now: Instant) -> crate::callers::Caller {
        self.executor.arrive(now)
    }

    /// A place in the container's queue (`QueueFull` at once). The request
    /// must start within the queue wait from now.
    pub fn enter(&self) -> Result<Ticket, EngineError> {
        self.admission.enter()
    }

    /// Runs the model once a worker has a slot for it (503 past the ticket's
    /// deadline), at most the scoring timeout from the start (504 past it).
    /// `prepare` makes the inputs on the worker thread when the turn comes.
    /// The executor's own future, not one wrapped around it: each level of
    /// nesting is a copy of the level below on every request.
    pub fn run_prepared(
        &self,
        prepare: Prepare,
        ticket: Ticket,
    ) -> impl Future<Output = Result<Scored, EngineError>> + Send + '_ {
        self.executor.score_prepared(prepare, ticket)
    }
}

/// Every served model; the first is the default (`/score`).
#[derive(Clone)]
pub struct ModelSet {
    models: Arc<[Arc<ServedModel>]>,
}

impl ModelSet {
    /// `models` must not be empty and must not repeat a name (the loader
    /// checks both).
    pub fn new(models: Vec<ServedModel>) -> ModelSet {
        assert!(!models.is_empty(), "a model set serves at least one model");
        ModelSet {
            models: models.into_iter().map(Arc::new).collect(),
        }
    }

    pub fn default_model(&self) -> &Arc<ServedModel> {
        &self.models[0]
    }

    /// The model served under `name`; with `version`, only if that is the
    /// version served.
    pub fn find(&self, name: &str, version: Option<u32>) -> Option<&Arc<ServedModel>> {
        self.models
            .iter()
            .find(|m| m.name == name && version.is_none_or(|v| v == m.version))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<ServedModel>> {
        self.models.iter()
    }

    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}
