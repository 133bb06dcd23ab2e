//! inferd's Prometheus metrics, in one `inferd_*` family.
//!
//! # Layout
//! - [`registry`]: [`Metrics`], the registry and every metric family; the
//!   text exposition served at `GET /metrics`.
//! - [`model`]: [`ModelMetrics`], one model version's handles, labelled
//!   once at start so recording a request takes no lock and no lookup;
//!   [`Outcome`], the label a request is counted under.
//! - [`buckets`]: histogram buckets (microseconds to a minute; batch sizes).
//! - [`process`]: resident memory and CPU time of this process, from `/proc`.
//!
//! Recording is a handful of atomic adds on handles held by the caller;
//! only a scrape takes locks (the registry's, to gather).
#![forbid(unsafe_code)]

pub mod buckets;
pub mod model;
pub mod process;
pub mod registry;

pub use model::{BatchSizes, ModelMetrics, Outcome};
pub use registry::{BuildInfo, Metrics};
