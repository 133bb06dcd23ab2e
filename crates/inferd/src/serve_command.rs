//! `inferd serve`: resolve the limits, bind first (so liveness answers at
//! once), load the models off the async threads (`inferd-lifecycle`, which
//! then keeps them: registry follow, repository API, SIGHUP), mark ready,
//! serve until SIGTERM or Ctrl-C, then drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::ArgMatches;
use inferd_config::Limits;
use inferd_engine::{Admission, AdmissionOptions, Answers, ExecutorOptions};
use inferd_lifecycle::{Lifecycle, Plan, Settings};
use inferd_registry::Registry;
use inferd_server::{App, AppState, ServerOptions, serve_tls};
use tokio::sync::watch;

use crate::cli::ServeArgs;
use crate::engines::{Engines, Resources};
use crate::service_api::{self, Inference};

const DEFAULT_PORT: u16 = 5001;

pub fn run(args: ServeArgs, matches: &ArgMatches) -> Result<()> {
    inferd_log::init(args.log_format.map(Into::into));
    let (file, limits) = crate::limits::resolve(&args.limits, matches)?;
    for (name, value, source) in limits.report() {
        tracing::info!(setting = name, %value, %source, "limit");
    }
    if let Some(file) = &file {
        tracing::info!(compute_type = ?file.compute_type, auth_enabled = file.auth_enabled(), "deployment config read");
        for note in file.cluster_only_fields() {
            tracing::info!(field = %note, "cluster-only setting accepted; a single container does not act on it");
        }
    }
    let inference = Inference::read(args.inference_config.as_deref())?;
    if let Some(inference) = &inference {
        service_api::report(inference)?;
    }
    crate::batching::policy(&args.batching, inference.as_ref())?;
    let mut refs = service_api::model_refs(&args.models, matches, inference.as_ref())?;
    let registry = open_registry(&args, matches, &mut refs)?;
    let engines = Engines::resolve(
        &args.engines,
        inference.as_ref(),
        &Resources {
            gpu_cores: file.as_ref().and_then(|f| f.gpu_cores()),
            intra_threads: limits.engine_intra_threads(),
        },
    )?;
    let security = crate::security::resolve(
        &args.security,
        file.as_ref(),
        args.limits.deployment_config.as_deref(),
    )?;
    let mut info = service_api::service_info(file.as_ref());
    // Flags and the environment can turn keys and TLS on too: the documents
    // say what the server enforces, not only what the file asked for.
    info.auth_required = security.gate.is_some();
    info.https = security.tls.is_some();
    let port = args
        .port
        .or(file.as_ref().and_then(|f| f.port))
        .unwrap_or(DEFAULT_PORT);
    let http_threads = args
        .http_threads
        .map_or_else(|| limits.http_threads(), usize::from);
    tracing::info!(
        http_threads,
        engine_workers = limits.engine_threads(),
        worker_poll_us = args.worker_poll_us,
        http_park_poll_us = args.http_park_poll_us,
        "threads"
    );
    // Answers due from every model's workers, for the HTTP threads' poll
    // before they park (`--http-park-poll-us`; see inferd_engine::answers).
    let park_poll = Duration::from_micros(args.http_park_poll_us);
    let answers = (!park_poll.is_zero()).then(Answers::leak);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime
        .worker_threads(http_threads)
        .enable_all()
        .thread_name("inferd-http");
    if let Some(answers) = answers {
        runtime.on_thread_park(move || answers.poll_before_park(park_poll));
    }
    let runtime = runtime.build().context("cannot start the async runtime")?;
    let api = ApiSetup {
        registry,
        refs,
        info,
        inference,
        engines,
        answers,
    };
    runtime.block_on(serve_until_signal(
        args,
        limits,
        port,
        api,
        security,
        file.as_ref(),
    ))
}

/// Where the models are read from: the registry, or with `--model-path`
/// the one model there. That model's name is the one `--model` (or the
/// inference config) gives, else the path's; `refs` then names it.
fn open_registry(
    args: &ServeArgs,
    matches: &ArgMatches,
    refs: &mut Vec<inferd_registry::ModelRef>,
) -> Result<Registry> {
    let Some(path) = &args.model_path else {
        return Ok(Registry::new(&args.registry));
    };
    let named = args.inference_config.is_some()
        || !matches!(
            matches.value_source("models"),
            None | Some(clap::parser::ValueSource::DefaultValue)
        );
    if !named {
        let name = inferd_registry::plain::name_from_path(path).with_context(|| {
            format!(
                "--model-path {}: its name is not a model name; give one with --model NAME",
                path.display()
            )
        })?;
        *refs = vec![inferd_registry::ModelRef {
            name,
            version: None,
        }];
    }
    let [model] = refs.as_slice() else {
        anyhow::bail!(
            "--model-path {} serves one model, but {} are named",
            path.display(),
            refs.len()
        );
    };
    if model
        .version
        .is_some_and(|v| v != inferd_registry::plain::PLAIN_VERSION)
    {
        anyhow::bail!(
            "--model-path {}: a model served where it lies has version 1 only, not {model}",
            path.display()
        );
    }
    let registry = Registry::plain(&model.name, path)
        .with_context(|| format!("--model-path {}", path.display()))?;
    tracing::info!(model = %model.name, path = %path.display(), "serving a model where it lies");
    Ok(registry)
}

