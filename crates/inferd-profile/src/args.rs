//! The command line of `inferd profile`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use inferd_registry::ModelRef;

/// Measure a model under candidate settings and write the smallest
/// deployment that holds a p99 target, checked under load.
#[derive(Debug, Clone, Args)]
pub struct ProfileArgs {
    /// The model to profile, NAME or NAME:VERSION (latest when no version).
    #[arg(long, short = 'm')]
    pub model: ModelRef,

    /// An inference config to start from (its entry for the model: data
    /// field, samples, decoders); the profile adds the engine and batching.
    #[arg(long)]
    pub inference_config: Option<PathBuf>,

    /// The request body to send: a file, or JSON text. An array is sent as
    /// `{"data": ...}`. Default: the example of the server's /swagger.json,
    /// else the registry's `files/input_sample.json`.
    #[arg(long, value_name = "BODY")]
    pub sample: Option<String>,

    /// The latency every request must meet at the 99th percentile, in ms.
    #[arg(long, default_value_t = 5.0, value_parser = positive)]
    pub p99_ms: f64,

    /// The whole service's rate, requests/s: sizes replicas and the
    /// autoscaler. Without it only one replica is sized.
    #[arg(long, value_parser = positive)]
    pub target_rps: Option<f64>,

    /// The most CPU (cores) one replica may ask for. Default: this
    /// machine's cores.
    #[arg(long, value_parser = positive)]
    pub max_cpu: Option<f64>,

    /// Engines to try (repeat). Default: every engine this build has.
    #[arg(long = "engine", value_enum)]
    pub engines: Vec<Engine>,

    /// The share of a replica's sustained rate it is planned to carry, in
    /// percent (the autoscaler's target).
    #[arg(long, default_value_t = 70, value_parser = clap::value_parser!(u32).range(10..=100))]
    pub target_utilization: u32,

    /// Where the report, plot and configs go. Default: `profile-NAME`.
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// A short profile (few candidates, short steps): for tests and a first look.
    #[arg(long)]
    pub quick: bool,

    /// Seconds of open-loop load the verification runs. Default 10 (2 with --quick).
    #[arg(long, value_parser = positive)]
    pub verify_seconds: Option<f64>,

    /// Print the profile as JSON on stdout (and nothing else).
    #[arg(long)]
    pub json: bool,
}

/// An engine a candidate runs on.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Tract,
    Onnxruntime,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Tract => "tract",
            Engine::Onnxruntime => "onnxruntime",
        }
    }
}

fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok(value),
        _ => Err(format!("'{text}' is not a positive number")),
    }
}
