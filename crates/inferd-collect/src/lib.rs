//! Model data collection (`dataCollection.storageEnabled`): every scored
//! request's inputs and outputs, with its request id, model, version and
//! time, appended to JSON-lines files in a folder.
//!
//! # Layout
//! - [`collector`]: [`Collector`], the handle requests use: a bounded
//!   channel to one writer thread. A full channel drops the record (and
//!   counts it) rather than make a request wait; [`Collector::close`]
//!   writes out everything accepted, with a bound on the wait.
//! - [`record`]: [`Record`], one line of a file, and how it is written.
//! - [`files`]: the writer's files: size- and age-based rotation, a cap on
//!   their total size (oldest deleted first).
#![forbid(unsafe_code)]

pub mod collector;
pub mod files;
pub mod record;

pub use collector::{CollectOptions, Collector, CollectorError};
pub use record::{Input, Record};
