//! [`Metrics`]: the registry and every `inferd_*` family, and the text
//! exposition of `GET /metrics`. Each server has its own registry (not the
//! crate's global one), so tests that run several servers in one process
//! see only their own numbers.

use std::sync::Mutex;

use prometheus::core::Collector;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::buckets::BATCH_SIZE;
use crate::families::RequestFamilies;
use crate::model::{ModelMetrics, Outcome};
use crate::process;

const MODEL_LABELS: &[&str] = &["model", "version"];

/// What `inferd_build_info` states.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    pub version: String,
    /// The engines compiled in, comma-separated (`tract`).
    pub engine: String,
    /// Optional features compiled in, comma-separated (empty when none).
    pub features: String,
}

/// Every metric family of one server.
pub struct Metrics {
    registry: Registry,
    /// Everything recorded per request.
    requests: RequestFamilies,
    batch_size: HistogramVec,
    load_duration: GaugeVec,
    build_info: IntGaugeVec,
    model_state: IntGaugeVec,
    model_updates: IntCounterVec,
    queue_depth: IntGauge,
    slots_busy: IntGauge,
    slots_limit: IntGauge,
    body_bytes_in_flight: IntGauge,
    body_bytes_budget: IntGauge,
    collect_dropped: IntCounter,
    resident_memory: IntGauge,
    cpu_seconds: IntCounterF,
}

