//! `inferd serve`: bind first (so liveness answers at once), load the models
//! off the async threads, mark ready, serve until SIGTERM or Ctrl-C, drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use inferd_backend::TractEngine;
use inferd_engine::{ExecutorOptions, load_models};
use inferd_registry::Registry;
use inferd_server::{App, AppState, ServerOptions, serve};
use tokio::sync::watch;

use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> Result<()> {
    crate::logging::init(args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("inferd-http")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve_until_signal(args))
}

async fn serve_until_signal(args: ServeArgs) -> Result<()> {
    let started = Instant::now();
    let address = SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, "listening");

    let state = AppState::new(ServerOptions {
        max_body_bytes: args.max_body_bytes,
    });
    let (stop, stopped) = watch::channel(false);
    let failure = spawn_loading(&args, state.clone(), stop.clone(), started);

    let shutdown = {
        let mut stopped = stopped.clone();
        async move {
            tokio::select! {
                () = signal() => tracing::info!("shutdown requested; draining"),
                _ = stopped.wait_for(|stop| *stop) => {},
            }
        }
    };
    let drained = serve(
        listener,
        App::new(state),
        shutdown,
        Duration::from_secs(args.drain_timeout_s),
    )
    .await;
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
    state: Arc<AppState>,
    stop: watch::Sender<bool>,
    started: Instant,
) -> Failure {
    let failure: Failure = Arc::default();
    let registry = Registry::new(&args.registry);
    let refs = args.models.clone();
    let mut options = ExecutorOptions {
        timeout: Duration::from_millis(args.scoring_timeout_ms),
        ..ExecutorOptions::default()
    };
    if let Some(workers) = args.workers {
        options.workers = workers.max(1);
        options.queue_capacity = options.workers * 256;
    }
    let record = failure.clone();
    tokio::task::spawn_blocking(move || {
        match load_models(&registry, &refs, &TractEngine, options) {
            Ok(models) => {
                for model in models.iter() {
                    tracing::info!(
                        model = %model.name,
                        version = model.version,
                        sha256 = %model.sha256,
                        engine = model.engine,
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
