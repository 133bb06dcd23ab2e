//! From the inference config to what is served: which models, and the
//! contract and documents of each ([`ServiceApi`]). `serve` and `swagger`
//! share this, so the printed document is the served one.

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::ArgMatches;
use clap::parser::ValueSource;
use inferd_config::{DeploymentConfig, InferenceConfig, ModelEntry};
use inferd_engine::ModelSet;
use inferd_openapi::ServiceInfo;
use inferd_registry::ModelRef;
use inferd_server::ServiceApi;

/// The inference config, if one was given, with its path for messages.
pub struct Inference {
    pub path: String,
    pub config: InferenceConfig,
}

impl Inference {
    pub fn read(path: Option<&Path>) -> Result<Option<Inference>> {
        let Some(path) = path else { return Ok(None) };
        let config = InferenceConfig::from_path(path)?;
        Ok(Some(Inference {
            path: path.display().to_string(),
            config,
        }))
    }

    pub fn entries(inference: Option<&Inference>) -> &[ModelEntry] {
        inference.map_or(&[], |i| &i.config.models)
    }
}

/// The models to serve: `--model` when given, else the inference config's,
/// else the default model.
pub fn model_refs(
    flag: &[ModelRef],
    matches: &ArgMatches,
    inference: Option<&Inference>,
) -> Result<Vec<ModelRef>> {
    let given = !matches!(
        matches.value_source("models"),
        None | Some(ValueSource::DefaultValue)
    );
    let Some(inference) = inference else {
        return Ok(flag.to_vec());
    };
    if given {
        bail!(
            "models are named both by --model (or INFERD_MODELS) and by the inference config {}; name them in one place",
            inference.path
        );
    }
    config_refs(inference)
}

/// The inference config's models, in order.
pub fn config_refs(inference: &Inference) -> Result<Vec<ModelRef>> {
    inference
        .config
        .models
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            entry.model.parse::<ModelRef>().with_context(|| {
                format!("inference config {}: models[{index}].model", inference.path)
            })
        })
        .collect()
}

/// Title, version and prefix from the `SERVICE_*` environment; whether
/// scoring needs a key and TLS from the deployment config.
pub fn service_info(deployment: Option<&DeploymentConfig>) -> ServiceInfo {
    let mut info = ServiceInfo::from_vars(|name| std::env::var(name).ok());
    if let Some(file) = deployment {
        info.auth_required = file.auth_enabled();
        info.https = file.ssl_enabled == Some(true);
    }
    info
}

/// Each model's contract and the documents; a sample that does not fit its
/// model is a start-up error naming the key.
pub fn build(
    info: &ServiceInfo,
    models: &ModelSet,
    inference: Option<&Inference>,
) -> Result<ServiceApi> {
    let entries = Inference::entries(inference);
    ServiceApi::build(info, models, entries).map_err(|e| {
        let path = inference.map_or("", |i| i.path.as_str());
        anyhow::anyhow!("inference config {path}: {e}")
    })
}

/// Logs what the inference config asks for, per model. Which engine runs
/// each model (and the refusal of one this build lacks) is `engines`' job.
pub fn report(inference: &Inference) -> Result<()> {
    let config = &inference.config;
    for field in config.image_build_fields() {
        tracing::info!(
            field,
            "image-build setting accepted; a running server does not act on it"
        );
    }
    for entry in &config.models {
        let runtime = config.runtime_of(entry);
        tracing::info!(
            model = %entry.model,
            runtime = ?runtime,
            enable_gpu = config.gpu_of(entry),
            batching = ?entry.batching,
            data_field = %entry.data_field,
            "inference config entry"
        );
    }
    Ok(())
}
