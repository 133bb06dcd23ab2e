//! `inferd deploy kubernetes|kserve|batch-job`: reads the deployment config (and the
//! inference config, the TLS files and the keys it names), checks the
//! models against the registry, and has `inferd-deploy` render the
//! manifests: printed as one YAML stream, or written as a kustomize base
//! with `--output DIR`. What the deployer should know (fields with no
//! Kubernetes meaning, timings chosen) goes to stderr.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{ArgMatches, Args, Subcommand, ValueEnum};
use inferd_config::{DeploymentConfig, limits};
use inferd_deploy::{Paths, Request, ScaleOn, Sources, Target};
use inferd_registry::{ModelRef, Registry};

use crate::service_api::{self, Inference};

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(subcommand)]
    pub target: DeployTarget,
}

#[derive(Debug, Subcommand)]
pub enum DeployTarget {
    /// Deployment, Service, autoscaler, PodDisruptionBudget, ConfigMap and
    /// Secrets for `kubectl apply -f` (or `-k DIR` with --output DIR).
    Kubernetes(CommonArgs),
    /// A KServe ServingRuntime for inferd and an InferenceService using it.
    Kserve(KserveArgs),
    /// `inferd batch` across pods: an Indexed Job, one shard per index,
    /// on a PersistentVolumeClaim at /data; with --merge, the Job that
    /// joins the shards' outputs once it has completed.
    BatchJob(BatchJobArgs),
}

#[derive(Debug, Args)]
pub struct BatchJobArgs {
    #[command(flatten)]
    pub object: ObjectArgs,
    /// The model, NAME or NAME:VERSION, checked against the registry.
    #[arg(long, short = 'm')]
    pub model: ModelRef,
    /// Input paths as the pods see them, under /data; repeatable.
    #[arg(long = "input", short = 'i', required = true)]
    pub inputs: Vec<String>,
    /// The output as the pods see it, under /data.
    #[arg(long)]
    pub output: String,
    /// Shards (the Job's completions).
    #[arg(long, default_value_t = 4)]
    pub shards: u32,
    /// Pods at once; default: every shard at once.
    #[arg(long)]
    pub parallelism: Option<u32>,
    /// The PersistentVolumeClaim holding the inputs and outputs (mounted
    /// read-write at /data by every pod).
    #[arg(long)]
    pub claim: String,
    /// Rows per engine run (inferd batch --batch-size).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// inferd batch --id-column.
    #[arg(long)]
    pub id_column: Option<String>,
    /// inferd batch --error-threshold.
    #[arg(long, allow_hyphen_values = true)]
    pub error_threshold: Option<String>,
    /// Render the merge Job instead (apply it once the Job has completed).
    #[arg(long)]
    pub merge: bool,
    /// Write each manifest and a kustomization.yaml into this folder
    /// instead of printing them.
    #[arg(long = "manifests-dir")]
    pub manifests_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KserveArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Where the model is, as KServe's storage initializer reads it
    /// (s3://, gs://, pvc://, https://...): an .onnx file or a folder holding one.
    #[arg(long)]
    pub storage_uri: String,
}

