//! A batch job on Kubernetes (`inferd batch` across pods): an Indexed Job
//! whose pod for index I runs `inferd batch --shards N`, taking I from the
//! `JOB_COMPLETION_INDEX` that Kubernetes gives it, reading and writing a
//! PersistentVolumeClaim mounted at `/data`; and, rendered on its own once
//! that Job has completed, the Job that merges the shards' outputs.
//!
//! A failed pod is retried for its index alone (`backoffLimitPerIndex`),
//! and its new pod continues from the checkpoint the old one left on the
//! claim: a retry costs at most a second of work, not the shard.

use serde_json::{Map, Value, json};

use crate::pod::{self, CONFIG_DIR, INFERENCE_FILE};
use crate::{DeployError, Manifest, Rendered, Request, Sources};

/// Where the claim holding the inputs and outputs is mounted.
pub const DATA_DIR: &str = "/data";

/// Retries of one index's pod before the index counts as failed.
pub const RETRIES_PER_INDEX: u32 = 3;

/// The batch job asked for.
#[derive(Debug, Clone)]
pub struct BatchJob {
    /// `NAME[:VERSION]`.
    pub model: String,
    /// Input paths as the pod sees them (under [`DATA_DIR`]).
    pub inputs: Vec<String>,
    /// The output as the pod sees it (under [`DATA_DIR`]).
    pub output: String,
    pub shards: u32,
    /// Pods at once (at most `shards`).
    pub parallelism: u32,
    /// The PersistentVolumeClaim mounted at [`DATA_DIR`] (read-write, by
    /// every pod at once: ReadWriteMany where pods land on several nodes).
    pub claim: String,
    /// Further `inferd batch` flags, passed as they are (`--batch-size`,
    /// `--id-column`, `--error-threshold` ...).
    pub flags: Vec<String>,
    /// Render the merge Job instead of the scoring one.
    pub merge: bool,
}

pub(crate) fn render(request: &Request, sources: &Sources) -> Result<Rendered, DeployError> {
    let config = &sources.deployment;
    let job = request.batch.as_ref().ok_or_else(|| {
        DeployError::invalid("batch", "a batch job needs its model, inputs and output")
    })?;
    if job.shards == 0 {
        return Err(DeployError::invalid("--shards", "must be at least 1"));
    }
    if job.parallelism == 0 || job.parallelism > job.shards {
        return Err(DeployError::invalid(
            "--parallelism",
            format!("must be from 1 to the shards ({})", job.shards),
        ));
    }
    for path in job.inputs.iter().chain([&job.output]) {
        if !path.starts_with(&format!("{DATA_DIR}/")) {
            return Err(DeployError::invalid(
                "--input/--output",
                format!("'{path}' is not under {DATA_DIR}, where the claim is mounted"),
            ));
        }
    }
    crate::names::check_name("--claim", &job.claim)?;
    let mut notes = crate::azure_only_notes(config);
    let resources = pod::resources(config, sources.inference_wants_gpu, &mut notes)?;
    let mut args: Vec<String> = vec!["batch".into()];
    let (name, spec) = if job.merge {
        args.extend(["merge".into(), "--output".into(), job.output.clone()]);
        notes.push(format!(
            "merge: apply once the Job {} has completed (kubectl wait --for=condition=complete job/{} --timeout=24h); it joins {}.shard-I-of-{} into {}",
            request.name, request.name, job.output, job.shards, job.output
        ));
        (
            format!("{}-merge", request.name),
            json!({"completions": 1, "parallelism": 1, "backoffLimit": RETRIES_PER_INDEX}),
        )
    } else {
        args.extend(["--model".into(), job.model.clone()]);
        for input in &job.inputs {
            args.extend(["--input".into(), input.clone()]);
        }
        args.extend([
            "--output".into(),
            job.output.clone(),
            "--shards".into(),
            job.shards.to_string(),
            "--progress".into(),
            "lines".into(),
        ]);
        args.extend(job.flags.iter().cloned());
        notes.push(format!(
            "batch: {} shards, {} pods at once, each retried {} times for its index alone and continuing from its checkpoint on the claim {}; then render and apply the merge Job (--merge)",
            job.shards, job.parallelism, RETRIES_PER_INDEX, job.claim
        ));
        (
            request.name.clone(),
            json!({
                "completionMode": "Indexed",
                "completions": job.shards,
                "parallelism": job.parallelism,
                "backoffLimitPerIndex": RETRIES_PER_INDEX,
                // Any index that fails for good fails the Job: a merge of
                // a missing shard is refused anyway.
                "maxFailedIndexes": 0,
            }),
        )
    };
    let mut env = vec![
        json!({"name": "INFERD_LOG_FORMAT", "value": "json"}),
        json!({"name": "TMPDIR", "value": "/tmp"}),
    ];
    let mut mounts = vec![
        json!({"name": "tmp", "mountPath": "/tmp"}),
        json!({"name": "data", "mountPath": DATA_DIR}),
    ];
    let mut volumes = vec![
        json!({"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}),
        json!({"name": "data", "persistentVolumeClaim": {"claimName": job.claim}}),
    ];
    let mut manifests = Vec::new();
    if let Some(inference) = sources.inference.as_ref().filter(|_| !job.merge) {
        let config_map = pod::config_map_name(&request.name);
        env.push(json!({"name": "INFERD_INFERENCE_CONFIG", "value": format!("{CONFIG_DIR}/{INFERENCE_FILE}")}));
        mounts.push(json!({"name": "config", "mountPath": CONFIG_DIR, "readOnly": true}));
        volumes.push(json!({"name": "config", "configMap": {"name": config_map}}));
        let mut data = Map::new();
        let mut text = serde_json::to_string_pretty(inference).expect("JSON values serialise");
        text.push('\n');
        data.insert(INFERENCE_FILE.to_owned(), Value::String(text));
        manifests.push(Manifest {
            file: "configmap.yaml".into(),
            object: json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": pod::metadata(&config_map, request, config),
                "data": data,
            }),
        });
    }
    let container = json!({
        "name": "inferd",
        "image": request.image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "env": env,
        "resources": resources,
        "securityContext": pod::container_security(),
        "volumeMounts": mounts,
    });
    let mut spec = spec;
    spec["template"] = json!({
        "metadata": {"labels": pod::labels(&request.name)},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "securityContext": pod::pod_security(),
            "containers": [container],
            "volumes": volumes,
        },
    });
    manifests.push(Manifest {
        file: if job.merge {
            "merge-job.yaml"
        } else {
            "job.yaml"
        }
        .into(),
        object: json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": pod::metadata(&name, request, config),
            "spec": spec,
        }),
    });
    Ok(Rendered { manifests, notes })
}
