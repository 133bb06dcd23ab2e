//! The vocabulary every inferd crate shares: element types, tensors and the
//! signature a model declares for its inputs and outputs.
//!
//! # Layout
//! - [`dtype`]: element types ([`DType`]).
//! - [`tensor`]: an owned, dense, row-major [`Tensor`] and its typed storage.
//! - [`rows`]: stacking tensors along the batch dimension and cutting them back.
//! - [`signature`]: what a model expects and gives ([`Signature`], [`TensorSpec`], [`Dim`]).
//!
//! No async, no HTTP, no engine: this crate is plain data so every layer can
//! use it without pulling in the others.
#![forbid(unsafe_code)]

pub mod dtype;
pub mod rows;
pub mod signature;
pub mod tensor;

pub use dtype::DType;
pub use rows::RowsError;
pub use signature::{Dim, Signature, TensorSpec};
pub use tensor::{Tensor, TensorData, TensorError};