/// What every target names and reads.
#[derive(Debug, Args)]
pub struct ObjectArgs {
    /// The name every object is named after: the service's, or the Job's.
    #[arg(long)]
    pub name: String,
    /// The container image (built from docker/Dockerfile, holding the registry).
    #[arg(long)]
    pub image: String,
    /// The deployment config (`deploymentconfig.json`); without one, the
    /// contract's defaults. A Job takes its containerResourceRequirements.
    #[arg(long)]
    pub deployment_config: Option<PathBuf>,
    /// The inference config, put in the ConfigMap in one piece.
    #[arg(long)]
    pub inference_config: Option<PathBuf>,
    /// The namespace; default: the deployment config's `namespace`, else
    /// none (kubectl's current one).
    #[arg(long)]
    pub namespace: Option<String>,
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    #[command(flatten)]
    pub object: ObjectArgs,
    /// A model to serve, NAME or NAME:VERSION; repeat for several (not
    /// with an inference config, which names its own). Checked against
    /// the registry the image is built from.
    #[arg(long = "model", short = 'm', value_delimiter = ',')]
    pub models: Vec<ModelRef>,
    /// What the autoscaler follows: CPU (a HorizontalPodAutoscaler), or
    /// inferd's mean queue wait or requests in flight (a KEDA ScaledObject
    /// reading Prometheus).
    #[arg(long, value_enum, default_value_t = ScaleOnArg::Cpu)]
    pub scale_on: ScaleOnArg,
    /// With --scale-on queue-wait: the mean queue wait to hold, in ms.
    /// Default: a tenth of maxQueueWaitMs, well before requests get 503.
    #[arg(long)]
    pub queue_wait_target_ms: Option<f64>,
    /// With --scale-on in-flight: requests in flight per replica to hold.
    /// Default: maxConcurrentRequestsPerContainer x targetUtilization.
    #[arg(long)]
    pub in_flight_target: Option<f64>,
    /// Prometheus, for KEDA's queries.
    #[arg(long, default_value = "http://prometheus-server.monitoring.svc:9090")]
    pub prometheus_url: String,
    /// Seconds a terminating pod keeps serving, fully ready, while proxies
    /// learn it is going (the preStop sleep).
    #[arg(long, default_value_t = inferd_deploy::timing::DEFAULT_PRE_STOP_S)]
    pub pre_stop_s: u32,
    /// inferd's --shutdown-grace-s in the pod: after SIGTERM, seconds it
    /// still accepts with /ready at 503.
    #[arg(long, default_value_t = inferd_deploy::timing::DEFAULT_SHUTDOWN_GRACE_S)]
    pub shutdown_grace_s: u32,
    /// Write each manifest and a kustomization.yaml into this folder
    /// instead of printing them.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScaleOnArg {
    Cpu,
    QueueWait,
    InFlight,
}

pub fn run(args: DeployArgs, registry: &Path, matches: &ArgMatches) -> Result<()> {
    let (target, common, storage_uri) = match args.target {
        DeployTarget::Kubernetes(common) => (Target::Kubernetes, common, None),
        DeployTarget::Kserve(k) => (Target::Kserve, k.common, Some(k.storage_uri)),
        DeployTarget::BatchJob(job) => return batch_job(job, registry),
    };
    let paths = Paths {
        deployment: common.object.deployment_config.clone(),
        inference: common.object.inference_config.clone(),
    };
    let (sources, inference) = Sources::read(&paths, &mut inferd_auth::random_key)?;
    let inference = inference.map(|config| Inference {
        path: paths
            .inference
            .as_deref()
            .unwrap_or(Path::new(""))
            .display()
            .to_string(),
        config,
    });
    // As `serve` names them: --model, or the inference config's, not both.
    let target_matches = matches
        .subcommand()
        .map(|(_, m)| m)
        .expect("clap matched a target");
    let named = service_api::model_refs(&common.models, target_matches, inference.as_ref())?;
    // KServe names the model itself (one per InferenceService).
    if target == Target::Kubernetes {
        check_registered(registry, &named)?;
    }
    let request = Request {
        name: common.object.name.clone(),
        image: common.object.image.clone(),
        namespace: common.object.namespace.clone(),
        models: common.models.iter().map(ToString::to_string).collect(),
        scale_on: scale_on(&common, &sources.deployment),
        prometheus_url: common.prometheus_url.clone(),
        pre_stop_s: common.pre_stop_s,
        shutdown_grace_s: common.shutdown_grace_s,
        storage_uri,
        batch: None,
    };
    let rendered = inferd_deploy::render(target, &request, &sources)?;
    for note in &rendered.notes {
        eprintln!("note: {note}");
    }
    if sources.keys.is_some() && sources.deployment.keys.is_none() {
        eprintln!(
            "note: authEnabled: keys generated into the Secret {}-keys (kubectl get secret {}-keys -o jsonpath='{{.data.keys\\.json}}' | base64 -d)",
            request.name, request.name
        );
    }
    write(&rendered, common.output.as_deref())
}

