//! `inferd batch`: score files with a registered model (`inferd-batch` does
//! the job), and `inferd batch merge`: join a sharded job's outputs. The
//! model is loaded as `serve` loads it: the same engines (the inference
//! config's `runtime` and `enableGpu`), the same self-test, the same
//! contract; its workers take the cores (cgroup-aware).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use inferd_batch::{Job, Model, ProgressMode, Shard, Threshold};
use inferd_engine::{Admission, AdmissionOptions, EngineChoice, ExecutorOptions};
use inferd_registry::{ModelRef, Registry};
use inferd_schema::ModelSchema;

use crate::engines::{EngineArgs, Engines, Resources};
use crate::service_api::Inference;

/// Rows per chunk when neither `--batch-size` nor the inference config's
/// batching says.
const DEFAULT_BATCH_SIZE: usize = 256;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BatchArgs {
    #[command(subcommand)]
    pub command: Option<BatchCommand>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Join the outputs of a job run with --shard I/N (or --shards N) into
    /// the file one unsharded run writes.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The --output the shards were given (they wrote NAME.shard-I-of-N.EXT).
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// Replace the output if it exists.
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The model, NAME or NAME:VERSION (latest when no version).
    #[arg(long, short = 'm', required = true)]
    pub model: Option<ModelRef>,

    /// Input files (.csv, .jsonl, .ndjson, .npy, .parquet), folders (every
    /// such file in them) or globs on the file name ('data/part-*.csv');
    /// repeatable.
    #[arg(long = "input", short = 'i', required = true, num_args = 1..)]
    pub inputs: Vec<PathBuf>,

    /// The output file: .csv, .jsonl or .parquet. Failed rows go beside it to
    /// OUTPUT.errors.jsonl; while the job runs, OUTPUT.partial and
    /// OUTPUT.checkpoint are there too.
    #[arg(long, short = 'o', required = true)]
    pub output: Option<PathBuf>,

    /// The inference config: the model's samples (a pandas sample names
    /// the columns), data field and engine (`runtime`, `enableGpu`).
    #[arg(long, env = "INFERD_INFERENCE_CONFIG")]
    pub inference_config: Option<PathBuf>,

    /// Replace the output if it exists (a finished job's output is never
    /// replaced otherwise; a stopped job's checkpoint is continued).
    #[arg(long)]
    pub overwrite: bool,

    /// A column (a JSON record's key) written beside each answer instead
    /// of the source file and row number.
    #[arg(long)]
    pub id_column: Option<String>,

    /// Rows per engine run. Default: the inference config's batching
    /// (its largest preferred batch size, else maxBatchSize), else 256.
    #[arg(long)]
    pub batch_size: Option<usize>,

    /// Failed rows that stop the job: N rows, P% of the rows read, or -1
    /// (never). Past it the job exits non-zero.
    #[arg(long, default_value = "-1", allow_hyphen_values = true)]
    pub error_threshold: Threshold,

    /// Runs of a chunk after an engine error, before it is split to find
    /// the rows at fault.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,

    /// Score shard I of N (0 <= I < N): every Nth chunk of the input,
    /// written to OUTPUT.shard-I-of-N; `inferd batch merge` joins them.
    #[arg(long, env = "INFERD_SHARD", conflicts_with = "shards")]
    pub shard: Option<Shard>,

    /// N shards, this one being the Kubernetes Indexed Job's
    /// JOB_COMPLETION_INDEX.
    #[arg(long, env = "INFERD_SHARDS")]
    pub shards: Option<u32>,

    /// Engine workers (runs at once). Default: the cores this process may
    /// use (a cgroup CPU quota counts).
    #[arg(long, env = "INFERD_BATCH_WORKERS")]
    pub workers: Option<usize>,

    /// Longest one chunk's run may take, in seconds.
    #[arg(long, default_value_t = 600)]
    pub chunk_timeout_s: u64,

    /// Instead of the job: score the input's first chunk over and over for
    /// SECONDS on the job's workers, with no reading, decoding or writing,
    /// and print rows/s: the engine's ceiling for this job.
    #[arg(long, value_name = "SECONDS")]
    pub measure_engine: Option<f64>,

    /// Progress: a bar on a terminal, JSON lines on stderr otherwise.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,

    #[command(flatten)]
    pub engines: EngineArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressArg {
    Auto,
    Bar,
    Lines,
    Quiet,
}

pub fn run(args: BatchArgs, registry: &std::path::Path) -> Result<()> {
    inferd_log::init(None);
    if let Some(BatchCommand::Merge(merge)) = args.command {
        let summary = inferd_batch::merge(&merge.output, merge.overwrite)?;
        println!(
            "{}",
            serde_json::json!({
                "output": summary.output,
                "errors": summary.errors,
                "shards": summary.shards,
                "rows_scored": summary.rows_scored,
                "rows_failed": summary.rows_failed,
            })
        );
        return Ok(());
    }
    let args = args.run;
    let (Some(reference), Some(output)) = (args.model.clone(), args.output.clone()) else {
        bail!("--model and --output are required");
    };
    let shard = shard(&args)?;
    let inference = Inference::read(args.inference_config.as_deref())?;
    let entry = Inference::entries(inference.as_ref())
        .iter()
        .find(|e| e.name() == reference.name)
        .cloned();
    if let (Some(inference), None) = (&inference, &entry) {
        bail!(
            "the inference config {} has no entry for model {}",
            inference.path,
            reference.name
        );
    }
    let batch_size = args.batch_size.unwrap_or_else(|| {
        entry
            .as_ref()
            .and_then(|e| e.batching.as_ref())
            .map_or(DEFAULT_BATCH_SIZE, |b| {
                b.preferred_batch_sizes
                    .iter()
                    .max()
                    .copied()
                    .unwrap_or(b.max_batch_size) as usize
            })
    });
    let workers = args
        .workers
        .unwrap_or_else(inferd_config::cpu::available_cores)
        .max(1);
    let engines = Engines::resolve(
        &args.engines,
        inference.as_ref(),
        &Resources {
            gpu_cores: None,
            intra_threads: 1,
        },
    )?;
    let admission = Admission::new(AdmissionOptions {
        max_concurrent: workers,
        // The job keeps at most 2 x workers chunks in flight: a place in
        // the queue is always free, and a chunk waits for at most the
        // runs ahead of it.
        max_queue_wait: Duration::from_secs(args.chunk_timeout_s.saturating_mul(2)),
        max_queue_length: workers * 2,
    });
    let options = ExecutorOptions {
        workers,
        queue_capacity: workers * 2,
        timeout: Duration::from_secs(args.chunk_timeout_s),
        idle_poll: Duration::ZERO,
        answers: None,
    };
    let registry = Registry::new(registry);
    let served = inferd_lifecycle::load_checked(
        &registry,
        engines.engine_for(&reference.name),
        &reference,
        entry.as_ref(),
        options,
        None,
        admission,
        &mut || {},
    )
    .with_context(|| format!("cannot load model {reference}"))?;
    let schema = ModelSchema::for_model(entry.as_ref(), served.signature.clone())
        .map_err(|e| anyhow::anyhow!("inference config: {e}"))?;
    tracing::info!(model = %served.name, version = served.version, engine = served.engine, workers, batch_size, %shard, "batch job");
    let job = Job {
        inputs: args.inputs,
        output,
        id_column: args.id_column,
        batch_size,
        error_threshold: args.error_threshold,
        retries: args.retries,
        shard,
        in_flight: workers * 2,
        overwrite: args.overwrite,
    };
    let mode = match args.progress {
        ProgressArg::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
        ProgressArg::Auto | ProgressArg::Lines => ProgressMode::Lines,
        ProgressArg::Bar => ProgressMode::Bar,
        ProgressArg::Quiet => ProgressMode::Quiet,
    };
    let model = Model {
        served: Arc::new(served),
        schema: Arc::new(schema),
    };
    if let Some(seconds) = args.measure_engine {
        let rate = inferd_batch::measure_engine(&job, &model, seconds)?;
        println!(
            "{}",
            serde_json::json!({
                "engine_rows": rate.rows,
                "seconds": (rate.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
                "batch_size": rate.batch_size,
                "workers": workers,
                "rows_per_s": rate.rows_per_s().round(),
            })
        );
        return Ok(());
    }
    let summary = inferd_batch::run(&job, model, mode)?;
    let seconds = summary.elapsed.as_secs_f64();
    let this_run = summary.rows_read - summary.resumed_rows;
    println!(
        "{}",
        serde_json::json!({
            "output": summary.output,
            "errors": summary.errors,
            "rows_read": summary.rows_read,
            "rows_scored": summary.rows_scored,
            "rows_failed": summary.rows_failed,
            "resumed_rows": summary.resumed_rows,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "rows_per_s": (this_run as f64 / seconds.max(1e-9)).round(),
        })
    );
    Ok(())
}

/// `--shard I/N`, or `--shards N` with I from JOB_COMPLETION_INDEX (what a
/// Kubernetes Indexed Job gives each of its pods), or the whole input.
fn shard(args: &RunArgs) -> Result<Shard> {
    if let Some(shard) = args.shard {
        return Ok(shard);
    }
    let Some(count) = args.shards else {
        return Ok(Shard::WHOLE);
    };
    let index = std::env::var("JOB_COMPLETION_INDEX").map_err(|_| {
        anyhow::anyhow!(
            "--shards {count} takes this shard's index from JOB_COMPLETION_INDEX (set by a Kubernetes Indexed Job), which is not set; give --shard I/{count} instead"
        )
    })?;
    format!("{}/{count}", index.trim())
        .parse::<Shard>()
        .map_err(|e| anyhow::anyhow!("--shards {count} with JOB_COMPLETION_INDEX={index}: {e}"))
}
