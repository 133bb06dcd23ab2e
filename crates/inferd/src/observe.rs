//! `inferd serve`'s observability: the metrics and access-log switches, and
//! model data collection (`dataCollection.storageEnabled` or
//! `--data-collection`), from the command line to the server's telemetry.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use inferd_collect::files::Rotation;
use inferd_collect::{CollectOptions, Collector};
use inferd_config::DeploymentConfig;
use inferd_metrics::BuildInfo;
use inferd_server::AppState;

/// How long the binary waits, after the drain, for collected records to
/// reach their files.
pub const COLLECT_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Optional features compiled into this binary (none yet).
const FEATURES: &str = if cfg!(feature = "ort") { "ort" } else { "" };

#[derive(Debug, Args)]
pub struct ObserveArgs {
    /// Do not record request metrics (`/metrics` still answers, with
    /// process and build figures).
    #[arg(long, env = "INFERD_NO_METRICS")]
    pub no_metrics: bool,

    /// Do not log an access line per request.
    #[arg(long, env = "INFERD_NO_ACCESS_LOG")]
    pub no_access_log: bool,

    /// Collect every scored request's inputs and outputs (as the deployment
    /// config's `dataCollection.storageEnabled`).
    #[arg(long, env = "INFERD_DATA_COLLECTION")]
    pub data_collection: bool,

    /// Folder of the collected JSON-lines files.
    #[arg(
        long,
        env = "INFERD_DATA_COLLECTION_DIR",
        default_value = "data-collection"
    )]
    pub data_collection_dir: PathBuf,

    /// A collection file is closed before it grows past this many bytes.
    #[arg(long, env = "INFERD_DATA_COLLECTION_MAX_FILE_BYTES", default_value_t = 64 << 20)]
    pub data_collection_max_file_bytes: u64,

    /// A collection file is closed once it is this many seconds old.
    #[arg(long, env = "INFERD_DATA_COLLECTION_ROTATE_S", default_value_t = 3600)]
    pub data_collection_rotate_s: u64,

    /// All collection files together stay within this many bytes; the
    /// oldest are deleted first.
    #[arg(long, env = "INFERD_DATA_COLLECTION_MAX_TOTAL_BYTES", default_value_t = 1 << 30)]
    pub data_collection_max_total_bytes: u64,

    /// Records that may wait for the writer; past it they are dropped
    /// (`inferd_data_collection_dropped_total`), never waited for.
    #[arg(long, env = "INFERD_DATA_COLLECTION_QUEUE", default_value_t = 4096)]
    pub data_collection_queue: usize,
}

/// Applies the switches to `state` and starts data collection when asked;
/// the collector returned must be closed after the drain.
pub fn setup(
    args: &ObserveArgs,
    file: Option<&DeploymentConfig>,
    state: &AppState,
    engine: &str,
) -> Result<Option<Arc<Collector>>> {
    let telemetry = &state.telemetry;
    telemetry.set_build_info(&BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        engine: engine.to_owned(),
        features: FEATURES.to_owned(),
    });
    telemetry.set_recording(!args.no_metrics);
    // Decided once: the filter (`RUST_LOG`) does not change while serving.
    let access_log =
        !args.no_access_log && tracing::enabled!(target: "inferd::access", tracing::Level::INFO);
    telemetry.set_access_log(access_log);
    if file.and_then(|f| f.app_insights_enabled) == Some(true) {
        tracing::info!(
            "appInsightsEnabled: request telemetry is served as Prometheus metrics at /metrics \
             and access lines in this log; nothing is sent to Application Insights"
        );
    }
    let from_file = file
        .and_then(|f| f.data_collection.as_ref())
        .is_some_and(|d| d.storage_enabled);
    let enabled = args.data_collection || from_file;
    tracing::info!(
        metrics = !args.no_metrics,
        access_log,
        data_collection = enabled,
        "telemetry"
    );
    if !enabled {
        return Ok(None);
    }
    let rotation = Rotation {
        max_file_bytes: args.data_collection_max_file_bytes,
        max_file_age: Duration::from_secs(args.data_collection_rotate_s.max(1)),
        max_total_bytes: args.data_collection_max_total_bytes,
    };
    let collector = Collector::start(CollectOptions {
        queue: args.data_collection_queue,
        rotation,
        ..CollectOptions::new(args.data_collection_dir.clone())
    })
    .context("cannot start data collection")?;
    tracing::info!(
        dir = %args.data_collection_dir.display(),
        max_file_bytes = rotation.max_file_bytes,
        rotate_s = rotation.max_file_age.as_secs(),
        max_total_bytes = rotation.max_total_bytes,
        queue = args.data_collection_queue,
        "collecting model inputs and outputs"
    );
    let collector = Arc::new(collector);
    telemetry.set_collector(collector.clone());
    Ok(Some(collector))
}

/// After the drain: writes out every accepted record, with a bound.
pub fn finish(collector: Option<Arc<Collector>>) {
    let Some(collector) = collector else {
        return;
    };
    let flushed = collector.close(COLLECT_CLOSE_TIMEOUT);
    tracing::info!(
        flushed,
        written = collector.written(),
        dropped = collector.dropped(),
        "data collection closed"
    );
}

/// The start-up line with the server's effective settings (the limits and
/// the models have lines of their own). Names every field it states: no
/// key or other secret can slip in with a whole struct.
pub fn log_settings(args: &crate::cli::ServeArgs, drain_timeout: Duration) {
    let models: Vec<String> = args.models.iter().map(|m| m.to_string()).collect();
    tracing::info!(
        host = %args.host,
        registry = %args.registry.display(),
        models = %models.join(","),
        max_body_bytes = args.max_body_bytes,
        body_read_timeout_ms = args.body_read_timeout_ms,
        server_timing = args.server_timing,
        shutdown_grace_s = args.shutdown_grace_s,
        drain_timeout_ms = drain_timeout.as_millis() as u64,
        "settings"
    );
}
