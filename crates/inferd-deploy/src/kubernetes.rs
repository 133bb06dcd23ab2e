//! Kubernetes manifests for a service: its Deployment, Service,
//! autoscaler (a HorizontalPodAutoscaler on CPU, or a KEDA ScaledObject on
//! inferd's own queue wait or in-flight requests), PodDisruptionBudget,
//! ConfigMap (the configs) and Secrets (keys, TLS).

use inferd_config::DeploymentConfig;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::pod::{self, HTTP_PORT, PodParts, Shape};
use crate::{DeployError, Manifest, Rendered, Request, ScaleOn, Sources};

/// How replicas are decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scaling {
    /// `Some(n)`: exactly n; `None`: the autoscaler decides.
    pub fixed: Option<u32>,
    pub min: u32,
    pub max: u32,
    pub target_utilization: u32,
    pub refresh_period_s: u32,
}

impl Scaling {
    /// `numReplicas` fixes the count; without it the contract autoscales
    /// (`autoScaler`, with its defaults). Asking for both is a contradiction.
    pub fn new(config: &DeploymentConfig) -> Result<Scaling, DeployError> {
        let scaler = config.auto_scaler.clone().unwrap_or_default();
        let fixed = match (config.num_replicas, scaler.autoscale_enabled) {
            (Some(_), Some(true)) => {
                return Err(DeployError::invalid(
                    "autoScaler.autoscaleEnabled",
                    "true, but numReplicas fixes the replica count; give one or the other",
                ));
            }
            (Some(n), _) => Some(n),
            (None, Some(false)) => Some(1),
            (None, _) => None,
        };
        if fixed == Some(0) {
            return Err(DeployError::invalid("numReplicas", "must be at least 1"));
        }
        Ok(Scaling {
            fixed,
            min: scaler.min_replicas(),
            max: scaler.max_replicas(),
            target_utilization: scaler.target_utilization(),
            refresh_period_s: scaler.refresh_period_in_seconds(),
        })
    }
}

pub(crate) fn render(request: &Request, sources: &Sources) -> Result<Rendered, DeployError> {
    let config = &sources.deployment;
    let scaling = Scaling::new(config)?;
    if scaling.fixed.is_some() && request.scale_on != ScaleOn::Cpu {
        return Err(DeployError::invalid(
            "--scale-on",
            "the replica count is fixed (numReplicas, or autoScaler.autoscaleEnabled false); there is nothing to scale",
        ));
    }
    let parts = pod::build(
        request,
        sources,
        Shape {
            container_name: "inferd",
            port: HTTP_PORT,
            port_name: Some("http"),
            args: vec!["serve".to_owned()],
        },
    )?;
    let mut notes = parts.notes.clone();
    let mut manifests = config_and_secrets(request, sources, &parts);
    manifests.push(Manifest {
        file: "deployment.yaml".into(),
        object: deployment(request, config, &parts, &scaling),
    });
    manifests.push(Manifest {
        file: "service.yaml".into(),
        object: service(request, config),
    });
    if scaling.fixed.is_none() {
        let (file, object) = match request.scale_on {
            ScaleOn::Cpu => {
                if let Some(period) = config
                    .auto_scaler
                    .as_ref()
                    .and_then(|s| s.refresh_period_in_seconds)
                {
                    notes.push(format!(
                        "autoScaler.refreshPeriodInSeconds: {period} s has no per-object equivalent in a HorizontalPodAutoscaler (the cluster's --horizontal-pod-autoscaler-sync-period, 15 s by default, applies); --scale-on queue-wait or in-flight renders a KEDA ScaledObject, whose pollingInterval takes it"
                    ));
                }
                ("hpa.yaml", autoscaler(request, config, &scaling))
            }
            _ => (
                "scaledobject.yaml",
                scaled_object(request, config, &scaling),
            ),
        };
        manifests.push(Manifest {
            file: file.into(),
            object,
        });
    }
    manifests.push(Manifest {
        file: "pdb.yaml".into(),
        object: disruption_budget(request, config),
    });
    Ok(Rendered { manifests, notes })
}

/// The ConfigMap with the configs, and the Secrets with the keys and the
/// TLS pair where there are any: what both targets' pods mount.
pub(crate) fn config_and_secrets(
    request: &Request,
    sources: &Sources,
    parts: &PodParts,
) -> Vec<Manifest> {
    let config = &sources.deployment;
    let name = &request.name;
    let mut manifests = vec![Manifest {
        file: "configmap.yaml".into(),
        object: json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": pod::metadata(&pod::config_map_name(name), request, config),
            "data": parts.config_data,
        }),
    }];
    if let Some((primary, secondary)) = &sources.keys {
        manifests.push(Manifest {
            file: "secret-keys.yaml".into(),
            object: json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": pod::metadata(&pod::keys_secret_name(name), request, config),
                "type": "Opaque",
                "stringData": {
                    pod::KEYS_FILE: format!("{}\n", json!({"primaryKey": primary, "secondaryKey": secondary})),
                },
            }),
        });
    }
    if let Some(tls) = &sources.tls {
        manifests.push(Manifest {
            file: "secret-tls.yaml".into(),
            object: json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": pod::metadata(&pod::tls_secret_name(name), request, config),
                "type": "kubernetes.io/tls",
                "stringData": {"tls.crt": tls.certificate, "tls.key": tls.key},
            }),
        });
    }
    manifests
}

/// What an autoscaler scales: the Deployment.
fn scale_target(request: &Request) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": request.name})
}

