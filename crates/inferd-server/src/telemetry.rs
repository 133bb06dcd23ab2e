//! Where the server records requests: per-model metrics (handles resolved
//! once, when the models are set), the HTTP response counter, the access
//! log switch, and data collection. Each switch is read with one relaxed
//! load per request; with everything off a request costs nothing more.
//! What one request tells them is gathered in `record`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use inferd_collect::{Collector, Input, Record};
use inferd_engine::{BodyBudget, ModelSet, ServedModel};
use inferd_metrics::{BuildInfo, Metrics, ModelMetrics, Outcome};

/// The server's telemetry. Lives in [`crate::AppState`].
pub struct Telemetry {
    metrics: Metrics,
    models: OnceLock<Vec<ModelHandles>>,
    collector: OnceLock<Arc<Collector>>,
    /// Shared with the models' batch observers, which run on worker threads.
    recording: Arc<AtomicBool>,
    access_log: AtomicBool,
}

/// One served model's handles.
pub struct ModelHandles {
    served: Arc<ServedModel>,
    pub metrics: ModelMetrics,
    name: Arc<str>,
}

impl Default for Telemetry {
    fn default() -> Telemetry {
        Telemetry {
            metrics: Metrics::new(),
            models: OnceLock::new(),
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

    /// Labels each model's handles, once, when the models are set, and has
    /// batching models report each run's size to their histogram.
    pub(crate) fn models_loaded(&self, models: &ModelSet) {
        let entries = models
            .iter()
            .map(|served| {
                let metrics = self.metrics.model(&served.name, served.version);
                metrics.set_load_duration(served.load_duration);
                let (sizes, recording) = (metrics.batch_sizes(), self.recording.clone());
                served.executor.observe_batches(Arc::new(move |requests| {
                    if recording.load(Ordering::Relaxed) {
                        sizes.observe(requests);
                    }
                }));
                ModelHandles {
                    served: served.clone(),
                    metrics,
                    name: Arc::from(served.name.as_str()),
                }
            })
            .collect();
        let _ = self.models.set(entries);
    }

    /// `model`'s handles, or `None` when recording is off.
    pub fn model(&self, model: &Arc<ServedModel>) -> Option<&ModelHandles> {
        if !self.recording.load(Ordering::Relaxed) {
            return None;
        }
        self.entry(model)
    }

    fn entry(&self, model: &Arc<ServedModel>) -> Option<&ModelHandles> {
        self.models
            .get()?
            .iter()
            .find(|e| Arc::ptr_eq(&e.served, model))
    }

    /// `model`'s counters summed now (recording on or off), for the v2
    /// statistics extension.
    pub fn totals(&self, model: &Arc<ServedModel>) -> Option<inferd_metrics::ModelTotals> {
        self.entry(model).map(|e| e.metrics.totals())
    }

    /// Counts a request refused for want of a valid key: under its model
    /// when the route named one, else under empty model and version labels.
    /// For the authentication layer to call.
    pub fn count_unauthorized(&self, model: Option<&Arc<ServedModel>>) {
        if !self.recording.load(Ordering::Relaxed) {
            return;
        }
        match model.and_then(|m| self.entry(m)) {
            Some(entry) => entry.metrics.count(Outcome::Unauthorized),
            None => self.metrics.count_unrouted(Outcome::Unauthorized),
        }
    }

    /// Counts one HTTP response by status.
    pub fn responded(&self, status: http::StatusCode) {
        if self.recording.load(Ordering::Relaxed) {
            self.metrics.response(status.as_u16());
        }
    }

    /// The exposition, with the admission and body budget gauges as they are now.
    pub fn render(&self, models: Option<&ModelSet>, budget: &BodyBudget) -> String {
        self.metrics.set_body_budget(budget.held(), budget.limit());
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
        model: &Arc<ServedModel>,
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
            model: self
                .entry(model)
                .map_or_else(|| Arc::from(model.name.as_str()), |e| e.name.clone()),
            version: model.version,
            input,
            output: output.clone(),
        };
        if !collector.record(record) {
            self.metrics.collect_dropped();
        }
    }
}
