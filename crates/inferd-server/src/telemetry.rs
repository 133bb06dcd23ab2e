//! Where the server records requests: per-model metrics (handles resolved
//! once per version, when it is published; see [`crate::live`]), the HTTP
//! response counter, the access log switch, and data collection. Each switch is read with one relaxed
//! load per request; with everything off a request costs nothing more.
//! What one request tells them is gathered in `record`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use inferd_collect::{Collector, Input, Record};
use inferd_engine::{BodyBudget, ModelSet, ServedModel};
use inferd_lifecycle::States;
use inferd_metrics::{BuildInfo, Metrics, ModelMetrics, Outcome};

use crate::LiveModel;

/// The server's telemetry. Lives in [`crate::AppState`].
pub struct Telemetry {
    metrics: Metrics,
    collector: OnceLock<Arc<Collector>>,
    /// Shared with the models' batch observers, which run on worker threads.
    recording: Arc<AtomicBool>,
    access_log: AtomicBool,
}

/// One served version's handles.
pub struct ModelHandles {
    pub metrics: ModelMetrics,
    name: Arc<str>,
}

impl Default for Telemetry {
    fn default() -> Telemetry {
        Telemetry {
            metrics: Metrics::new(),
            collector: OnceLock::new(),
            recording: Arc::new(AtomicBool::new(true)),
            access_log: AtomicBool::new(true),
        }
    }
}

impl Telemetry {
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// `inferd_build_info`'s labels.
    pub fn set_build_info(&self, build: &BuildInfo) {
        self.metrics.set_build_info(build);
    }

    /// Metrics recording on (the default) or off; `/metrics` answers either way.
    pub fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    /// One access line per request (the default), or none.
    pub fn set_access_log(&self, on: bool) {
        self.access_log.store(on, Ordering::Relaxed);
    }

    pub fn access_log(&self) -> bool {
        self.access_log.load(Ordering::Relaxed)
    }

    /// Collects every scored request from now on. Set once.
    pub fn set_collector(&self, collector: Arc<Collector>) {
        let _ = self.collector.set(collector);
    }

    pub fn collector(&self) -> Option<&Arc<Collector>> {
        self.collector.get()
    }

    /// A served version's handles (the same series each time it is
    /// served); a batching version reports each run's size to its histogram.
    pub(crate) fn handles(&self, served: &Arc<ServedModel>) -> ModelHandles {
        let metrics = self.metrics.model(&served.name, served.version);
        metrics.set_load_duration(served.load_duration);
        let (sizes, recording) = (metrics.batch_sizes(), self.recording.clone());
        served.executor.observe_batches(Arc::new(move |requests| {
            if recording.load(Ordering::Relaxed) {
                sizes.observe(requests);
            }
        }));
        ModelHandles {
            metrics,
            name: Arc::from(served.name.as_str()),
        }
    }

    /// `model`'s handles, or `None` when recording is off.
    pub fn model<'m>(&self, model: &'m LiveModel) -> Option<&'m ModelHandles> {
        self.recording
            .load(Ordering::Relaxed)
            .then_some(&model.handles)
    }

    /// Counts a request refused for want of a valid key: under its model
    /// when the route named one, else under empty model and version labels.
    /// For the authentication layer to call.
    pub fn count_unauthorized(&self, model: Option<&LiveModel>) {
        if !self.recording.load(Ordering::Relaxed) {
            return;
        }
        match model {
            Some(model) => model.handles.metrics.count(Outcome::Unauthorized),
            None => self.metrics.count_unrouted(Outcome::Unauthorized),
        }
    }

    /// Counts one HTTP response by status.
    pub fn responded(&self, status: http::StatusCode) {
        if self.recording.load(Ordering::Relaxed) {
            self.metrics.response(status.as_u16());
        }
    }

    /// The exposition, with the admission, body budget and model state
    /// gauges as they are now.
    pub fn render(
        &self,
        models: Option<&ModelSet>,
        budget: &BodyBudget,
        states: Option<&States>,
    ) -> String {
        self.metrics.set_body_budget(budget.held(), budget.limit());
        match states {
            Some(states) => {
                let all = states.all();
                self.metrics.set_model_states(
                    all.iter()
                        .map(|s| (s.name.as_str(), s.version, s.state.as_str())),
                );
                for (model, updates) in states.updates() {
                    self.metrics
                        .set_model_updates(&model, updates.live, updates.failed);
                }
            }
            // Without updates, every served version is live.
            None => self.metrics.set_model_states(
                models
                    .into_iter()
                    .flat_map(|m| m.iter())
                    .map(|m| (m.name.as_str(), m.version, "live")),
            ),
        }
        if let Some(models) = models {
            let admission = &models.default_model().admission;
            self.metrics.set_admission(
                admission.waiting(),
                admission.busy(),
                admission.options().max_concurrent,
            );
        }
        self.metrics.render()
    }

    /// Hands a scored request to data collection, when it is on. Never
    /// waits; a record the writer has no room for is counted as dropped.
    pub(crate) fn collect(
        &self,
        model: &LiveModel,
        request_id: Option<&http::HeaderValue>,
        input: Input,
        output: &Bytes,
    ) {
        let Some(collector) = self.collector.get() else {
            return;
        };
        let record = Record {
            time: SystemTime::now(),
            request_id: request_id
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            model: model.handles.name.clone(),
            version: model.served.version,
            input,
            output: output.clone(),
        };
        if !collector.record(record) {
            self.metrics.collect_dropped();
        }
    }
}