fn deployment(
    request: &Request,
    config: &DeploymentConfig,
    parts: &PodParts,
    scaling: &Scaling,
) -> Value {
    let tls = config.ssl_enabled == Some(true);
    // A changed config rolls the pods (they read it at start); a rotated
    // key does not (inferd re-reads the keys file).
    let config_hash = {
        let text = serde_json::to_string(&parts.config_data).expect("JSON values always serialise");
        let digest = Sha256::digest(text.as_bytes());
        digest
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let mut spec = json!({
        "selector": {"matchLabels": pod::selector(&request.name)},
        "revisionHistoryLimit": 5,
        // One new pod at a time, and no old one goes before its
        // replacement is ready: capacity never drops during a rollout.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {
                "labels": pod::labels(&request.name),
                "annotations": {
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": HTTP_PORT.to_string(),
                    "prometheus.io/path": "/metrics",
                    "prometheus.io/scheme": if tls { "https" } else { "http" },
                    "inferd.dev/config-sha256": config_hash,
                },
            },
            "spec": {
                "automountServiceAccountToken": false,
                "enableServiceLinks": false,
                "terminationGracePeriodSeconds": parts.termination.kill_after_s,
                "securityContext": parts.security_context,
                "containers": [parts.container],
                "volumes": parts.volumes,
                // Replicas on different nodes where the cluster can, so a
                // node going down takes one replica, not all.
                "topologySpreadConstraints": [{
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": pod::selector(&request.name)},
                }],
            },
        },
    });
    if let Some(replicas) = scaling.fixed {
        spec["replicas"] = Value::from(replicas);
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": pod::metadata(&request.name, request, config),
        "spec": spec,
    })
}

fn service(request: &Request, config: &DeploymentConfig) -> Value {
    let tls = config.ssl_enabled == Some(true);
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": pod::metadata(&request.name, request, config),
        "spec": {
            "type": "ClusterIP",
            "selector": pod::selector(&request.name),
            "ports": [{
                "name": if tls { "https" } else { "http" },
                "port": if tls { 443 } else { 80 },
                "targetPort": "http",
                "protocol": "TCP",
            }],
        },
    })
}

fn autoscaler(request: &Request, config: &DeploymentConfig, scaling: &Scaling) -> Value {
    json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": pod::metadata(&request.name, request, config),
        "spec": {
            "scaleTargetRef": scale_target(request),
            "minReplicas": scaling.min,
            "maxReplicas": scaling.max,
            "metrics": [cpu_metric(scaling)],
        },
    })
}

fn cpu_metric(scaling: &Scaling) -> Value {
    json!({
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": scaling.target_utilization},
        },
    })
}

/// A KEDA ScaledObject: scales on inferd's own saturation signal, read
/// from Prometheus (which scrapes the pods by their annotations), and on
/// CPU as the HPA would. KEDA makes and owns the HorizontalPodAutoscaler.
fn scaled_object(request: &Request, config: &DeploymentConfig, scaling: &Scaling) -> Value {
    let namespace = pod::namespace(request, config).unwrap_or("default");
    let pods = format!(r#"namespace="{namespace}",pod=~"{}-.*""#, request.name);
    let (query, threshold, metric_type) = match request.scale_on {
        ScaleOn::QueueWait { target_s } => (
            format!(
                "sum(rate(inferd_queue_wait_seconds_sum{{{pods}}}[1m])) / clamp_min(sum(rate(inferd_queue_wait_seconds_count{{{pods}}}[1m])), 1e-9)"
            ),
            target_s,
            // The mean wait is a property of the whole service, not a
            // per-replica amount to divide.
            "Value",
        ),
        ScaleOn::InFlight { target } => (
            format!("sum(inferd_requests_in_flight{{{pods}}})"),
            target,
            "AverageValue",
        ),
        ScaleOn::Cpu => unreachable!("CPU scaling renders a HorizontalPodAutoscaler"),
    };
    json!({
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": pod::metadata(&request.name, request, config),
        "spec": {
            "scaleTargetRef": scale_target(request),
            "minReplicaCount": scaling.min,
            "maxReplicaCount": scaling.max,
            "pollingInterval": scaling.refresh_period_s,
            "triggers": [
                {
                    "type": "prometheus",
                    "metricType": metric_type,
                    "metadata": {
                        "serverAddress": request.prometheus_url,
                        "query": query,
                        "threshold": format_threshold(threshold),
                    },
                },
                {
                    "type": "cpu",
                    "metricType": "Utilization",
                    "metadata": {"value": scaling.target_utilization.to_string()},
                },
            ],
        },
    })
}

/// A threshold as KEDA reads it: a decimal string.
fn format_threshold(value: f64) -> String {
    let text = format!("{value:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// At most one pod away at a time for node drains and upgrades.
fn disruption_budget(request: &Request, config: &DeploymentConfig) -> Value {
    json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": pod::metadata(&request.name, request, config),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": pod::selector(&request.name)},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_plain_decimals() {
        assert_eq!(format_threshold(0.05), "0.05");
        assert_eq!(format_threshold(2.0), "2");
    }

    #[test]
    fn replicas_are_fixed_or_autoscaled_never_both() {
        let parse = |text: &str| DeploymentConfig::from_json(text, "t.json").unwrap();
        let auto = Scaling::new(&parse("{}")).unwrap();
        assert_eq!(
            (auto.fixed, auto.min, auto.max, auto.target_utilization),
            (None, 1, 10, 70)
        );
        assert_eq!(
            Scaling::new(&parse(r#"{"numReplicas": 3}"#)).unwrap().fixed,
            Some(3)
        );
        assert_eq!(
            Scaling::new(&parse(r#"{"autoScaler": {"autoscaleEnabled": false}}"#))
                .unwrap()
                .fixed,
            Some(1)
        );
        let both = Scaling::new(&parse(
            r#"{"numReplicas": 3, "autoScaler": {"autoscaleEnabled": true}}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(both.starts_with("autoScaler.autoscaleEnabled:"), "{both}");
    }
}
