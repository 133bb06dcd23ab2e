//! From the command line, the environment and the deployment config file to
//! the effective limits, remembering where each value came from.

use anyhow::{Context, Result};
use clap::ArgMatches;
use clap::parser::ValueSource;
use inferd_config::{ContainerMemory, DeploymentConfig, LimitOverrides, Limits, Source};

use crate::cli::LimitArgs;

/// The file (if any) and the limits in force. `matches` are those of the
/// subcommand that holds `args`, so we can tell a flag from an environment
/// variable.
pub fn resolve(
    args: &LimitArgs,
    matches: &ArgMatches,
) -> Result<(Option<DeploymentConfig>, Limits)> {
    let file = args
        .deployment_config
        .as_deref()
        .map(DeploymentConfig::from_path)
        .transpose()?;
    let source = |id: &str| match matches.value_source(id) {
        Some(ValueSource::EnvVariable) => Source::Env,
        _ => Source::Flag,
    };
    fn given<T>(value: Option<T>, source: Source) -> Option<(T, Source)> {
        value.map(|v| (v, source))
    }
    let overrides = LimitOverrides {
        max_concurrent_requests: given(
            args.max_concurrent_requests,
            source("max_concurrent_requests"),
        ),
        max_queue_wait_ms: given(args.max_queue_wait_ms, source("max_queue_wait_ms")),
        scoring_timeout_ms: given(args.scoring_timeout_ms, source("scoring_timeout_ms")),
        max_queue_length: given(args.max_queue_length, source("max_queue_length")),
        cpu: given(args.cpu, source("cpu")),
        max_body_memory_mb: given(args.max_body_memory_mb, source("max_body_memory_mb")),
    };
    let limits = Limits::resolve(
        &overrides,
        file.as_ref(),
        inferd_config::cpu::available_cores(),
        ContainerMemory::detect(),
    )
    .map_err(anyhow::Error::msg)
    .context("invalid limits")?;
    Ok((file, limits))
}

/// `inferd config show`.
pub fn show(file: Option<&DeploymentConfig>, limits: &Limits) {
    for (name, value, source) in limits.report() {
        println!("{name:<36} {value:>10}  ({source})");
    }
    println!(
        "{:<36} {:>10}  (container cores: {})",
        "engine threads per model",
        limits.engine_threads(),
        limits.container_cores
    );
    if let Some(file) = file {
        println!(
            "{:<36} {:>10}  (file)",
            "computeType",
            format!("{:?}", file.compute_type).to_lowercase()
        );
        println!(
            "{:<36} {:>10}  (file or compute type)",
            "authEnabled",
            file.auth_enabled()
        );
        for note in file.cluster_only_fields() {
            println!("cluster only, not acted on here: {note}");
        }
    }
}
