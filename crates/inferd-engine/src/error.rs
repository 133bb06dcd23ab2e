//! Engine-side errors: why a scoring call or a model load failed.

use std::time::Duration;

use inferd_backend::BackendError;
use inferd_registry::RegistryError;

use crate::budget::BudgetRefusal;

/// Why a scoring call produced no outputs.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the queue is full ({capacity} requests already waiting); retry later")]
    QueueFull { capacity: usize },

    #[error("no scoring slot became free within {} ms (maxQueueWaitMs); retry later", .waited.as_millis())]
    QueueTimeout { waited: Duration },

    #[error("Scoring timeout after {} ms", .0.as_millis())]
    Timeout(Duration),

    #[error("the model's workers have stopped")]
    Stopped,

    #[error(transparent)]
    Backend(#[from] BackendError),

    /// The body memory budget has no room for the request's bytes (its
    /// body, or the tensors it decodes to).
    #[error(transparent)]
    MemoryBudget(#[from] BudgetRefusal),

    /// The request's inputs could not be prepared (decoded); the client's fault.
    #[error("{0}")]
    Input(Box<dyn std::error::Error + Send + Sync>),
}

impl EngineError {
    /// Whether the request's own values were refused: by their decoding,
    /// or by the engine ([`BackendError::Input`]). Such an error's text is
    /// meant for the client.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            EngineError::Input(_) | EngineError::Backend(BackendError::Input { .. })
        )
    }

    /// Whether the engine failed for a reason not traceable to the request
    /// (an error it returned, a panic): its text is for the log alone.
    pub fn is_engine_failure(&self) -> bool {
        matches!(self, EngineError::Backend(_)) && !self.is_input()
    }
}

/// Why a model could not be served.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Registry(#[from] RegistryError),

    #[error("model {model}: {reason}")]
    NoModelFile { model: String, reason: String },

    #[error("model {model}: {source}")]
    Backend {
        model: String,
        #[source]
        source: BackendError,
    },

    #[error("model {model}: cannot start its workers: {reason}")]
    Workers { model: String, reason: String },

    #[error("model {model}: cannot batch it: {reason}")]
    Batching { model: String, reason: String },

    /// A session failed the version's self-test or warm-up run.
    #[error("model {model}: self-test failed: {reason}")]
    SelfTest { model: String, reason: String },

    #[error("model '{0}' is listed twice")]
    Duplicate(String),
}
