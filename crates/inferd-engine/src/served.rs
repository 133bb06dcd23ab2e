//! The models a server serves, and how a request finds one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use inferd_backend::LoadedModel;
use inferd_tensor::{Signature, Tensor};

use crate::{Admission, EngineError, Executor, ExecutorOptions, LoadError, Slot, Ticket};

/// One model version, loaded and with its workers running.
pub struct ServedModel {
    pub name: String,
    pub version: u32,
    /// The registry's content hash of the version's files.
    pub sha256: String,
    pub engine: &'static str,
    pub signature: Signature,
    pub executor: Executor,
    pub admission: Arc<Admission>,
}

/// Where a model version comes from, for logs and routes.
#[derive(Debug, Clone)]
pub struct ModelIdentity {
    pub name: String,
    pub version: u32,
    pub sha256: String,
    pub engine: &'static str,
}

/// A scoring call's outputs and where its time went.
pub struct Scored {
    pub outputs: Vec<Tensor>,
    /// Waiting for a slot.
    pub queue: Duration,
    /// Running (from the slot to the answer).
    pub score: Duration,
}

impl ServedModel {
    /// Starts the workers of a loaded model behind the container's `admission`.
    pub fn start(
        identity: ModelIdentity,
        loaded: Arc<dyn LoadedModel>,
        options: ExecutorOptions,
        admission: Arc<Admission>,
    ) -> Result<ServedModel, LoadError> {
        let executor = Executor::start(&identity.name, loaded.clone(), options).map_err(|e| {
            LoadError::Workers {
                model: format!("{}:{}", identity.name, identity.version),
                reason: e.to_string(),
            }
        })?;
        Ok(ServedModel {
            name: identity.name,
            version: identity.version,
            sha256: identity.sha256,
            engine: identity.engine,
            signature: loaded.signature().clone(),
            executor,
            admission,
        })
    }

    /// Waits for a slot (bounded), then runs the model (bounded).
    pub async fn score(&self, inputs: Vec<Tensor>) -> Result<Scored, EngineError> {
        let slot = self.enter()?.wait().await?;
        self.run(inputs, slot).await
    }

    /// A place in the container's queue (`QueueFull` at once); its
    /// [`Ticket::wait`] then waits for a slot, at most the queue wait.
    pub fn enter(&self) -> Result<Ticket<'_>, EngineError> {
        self.admission.enter()
    }

    /// Runs the model in `slot`, at most the scoring timeout; the slot is
    /// freed when the computation ends.
    pub async fn run(&self, inputs: Vec<Tensor>, slot: Slot) -> Result<Scored, EngineError> {
        let queue = slot.waited;
        let started = Instant::now();
        let outputs = self.executor.score(inputs, Some(slot)).await?;
        Ok(Scored {
            outputs,
            queue,
            score: started.elapsed(),
        })
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
