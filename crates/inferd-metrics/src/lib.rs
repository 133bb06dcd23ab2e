//! inferd's Prometheus metrics, in one `inferd_*` family.
//!
//! # Layout
//! - [`registry`]: [`Metrics`], the registry and every metric family; the
//!   text exposition served at `GET /metrics`.
//! - [`model`]: [`ModelMetrics`], one model version's handles, labelled
//!   once at start so recording a request takes no lock and no lookup;
//!   [`Outcome`], the label a request is counted under.
//! - `families`: the families recorded per request, read from their
//!   shards at scrape time.
//! - [`shards`]: [`shards::Shards`], counters each thread adds to in a
//!   shard of its own, without a locked instruction.
//! - [`buckets`]: histogram buckets (microseconds to a minute; batch sizes).
//! - [`process`]: resident memory and CPU time of this process, from `/proc`.
//!
//! Recording a request is a dozen plain adds to its thread's shard,
//! through handles held by the caller; only a scrape takes locks (the
//! registry's, to gather) and sums the shards.
#![forbid(unsafe_code)]

pub mod buckets;
mod families;
pub mod model;
pub mod process;
pub mod registry;
pub mod shards;

pub use model::{BatchSizes, ModelMetrics, ModelTotals, Outcome, Protocol, StageTotal, Stages};
pub use registry::{BuildInfo, Metrics};
