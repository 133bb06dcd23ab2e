//! The errors an engine reports.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot load model {path}: {reason}")]
    Load { path: PathBuf, reason: String },

    #[error(
        "model {path}: {what} '{name}' has element type {onnx_type}, which inferd does not serve"
    )]
    UnsupportedType {
        path: PathBuf,
        what: &'static str,
        name: String,
        onnx_type: String,
    },

    #[error(
        "cannot load model {path} with {engine}: it does not implement the operator(s) {}; \
         the ONNX Runtime engine (`runtime: onnxruntime` in the inference config, in a build with the `ort` feature) covers more operators",
        operators.join(", ")
    )]
    UnsupportedOperators {
        path: PathBuf,
        engine: &'static str,
        operators: Vec<String>,
    },

    #[error("model expects {expected} inputs, {actual} were given")]
    InputCount { expected: usize, actual: usize },

    #[error("the engine failed while scoring: {0}")]
    Run(String),

    #[error("the engine panicked while scoring: {0}")]
    Panicked(String),
}
