//! The ONNX Runtime engine: the widest operator coverage, the fastest CPU
//! kernels on big models, and CUDA GPUs, behind the same traits as tract.
//!
//! # Layout
//! - [`library`]: finding and loading the ONNX Runtime shared library, once
//!   per process, with errors that say what to do.
//! - [`engine`]: [`OrtEngine`], its models and per-worker sessions.
//! - [`convert`]: our tensors to ONNX Runtime values and back.
//! - `run_error`: a failed run sorted into the request's values refused
//!   (a 400 upstream) or the engine failing, without ONNX Runtime's text.
//!
//! The library is loaded at run time (`ort`'s `load-dynamic`), so a build
//! with this engine still starts without ONNX Runtime installed as long as no
//! model asks for it.
#![forbid(unsafe_code)]

pub mod convert;
pub mod engine;
pub mod library;
mod run_error;

pub use engine::{Device, OrtEngine, OrtOptions};
pub use library::{LibraryError, OrtRuntime};
