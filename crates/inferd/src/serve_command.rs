//! `inferd serve`: resolve the limits, bind first (so liveness answers at
//! once), load the models off the async threads, mark ready, serve until
//! SIGTERM or Ctrl-C, then drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::ArgMatches;
use inferd_backend::TractEngine;
use inferd_config::Limits;
use inferd_engine::{Admission, AdmissionOptions, ExecutorOptions, load_models_batched};
use inferd_registry::Registry;
use inferd_server::{App, AppState, ServerOptions, serve};
use tokio::sync::watch;

use crate::cli::ServeArgs;

const DEFAULT_PORT: u16 = 5001;

pub fn run(args: ServeArgs, matches: &ArgMatches) -> Result<()> {
    crate::logging::init(args.log_format);
    let (file, limits) = crate::limits::resolve(&args.limits, matches)?;
    args.batching.policy()?;
    for (name, value, source) in limits.report() {
        tracing::info!(setting = name, %value, %source, "limit");
    }
    if let Some(file) = &file {
        tracing::info!(compute_type = ?file.compute_type, auth_enabled = file.auth_enabled(), "deployment config read");
        for note in file.cluster_only_fields() {
            tracing::info!(field = %note, "cluster-only setting accepted; a single container does not act on it");
        }
        refuse_unenforced_security(file)?;
    }
    let port = args
        .port
        .or(file.as_ref().and_then(|f| f.port))
        .unwrap_or(DEFAULT_PORT);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("inferd-http")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve_until_signal(args, limits, port))
}

/// Fails closed: a config that asks for keys or TLS must not start a server
/// that silently serves without them. (Keys and TLS are not built yet.)
fn refuse_unenforced_security(file: &inferd_config::DeploymentConfig) -> Result<()> {
    if file.auth_enabled() {
        anyhow::bail!(
            "the deployment config asks for key authentication (authEnabled, which defaults to true for \
             computeType aks), which this build of inferd does not enforce yet; refusing to serve \
             without it. Set \"authEnabled\": false to serve without keys."
        );
    }
    if file.ssl_enabled == Some(true) {
        anyhow::bail!(
            "the deployment config asks for TLS (sslEnabled), which this build of inferd does not serve \
             yet; refusing to serve plain HTTP instead. Set \"sslEnabled\": false, or terminate TLS in front."
        );
    }
    Ok(())
}

async fn serve_until_signal(args: ServeArgs, limits: Limits, port: u16) -> Result<()> {
    let started = Instant::now();
    let address = SocketAddr::new(args.host, port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, "listening");

    let state = AppState::new(ServerOptions {
        max_body_bytes: args.max_body_bytes,
        body_read_timeout: Duration::from_millis(args.body_read_timeout_ms),
    });
    let (stop, stopped) = watch::channel(false);
    let failure = spawn_loading(&args, &limits, state.clone(), stop, started);

    let grace = Duration::from_secs(args.shutdown_grace_s);
    let shutdown = {
        let mut stopped = stopped.clone();
        async move {
            tokio::select! {
                () = signal() => {
                    tracing::info!(?grace, "shutdown requested; draining");
                    grace
                }
                // Models failed to load: nothing to drain, no grace.
                Ok(_) = stopped.wait_for(|stop| *stop) => Duration::ZERO,
            }
        }
    };
    let drain_timeout = args
        .drain_timeout_s
        .map(Duration::from_secs)
        .unwrap_or_else(|| {
            Duration::from_millis(
                limits.max_queue_wait_ms.value + limits.scoring_timeout_ms.value + 1000,
            )
        });
    let drained = serve(listener, App::new(state), shutdown, drain_timeout).await;
    if let Some(error) = failure.lock().expect("not poisoned").take() {
        return Err(error);
    }
    tracing::info!(drained, "stopped");
    Ok(())
}

type Failure = Arc<std::sync::Mutex<Option<anyhow::Error>>>;

/// Loads the models on a blocking thread; on failure, records the error and
/// stops the server so the process exits non-zero.
fn spawn_loading(
    args: &ServeArgs,
    limits: &Limits,
    state: Arc<AppState>,
    stop: watch::Sender<bool>,
    started: Instant,
) -> Failure {
    let failure: Failure = Arc::default();
    let registry = Registry::new(&args.registry);
    let refs = args.models.clone();
    let threads = limits.engine_threads();
    let max_concurrent = limits.max_concurrent_requests.value as usize;
    let executor = ExecutorOptions {
        workers: threads,
        // Admission's queue places bound what can wait in any executor.
        queue_capacity: limits.max_queue_length.value.max(1),
        timeout: Duration::from_millis(limits.scoring_timeout_ms.value),
    };
    let admission = Admission::new(AdmissionOptions {
        max_concurrent,
        max_queue_wait: Duration::from_millis(limits.max_queue_wait_ms.value),
        max_queue_length: limits.max_queue_length.value,
    });
    // Checked in `run`, before binding.
    let batching = args.batching.policy().unwrap_or_default();
    let record = failure.clone();
    tokio::task::spawn_blocking(move || {
        match load_models_batched(
            &registry,
            &refs,
            &TractEngine,
            executor,
            &batching,
            admission,
        ) {
            Ok(models) => {
                for model in models.iter() {
                    tracing::info!(
                        model = %model.name,
                        version = model.version,
                        sha256 = %model.sha256,
                        engine = model.engine,
                        threads,
                        inputs = %serde_json::to_string(&model.signature.inputs).unwrap_or_default(),
                        outputs = %serde_json::to_string(&model.signature.outputs).unwrap_or_default(),
                        "model loaded"
                    );
                }
                state.set_models(models);
                tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ready");
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot load the models");
                *record.lock().expect("not poisoned") =
                    Some(anyhow::Error::new(e).context("cannot load the models"));
                let _ = stop.send(true);
            }
        }
    });
    failure
}

async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