/// What the loaded models' API is built from.
struct ApiSetup {
    registry: Registry,
    refs: Vec<inferd_registry::ModelRef>,
    info: inferd_openapi::ServiceInfo,
    inference: Option<Inference>,
    engines: Engines,
    answers: Option<&'static Answers>,
}

async fn serve_until_signal(
    args: ServeArgs,
    limits: Limits,
    port: u16,
    api: ApiSetup,
    security: crate::security::Security,
    file: Option<&inferd_config::DeploymentConfig>,
) -> Result<()> {
    let started = Instant::now();
    let address = SocketAddr::new(args.host, port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, "listening");

    let state = AppState::new(ServerOptions {
        max_body_bytes: args.max_body_bytes,
        max_body_memory: limits.max_body_memory_bytes(),
        body_read_timeout: Duration::from_millis(args.body_read_timeout_ms),
        server_timing: args.server_timing,
        ..ServerOptions::default()
    });
    let hand_back = match inferd_process::HandBack::start() {
        // Memory a large request took goes back within a quarter of a
        // second of it, not when the allocator next runs.
        Ok(hand_back) => {
            let after = hand_back.clone();
            state.after_large_requests(
                inferd_process::hand_back::LARGE_REQUEST_BYTES,
                Box::new(move || after.soon()),
            );
            Some(hand_back)
        }
        Err(error) => {
            tracing::warn!(%error, "no thread to hand memory back after large requests");
            None
        }
    };
    let collector = crate::observe::setup(&args.observe, file, &state, Engines::built_in())?;
    let (stop, stopped) = watch::channel(false);
    let failure = spawn_loading(&args, &limits, api, state.clone(), stop, started, hand_back);
    let reloads = tokio::spawn(reload_on_sighup(
        state.clone(),
        args.inference_config.clone(),
        args.models.clone(),
        args.batching.clone(),
    ));

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
            inferd_config::limits::default_drain_timeout(
                limits.max_queue_wait_ms.value,
                limits.scoring_timeout_ms.value,
            )
        });
    crate::observe::log_settings(&args, drain_timeout);
    let mut app = App::new(state);
    if let Some(gate) = security.gate {
        app = app.with_gate(gate);
    }
    if let Some(admin) = security.admin {
        app = app.with_admin_gate(admin);
    }
    let drained = serve_tls(listener, app, shutdown, drain_timeout, security.tls).await;
    reloads.abort();
    crate::observe::finish(collector);
    if let Some(error) = failure.lock().expect("not poisoned").take() {
        return Err(error);
    }
    tracing::info!(drained, "stopped");
    Ok(())
}

type Failure = Arc<std::sync::Mutex<Option<anyhow::Error>>>;

