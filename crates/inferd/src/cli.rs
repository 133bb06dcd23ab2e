//! The command line. Every option that a deployer may need to set from a
//! container also reads an environment variable.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use inferd_registry::ModelRef;

/// inferd: serve registered ONNX models over HTTP.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// The model registry folder.
    #[arg(long, global = true, env = "INFERD_REGISTRY", default_value = "models")]
    pub registry: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve models over HTTP (the default model when none is named).
    Serve(Box<ServeArgs>),
    /// Register, list, show and delete models in the registry.
    Model(ModelArgs),
    /// The deployment config: effective limits, and the file's JSON Schema.
    Config(ConfigArgs),
    /// Print the API document that `serve` would serve at /swagger.json.
    Swagger(SwaggerArgs),
    /// Act on a running server: `service update` loads a model version.
    Service(crate::service_command::ServiceArgs),
    /// Exit 0 when a server answers `/ready` with 200 (the image's HEALTHCHECK).
    Health(crate::health_command::HealthArgs),
    /// Render what runs inferd elsewhere: Kubernetes manifests, KServe.
    Deploy(crate::deploy_command::DeployArgs),
    /// Score files (CSV, JSON Lines, .npy) with a model, resumably; `merge`
    /// joins the outputs of a sharded job.
    Batch(crate::batch_command::BatchArgs),

    /// Load a scoring server (this one or a peer) and report throughput and latency.
    Bench(inferd_bench::BenchArgs),
    /// Measure a model under candidate CPU, concurrency, batching and
    /// engine settings; write the smallest deployment config that holds a
    /// p99 target, and prove it under load.
    Profile(inferd_profile::ProfileArgs),
}

/// The model served when none is named.
pub const DEFAULT_MODEL: &str = "diabetes-ridge";

/// `--http-park-poll-us`: a few of a small model's runs (benches/RESULTS.md).
pub const DEFAULT_HTTP_PARK_POLL_US: u64 = 20;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The registry folder (same as the global option).
    #[arg(long, env = "INFERD_REGISTRY", default_value = "models")]
    pub registry: PathBuf,

    /// A model to serve, NAME or NAME:VERSION (latest when no version);
    /// repeat for several. The first is the default at /score.
    #[arg(long = "model", short = 'm', env = "INFERD_MODELS", value_delimiter = ',', default_value = DEFAULT_MODEL)]
    pub models: Vec<ModelRef>,

    /// Serve one model where it lies instead of from the registry: an
    /// `.onnx` file, or a folder holding one (KServe mounts the model at
    /// /mnt/models). It is version 1 of the name --model gives, else of the
    /// file's stem or the folder's name. Nothing is written beside it.
    #[arg(long, env = "INFERD_MODEL_PATH")]
    pub model_path: Option<PathBuf>,

    /// Address to listen on. 127.0.0.1 keeps the server private to this
    /// machine; use 0.0.0.0 inside a container.
    #[arg(long, env = "INFERD_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Port to listen on (0 picks a free one). Default: the deployment
    /// config's `port`, else 5001.
    #[arg(long, short = 'p', env = "INFERD_PORT")]
    pub port: Option<u16>,

    /// Largest request body in bytes; larger bodies get 413.
    #[arg(long, env = "INFERD_MAX_BODY_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Longest the whole request body may take to arrive, in ms (408 past it).
    #[arg(long, env = "INFERD_BODY_READ_TIMEOUT_MS", default_value_t = 30_000)]
    pub body_read_timeout_ms: u64,

    /// Send `Server-Timing` (queue, score and total ms) on scored answers:
    /// not part of the scoring contract, and it shows every client the
    /// server's internal timings, so off unless asked for.
    #[arg(long, env = "INFERD_SERVER_TIMING")]
    pub server_timing: bool,

    /// On SIGTERM, how long to keep accepting connections (while `/ready`
    /// answers 503) before closing the listener, in seconds.
    #[arg(long, env = "INFERD_SHUTDOWN_GRACE_S", default_value_t = 30)]
    pub shutdown_grace_s: u64,

    /// After the grace period, how long in-flight requests may take to
    /// finish, in seconds. Default: maxQueueWaitMs + scoringTimeoutMs + 1 s.
    #[arg(long, env = "INFERD_DRAIN_TIMEOUT_S")]
    pub drain_timeout_s: Option<u64>,

    /// The inference config (inferenceconfig.json): the models, their
    /// samples, data field and output layout. Its models are served when no
    /// --model is given.
    #[arg(long, env = "INFERD_INFERENCE_CONFIG")]
    pub inference_config: Option<PathBuf>,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub security: crate::security::SecurityArgs,

    #[command(flatten)]
    pub observe: crate::observe::ObserveArgs,

    #[command(flatten)]
    pub batching: crate::batching::BatchArgs,

    #[command(flatten)]
    pub engines: crate::engines::EngineArgs,

    /// How often, in milliseconds, the registry is read for new versions
    /// of the models served by a version policy (`--model NAME` serves the
    /// latest and follows it); a change is applied once two reads agree.
    /// 0 never reads it again: updates come only by the repository API or
    /// SIGHUP.
    #[arg(long, env = "INFERD_REGISTRY_POLL_MS", default_value_t = 500)]
    pub registry_poll_ms: u64,

    /// Threads serving HTTP. Default: the container's cores (or the CPU
    /// asked for in the deployment config) less the engine runs that may be
    /// busy at once, but at least half of them.
    #[arg(long, env = "INFERD_HTTP_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
    pub http_threads: Option<u16>,

    /// While a client calls a model alone (at most one request in flight,
    /// and none arrived to find company for 20 ms), how long, in microseconds, an idle engine worker keeps polling for
    /// the next request before it sleeps, and the request's task for its
    /// answer before it awaits it: waking a sleeping thread costs tens of
    /// microseconds on a virtual machine. 0 never polls.
    #[arg(long, env = "INFERD_WORKER_POLL_US", default_value_t = inferd_engine::DEFAULT_IDLE_POLL.as_micros() as u64)]
    pub worker_poll_us: u64,

    /// How long, in microseconds, an HTTP thread that has nothing else to
    /// do polls for a model's answer that is due before it sleeps (only
    /// while one is due): an answer a few microseconds away then costs no
    /// sleep and no wake-up. 0 never polls.
    #[arg(long, env = "INFERD_HTTP_PARK_POLL_US", default_value_t = DEFAULT_HTTP_PARK_POLL_US)]
    pub http_park_poll_us: u64,

    /// Log format: `text` for people, `json` for collectors; default: text on a terminal.
    #[arg(long, env = "INFERD_LOG_FORMAT")]
    pub log_format: Option<LogFormatArg>,
}

