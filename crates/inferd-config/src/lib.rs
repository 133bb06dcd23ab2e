//! The deployment and inference configs, and the limits inferd enforces.
//!
//! # Layout
//! - [`deployment`]: [`DeploymentConfig`], the public `deploymentconfig.json`
//!   with its field names and defaults; reading and validation.
//! - [`limits`]: [`Limits`], the effective admission limits, each a
//!   [`Setting`] that remembers whether it came from a flag, the
//!   environment, the file or the default.
//! - [`inference`]: [`InferenceConfig`], the public `inferenceconfig.json` and
//!   inferd's declarative scoring entry (models, samples, data field, output
//!   layout, engine, GPU and batching per model).
//! - [`media`]: declared pre- and post-processing: binary bodies (images,
//!   `.npy`, raw elements) into inputs, class scores into labelled answers.
//! - [`cpu`]: how many cores this container may use (its cgroup's CPU quota).
//! - [`memory`]: how much memory it may use (its cgroup's limit, the
//!   machine's total), for the body memory budget's default.
//! - `cgroup`: this process's cgroup, and the tightest setting from it up
//!   to the root, for both.
//! - `json`: parsing either config so that errors name the field.
#![forbid(unsafe_code)]

mod cgroup;
pub mod cpu;
pub mod deployment;
pub mod inference;
mod json;
pub mod limits;
pub mod media;
pub mod memory;
pub mod versions;

pub use cgroup::Membership;
pub use deployment::{ComputeType, ConfigError, DeploymentConfig};
pub use inference::{
    Batching, InferenceConfig, InferenceConfigError, ModelEntry, OutputLayout, PandasOrient,
    Runtime, Sample, SampleKind,
};
pub use limits::{LimitOverrides, Limits, Setting, Source};
pub use media::{
    Color, DecoderKind, Filter, ImageFormatName, InputDecoder, Labels, Layout, Postprocess, Resize,
};
pub use memory::ContainerMemory;
pub use versions::{VersionPolicy, parse_traffic};
