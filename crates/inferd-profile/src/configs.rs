//! The two files a candidate is served with, and the recommendation is
//! written as: `deploymentconfig.json` (CPU, memory, admission, replicas)
//! and the inference config (engine and batching of the model's entry,
//! on top of the user's own entry when one was given). Each is read back
//! with the server's own parser before it is used, so what was measured
//! and what is written are files the server accepts.

use std::path::Path;

use inferd_config::deployment::AutoScaler;
use inferd_config::{Batching, DeploymentConfig, InferenceConfig, ModelEntry, Runtime};
use inferd_deploy::pod::strip_nulls;

use crate::ProfileError;
use crate::args::Engine;
use crate::grid::Settings;

/// Replicas for a target rate, and the autoscaler that keeps them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Replicas {
    /// Replicas that carry the target rate at the planned utilization.
    pub count: u32,
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// The autoscaler's CPU target, percent of the CPU asked for.
    pub target_utilization: u32,
}

/// What a deployment config says besides the candidate's settings.
#[derive(Debug, Clone, Default)]
pub struct Sizing {
    pub memory_in_gb: Option<f64>,
    pub replicas: Option<Replicas>,
}

/// `maxQueueWaitMs` for a p99 target: a replica past its capacity answers
/// 503 at twice the target (a client or balancer retries elsewhere)
/// instead of queueing far past it.
pub fn max_queue_wait_ms(p99_ms: f64) -> u64 {
    ((2.0 * p99_ms).ceil() as u64).max(10)
}

/// The deployment config of `settings`, as pretty JSON (nulls left out).
pub fn deployment_config(
    settings: &Settings,
    p99_ms: f64,
    sizing: &Sizing,
) -> Result<String, ProfileError> {
    let mut config = DeploymentConfig::default();
    config.container_resource_requirements.cpu = Some(settings.cpu);
    config.container_resource_requirements.memory_in_gb = sizing.memory_in_gb;
    config.max_concurrent_requests_per_container = Some(settings.max_concurrent_requests);
    config.max_queue_wait_ms = Some(max_queue_wait_ms(p99_ms));
    if let Some(replicas) = &sizing.replicas {
        config.auto_scaler = Some(AutoScaler {
            autoscale_enabled: Some(true),
            min_replicas: Some(replicas.min_replicas),
            max_replicas: Some(replicas.max_replicas),
            refresh_period_in_seconds: None,
            target_utilization: Some(replicas.target_utilization),
        });
    }
    let text = pretty(&config)?;
    DeploymentConfig::from_json(&text, "the profile's deploymentconfig.json")
        .map_err(|e| ProfileError::Config(format!("{e}")))?;
    Ok(text)
}

/// The inference config of `settings` for `model`: the user's config
/// (`base`, made self-contained) with only this model's entry, whose
/// engine and batching the candidate sets.
pub fn inference_config(
    base: Option<&InferenceConfig>,
    model: &str,
    settings: &Settings,
) -> Result<String, ProfileError> {
    let name = model.split(':').next().unwrap_or(model);
    let mut config = base.map(InferenceConfig::inline).unwrap_or_default();
    let mut entry = match config.models.iter().position(|m| m.name() == name) {
        Some(i) => config.models.swap_remove(i),
        None => serde_json::from_value::<ModelEntry>(serde_json::json!({ "model": model }))
            .map_err(|e| ProfileError::Config(format!("a model entry for {model}: {e}")))?,
    };
    entry.model = model.to_owned();
    entry.versions = None;
    entry.traffic = None;
    entry.runtime = Some(match settings.engine {
        Engine::Tract => Runtime::Tract,
        Engine::Onnxruntime => Runtime::Onnxruntime,
    });
    entry.batching = settings.batching.map(|b| Batching {
        max_batch_size: b.max_batch_size,
        max_batch_delay_ms: b.max_batch_delay_ms,
        preferred_batch_sizes: Vec::new(),
    });
    config.models = vec![entry];
    let text = pretty(&config)?;
    InferenceConfig::from_json(&text, "the profile's inference config", Path::new("."))
        .map_err(|e| ProfileError::Config(format!("{e}")))?;
    Ok(text)
}

/// Pretty JSON without the `null`s of unset options.
fn pretty(value: &impl serde::Serialize) -> Result<String, ProfileError> {
    let mut value = serde_json::to_value(value).map_err(|e| ProfileError::Config(e.to_string()))?;
    strip_nulls(&mut value);
    let mut text =
        serde_json::to_string_pretty(&value).map_err(|e| ProfileError::Config(e.to_string()))?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::BatchSetting;

    fn settings() -> Settings {
        Settings {
            engine: Engine::Tract,
            cpu: 1.0,
            max_concurrent_requests: 2,
            batching: Some(BatchSetting {
                max_batch_size: 32,
                max_batch_delay_ms: 1,
            }),
        }
    }

    #[test]
    fn a_deployment_config_holds_the_settings_and_no_nulls() {
        let sizing = Sizing {
            memory_in_gb: Some(0.1),
            replicas: Some(Replicas {
                count: 3,
                min_replicas: 3,
                max_replicas: 6,
                target_utilization: 55,
            }),
        };
        let text = deployment_config(&settings(), 5.0, &sizing).unwrap();
        assert!(!text.contains("null"), "{text}");
        let config = DeploymentConfig::from_json(&text, "t").unwrap();
        assert_eq!(config.container_resource_requirements.cpu, Some(1.0));
        assert_eq!(
            config.container_resource_requirements.memory_in_gb,
            Some(0.1)
        );
        assert_eq!(config.max_concurrent_requests_per_container, Some(2));
        assert_eq!(config.max_queue_wait_ms, Some(10));
        let scaler = config.auto_scaler.unwrap();
        assert_eq!((scaler.min_replicas(), scaler.max_replicas()), (3, 6));
        assert_eq!(scaler.target_utilization(), 55);
        assert_eq!(config.num_replicas, None, "never beside the autoscaler");
    }

    #[test]
    fn the_queue_wait_is_twice_the_target() {
        assert_eq!(max_queue_wait_ms(5.0), 10);
        assert_eq!(max_queue_wait_ms(2.0), 10);
        assert_eq!(max_queue_wait_ms(50.0), 100);
        assert_eq!(max_queue_wait_ms(12.3), 25);
    }

    #[test]
    fn an_inference_config_keeps_the_users_entry_and_sets_engine_and_batching() {
        let base = InferenceConfig::from_json(
            r#"{"models": [
                {"model": "other"},
                {"model": "mlp-784", "dataField": "rows", "runtime": "onnxruntime",
                 "versions": "all"}
            ]}"#,
            "t",
            Path::new("."),
        )
        .unwrap();
        let text = inference_config(Some(&base), "mlp-784:1", &settings()).unwrap();
        let config = InferenceConfig::from_json(&text, "t", Path::new(".")).unwrap();
        assert_eq!(config.models.len(), 1);
        let entry = &config.models[0];
        assert_eq!(entry.model, "mlp-784:1");
        assert_eq!(entry.data_field, "rows");
        assert_eq!(entry.runtime, Some(Runtime::Tract));
        assert_eq!(entry.batching.as_ref().unwrap().max_batch_size, 32);
        assert!(entry.versions.is_none());
        let fresh = inference_config(
            None,
            "ridge",
            &Settings {
                batching: None,
                ..settings()
            },
        );
        let fresh = InferenceConfig::from_json(&fresh.unwrap(), "t", Path::new(".")).unwrap();
        assert!(fresh.models[0].batching.is_none());
    }
}
