//! `inferd bench`: a load generator in the spirit of Triton's perf_analyzer
//! for inferd and any server that speaks one of its contracts: Azure ML's
//! `/score` JSON, or the Open Inference Protocol (KServe v2) with JSON or
//! binary bodies.
//!
//! # Layout
//! - [`args`]: the command line ([`BenchArgs`]) and [`run`], the entry.
//! - [`target`]: the URL (loopback only), the request bytes, and the
//!   example in the target's `/swagger.json`.
//! - [`protocol`]: `/score` or v2 ([`Protocol`]), a v2 body's format
//!   ([`BodyFormat`]), and the model a v2 infer URL names.
//! - [`body`]: each request's body and framing headers: a file, the
//!   `/swagger.json` example, or a v2 body from [`v2_body`].
//! - [`v2_body`]: a v2 infer body (JSON or binary) made from the model
//!   metadata, with the `/swagger.json` example's values when it fits.
//! - [`conn`]: one keep-alive HTTP/1.1 connection, lean on purpose so the
//!   generator takes little of the CPU it shares with the server.
//! - [`load`]: closed loop (N connections back to back) and open loop
//!   (a fixed rate; latency from the intended send time).
//! - [`stats`]: a step's throughput, percentiles and status shares.
//! - [`report`]: the terminal table, the progress bar and the JSON report.
//! - [`plot`]: the SVG plots: latency and throughput against concurrency,
//!   and p99 latency against 2xx throughput.
#![forbid(unsafe_code)]

pub mod args;
pub mod body;
pub mod conn;
pub mod load;
pub mod plot;
pub mod protocol;
pub mod report;
pub mod stats;
pub mod target;
#[cfg(test)]
mod test_server;
pub mod v2_body;

pub use args::{BenchArgs, WireArgs, run};
pub use protocol::{BodyFormat, Protocol};
pub use stats::Step;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Usage(String),
    #[error("refusing to send load to {0}: loopback targets only")]
    NotLoopback(String),
    #[error("cannot find a request body: {0}")]
    NoBody(String),
    #[error("cannot make a v2 request body: {0}")]
    V2Body(#[from] crate::v2_body::V2BodyError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl BenchError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
        let what = what.into();
        move |source| BenchError::Io { what, source }
    }
}
