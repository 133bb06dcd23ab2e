//! What stops a batch job: each variant a message that says what was wrong
//! and where. A row that does not fit the model is not one of them: it
//! goes to the errors file and the job goes on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Usage(String),

    #[error("{path}: {reason}")]
    Input { path: PathBuf, reason: String },

    #[error("{path}: {reason}")]
    Header { path: PathBuf, reason: String },

    #[error("the model's outputs cannot be written row by row: {0}")]
    Outputs(String),

    #[error(
        "{failed} rows failed, past the error threshold ({threshold}); stopped after {read} rows read (the errors file says which and why)"
    )]
    Threshold {
        failed: u64,
        read: u64,
        threshold: String,
    },

    #[error("{path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },

    #[error("merge: {0}")]
    Merge(String),
}

impl BatchError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BatchError {
        let path = path.into();
        move |source| BatchError::Io { path, source }
    }
}
