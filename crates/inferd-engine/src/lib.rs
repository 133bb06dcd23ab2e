//! Loaded models and the threads that run them.
//!
//! # Layout
//! - [`admission`]: the container-wide gate: concurrency slots, a bounded
//!   queue, a bounded wait.
//! - [`budget`]: the container-wide gate in bytes: request bodies and their
//!   decoded tensors held at once, all models together.
//! - [`executor`]: an [`Executor`] per model: dedicated OS threads, each with
//!   its own engine session, fed by a bounded queue; answers through a
//!   oneshot. The caller's side: starting the threads, a request's bounded wait.
//! - `worker`: the worker's side: a job, its reply, the worker loop, a run
//!   with a panic turned into an error.
//! - [`batcher`]: optional dynamic batching: concurrent requests for a
//!   model stacked into one run and cut back into each answer.
//! - [`callers`]: the requests in flight for a model, and whether a client
//!   calls alone.
//! - `spin`: bounded polling while a client calls alone: the idle worker
//!   for its next job, the caller for its answer.
//! - [`answers`]: jobs handed to workers and answers sent, one count per
//!   server, for an HTTP runtime worker to poll briefly for a due answer
//!   before it parks.
//! - `progress`: a job's state (queued, started and when, abandoned), the
//!   one place the caller and the worker race at the queue deadline.
//! - [`served`]: a [`ServedModel`] (identity, signature, executor) and the
//!   [`ModelSet`] the server routes into.
//! - [`loader`]: resolves `name[:version]` in the registry, finds the ONNX
//!   file and loads it with an engine.
//! - [`error`]: [`EngineError`] (scoring) and [`LoadError`] (start-up).
//!
//! Inference never runs on an async runtime's threads: the async side only
//! enqueues a job and awaits its oneshot, with a bound on the wait.
#![forbid(unsafe_code)]

pub mod admission;
pub mod answers;
pub mod batcher;
pub mod budget;
pub mod callers;
pub mod error;
pub mod executor;
pub mod loader;
mod progress;
pub mod served;
mod spin;
mod worker;

pub use admission::{Admission, AdmissionOptions, Slot, Ticket};
pub use answers::Answers;
pub use batcher::{BatchObserver, BatchOptions, BatchPolicy};
pub use budget::{BodyBudget, BudgetRefusal, Reservation};
pub use callers::{Caller, Callers};
pub use error::{EngineError, LoadError};
pub use executor::{
    DEFAULT_IDLE_POLL, Executor, ExecutorOptions, Scored, SessionCheck, StartError,
};
pub use loader::{
    EngineChoice, load_models, load_models_batched, load_models_with, read_registered, read_version,
};
pub use served::{ModelIdentity, ModelSet, Route, RouteError, ServedModel};
pub use worker::Prepare;

/// `duration` in whole nanoseconds, saturating (for atomics that hold one).
pub(crate) fn nanos(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
