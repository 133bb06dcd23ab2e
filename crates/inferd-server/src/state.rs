//! What every request can see: the server's options and the served set.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use inferd_config::ModelEntry;
use inferd_engine::{BodyBudget, ModelSet};
use inferd_lifecycle::{Lifecycle, Publish};
use inferd_openapi::ServiceInfo;

use crate::api::EntryError;
use crate::live::Live;
use crate::telemetry::Telemetry;

/// Limits and switches of the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct ServerOptions {
    /// Largest request body accepted, checked while reading (413 past it).
    pub max_body_bytes: usize,
    /// Longest the whole body may take to arrive (408 past it).
    pub body_read_timeout: Duration,
    /// Bytes that request bodies being read, queued and scored, and their
    /// decoded tensors, may hold at once, all models together (503 at once
    /// past it; see [`inferd_engine::budget`]).
    pub max_body_memory: u64,
    /// A connection with no request in hand and none ended for this long
    /// is closed (checked once per this long; see [`crate::idle`]): a
    /// request head that never completes cannot hold a socket.
    pub idle_timeout: Duration,
    /// Send `Server-Timing` (queue, score, total) on scored answers. Off by
    /// default: it is no part of the scoring contract, it tells every
    /// client the server's internal timings, and it costs each answer three
    /// numbers formatted and ~65 bytes more.
    pub server_timing: bool,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            max_body_bytes: 64 * 1024 * 1024,
            body_read_timeout: Duration::from_secs(30),
            // The binary's default when it knows nothing of the memory.
            max_body_memory: 1 << 30,
            idle_timeout: Duration::from_secs(30),
            server_timing: false,
        }
    }
}

/// Shared by all connections. The served set is published when the models
/// are loaded (until then the server is live, `GET /` answers, but not
/// ready) and again at each model update, swapped whole (see [`Live`]).
pub struct AppState {
    pub options: ServerOptions,
    live: ArcSwapOption<Live>,
    /// Title, version and path prefix of the service, for its documents.
    info: OnceLock<ServiceInfo>,
    /// Model updates while serving (the repository API), when on.
    lifecycle: OnceLock<Arc<Lifecycle>>,
    draining: AtomicBool,
    /// The body memory budget: one for the server, all models together.
    pub budget: Arc<BodyBudget>,
    /// Metrics, the access log switch, data collection.
    pub telemetry: Telemetry,
    /// Called after each request that moved this many bytes or more.
    after_large: OnceLock<(u64, LargeRequestHook)>,
}

/// What runs after a large request (the binary hands memory back).
pub type LargeRequestHook = Box<dyn Fn() + Send + Sync>;

impl AppState {
    pub fn new(options: ServerOptions) -> Arc<AppState> {
        Arc::new(AppState {
            options,
            live: ArcSwapOption::empty(),
            info: OnceLock::new(),
            lifecycle: OnceLock::new(),
            draining: AtomicBool::new(false),
            budget: BodyBudget::new(options.max_body_memory),
            telemetry: Telemetry::default(),
            after_large: OnceLock::new(),
        })
    }

    /// A state that is ready from the start, with `models` (their
    /// contracts from their signatures).
    pub fn with_models(options: ServerOptions, models: ModelSet) -> Arc<AppState> {
        let state = AppState::new(options);
        state
            .publish(models, &[])
            .expect("a contract from a signature alone always builds");
        state
    }

    /// The service's title, version and path prefix, for the documents of
    /// every set published from now on. Set once, before the first.
    pub fn set_service_info(&self, info: ServiceInfo) {
        let _ = self.info.set(info);
    }

    /// Serves `models` from now on, each with its contract from `entries`
    /// (matched by name) and the documents; the first publish marks the
    /// server ready. Requests routed before this finish on what they were
    /// routed to. A sample that does not fit its model is an error, and
    /// nothing changes.
    pub fn publish(&self, models: ModelSet, entries: &[ModelEntry]) -> Result<(), EntryError> {
        let info = self.info.get_or_init(ServiceInfo::default);
        let live = Live::new(models, info, entries, &self.telemetry)?;
        self.live.store(Some(Arc::new(live)));
        Ok(())
    }

    /// The served set now; `None` until the models are loaded. Cheap (no
    /// count is touched): hold it only for the moment it is used.
    pub fn live(&self) -> arc_swap::Guard<Option<Arc<Live>>> {
        self.live.load()
    }

    /// The served models now, once loaded.
    pub fn models(&self) -> Option<ModelSet> {
        self.live().as_ref().map(|live| live.models.clone())
    }

    /// The path without the service's prefix (`/api/v1/score` -> `/score`).
    pub(crate) fn local_path<'a>(&self, path: &'a str) -> &'a str {
        match self.info.get() {
            Some(info) => crate::api::strip_prefix(&info.path_prefix, path),
            None => path,
        }
    }

    /// Turns model updates on: the repository API's load and unload go to
    /// `lifecycle`, and model states come from it. Set once.
    pub fn set_lifecycle(&self, lifecycle: Arc<Lifecycle>) {
        let _ = self.lifecycle.set(lifecycle);
    }

    pub fn lifecycle(&self) -> Option<&Arc<Lifecycle>> {
        self.lifecycle.get()
    }

    /// Has `hook` run after each request whose body and answer together
    /// are `bytes` or more. Set once.
    pub fn after_large_requests(&self, bytes: u64, hook: LargeRequestHook) {
        let _ = self.after_large.set((bytes, hook));
    }

    /// A request that moved `bytes` (body and answer) is done.
    pub(crate) fn request_done(&self, bytes: u64) {
        if let Some((large, hook)) = self.after_large.get()
            && bytes >= *large
        {
            hook();
        }
    }

    /// From now on `/ready` answers 503, so load balancers stop sending
    /// traffic; requests that still arrive are served.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }
}

/// Where the lifecycle publishes each update: the state, held weakly (the
/// state holds the lifecycle).
struct StatePublisher(Weak<AppState>);

impl Publish for StatePublisher {
    fn publish(&self, models: ModelSet, entries: &[ModelEntry]) -> Result<(), String> {
        let state = self.0.upgrade().ok_or("the server has stopped")?;
        state
            .publish(models, entries)
            .map_err(|e| format!("inference config: {e}"))
    }
}

impl AppState {
    /// What a lifecycle publishes to (see [`Publish`]).
    pub fn publisher(self: &Arc<AppState>) -> Arc<dyn Publish> {
        Arc::new(StatePublisher(Arc::downgrade(self)))
    }
}
