//! The families recorded per request, read from their [`Shards`] at scrape
//! time: requests by outcome, rows, requests in flight, the five duration
//! histograms, and HTTP responses by status. One prometheus collector, so
//! the registry's text encoder writes them with every other family.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};

use crate::buckets::{DURATION_NANOS, duration_seconds};
use crate::model::{ModelCells, Outcome, Stage, cell};
use crate::shards::Shards;

/// HTTP statuses the server answers, each counted in a cell of its own;
/// anything else is counted as `other`.
pub(crate) const STATUSES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 408, 413, 414, 415, 431, 500, 503, 504,
];

/// A family's name, help and kind.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    labels: &'static [&'static str],
}

const REQUESTS: Family = Family {
    name: "inferd_requests_total",
    help: "Scoring requests by model, version and outcome.",
    kind: MetricType::COUNTER,
    labels: &["model", "version", "outcome"],
};
const V2_REQUESTS: Family = Family {
    name: "inferd_v2_requests_total",
    help: "Scoring requests made with the Open Inference Protocol (v2 infer), by model, version and outcome; each is also counted in inferd_requests_total.",
    kind: MetricType::COUNTER,
    labels: &["model", "version", "outcome"],
};
const ROWS: Family = Family {
    name: "inferd_rows_scored_total",
    help: "Rows scored successfully.",
    kind: MetricType::COUNTER,
    labels: &["model", "version"],
};
const IN_FLIGHT: Family = Family {
    name: "inferd_requests_in_flight",
    help: "Scoring requests being handled now (reading, queued, scoring, answering).",
    kind: MetricType::GAUGE,
    labels: &["model", "version"],
};
const RESPONSES: Family = Family {
    name: "inferd_http_responses_total",
    help: "Every HTTP response, by status code (routes, probes and scoring).",
    kind: MetricType::COUNTER,
    labels: &["code"],
};

const fn histogram(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        help,
        kind: MetricType::HISTOGRAM,
        labels: &["model", "version"],
    }
}

/// The duration histograms, in [`Stage::ALL`]'s order.
const STAGES: [Family; 5] = [
    histogram(
        "inferd_request_duration_seconds",
        "Scoring requests from arrival at the handler to the response, any outcome.",
    ),
    histogram(
        "inferd_queue_wait_seconds",
        "From entering the admission queue to the start of the run, successful requests.",
    ),
    histogram(
        "inferd_decode_seconds",
        "Request JSON to tensors, on the worker, successful requests.",
    ),
    histogram(
        "inferd_scoring_seconds",
        "The engine run alone, successful requests.",
    ),
    histogram(
        "inferd_encode_seconds",
        "Outputs to response JSON, successful requests.",
    ),
];

/// The collector of the per-request families.
#[derive(Clone)]
pub(crate) struct RequestFamilies {
    inner: Arc<Inner>,
}

struct Inner {
    descs: Vec<Desc>,
    models: Mutex<Vec<Arc<ModelCells>>>,
    /// Requests that ended before reaching a model, under empty labels;
    /// only the outcomes that happened are exposed.
    unrouted: ModelCells,
    /// One cell per [`STATUSES`], then `other`.
    responses: Shards,
}

impl RequestFamilies {
    pub fn new() -> RequestFamilies {
        let descs = [REQUESTS, V2_REQUESTS, ROWS, IN_FLIGHT, RESPONSES]
            .iter()
            .chain(&STAGES)
            .map(|family| {
                Desc::new(
                    family.name.to_owned(),
                    family.help.to_owned(),
                    family.labels.iter().map(|l| (*l).to_owned()).collect(),
                    HashMap::new(),
                )
                .expect("a valid family")
            })
            .collect();
        RequestFamilies {
            inner: Arc::new(Inner {
                descs,
                models: Mutex::new(Vec::new()),
                unrouted: ModelCells::new("", ""),
                responses: Shards::new(STATUSES.len() + 1),
            }),
        }
    }

    /// The cells of a model version, exposed from the first call on; a
    /// version served again (after an update or a reload) counts on in
    /// the same series, as Prometheus counters must.
    pub fn model(&self, name: &str, version: &str) -> Arc<ModelCells> {
        let mut models = lock(&self.inner.models);
        if let Some(cells) = models
            .iter()
            .find(|c| c.model == name && c.version == version)
        {
            return cells.clone();
        }
        let cells = Arc::new(ModelCells::new(name, version));
        models.push(cells.clone());
        cells
    }

    pub fn count_unrouted(&self, outcome: Outcome) {
        self.inner
            .unrouted
            .shards
            .writer()
            .add(cell::outcome(outcome), 1);
    }

