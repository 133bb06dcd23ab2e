//! KServe: a `ServingRuntime` that runs inferd for ONNX models, speaking
//! the Open Inference Protocol (v2) on port 8080 with the model KServe's
//! storage initializer puts at `/mnt/models`, and an example
//! `InferenceService` that uses it. The container is the same as the
//! Deployment's (settings, probes, stopping, security), named as KServe
//! expects (`kserve-container`).

use serde_json::{Value, json};

use crate::kubernetes::Scaling;
use crate::pod::{self, Shape};
use crate::{DeployError, Manifest, Rendered, Request, Sources};

/// The port KServe sends requests to.
pub const KSERVE_PORT: u16 = 8080;
/// Where KServe's storage initializer puts the model.
pub const MODEL_DIR: &str = "/mnt/models";

pub(crate) fn render(request: &Request, sources: &Sources) -> Result<Rendered, DeployError> {
    let config = &sources.deployment;
    let storage_uri = request.storage_uri.as_deref().ok_or_else(|| {
        DeployError::invalid(
            "--storage-uri",
            "KServe needs the model's location (s3://, gs://, pvc://, https://...) for the InferenceService",
        )
    })?;
    let scaling = Scaling::new(config)?;
    let runtime_name = format!("{}-runtime", request.name);
    let parts = pod::build(
        request,
        sources,
        Shape {
            container_name: "kserve-container",
            port: KSERVE_PORT,
            port_name: None,
            // KServe fills in {{.Name}} with the InferenceService's name.
            args: ["serve", "--model-path", MODEL_DIR, "--model", "{{.Name}}"]
                .map(str::to_owned)
                .to_vec(),
        },
    )?;
    let mut notes = parts.notes.clone();
    notes.push("KServe: the ServingRuntime serves one model per InferenceService from /mnt/models (an .onnx file, or a folder holding one); its config and keys come from the ConfigMap and Secret rendered beside it".to_owned());
    let runtime = json!({
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": pod::metadata(&runtime_name, request, config),
        "spec": {
            // Put on the pods KServe makes: where its metrics are.
            "annotations": {
                "prometheus.kserve.io/port": KSERVE_PORT.to_string(),
                "prometheus.kserve.io/path": "/metrics",
            },
            "supportedModelFormats": [{"name": "onnx", "version": "1", "autoSelect": true, "priority": 1}],
            "protocolVersions": ["v2"],
            "containers": [parts.container],
            "volumes": parts.volumes,
        },
    });
    let mut predictor = json!({
        "terminationGracePeriodSeconds": parts.termination.kill_after_s,
        "securityContext": parts.security_context,
        "model": {
            "modelFormat": {"name": "onnx"},
            "runtime": runtime_name,
            "protocolVersion": "v2",
            "storageUri": storage_uri,
        },
    });
    match scaling.fixed {
        Some(n) => {
            predictor["minReplicas"] = Value::from(n);
            predictor["maxReplicas"] = Value::from(n);
        }
        None => {
            predictor["minReplicas"] = Value::from(scaling.min);
            predictor["maxReplicas"] = Value::from(scaling.max);
            predictor["scaleMetric"] = Value::from("cpu");
            predictor["scaleTarget"] = Value::from(scaling.target_utilization);
        }
    }
    let service = json!({
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": pod::metadata(&request.name, request, config),
        "spec": {"predictor": predictor},
    });
    let mut manifests = crate::kubernetes::config_and_secrets(request, sources, &parts);
    manifests.push(Manifest {
        file: "servingruntime.yaml".into(),
        object: runtime,
    });
    manifests.push(Manifest {
        file: "inferenceservice.yaml".into(),
        object: service,
    });
    Ok(Rendered { manifests, notes })
}
