//! The inferd container as a cluster runs it, shared by the Kubernetes
//! Deployment and the KServe runtime: its settings (environment, the
//! config files mounted from a ConfigMap, keys and TLS from Secrets), its
//! resources, probes and preStop wait, and a locked-down security context
//! (non-root, read-only root, no privilege escalation, no capabilities).
//! What inferd writes goes to volumes: `/tmp`, and the collected data.

use inferd_config::DeploymentConfig;
use serde_json::{Map, Value, json};

use crate::timing::{Probes, STARTUP_PERIOD_S, Termination};
use crate::{DeployError, Request, Sources};

/// The port inferd listens on in a Deployment (its default).
pub const HTTP_PORT: u16 = 5001;
/// The user and group the images run as (not root; no name needed).
pub const USER_ID: u32 = 10001;
pub const CONFIG_DIR: &str = "/etc/inferd/config";
pub const KEYS_DIR: &str = "/etc/inferd/keys";
pub const TLS_DIR: &str = "/etc/inferd/tls";
pub const COLLECT_DIR: &str = "/var/lib/inferd/data-collection";
pub const DEPLOYMENT_FILE: &str = "deploymentconfig.json";
pub const INFERENCE_FILE: &str = "inferenceconfig.json";
pub const KEYS_FILE: &str = "keys.json";

/// The container, the pod's volumes for it, and what goes in the ConfigMap.
#[derive(Debug, Clone)]
pub struct PodParts {
    pub container: Value,
    pub volumes: Vec<Value>,
    pub config_data: Map<String, Value>,
    /// The pod's own security settings (user, group, seccomp).
    pub security_context: Value,
    pub termination: Termination,
    /// What the deployer should know: fields reported, timings chosen.
    pub notes: Vec<String>,
}

/// How the container is named and reached; the rest is the same.
#[derive(Debug, Clone)]
pub struct Shape {
    pub container_name: &'static str,
    pub port: u16,
    /// The port's name, where the target lets ports be named (KServe's
    /// Knative does not); probes then use it.
    pub port_name: Option<&'static str>,
    pub args: Vec<String>,
}

/// The labels every object carries; the first two select the pods.
pub fn labels(name: &str) -> Value {
    json!({
        "app.kubernetes.io/name": "inferd",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": "scoring",
    })
}

pub fn selector(name: &str) -> Value {
    json!({
        "app.kubernetes.io/name": "inferd",
        "app.kubernetes.io/instance": name,
    })
}

/// `metadata` for an object named `name` (namespaced when one is given).
pub fn metadata(name: &str, request: &Request, config: &DeploymentConfig) -> Value {
    let mut metadata = json!({"name": name, "labels": labels(&request.name)});
    if let Some(namespace) = namespace(request, config) {
        metadata["namespace"] = Value::String(namespace.to_owned());
    }
    metadata
}

/// The flag's namespace, else the config's.
pub fn namespace<'a>(request: &'a Request, config: &'a DeploymentConfig) -> Option<&'a str> {
    request.namespace.as_deref().or(config.namespace.as_deref())
}

pub fn config_map_name(name: &str) -> String {
    format!("{name}-config")
}

pub fn keys_secret_name(name: &str) -> String {
    format!("{name}-keys")
}

pub fn tls_secret_name(name: &str) -> String {
    format!("{name}-tls")
}

