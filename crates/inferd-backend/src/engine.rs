//! The three traits an engine implements.
//!
//! Loading is split from running on purpose: a [`LoadedModel`] is the
//! optimised, immutable plan shared by every worker; a [`Session`] is the
//! mutable per-worker state (scratch buffers, and for engines such as ONNX
//! Runtime whose `run` takes `&mut self`, the native session itself). One
//! session per worker thread means no lock on the hot path.

use std::path::Path;
use std::sync::Arc;

use inferd_tensor::{Signature, Tensor};

use crate::BackendError;

/// Something that can turn a model file into a runnable model.
pub trait Engine: Send + Sync {
    /// A short name for logs and metrics (`tract`).
    fn name(&self) -> &'static str;

    /// Reads, checks and optimises the model once.
    fn load(&self, path: &Path) -> Result<Arc<dyn LoadedModel>, BackendError>;
}

/// A model loaded and optimised once, shared by all workers.
pub trait LoadedModel: Send + Sync {
    /// The inputs and outputs as the model file declares them.
    fn signature(&self) -> &Signature;

    /// Where runs happen, in words for the logs (`cpu`, `cuda:0`, or a CPU
    /// fallback with its reason).
    fn device(&self) -> String {
        "cpu".to_owned()
    }

    /// Per-worker mutable state. Called once per worker thread, and again
    /// after a run panicked (the old state is not trusted).
    fn new_session(&self) -> Result<Box<dyn Session>, BackendError>;
}

/// One worker's handle on a model.
pub trait Session: Send {
    /// Runs the model. `inputs` are in the signature's input order and have
    /// already been checked against it; outputs come in the signature's
    /// output order with the declared element types.
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BackendError>;
}
