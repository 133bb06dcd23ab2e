//! The inferd binary: parses the command line and hands over to the
//! subcommand. Wiring only: flags and files become the library crates'
//! settings; every behaviour lives in a library crate (logs in
//! `inferd-log`, process tuning in `inferd-process`).
//!
//! # Layout
//! - [`cli`]: the command line (clap).
//! - [`batching`]: the batching flags, as the engine's batch policy.
//! - [`serve_command`]: `inferd serve`: bind, load, serve, drain on a signal.
//! - [`model_command`]: `inferd model ...`: the registry from the shell.
//! - [`service_command`]: `inferd service update`: a model version loaded
//!   into a running server (the repository API).
//! - [`health_command`]: `inferd health`: the image's health check.
//! - [`deploy_command`]: `inferd deploy ...`: Kubernetes and KServe manifests.
//! - [`batch_command`]: `inferd batch`: files scored by a model; `batch merge`.
//! - `profile` (here): `inferd profile`, wired to `inferd-profile`.
//! - [`swagger_command`]: `inferd swagger`: the API document, without serving.
//! - [`service_api`]: the inference config to the models served and their API.
//! - [`config_command`]: `inferd config ...`: effective limits, the file's schema.
//! - [`limits`]: flags, environment and file to the effective limits.
//! - [`security`]: keys and TLS options, resolved to a gate and a TLS config.
//! - [`observe`]: metrics and access-log switches, data collection.
#![forbid(unsafe_code)]

mod batch_command;
mod batching;
mod cli;
mod config_command;
mod deploy_command;
mod engines;
mod health_command;
mod limits;
mod model_command;
mod observe;
mod security;
mod serve_command;
mod service_api;
mod service_command;
mod swagger_command;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};

/// How long the binary waits, at exit, for queued log lines to be written.
const LOG_FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `inferd profile`: fails (exit 1) unless the recommendation was verified.
fn profile(args: inferd_profile::ProfileArgs, registry: &std::path::Path) -> anyhow::Result<()> {
    let context = inferd_profile::Context {
        registry: registry.to_path_buf(),
        exe: std::env::current_exe()?,
        onnxruntime_built: cfg!(feature = "ort"),
    };
    let profile = inferd_profile::run(args, &context)?;
    match profile.verifications.last() {
        None => anyhow::bail!("no candidate held the p99 target"),
        Some(v) if !v.held => anyhow::bail!(
            "no recommendation held under load ({} tried); the last: {}",
            profile.verifications.len(),
            v.failure.as_deref().unwrap_or("p99 over the target")
        ),
        Some(_) => Ok(()),
    }
}

fn main() -> ExitCode {
    inferd_process::configure();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // The subcommand's own matches tell a flag from an environment variable.
    let sub = |name: &str| {
        matches
            .subcommand_matches(name)
            .expect("clap matched this subcommand")
    };
    let result = match cli.command {
        Command::Serve(args) => serve_command::run(*args, sub("serve")),
        Command::Model(args) => model_command::run(&cli.registry, args),
        Command::Config(args) => config_command::run(args, sub("config")),
        Command::Swagger(args) => swagger_command::run(args, sub("swagger")),
        Command::Service(args) => service_command::run(args),
        Command::Health(args) => health_command::run(args),
        Command::Deploy(args) => deploy_command::run(args, &cli.registry, sub("deploy")),
        Command::Batch(args) => batch_command::run(args, &cli.registry),
        Command::Bench(args) => inferd_bench::run(args)
            .map(drop)
            .map_err(anyhow::Error::from),
        Command::Profile(args) => profile(args, &cli.registry),
    };
    // Queued log lines first, so they come before the error below.
    inferd_log::finish(LOG_FLUSH_TIMEOUT);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
