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
    Serve(ServeArgs),
    /// Register, list, show and delete models in the registry.
    Model(ModelArgs),
}

/// The model served when none is named.
pub const DEFAULT_MODEL: &str = "diabetes-ridge";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The registry folder (same as the global option).
    #[arg(long, env = "INFERD_REGISTRY", default_value = "models")]
    pub registry: PathBuf,

    /// A model to serve, NAME or NAME:VERSION (latest when no version);
    /// repeat for several. The first is the default at /score.
    #[arg(long = "model", short = 'm', env = "INFERD_MODELS", value_delimiter = ',', default_value = DEFAULT_MODEL)]
    pub models: Vec<ModelRef>,

    /// Address to listen on. 127.0.0.1 keeps the server private to this
    /// machine; use 0.0.0.0 inside a container.
    #[arg(long, env = "INFERD_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Port to listen on (0 picks a free one).
    #[arg(long, short = 'p', env = "INFERD_PORT", default_value_t = 5001)]
    pub port: u16,

    /// Largest request body in bytes; larger bodies get 413.
    #[arg(long, env = "INFERD_MAX_BODY_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Engine worker threads per model (default: the number of cores).
    #[arg(long, env = "INFERD_WORKERS")]
    pub workers: Option<usize>,

    /// Longest a scoring call may take, queueing included, in milliseconds (504 past it).
    #[arg(long, env = "INFERD_SCORING_TIMEOUT_MS", default_value_t = 60_000)]
    pub scoring_timeout_ms: u64,

    /// Longest the drain on shutdown waits for in-flight requests, in seconds.
    #[arg(long, env = "INFERD_DRAIN_TIMEOUT_S", default_value_t = 30)]
    pub drain_timeout_s: u64,

    /// Log format: `text` for people, `json` for collectors; default: text on a terminal.
    #[arg(long, env = "INFERD_LOG_FORMAT")]
    pub log_format: Option<crate::logging::LogFormat>,
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