/// `--log-format`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

impl From<LogFormatArg> for inferd_log::LogFormat {
    fn from(format: LogFormatArg) -> inferd_log::LogFormat {
        match format {
            LogFormatArg::Text => inferd_log::LogFormat::Text,
            LogFormatArg::Json => inferd_log::LogFormat::Json,
        }
    }
}

/// The admission limits and the deployment config they may come from.
/// Precedence: flag, then environment, then the file, then the default.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// The deployment config (`deploymentconfig.json`, the public format).
    #[arg(long, env = "INFERD_DEPLOYMENT_CONFIG")]
    pub deployment_config: Option<PathBuf>,

    /// Scoring calls running at once in this container, across all models
    /// (maxConcurrentRequestsPerContainer; default 1).
    #[arg(long, env = "INFERD_MAX_CONCURRENT_REQUESTS")]
    pub max_concurrent_requests: Option<u32>,

    /// Longest a request may wait for a free slot, in ms; 503 past it
    /// (maxQueueWaitMs; default 500).
    #[arg(long, env = "INFERD_MAX_QUEUE_WAIT_MS")]
    pub max_queue_wait_ms: Option<u64>,

    /// Longest a scoring call may run, in ms; 504 past it (scoringTimeoutMs; default 60000).
    #[arg(long, env = "INFERD_SCORING_TIMEOUT_MS")]
    pub scoring_timeout_ms: Option<u64>,

    /// Most requests that may wait for a slot; past it, 503 at once (default 1024).
    #[arg(long, env = "INFERD_MAX_QUEUE_LENGTH")]
    pub max_queue_length: Option<usize>,

    /// CPU cores for the service (containerResourceRequirements.cpu): caps
    /// the engine threads, rounded up.
    #[arg(long, env = "INFERD_CPU")]
    pub cpu: Option<f64>,

    /// Memory for request bodies being read, queued and scored, and their
    /// decoded tensors, all models together, in MiB: a request that would
    /// pass it gets 503 with Retry-After before its body is read (413 when
    /// it alone needs more). Default: half the container's memory (the
    /// cgroup's limit, else memoryInGB, else the machine's).
    #[arg(long, env = "INFERD_MAX_BODY_MEMORY_MB")]
    pub max_body_memory_mb: Option<u64>,
}

#[derive(Debug, Args)]
pub struct SwaggerArgs {
    /// The registry folder (same as the global option).
    #[arg(long, env = "INFERD_REGISTRY", default_value = "models")]
    pub registry: PathBuf,

    /// A model, NAME or NAME:VERSION; repeatable. Default: the inference
    /// config's models, else the default model.
    #[arg(long = "model", short = 'm', env = "INFERD_MODELS", value_delimiter = ',', default_value = DEFAULT_MODEL)]
    pub models: Vec<ModelRef>,

    /// The inference config (inferenceconfig.json).
    #[arg(long, env = "INFERD_INFERENCE_CONFIG")]
    pub inference_config: Option<PathBuf>,

    /// The deployment config; its authEnabled decides whether scoring
    /// needs the Bearer key in the document.
    #[arg(long, env = "INFERD_DEPLOYMENT_CONFIG")]
    pub deployment_config: Option<PathBuf>,

    /// Which document: 2 (Swagger 2.0), 3 (OpenAPI 3.0.3) or 3.1.
    #[arg(long, default_value = "2")]
    pub version: String,

    #[command(flatten)]
    pub engines: crate::engines::EngineArgs,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective limits and where each came from.
    Show {
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Print the JSON Schema of the deployment config file.
    Schema,
}

#[derive(Debug, Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    pub command: ModelCommand,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Register a file or a folder as the next version of a model.
    Register {
        /// The model's name.
        #[arg(short = 'n', long)]
        name: String,
        /// The file or folder to register.
        #[arg(short = 'p', long)]
        path: PathBuf,
        /// A tag, KEY=VALUE; repeatable.
        #[arg(long = "tag", short = 't')]
        tags: Vec<String>,
        /// A free-text description.
        #[arg(long, short = 'd', default_value = "")]
        description: String,
    },
    /// List every model and version.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one version (the latest when no version is given) as JSON.
    Show { model: ModelRef },
    /// Delete one version, or every version when none is given.
    Delete { model: ModelRef },
}