/// Loads the models on a blocking thread; on failure, records the error and
/// stops the server so the process exits non-zero. The lifecycle that
/// loaded them keeps them from then on (updates while serving).
fn spawn_loading(
    args: &ServeArgs,
    limits: &Limits,
    api: ApiSetup,
    state: Arc<AppState>,
    stop: watch::Sender<bool>,
    started: Instant,
    hand_back: Option<inferd_process::HandBack>,
) -> Failure {
    let failure: Failure = Arc::default();
    let registry = api.registry.clone();
    let threads = limits.engine_threads();
    let max_concurrent = limits.max_concurrent_requests.value as usize;
    let executor = ExecutorOptions {
        workers: threads,
        // Admission's queue places bound what can wait in any executor.
        queue_capacity: limits.max_queue_length.value.max(1),
        timeout: Duration::from_millis(limits.scoring_timeout_ms.value),
        idle_poll: Duration::from_micros(args.worker_poll_us),
        answers: api.answers,
    };
    let admission = Admission::new(AdmissionOptions {
        max_concurrent,
        max_queue_wait: Duration::from_millis(limits.max_queue_wait_ms.value),
        max_queue_length: limits.max_queue_length.value,
    });
    // Checked in `run`, before binding.
    let batching =
        crate::batching::policy(&args.batching, api.inference.as_ref()).unwrap_or_default();
    let poll = (args.registry_poll_ms > 0).then(|| Duration::from_millis(args.registry_poll_ms));
    let record = failure.clone();
    tokio::task::spawn_blocking(move || {
        let entries = Inference::entries(api.inference.as_ref());
        let settings = Settings {
            registry,
            engines: Arc::new(api.engines),
            options: executor,
            batching,
            admission,
            poll,
            after_unload: hand_back
                .map(|h| Box::new(move || h.soon()) as Box<dyn Fn() + Send + Sync>),
        };
        state.set_service_info(api.info.clone());
        let started_models = Plan::new(&api.refs, entries)
            .map_err(anyhow::Error::msg)
            .and_then(|plan| {
                Lifecycle::start(settings, plan, first_publish(&state)).map_err(|e| {
                    let path = api.inference.as_ref().map_or("", |i| i.path.as_str());
                    anyhow::Error::new(e).context(if path.is_empty() {
                        "cannot load the models".to_owned()
                    } else {
                        format!("cannot load the models (inference config {path})")
                    })
                })
            });
        match started_models {
            Ok(lifecycle) => {
                for model in lifecycle
                    .served()
                    .iter()
                    .flat_map(|set| set.iter().cloned().collect::<Vec<_>>())
                {
                    tracing::info!(
                        model = %model.name,
                        version = model.version,
                        sha256 = %model.sha256,
                        engine = model.engine,
                        device = %model.device,
                        threads,
                        inputs = %serde_json::to_string(&model.signature.inputs).unwrap_or_default(),
                        outputs = %serde_json::to_string(&model.signature.outputs).unwrap_or_default(),
                        "model loaded"
                    );
                }
                state.set_lifecycle(lifecycle);
                tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ready");
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "cannot serve the models");
                *record.lock().expect("not poisoned") = Some(e);
                let _ = stop.send(true);
            }
        }
    });
    failure
}

/// The state's publisher, which, before the first set is published (the
/// server turns ready), hands back the start-up code pages: a ready
/// server's resident set is what serving needs.
fn first_publish(state: &Arc<AppState>) -> Arc<dyn inferd_lifecycle::Publish> {
    struct First {
        inner: Arc<dyn inferd_lifecycle::Publish>,
        released: std::sync::Once,
    }
    impl inferd_lifecycle::Publish for First {
        fn publish(
            &self,
            models: inferd_engine::ModelSet,
            entries: &[inferd_config::ModelEntry],
        ) -> Result<(), String> {
            self.released.call_once(|| {
                if let Some((before_kib, after_kib)) = inferd_process::release_startup() {
                    tracing::debug!(before_kib, after_kib, "start-up code pages released");
                }
            });
            self.inner.publish(models, entries)
        }
    }
    Arc::new(First {
        inner: state.publisher(),
        released: std::sync::Once::new(),
    })
}

/// On each SIGHUP: the inference config read again (when one was given),
/// and the served set made to match it: models added, removed and changed
/// (samples, layouts, version policy, traffic, batching), with the
/// guarantees of every update (the old serves until the new is live; a
/// refused version never serves).
async fn reload_on_sighup(
    state: Arc<AppState>,
    config: Option<std::path::PathBuf>,
    flag_models: Vec<inferd_registry::ModelRef>,
    batch_args: crate::batching::BatchArgs,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; the inference config is read at start only");
            return;
        };
        while hangups.recv().await.is_some() {
            let Some(lifecycle) = state.lifecycle().cloned() else {
                tracing::warn!("SIGHUP before the models were loaded: ignored");
                continue;
            };
            let config = config.clone();
            let flag_models = flag_models.clone();
            let batch_args = batch_args.clone();
            let replanned = tokio::task::spawn_blocking(move || -> Result<_> {
                let inference = Inference::read(config.as_deref())?;
                let refs = match &inference {
                    Some(inference) => service_api::config_refs(inference)?,
                    None => flag_models,
                };
                let plan = Plan::new(&refs, Inference::entries(inference.as_ref()))
                    .map_err(anyhow::Error::msg)?;
                let batching = crate::batching::policy(&batch_args, inference.as_ref())?;
                Ok(lifecycle.replan(plan, Some(batching))?)
            })
            .await;
            match replanned {
                Ok(Ok(outcome)) => tracing::info!(
                    live = ?outcome.live,
                    retired = ?outcome.retired,
                    refused = ?outcome.refused,
                    "SIGHUP: served set reconciled"
                ),
                Ok(Err(error)) => {
                    tracing::error!(error = %format!("{error:#}"), "SIGHUP: nothing changed")
                }
                Err(error) => tracing::error!(%error, "SIGHUP: the reload's thread failed"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (state, config, flag_models, batch_args);
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