/// Builds the container and its volumes.
pub fn build(request: &Request, sources: &Sources, shape: Shape) -> Result<PodParts, DeployError> {
    let config = &sources.deployment;
    // What the config asks that no target renders comes first.
    let mut notes = crate::azure_only_notes(config);
    let termination = Termination::new(config, request.pre_stop_s, request.shutdown_grace_s);
    let probes = Probes::new(config);
    let tls = config.ssl_enabled == Some(true);
    if tls && sources.tls.is_none() {
        return Err(DeployError::invalid(
            "sslEnabled",
            "the certificate and key were not read (sslCertificate, sslKey)",
        ));
    }
    let auth = config.auth_enabled();
    if auth && sources.keys.is_none() {
        return Err(DeployError::invalid(
            "authEnabled",
            "auth is on but no keys were given or generated",
        ));
    }
    let collect = config
        .data_collection
        .as_ref()
        .is_some_and(|d| d.storage_enabled);

    let mut vars = vec![
        env("INFERD_HOST", "0.0.0.0"),
        env("INFERD_PORT", &shape.port.to_string()),
        env("INFERD_LOG_FORMAT", "json"),
        env("TMPDIR", "/tmp"),
        env(
            "INFERD_DEPLOYMENT_CONFIG",
            &format!("{CONFIG_DIR}/{DEPLOYMENT_FILE}"),
        ),
        env(
            "INFERD_SHUTDOWN_GRACE_S",
            &termination.shutdown_grace_s.to_string(),
        ),
        env(
            "INFERD_DRAIN_TIMEOUT_S",
            &termination.drain_timeout_s.to_string(),
        ),
    ];
    if sources.inference.is_some() {
        vars.push(env(
            "INFERD_INFERENCE_CONFIG",
            &format!("{CONFIG_DIR}/{INFERENCE_FILE}"),
        ));
    }
    // KServe's runtime names its one model in the arguments.
    if !request.models.is_empty() && !shape.args.iter().any(|a| a == "--model-path") {
        vars.push(env("INFERD_MODELS", &request.models.join(",")));
    }
    if auth {
        vars.push(env("INFERD_KEYS_FILE", &format!("{KEYS_DIR}/{KEYS_FILE}")));
    }
    if collect {
        vars.push(env("INFERD_DATA_COLLECTION_DIR", COLLECT_DIR));
        notes.push(format!(
            "dataCollection.storageEnabled: records go to {COLLECT_DIR}, an emptyDir that is lost with its pod; mount a PersistentVolumeClaim there to keep them"
        ));
    }

    let mut mounts = vec![
        json!({"name": "tmp", "mountPath": "/tmp"}),
        json!({"name": "config", "mountPath": CONFIG_DIR, "readOnly": true}),
    ];
    // inferd writes only generated keys (never here: keys are given) and
    // collected data to disk; /tmp is for whatever a library wants.
    let mut volumes = vec![
        json!({"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}),
        json!({"name": "config", "configMap": {"name": config_map_name(&request.name)}}),
    ];
    if auth {
        // The whole folder, not a subPath: kubelet swaps a Secret's files
        // in place only in a folder mount, and inferd re-reads the file, so
        // a rotated key takes effect without a restart.
        mounts.push(json!({"name": "keys", "mountPath": KEYS_DIR, "readOnly": true}));
        volumes.push(json!({"name": "keys", "secret": {"secretName": keys_secret_name(&request.name), "defaultMode": 0o440}}));
    }
    if tls {
        mounts.push(json!({"name": "tls", "mountPath": TLS_DIR, "readOnly": true}));
        volumes.push(json!({"name": "tls", "secret": {"secretName": tls_secret_name(&request.name), "defaultMode": 0o440}}));
    }
    if collect {
        mounts.push(json!({"name": "data-collection", "mountPath": COLLECT_DIR}));
        volumes.push(json!({"name": "data-collection", "emptyDir": {}}));
    }

    let scheme = if tls { "HTTPS" } else { "HTTP" };
    let (ports, probe_port) = match shape.port_name {
        Some(name) => (
            json!([{"name": name, "containerPort": shape.port, "protocol": "TCP"}]),
            Value::from(name),
        ),
        None => (
            json!([{"containerPort": shape.port, "protocol": "TCP"}]),
            Value::from(shape.port),
        ),
    };
    let probe = |path: &str| json!({"path": path, "port": probe_port, "scheme": scheme});
    let container = json!({
        "name": shape.container_name,
        "image": request.image,
        "imagePullPolicy": "IfNotPresent",
        "args": shape.args,
        "ports": ports,
        "env": vars,
        "resources": resources(config, sources.inference_wants_gpu, &mut notes)?,
        "startupProbe": {
            "httpGet": probe("/ready"),
            "periodSeconds": STARTUP_PERIOD_S,
            "timeoutSeconds": probes.timeout_s,
            "failureThreshold": probes.startup_failures(),
        },
        "livenessProbe": {
            "httpGet": probe("/"),
            "periodSeconds": probes.period_s,
            "timeoutSeconds": probes.timeout_s,
            "failureThreshold": probes.failure_threshold,
        },
        "readinessProbe": {
            "httpGet": probe("/ready"),
            "periodSeconds": probes.period_s,
            "timeoutSeconds": probes.timeout_s,
            "successThreshold": probes.success_threshold,
            "failureThreshold": probes.failure_threshold,
        },
        "lifecycle": {"preStop": {"sleep": {"seconds": termination.pre_stop_s}}},
        "securityContext": container_security(),
        "volumeMounts": mounts,
    });
    notes.push(format!(
        "livenessProbeRequirements: liveness on / every {} s (timeout {} s, {} failures); readiness on /ready likewise; a startup probe on /ready gives a slow model load {} s (initialDelaySeconds + periodSeconds x failureThreshold) before a restart",
        probes.period_s, probes.timeout_s, probes.failure_threshold, probes.startup_budget_s
    ));
    if probes.success_threshold != 1 {
        notes.push(format!(
            "livenessProbeRequirements.successThreshold: {} applies to readiness; Kubernetes requires 1 for liveness and startup probes",
            probes.success_threshold
        ));
    }
    notes.push(format!(
        "stopping: preStop sleeps {} s (needs Kubernetes 1.30 or later), inferd then keeps accepting {} s with /ready at 503, drains for at most {} s (maxQueueWaitMs + scoringTimeoutMs) and flushes within {} s; terminationGracePeriodSeconds is {} s",
        termination.pre_stop_s,
        termination.shutdown_grace_s,
        termination.drain_timeout_s,
        termination.flush_s,
        termination.kill_after_s
    ));
    let mut config_data = Map::new();
    config_data.insert(
        DEPLOYMENT_FILE.to_owned(),
        Value::String(pretty(&mounted_deployment_config(config)?)),
    );
    if let Some(inference) = &sources.inference {
        config_data.insert(INFERENCE_FILE.to_owned(), Value::String(pretty(inference)));
    }
    Ok(PodParts {
        container,
        volumes,
        config_data,
        security_context: pod_security(),
        termination,
        notes,
    })
}

/// An inferd container's lock-down: no privilege escalation, a read-only
/// root, not root, no capabilities.
pub(crate) fn container_security() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "runAsNonRoot": true,
        "capabilities": {"drop": ["ALL"]},
    })
}