/// The manifests printed as one stream, or written as a kustomize base.
fn write(rendered: &inferd_deploy::Rendered, dir: Option<&Path>) -> Result<()> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for (file, text) in rendered.files() {
                let path = dir.join(&file);
                std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            eprintln!(
                "wrote {} manifests and kustomization.yaml to {} (kubectl apply -k {})",
                rendered.manifests.len(),
                dir.display(),
                dir.display()
            );
        }
        None => print!("{}", rendered.to_stream()),
    }
    Ok(())
}

/// `inferd deploy batch-job`: the Indexed Job (or its merge Job).
fn batch_job(args: BatchJobArgs, registry: &Path) -> Result<()> {
    let paths = Paths {
        deployment: args.object.deployment_config.clone(),
        inference: args.object.inference_config.clone(),
    };
    let (sources, _) = Sources::read(&paths, &mut inferd_auth::random_key)?;
    check_registered(registry, std::slice::from_ref(&args.model))?;
    let mut flags = Vec::new();
    if let Some(size) = args.batch_size {
        flags.extend(["--batch-size".to_owned(), size.to_string()]);
    }
    if let Some(id) = &args.id_column {
        flags.extend(["--id-column".to_owned(), id.clone()]);
    }
    if let Some(threshold) = &args.error_threshold {
        threshold
            .parse::<inferd_batch::Threshold>()
            .map_err(|e| anyhow::anyhow!("--error-threshold: {e}"))?;
        flags.extend(["--error-threshold".to_owned(), threshold.clone()]);
    }
    let request = Request {
        name: args.object.name,
        image: args.object.image,
        namespace: args.object.namespace,
        models: vec![args.model.to_string()],
        scale_on: ScaleOn::Cpu,
        prometheus_url: String::new(),
        pre_stop_s: 0,
        shutdown_grace_s: 0,
        storage_uri: None,
        batch: Some(inferd_deploy::batch_job::BatchJob {
            model: args.model.to_string(),
            inputs: args.inputs,
            output: args.output,
            shards: args.shards,
            parallelism: args.parallelism.unwrap_or(args.shards),
            claim: args.claim,
            flags,
            merge: args.merge,
        }),
    };
    let rendered = inferd_deploy::render(Target::BatchJob, &request, &sources)?;
    for note in &rendered.notes {
        eprintln!("note: {note}");
    }
    write(&rendered, args.manifests_dir.as_deref())
}

fn scale_on(common: &CommonArgs, config: &DeploymentConfig) -> ScaleOn {
    match common.scale_on {
        ScaleOnArg::Cpu => ScaleOn::Cpu,
        ScaleOnArg::QueueWait => {
            let max_wait_ms = config
                .max_queue_wait_ms
                .unwrap_or(limits::DEFAULT_MAX_QUEUE_WAIT_MS) as f64;
            let target_ms = common.queue_wait_target_ms.unwrap_or(max_wait_ms / 10.0);
            ScaleOn::QueueWait {
                target_s: target_ms / 1000.0,
            }
        }
        ScaleOnArg::InFlight => {
            let slots = f64::from(
                config
                    .max_concurrent_requests_per_container
                    .unwrap_or(limits::DEFAULT_MAX_CONCURRENT),
            );
            let utilization = f64::from(
                config
                    .auto_scaler
                    .clone()
                    .unwrap_or_default()
                    .target_utilization(),
            );
            ScaleOn::InFlight {
                target: common
                    .in_flight_target
                    .unwrap_or(slots * utilization / 100.0),
            }
        }
    }
}

/// Every named model must be in the registry the image is built from, so
/// a typo fails here rather than as a pod that never gets ready.
fn check_registered(registry: &Path, models: &[ModelRef]) -> Result<()> {
    let registry = Registry::new(registry);
    for model in models {
        registry.get(model).with_context(|| {
            format!(
                "model {model} (the image's registry is built from {})",
                registry.root().display()
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// The rendered kill deadline counts on the binary's flush at exit
    /// (collected data, then the log) taking at most `FLUSH_S`.
    #[test]
    fn the_rendered_flush_covers_the_binarys() {
        let flush = crate::observe::COLLECT_CLOSE_TIMEOUT + crate::LOG_FLUSH_TIMEOUT;
        assert!(flush <= Duration::from_secs(inferd_deploy::timing::FLUSH_S.into()));
    }
}
