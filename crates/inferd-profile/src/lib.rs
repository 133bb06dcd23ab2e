//! `inferd profile`: a model measured in a real server (this binary's
//! `serve`, a child process in a cgroup of its own) under candidate
//! settings, and the smallest deployment that holds a p99 target written
//! down as `deploymentconfig.json` and an inference config, then served
//! and loaded open loop to prove it. In the spirit of Triton's
//! model-analyzer, for the Azure ML deployment contract.
//!
//! The door is [`run`] with [`ProfileArgs`].
//!
//! # Layout
//! - [`args`]: the command line.
//! - [`grid`]: the candidates (engine, CPU, concurrency, batching).
//! - [`configs`]: a candidate's deployment and inference configs.
//! - [`cgroup`]: CPU limits as cgroup quotas, as Kubernetes sets them.
//! - [`child`]: the server under measurement and its `/proc` numbers.
//! - [`body`]: the request body, found and checked.
//! - [`measure`]: one candidate's knee and the open-loop rate it holds.
//! - [`choose`]: the choice, its memory and its replicas.
//! - [`verify`]: the written files served and loaded at the planned rate.
//! - [`report`]: the profile as data, a table and Markdown.
//! - [`progress`]: what a running profile shows.
//! - [`run`](mod@run): all of it in order.
#![forbid(unsafe_code)]

pub mod args;
pub mod body;
pub mod cgroup;
pub mod child;
pub mod choose;
pub mod configs;
pub mod grid;
pub mod measure;
mod progress;
pub mod report;
pub mod run;
pub mod verify;

pub use args::{Engine, ProfileArgs};
pub use report::Profile;
pub use run::{Context, run};

/// Why a profile could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Sample(String),
    #[error("a config the profile made is wrong: {0}")]
    Config(String),
    #[error("the server did not start: {why}\n{logs}")]
    Start { why: String, logs: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl ProfileError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ProfileError {
        let what = what.into();
        move |source| ProfileError::Io { what, source }
    }
}
