//! The models a server serves, and how a request finds one.

use std::sync::Arc;

use inferd_tensor::{Signature, Tensor};

use crate::{EngineError, Executor};

/// One model version, loaded and with its workers running.
pub struct ServedModel {
    pub name: String,
    pub version: u32,
    /// The registry's content hash of the version's files.
    pub sha256: String,
    pub engine: &'static str,
    pub signature: Signature,
    pub executor: Executor,
}

impl ServedModel {
    pub async fn score(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, EngineError> {
        self.executor.score(inputs).await
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