    pub fn response(&self, status: u16) {
        let index = STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(STATUSES.len());
        self.inner.responses.writer().add(index, 1);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    let mut labels: Vec<LabelPair> = pairs
        .iter()
        .map(|(name, value)| {
            let mut label = LabelPair::default();
            label.set_name((*name).to_owned());
            label.set_value((*value).to_owned());
            label
        })
        .collect();
    // As prometheus' own metrics write them.
    labels.sort_by(|a, b| a.name().cmp(b.name()));
    labels
}

fn counter(pairs: &[(&str, &str)], value: u64) -> Metric {
    let mut counter = Counter::default();
    counter.set_value(value as f64);
    let mut metric = Metric::from_label(labels(pairs));
    metric.set_counter(counter);
    metric
}

fn family(family: &Family, metrics: Vec<Metric>) -> MetricFamily {
    let mut out = MetricFamily::default();
    out.set_name(family.name.to_owned());
    out.set_help(family.help.to_owned());
    out.set_field_type(family.kind);
    out.set_metric(metrics);
    out
}

/// `stage`'s histogram of `cells`, summed over the shards. The count is
/// the buckets' total, so it always equals the `+Inf` bucket.
fn histogram_of(cells: &ModelCells, stage: Stage) -> Metric {
    let first = cell::histogram(stage);
    let mut cumulative = 0;
    let mut buckets = Vec::with_capacity(DURATION_NANOS.len());
    for (index, bound) in duration_seconds().enumerate() {
        cumulative += cells.shards.sum(first + index);
        let mut bucket = Bucket::default();
        bucket.set_upper_bound(bound);
        bucket.set_cumulative_count(cumulative);
        buckets.push(bucket);
    }
    cumulative += cells.shards.sum(first + DURATION_NANOS.len());
    let mut histogram = Histogram::default();
    histogram.set_bucket(buckets);
    histogram.set_sample_count(cumulative);
    histogram.set_sample_sum(cells.shards.sum(first + cell::HISTOGRAM - 1) as f64 / 1e9);
    let mut metric = Metric::from_label(labels(&[
        ("model", &cells.model),
        ("version", &cells.version),
    ]));
    metric.set_histogram(histogram);
    metric
}

impl Collector for RequestFamilies {
    fn desc(&self) -> Vec<&Desc> {
        self.inner.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let models = lock(&self.inner.models).clone();
        let unrouted = &self.inner.unrouted;
        let (mut requests, mut v2_requests) = (Vec::new(), Vec::new());
        let (mut rows, mut in_flight) = (Vec::new(), Vec::new());
        let mut stages: [Vec<Metric>; 5] = Default::default();
        for cells in &models {
            let model = [("model", &*cells.model), ("version", &*cells.version)];
            for outcome in Outcome::ALL {
                let count = cells.shards.sum(cell::outcome(outcome));
                let pairs = [model[0], model[1], ("outcome", outcome.as_str())];
                requests.push(counter(&pairs, count));
                let v2 = cells.shards.sum(cell::v2_outcome(outcome));
                v2_requests.push(counter(&pairs, v2));
            }
            rows.push(counter(&model, cells.shards.sum(cell::ROWS)));
            // Ended first: a request that ends meanwhile is then counted as
            // in flight rather than as ended but never begun.
            let ended = cells.shards.sum(cell::ENDED);
            let began = cells.shards.sum(cell::BEGAN);
            let mut gauge = Gauge::default();
            gauge.set_value(began.saturating_sub(ended) as f64);
            let mut metric = Metric::from_label(labels(&model));
            metric.set_gauge(gauge);
            in_flight.push(metric);
            for (stage, metrics) in Stage::ALL.into_iter().zip(&mut stages) {
                metrics.push(histogram_of(cells, stage));
            }
        }
        for outcome in Outcome::ALL {
            let count = unrouted.shards.sum(cell::outcome(outcome));
            if count > 0 {
                let pairs = [
                    ("model", ""),
                    ("version", ""),
                    ("outcome", outcome.as_str()),
                ];
                requests.push(counter(&pairs, count));
            }
        }
        let codes = STATUSES.iter().map(|s| s.to_string());
        let responses = codes
            .chain(["other".to_owned()])
            .enumerate()
            .map(|(index, code)| counter(&[("code", &code)], self.inner.responses.sum(index)))
            .collect();
        let mut families = vec![
            family(&REQUESTS, requests),
            family(&V2_REQUESTS, v2_requests),
            family(&ROWS, rows),
            family(&IN_FLIGHT, in_flight),
            family(&RESPONSES, responses),
        ];
        families.extend(STAGES.iter().zip(stages).map(|(f, m)| family(f, m)));
        families
    }
}
