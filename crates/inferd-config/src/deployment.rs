//! `deploymentconfig.json` as users have it. Every field of the contract is
//! accepted (with the contract's defaults); fields that only mean something
//! to a cluster (replicas, autoscaler, placement) are validated and
//! reported. Unknown fields and invalid values are errors that name the
//! field.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read deployment config {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("deployment config {path}: {field}: {reason}")]
    Invalid {
        path: String,
        field: String,
        reason: String,
    },
}

/// Where the service is deployed. Values are matched without regard to case
/// (`ACI` and `aci` are the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ComputeType {
    #[default]
    Local,
    Aci,
    Aks,
}

impl<'de> Deserialize<'de> for ComputeType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ComputeType, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.to_ascii_lowercase().as_str() {
            "local" => Ok(ComputeType::Local),
            "aci" => Ok(ComputeType::Aci),
            "aks" => Ok(ComputeType::Aks),
            _ => Err(serde::de::Error::custom(format!(
                "unknown compute type '{text}'; expected local, aci or aks"
            ))),
        }
    }
}

/// The deployment config. Field names are the public ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentConfig {
    /// `local`, `aci` (container instance) or `aks` (Kubernetes).
    #[serde(default)]
    pub compute_type: ComputeType,
    /// Port of a local deployment.
    pub port: Option<u16>,
    #[serde(default)]
    pub container_resource_requirements: ContainerResourceRequirements,
    /// Require a key (default: false for local and aci, true for aks).
    pub auth_enabled: Option<bool>,
    pub keys: Option<Keys>,
    /// Serve HTTPS with `sslCertificate` and `sslKey` (PEM files).
    pub ssl_enabled: Option<bool>,
    pub ssl_certificate: Option<String>,
    pub ssl_key: Option<String>,
    pub cname: Option<String>,
    pub app_insights_enabled: Option<bool>,
    pub data_collection: Option<DataCollection>,
    /// Longest a scoring call may run, in ms (504 past it). Default 60000.
    pub scoring_timeout_ms: Option<u64>,
    /// Scoring calls running at once in this container. Default 1.
    pub max_concurrent_requests_per_container: Option<u32>,
    /// Longest a request may wait for a free slot, in ms (503 past it). Default 500.
    pub max_queue_wait_ms: Option<u64>,
    /// Fixed replica count (cluster only); absent means autoscale.
    pub num_replicas: Option<u32>,
    pub auto_scaler: Option<AutoScaler>,
    /// GPUs for the service. Default 1.
    pub gpu_cores: Option<u32>,
    pub liveness_probe_requirements: Option<LivenessProbeRequirements>,
    /// Kubernetes namespace: up to 63 of a-z, 0-9 and '-', not starting or ending with '-'.
    pub namespace: Option<String>,
    pub location: Option<String>,
    pub dns_name_label: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerResourceRequirements {
    /// CPU cores for the service. Default 0.1.
    pub cpu: Option<f64>,
    /// Memory in GB. Default 0.5.
    #[serde(rename = "memoryInGB")]
    pub memory_in_gb: Option<f64>,
    /// GPU count in some exports of the file; same meaning as `gpuCores`.
    pub gpu: Option<u32>,
}

impl ContainerResourceRequirements {
    pub fn cpu(&self) -> f64 {
        self.cpu.unwrap_or(0.1)
    }

