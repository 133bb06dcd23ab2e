//! The errors an engine reports.
//!
//! A failed run is one of two kinds, decided here at the engine boundary
//! where the engine's own report is still in hand: [`BackendError::Input`],
//! the request's values refused (the client's to fix, said in the model's
//! terms), or any other variant, a failure of the engine or the server
//! (its text is for the log alone: it may carry a panic message or a
//! library's internals).

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

    /// The engine refused the request's values: an index out of the range
    /// the model accepts, a shape one of its nodes cannot take. Only what
    /// can be tied to the request is reported so; `reason` is written by
    /// the engine crate in the model's terms and never carries the
    /// engine's own text.
    #[error("{}: {reason}", inputs_text(.inputs))]
    Input {
        /// The graph inputs the refused values came through: one when the
        /// engine says which, else every input of the model.
        inputs: Vec<String>,
        reason: String,
    },

    #[error("the engine failed while scoring: {0}")]
    Run(String),

    #[error("the engine panicked while scoring: {0}")]
    Panicked(String),
}

/// `input 'x'`, or `inputs 'a', 'b'` when the engine cannot say which.
fn inputs_text(inputs: &[String]) -> String {
    let quoted: Vec<String> = inputs.iter().map(|name| format!("'{name}'")).collect();
    match quoted.as_slice() {
        [one] => format!("input {one}"),
        _ => format!("inputs {}", quoted.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::BackendError;

    #[test]
    fn an_input_refusal_names_its_inputs() {
        let one = BackendError::Input {
            inputs: vec!["indices".to_owned()],
            reason: "too big".to_owned(),
        };
        assert_eq!(one.to_string(), "input 'indices': too big");
        let two = BackendError::Input {
            inputs: vec!["a".to_owned(), "b".to_owned()],
            reason: "their shapes do not fit together".to_owned(),
        };
        assert_eq!(
            two.to_string(),
            "inputs 'a', 'b': their shapes do not fit together"
        );
    }
}
