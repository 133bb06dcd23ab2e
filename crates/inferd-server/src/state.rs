//! What every request can see: the server's options and the models.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use inferd_engine::{BodyBudget, ModelSet};
use inferd_schema::ModelSchema;

use crate::api::{Schemas, ServiceApi};
use crate::telemetry::Telemetry;
use crate::v2::Catalog;

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

/// Shared by all connections. The models are set once, when loaded: until
/// then the server is live (`GET /` answers) but not ready.
pub struct AppState {
    pub options: ServerOptions,
    models: OnceLock<ModelSet>,
    api: OnceLock<Arc<ServiceApi>>,
    /// Each model's contract from its signature alone, made once with the
    /// models, for a state that is given no [`ServiceApi`].
    plain_schemas: OnceLock<Schemas>,
    /// Each model as the Open Inference Protocol serves it, made with the models.
    v2: OnceLock<Catalog>,
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
            models: OnceLock::new(),
            api: OnceLock::new(),
            plain_schemas: OnceLock::new(),
            v2: OnceLock::new(),
            draining: AtomicBool::new(false),
            budget: BodyBudget::new(options.max_body_memory),
            telemetry: Telemetry::default(),
            after_large: OnceLock::new(),
        })
    }

    /// A state that is ready from the start, with `models`.
    pub fn with_models(options: ServerOptions, models: ModelSet) -> Arc<AppState> {
        let state = AppState::new(options);
        state.set_models(models);
        state
    }

    /// Marks the server ready. Models are set once; a second call is ignored.
    pub fn set_models(&self, models: ModelSet) {
        if self.models.set(models).is_ok() {
            let models = self.models.get().expect("just set");
            let _ = self.plain_schemas.set(
                models
                    .iter()
                    .map(|m| {
                        (
                            m.name.clone(),
                            Arc::new(ModelSchema::from_signature(m.signature.clone())),
                        )
                    })
                    .collect(),
            );
            let _ = self.v2.set(Catalog::new(models));
            self.telemetry.models_loaded(models);
        }
    }

    /// Sets the models' contracts and documents; set before the models, so
    /// a ready server always has them. A second call is ignored.
    pub fn set_api(&self, api: ServiceApi) {
        let _ = self.api.set(Arc::new(api));
    }

    pub fn api(&self) -> Option<&Arc<ServiceApi>> {
        self.api.get()
    }

    /// The contract `model` is served under: the [`ServiceApi`]'s, else
    /// (no API set) the one from the model's signature.
    pub fn schema(&self, model: &str) -> Option<&Arc<ModelSchema>> {
        self.api()
            .and_then(|api| api.schema(model))
            .or_else(|| self.plain_schemas.get()?.get(model))
    }

    /// The models' protocol entries, once the models are set.
    pub(crate) fn v2_catalog(&self) -> Option<&Catalog> {
        self.v2.get()
    }

    pub fn models(&self) -> Option<&ModelSet> {
        self.models.get()
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