    pub fn memory_in_gb(&self) -> f64 {
        self.memory_in_gb.unwrap_or(0.5)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Keys {
    pub primary_key: Option<String>,
    pub secondary_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataCollection {
    #[serde(default)]
    pub storage_enabled: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoScaler {
    /// Default: true when `numReplicas` is absent.
    pub autoscale_enabled: Option<bool>,
    /// Default 1.
    pub min_replicas: Option<u32>,
    /// Default 10.
    pub max_replicas: Option<u32>,
    /// Default 1.
    pub refresh_period_in_seconds: Option<u32>,
    /// Percent, default 70.
    pub target_utilization: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LivenessProbeRequirements {
    /// Default 10, at least 1.
    pub period_seconds: Option<u32>,
    /// Default 310.
    pub initial_delay_seconds: Option<u32>,
    /// Default 2, at least 1.
    pub timeout_seconds: Option<u32>,
    /// Default 1, at least 1.
    pub success_threshold: Option<u32>,
    /// Default 3, at least 1.
    pub failure_threshold: Option<u32>,
}

/// The contract's defaults for what the file leaves out.
impl AutoScaler {
    pub fn min_replicas(&self) -> u32 {
        self.min_replicas.unwrap_or(1)
    }

    pub fn max_replicas(&self) -> u32 {
        self.max_replicas.unwrap_or(10)
    }

    pub fn refresh_period_in_seconds(&self) -> u32 {
        self.refresh_period_in_seconds.unwrap_or(1)
    }

    pub fn target_utilization(&self) -> u32 {
        self.target_utilization.unwrap_or(70)
    }
}

/// The contract's defaults for what the file leaves out.
impl LivenessProbeRequirements {
    pub fn period_seconds(&self) -> u32 {
        self.period_seconds.unwrap_or(10)
    }

    pub fn initial_delay_seconds(&self) -> u32 {
        self.initial_delay_seconds.unwrap_or(310)
    }

    pub fn timeout_seconds(&self) -> u32 {
        self.timeout_seconds.unwrap_or(2)
    }

    pub fn success_threshold(&self) -> u32 {
        self.success_threshold.unwrap_or(1)
    }

    pub fn failure_threshold(&self) -> u32 {
        self.failure_threshold.unwrap_or(3)
    }
}

impl DeploymentConfig {
    /// Reads and validates a file.
    pub fn from_path(path: &Path) -> Result<DeploymentConfig, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        DeploymentConfig::from_json(&text, &shown)
    }

    /// Parses and validates JSON text; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<DeploymentConfig, ConfigError> {
        let config: DeploymentConfig =
            crate::json::parse(text).map_err(|e| ConfigError::Invalid {
                path: origin.to_owned(),
                field: e.field,
                reason: e.reason,
            })?;
        config
            .validate()
            .map_err(|(field, reason)| ConfigError::Invalid {
                path: origin.to_owned(),
                field: field.to_owned(),
                reason,
            })?;
        Ok(config)
    }

    /// Checks values that types alone cannot: minimums, ranges, names.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        let resources = &self.container_resource_requirements;
        let (cpu, memory) = (resources.cpu(), resources.memory_in_gb());
        if !(cpu.is_finite() && cpu > 0.0) {
            return Err((
                "containerResourceRequirements.cpu",
                format!("must be above 0, got {cpu}"),
            ));
        }
        if !(memory.is_finite() && memory > 0.0) {
            return Err((
                "containerResourceRequirements.memoryInGB",
                format!("must be above 0, got {memory}"),
            ));
        }
        at_least(
            self.max_concurrent_requests_per_container,
            1,
            "maxConcurrentRequestsPerContainer",
        )?;
        at_least(
            self.scoring_timeout_ms
                .map(|v| v.min(u32::MAX as u64) as u32),
            1,
            "scoringTimeoutMs",
        )?;
        if self.ssl_enabled == Some(true)
            && (self.ssl_certificate.is_none() || self.ssl_key.is_none())
        {
            return Err((
                "sslEnabled",
                "needs both sslCertificate and sslKey".to_owned(),
            ));
        }
        if let Some(scaler) = &self.auto_scaler {
            at_least(scaler.min_replicas, 1, "autoScaler.minReplicas")?;
            at_least(scaler.max_replicas, 1, "autoScaler.maxReplicas")?;
            at_least(
                scaler.refresh_period_in_seconds,
                1,
                "autoScaler.refreshPeriodInSeconds",
            )?;
            if let (Some(min), Some(max)) = (scaler.min_replicas, scaler.max_replicas)
                && min > max
            {
                return Err((
                    "autoScaler.minReplicas",
                    format!("{min} is above maxReplicas {max}"),
                ));
            }
            if let Some(target) = scaler.target_utilization
                && !(1..=100).contains(&target)
            {
                return Err((
                    "autoScaler.targetUtilization",
                    format!("must be 1 to 100 (percent), got {target}"),
                ));
            }
        }
        if let Some(probe) = &self.liveness_probe_requirements {
            at_least(
                probe.period_seconds,
                1,
                "livenessProbeRequirements.periodSeconds",
            )?;
            at_least(
                probe.timeout_seconds,
                1,
                "livenessProbeRequirements.timeoutSeconds",
            )?;
            at_least(
                probe.success_threshold,
                1,
                "livenessProbeRequirements.successThreshold",
            )?;
            at_least(
                probe.failure_threshold,
                1,
                "livenessProbeRequirements.failureThreshold",
            )?;
        }
        if let Some(namespace) = &self.namespace {
            validate_namespace(namespace).map_err(|reason| ("namespace", reason))?;
        }
        Ok(())
    }

    /// GPUs given to the service: `gpuCores`, else the resource
    /// requirements' `gpu`; `None` when the file says neither.
    pub fn gpu_cores(&self) -> Option<u32> {
        self.gpu_cores.or(self.container_resource_requirements.gpu)
    }

    /// Whether keys are required: the file's word, else the compute type's default.
    pub fn auth_enabled(&self) -> bool {
        self.auth_enabled
            .unwrap_or(self.compute_type == ComputeType::Aks)
    }

    /// Lines that say which cluster-only fields were given and that a single
    /// container does not act on them (for the start-up log).
    pub fn cluster_only_fields(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(n) = self.num_replicas {
            notes.push(format!("numReplicas={n}"));
        }
        if let Some(scaler) = &self.auto_scaler {
            notes.push(format!(
                "autoScaler(enabled={}, minReplicas={}, maxReplicas={}, refreshPeriodInSeconds={}, targetUtilization={})",
                scaler.autoscale_enabled.unwrap_or(self.num_replicas.is_none()),
                scaler.min_replicas(),
                scaler.max_replicas(),
                scaler.refresh_period_in_seconds(),
                scaler.target_utilization(),
            ));
        }
        for (name, value) in [
            ("namespace", &self.namespace),
            ("location", &self.location),
            ("dnsNameLabel", &self.dns_name_label),
        ] {
            if let Some(value) = value {
                notes.push(format!("{name}={value}"));
            }
        }
        notes
    }
}

fn at_least(
    value: Option<u32>,
    min: u32,
    field: &'static str,
) -> Result<(), (&'static str, String)> {
    match value {
        Some(v) if v < min => Err((field, format!("must be at least {min}, got {v}"))),
        _ => Ok(()),
    }
}

fn validate_namespace(namespace: &str) -> Result<(), String> {
    if namespace.is_empty() || namespace.len() > 63 {
        return Err(format!("'{namespace}' must be 1 to 63 characters"));
    }
    if let Some(bad) = namespace
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "'{namespace}' holds '{bad}'; only a-z, 0-9 and '-' are allowed"
        ));
    }
    if namespace.starts_with('-') || namespace.ends_with('-') {
        return Err(format!("'{namespace}' must not start or end with '-'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DeploymentConfig, String> {
        DeploymentConfig::from_json(text, "test.json").map_err(|e| e.to_string())
    }

    #[test]
    fn the_public_examples_parse() {
        let local = parse(r#"{"computeType": "local", "port": 32267}"#).unwrap();
        assert_eq!(
            (local.compute_type, local.port),
            (ComputeType::Local, Some(32267))
        );
        assert!(!local.auth_enabled());

        let aks = parse(
            r#"{
              "computeType": "AKS",
              "containerResourceRequirements": {"cpu": 1.5, "memoryInGB": 2},
              "authEnabled": true, "keys": {"primaryKey": "a", "secondaryKey": "b"},
              "sslEnabled": false, "appInsightsEnabled": false,
              "dataCollection": {"storageEnabled": false},
              "scoringTimeoutMs": 1000, "maxConcurrentRequestsPerContainer": 2, "maxQueueWaitMs": 50,
              "autoScaler": {"autoscaleEnabled": true, "minReplicas": 1, "maxReplicas": 4,
                             "refreshPeriodInSeconds": 1, "targetUtilization": 70},
              "gpuCores": 0,
              "livenessProbeRequirements": {"periodSeconds": 10, "initialDelaySeconds": 310,
                  "timeoutSeconds": 2, "successThreshold": 1, "failureThreshold": 3},
              "namespace": "ml-prod", "location": "westeurope", "dnsNameLabel": "scorer"
            }"#,
        )
        .unwrap();
        assert_eq!(aks.compute_type, ComputeType::Aks);
        assert_eq!(aks.container_resource_requirements.cpu(), 1.5);
        assert_eq!(aks.max_concurrent_requests_per_container, Some(2));
        assert!(aks.auth_enabled());
        assert_eq!(aks.cluster_only_fields().len(), 4);
    }

    #[test]
    fn defaults_are_the_contracts() {
        let config = parse("{}").unwrap();
        assert_eq!(config.compute_type, ComputeType::Local);
        assert_eq!(config.container_resource_requirements.cpu(), 0.1);
        assert_eq!(config.container_resource_requirements.memory_in_gb(), 0.5);
        assert!(!parse(r#"{"computeType": "aci"}"#).unwrap().auth_enabled());
        assert!(parse(r#"{"computeType": "aks"}"#).unwrap().auth_enabled());
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                r#"{"scoringTimeoutMs": -1}"#,
                "test.json: scoringTimeoutMs: invalid value: integer `-1`, expected u64",
            ),
            (
                r#"{"maxQueueWaitMs": "fast"}"#,
                "test.json: maxQueueWaitMs: invalid type: string \"fast\", expected u64",
            ),
            (
                r#"{"scoringTimeoutMs": 0}"#,
                "test.json: scoringTimeoutMs: must be at least 1, got 0",
            ),
            (
                r#"{"maxConcurrentRequestsPerContainer": 0}"#,
                "test.json: maxConcurrentRequestsPerContainer: must be at least 1, got 0",
            ),
            (
                r#"{"livenessProbeRequirements": {"failureThreshold": 0}}"#,
                "test.json: livenessProbeRequirements.failureThreshold: must be at least 1, got 0",
            ),
            (
                r#"{"namespace": "ml_prod"}"#,
                "test.json: namespace: 'ml_prod' holds '_'; only a-z, 0-9 and '-' are allowed",
            ),
            (
                r#"{"namespace": "-ml"}"#,
                "test.json: namespace: '-ml' must not start or end with '-'",
            ),
            (
                r#"{"computeType": "edge"}"#,
                "test.json: computeType: unknown compute type 'edge'; expected local, aci or aks",
            ),
            (
                r#"{"containerResourceRequirements": {"cpu": 0}}"#,
                "test.json: containerResourceRequirements.cpu: must be above 0, got 0",
            ),
            (
                r#"{"autoScaler": {"minReplicas": 5, "maxReplicas": 2}}"#,
                "test.json: autoScaler.minReplicas: 5 is above maxReplicas 2",
            ),
            (
                r#"{"sslEnabled": true}"#,
                "test.json: sslEnabled: needs both sslCertificate and sslKey",
            ),
        ];
        for (text, message) in cases {
            let error = parse(text).unwrap_err();
            let wanted = format!("deployment config {message}");
            assert!(error.starts_with(&wanted), "{text}: {error}");
        }
        let unknown = parse(r#"{"maxQueueWait": 5}"#).unwrap_err();
        assert!(
            unknown.starts_with(
                "deployment config test.json: maxQueueWait: unknown field `maxQueueWait`"
            ),
            "{unknown}"
        );
        let nested = parse(r#"{"autoScaler": {"minimum": 1}}"#).unwrap_err();
        assert!(
            nested.starts_with("deployment config test.json: autoScaler.minimum: unknown field"),
            "{nested}"
        );
        let top = parse("7").unwrap_err();
        assert!(
            top.starts_with("deployment config test.json: (top level): invalid type"),
            "{top}"
        );
    }

    #[test]
    fn a_schema_is_generated() {
        let schema = serde_json::to_value(schemars::schema_for!(DeploymentConfig)).unwrap();
        let properties = schema["properties"].as_object().unwrap();
        for field in [
            "computeType",
            "maxQueueWaitMs",
            "scoringTimeoutMs",
            "maxConcurrentRequestsPerContainer",
            "namespace",
        ] {
            assert!(properties.contains_key(field), "{field}");
        }
        assert_eq!(schema["additionalProperties"], false);
    }
}
