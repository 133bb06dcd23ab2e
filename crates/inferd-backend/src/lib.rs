//! The engine boundary: small synchronous traits every engine implements, and
//! the engines themselves (tract today).
//!
//! # Layout
//! - [`engine`]: the [`Engine`], [`LoadedModel`] and [`Session`] traits.
//! - [`error`]: [`BackendError`], the one error type engines report.
//! - [`tract_engine`]: tract, pure Rust, the default engine.
//! - `tract_sizes`: tract plans fixed to one batch size, for small models
//!   (performance only: a model's answers are the same without them).
//! - `tract_tensors`: our tensors in and out of tract, one run of a plan.
//! - [`onnx_signature`]: reads a model's declared inputs and outputs from its ONNX graph.
//! - `index_ranges`: the ranges a graph states for its index inputs, checked
//!   before a tract run (tract panics on an index out of range).
//!
//! Only this crate knows tract. Everything above speaks [`inferd_tensor`].
//! The traits are synchronous on purpose: engines run on dedicated OS
//! threads owned by the engine crate, never on async executors.
#![forbid(unsafe_code)]

pub mod engine;
pub mod error;
mod index_ranges;
pub mod onnx_signature;
pub mod tract_engine;
mod tract_sizes;
mod tract_tensors;

pub use engine::{Engine, LoadedModel, Session};
pub use error::BackendError;
pub use tract_engine::TractEngine;
