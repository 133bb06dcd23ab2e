//! `inferd deploy kubernetes|kserve`: reads the deployment config (and the
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

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// The service's name: every object is named after it.
    #[arg(long)]
    pub name: String,
    /// The container image (built from docker/Dockerfile, holding the registry).
    #[arg(long)]
    pub image: String,
    /// The deployment config (`deploymentconfig.json`); without one, the
    /// contract's defaults.
    #[arg(long)]
    pub deployment_config: Option<PathBuf>,
    /// The inference config, put in the ConfigMap in one piece.
    #[arg(long)]
    pub inference_config: Option<PathBuf>,
    /// The namespace; default: the deployment config's `namespace`, else
    /// none (kubectl's current one).
    #[arg(long)]
    pub namespace: Option<String>,
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
    };
    let paths = Paths {
        deployment: common.deployment_config.clone(),
        inference: common.inference_config.clone(),
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
        name: common.name.clone(),
        image: common.image.clone(),
        namespace: common.namespace.clone(),
        models: common.models.iter().map(ToString::to_string).collect(),
        scale_on: scale_on(&common, &sources.deployment),
        prometheus_url: common.prometheus_url.clone(),
        pre_stop_s: common.pre_stop_s,
        shutdown_grace_s: common.shutdown_grace_s,
        storage_uri,
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
    match &common.output {
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