/// An inferd pod's own security settings: the images' user and group,
/// the runtime's default seccomp profile.
pub(crate) fn pod_security() -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": USER_ID,
        "runAsGroup": USER_ID,
        "fsGroup": USER_ID,
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

fn env(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values always serialise");
    text.push('\n');
    text
}

/// Requests equal to limits (the Guaranteed class: a scoring pod is not
/// the one the node evicts or throttles first). inferd sizes its threads
/// from the CPU limit and its body budget from the memory limit.
pub(crate) fn resources(
    config: &DeploymentConfig,
    inference_wants_gpu: bool,
    notes: &mut Vec<String>,
) -> Result<Value, DeployError> {
    let wanted = config.container_resource_requirements.cpu();
    let memory = config.container_resource_requirements.memory_in_gb();
    let millicores = (wanted * 1000.0).round().max(1.0) as u64;
    let cpu = if millicores.is_multiple_of(1000) {
        (millicores / 1000).to_string()
    } else {
        format!("{millicores}m")
    };
    let megabytes = (memory * 1000.0).round().max(1.0) as u64;
    let memory = if megabytes.is_multiple_of(1000) {
        format!("{}G", megabytes / 1000)
    } else {
        format!("{megabytes}M")
    };
    let mut limits = json!({"cpu": cpu, "memory": memory});
    let requests = limits.clone();
    let gpus = match (config.gpu_cores(), inference_wants_gpu) {
        (Some(0), true) => {
            return Err(DeployError::invalid(
                "gpuCores",
                "0, but the inference config runs a model on a GPU (enableGpu)",
            ));
        }
        (Some(n), wants) => {
            if n > 0 && !wants {
                notes.push(format!("gpuCores: {n} GPU(s) reserved, but no model of the inference config runs on one (enableGpu)"));
            }
            n
        }
        // The contract's default (1) applies where a GPU is used at all.
        (None, true) => 1,
        (None, false) => 0,
    };
    if gpus > 0 {
        limits["nvidia.com/gpu"] = Value::from(gpus);
    }
    Ok(json!({"requests": requests, "limits": limits}))
}

/// The deployment config the pod reads: the deployer's, less the keys
/// (they are in a Secret) and with the TLS files where the Secret is
/// mounted. Every other field stays, so the pod logs what it was given.
pub fn mounted_deployment_config(config: &DeploymentConfig) -> Result<Value, DeployError> {
    let mut value = serde_json::to_value(config)
        .map_err(|e| DeployError::invalid("deployment config", e.to_string()))?;
    strip_nulls(&mut value);
    if let Value::Object(map) = &mut value {
        map.remove("keys");
        if config.ssl_enabled == Some(true) {
            map.insert("sslCertificate".into(), format!("{TLS_DIR}/tls.crt").into());
            map.insert("sslKey".into(), format!("{TLS_DIR}/tls.key").into());
        }
    }
    Ok(value)
}

/// Removes `null` members, recursively: the configs' absent fields.
pub fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}