/// A counter of seconds that follows a total read elsewhere (the kernel's
/// CPU time), advanced by the difference at each scrape.
struct IntCounterF {
    counter: prometheus::Counter,
    last: Mutex<f64>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            let vec = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                MODEL_LABELS,
            )
            .expect("a valid histogram");
            register(&registry, vec)
        };
        let requests = register(&registry, RequestFamilies::new());
        let load_duration = register(
            &registry,
            GaugeVec::new(
                Opts::new(
                    "inferd_model_load_duration_seconds",
                    "How long the model took to load, optimise and start its workers.",
                ),
                MODEL_LABELS,
            )
            .expect("valid"),
        );
        let gauge =
            |name: &str, help: &str| register(&registry, IntGauge::new(name, help).expect("valid"));
        let build_info = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "inferd_build_info",
                    "Always 1; the labels say what this binary is.",
                ),
                &["version", "engine", "features"],
            )
            .expect("valid"),
        );
        let model_state = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "inferd_model_state",
                    "1 for each model version's state now: loading, self_testing, live, draining or failed.",
                ),
                &["model", "version", "state"],
            )
            .expect("valid"),
        );
        let model_updates = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "inferd_model_updates_total",
                    "Model versions that went live after start (result live) or were refused: failed to load or their self-test (result failed).",
                ),
                &["model", "result"],
            )
            .expect("valid"),
        );
        Metrics {
            model_state,
            model_updates,
            requests,
            batch_size: histogram(
                "inferd_batch_size",
                "Requests merged into one engine run (dynamic batching only).",
                BATCH_SIZE,
            ),
            load_duration,
            build_info,
            queue_depth: gauge(
                "inferd_queue_depth",
                "Requests waiting for a concurrency slot, all models.",
            ),
            slots_busy: gauge(
                "inferd_concurrency_slots_busy",
                "Concurrency slots in use, including runs whose caller already got a 504.",
            ),
            slots_limit: gauge(
                "inferd_concurrency_slots",
                "maxConcurrentRequestsPerContainer: the slots there are.",
            ),
            body_bytes_in_flight: gauge(
                "inferd_body_bytes_in_flight",
                "Bytes of request bodies being read, queued and scored, and of their decoded tensors, reserved against the body memory budget, all models.",
            ),
            body_bytes_budget: gauge(
                "inferd_body_bytes_budget",
                "The body memory budget in bytes (maxBodyMemoryMB); past it, requests get 503 at once.",
            ),
            collect_dropped: register(
                &registry,
                IntCounter::new(
                    "inferd_data_collection_dropped_total",
                    "Collected records dropped because the writer fell behind.",
                )
                .expect("valid"),
            ),
            resident_memory: gauge(
                "inferd_process_resident_memory_bytes",
                "Resident memory of the server process.",
            ),
            cpu_seconds: IntCounterF {
                counter: register(
                    &registry,
                    prometheus::Counter::new(
                        "inferd_process_cpu_seconds_total",
                        "User and system CPU time of the server process.",
                    )
                    .expect("valid"),
                ),
                last: Mutex::new(0.0),
            },
            registry,
        }
    }

    /// The handles of one model version. Call once per model, at start.
    pub fn model(&self, name: &str, version: u32) -> ModelMetrics {
        let version = version.to_string();
        let labels = [name, version.as_str()];
        ModelMetrics {
            cells: self.requests.model(name, &version),
            batch_size: self.batch_size.with_label_values(&labels),
            load_duration: self.load_duration.with_label_values(&labels),
        }
    }

    /// States what this binary is (`inferd_build_info`, always 1). Call once.
    pub fn set_build_info(&self, build: &BuildInfo) {
        self.build_info.reset();
        self.build_info
            .with_label_values(&[&build.version, &build.engine, &build.features])
            .set(1);
    }

    /// Counts a request that ended before it reached a model (an
    /// unauthorized one, say), under empty model and version labels.
    pub fn count_unrouted(&self, outcome: Outcome) {
        self.requests.count_unrouted(outcome);
    }

    /// Counts one HTTP response.
    pub fn response(&self, status: u16) {
        self.requests.response(status);
    }

    /// Counts a data-collection record the writer had no room for.
    pub fn collect_dropped(&self) {
        self.collect_dropped.inc();
    }

    /// The admission gauges, as they are at scrape time.
    pub fn set_admission(&self, waiting: usize, busy: usize, limit: usize) {
        self.queue_depth.set(waiting as i64);
        self.slots_busy.set(busy as i64);
        self.slots_limit.set(limit as i64);
    }

    /// Each model version's state now (name, version, state), at scrape
    /// time; versions not listed are gone from the family.
    pub fn set_model_states<'a>(&self, states: impl IntoIterator<Item = (&'a str, u32, &'a str)>) {
        self.model_state.reset();
        for (model, version, state) in states {
            self.model_state
                .with_label_values(&[model, &version.to_string(), state])
                .set(1);
        }
    }

    /// A model's updates so far (totals kept by the lifecycle), at scrape time.
    pub fn set_model_updates(&self, model: &str, live: u64, failed: u64) {
        for (result, total) in [("live", live), ("failed", failed)] {
            let counter = self.model_updates.with_label_values(&[model, result]);
            if total > counter.get() {
                counter.inc_by(total - counter.get());
            }
        }
    }

    /// The body memory budget's gauges, as they are at scrape time.
    pub fn set_body_budget(&self, in_flight: u64, budget: u64) {
        let gauge = |bytes: u64| i64::try_from(bytes).unwrap_or(i64::MAX);
        self.body_bytes_in_flight.set(gauge(in_flight));
        self.body_bytes_budget.set(gauge(budget));
    }

    /// Every family in the Prometheus text format (version 0.0.4), process
    /// gauges read now.
    pub fn render(&self) -> String {
        if let Some(bytes) = process::resident_bytes() {
            self.resident_memory.set(bytes as i64);
        }
        if let Some(now) = process::cpu_seconds() {
            let mut last = self.cpu_seconds.last.lock().expect("not poisoned");
            if now > *last {
                self.cpu_seconds.counter.inc_by(now - *last);
                *last = now;
            }
        }
        let mut text = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .expect("the text encoder writes to memory");
        String::from_utf8(text).expect("the text format is UTF-8")
    }

    /// The exposition's content type.
    pub fn content_type() -> &'static str {
        "text/plain; version=0.0.4; charset=utf-8"
    }
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, collector: C) -> C {
    registry
        .register(Box::new(collector.clone()))
        .expect("each family is registered once");
    collector
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Protocol, StageTotal, Stages};
    use std::time::Duration;

    fn metrics() -> Metrics {
        let metrics = Metrics::new();
        metrics.set_build_info(&BuildInfo {
            version: "1.2.3".into(),
            engine: "tract".into(),
            features: String::new(),
        });
        metrics
    }

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix} in\n{text}"))
    }

    #[test]
    fn a_models_handles_record_under_its_labels() {
        let metrics = metrics();
        let ridge = metrics.model("ridge", 2);
        ridge.count(Outcome::Success);
        ridge.count(Outcome::Success);
        ridge.count(Outcome::QueueFull);
        ridge.began();
        ridge.finished(
            Outcome::Success,
            Duration::from_micros(300),
            Some(&Stages {
                rows: 5,
                queue_wait: Duration::from_micros(10),
                decode: Duration::from_nanos(10_001),
                ..Stages::default()
            }),
            Protocol::V2,
        );
        // Three more begun: one given up on, one finished, one in flight.
        ridge.began();
        ridge.began();
        ridge.began();
        ridge.ended();
        ridge.finished(
            Outcome::Error,
            Duration::from_secs(3),
            None,
            Protocol::Score,
        );
        ridge.set_load_duration(Duration::from_millis(250));
        ridge.batch_sizes().observe(3);
        metrics.response(200);
        metrics.response(418);
        metrics.count_unrouted(Outcome::Unauthorized);
        metrics.set_admission(4, 1, 2);
        metrics.set_body_budget(1500, 1 << 30);
        let text = metrics.render();
        let has = |l: &str| assert!(text.lines().any(|x| x == l), "no {l} in\n{text}");
        has(r#"inferd_requests_total{model="ridge",outcome="success",version="2"} 3"#);
        has(r#"inferd_requests_total{model="ridge",outcome="error",version="2"} 1"#);
        has(r#"inferd_requests_total{model="ridge",outcome="queue_full",version="2"} 1"#);
        has(r#"inferd_requests_total{model="ridge",outcome="unauthorized",version="2"} 0"#);
        has(r#"inferd_requests_total{model="",outcome="unauthorized",version=""} 1"#);
        has(r#"inferd_rows_scored_total{model="ridge",version="2"} 5"#);
        has(r#"inferd_request_duration_seconds_bucket{model="ridge",version="2",le="0.0005"} 1"#);
        has(r#"inferd_request_duration_seconds_bucket{model="ridge",version="2",le="+Inf"} 2"#);
        has(r#"inferd_request_duration_seconds_count{model="ridge",version="2"} 2"#);
        has(r#"inferd_request_duration_seconds_sum{model="ridge",version="2"} 3.0003"#);
        has(r#"inferd_request_duration_seconds_bucket{model="ridge",version="2",le="0.00025"} 0"#);
        has(r#"inferd_request_duration_seconds_bucket{model="ridge",version="2",le="2.5"} 1"#);
        has(r#"inferd_request_duration_seconds_bucket{model="ridge",version="2",le="5"} 2"#);
        // A bound is in its own bucket; a nanosecond more is in the next.
        has(r#"inferd_queue_wait_seconds_bucket{model="ridge",version="2",le="0.00001"} 1"#);
        has(r#"inferd_decode_seconds_bucket{model="ridge",version="2",le="0.00001"} 0"#);
        has(r#"inferd_decode_seconds_bucket{model="ridge",version="2",le="0.000025"} 1"#);
        has(r#"inferd_scoring_seconds_count{model="ridge",version="2"} 1"#);
        has(r#"inferd_requests_in_flight{model="ridge",version="2"} 1"#);
        has(r#"inferd_batch_size_bucket{model="ridge",version="2",le="4"} 1"#);
        has(r#"inferd_model_load_duration_seconds{model="ridge",version="2"} 0.25"#);
        has(r#"inferd_http_responses_total{code="200"} 1"#);
        has(r#"inferd_http_responses_total{code="other"} 1"#);
        has("inferd_queue_depth 4");
        has("inferd_concurrency_slots_busy 1");
        has("inferd_concurrency_slots 2");
        has("inferd_body_bytes_in_flight 1500");
        has("inferd_body_bytes_budget 1073741824");
        has(r#"inferd_requests_total{model="ridge",outcome="body_budget_full",version="2"} 0"#);
        has(r#"inferd_build_info{engine="tract",features="",version="1.2.3"} 1"#);
        has(r#"inferd_v2_requests_total{model="ridge",outcome="success",version="2"} 1"#);
        has(r#"inferd_v2_requests_total{model="ridge",outcome="error",version="2"} 0"#);
        let totals = ridge.totals();
        // Counted outcomes (no duration) are in the counts, not the nanoseconds.
        assert_eq!(totals.success.count, 3);
        assert_eq!(totals.success.nanos, 300_000);
        assert_eq!(
            totals.failure,
            StageTotal {
                count: 2,
                nanos: 3_000_000_000
            }
        );
        assert_eq!(
            totals.queue,
            StageTotal {
                count: 1,
                nanos: 10_000
            }
        );
        assert_eq!((totals.rows, totals.batches), (5, 1));
        assert!(totals.last_success_ms > 1_700_000_000_000);
        assert!(line(&text, "inferd_process_resident_memory_bytes ").len() > 40);
        line(&text, "inferd_process_cpu_seconds_total ");
    }

    #[test]
    fn every_family_is_named_inferd() {
        let metrics = metrics();
        metrics.model("m", 1);
        let text = metrics.render();
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(l.starts_with("inferd_"), "{l}");
        }
    }
}
