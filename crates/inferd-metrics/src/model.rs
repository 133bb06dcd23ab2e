//! One model version's metric handles, labelled once when the model is
//! served. Recording through them is lock-free: the label lookup that a
//! `*Vec` metric does on every call (a read lock and a hash) happens here,
//! once.

use std::time::Duration;

use prometheus::{Gauge, Histogram, IntCounter, IntGauge};

/// How a scoring request ended: the `outcome` label of
/// `inferd_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 200: scored.
    Success,
    /// The client's request was wrong (400, 408, 413, 415).
    BadRequest,
    /// No key, or a wrong one (401, 403).
    Unauthorized,
    /// No concurrency slot within maxQueueWaitMs (503).
    QueueTimeout,
    /// The admission queue was full (503 at once).
    QueueFull,
    /// The run took longer than scoringTimeoutMs (504).
    ScoringTimeout,
    /// The engine failed, or the server is stopping (500, 503).
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Success,
        Outcome::BadRequest,
        Outcome::Unauthorized,
        Outcome::QueueTimeout,
        Outcome::QueueFull,
        Outcome::ScoringTimeout,
        Outcome::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::BadRequest => "bad_request",
            Outcome::Unauthorized => "unauthorized",
            Outcome::QueueTimeout => "queue_timeout",
            Outcome::QueueFull => "queue_full",
            Outcome::ScoringTimeout => "scoring_timeout",
            Outcome::Error => "error",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The handles of one model version. Made by [`crate::Metrics::model`].
pub struct ModelMetrics {
    pub(crate) outcomes: [IntCounter; Outcome::ALL.len()],
    /// Rows (first dimension of the first input) scored successfully.
    pub rows: IntCounter,
    /// From the handler's start to the response being ready.
    pub request_duration: Histogram,
    /// From entering the admission queue to the start on a worker.
    pub queue_wait: Histogram,
    /// JSON to tensors, on the worker.
    pub decode: Histogram,
    /// The engine run alone.
    pub scoring: Histogram,
    /// Tensors to JSON.
    pub encode: Histogram,
    pub(crate) batch_size: Histogram,
    /// Requests of this model being handled right now.
    pub in_flight: IntGauge,
    pub(crate) load_duration: Gauge,
}

impl ModelMetrics {
    /// Counts one request under `outcome`.
    pub fn count(&self, outcome: Outcome) {
        self.outcomes[outcome.index()].inc();
    }

    /// How long the model took to load (read, optimise, start its workers).
    pub fn set_load_duration(&self, duration: Duration) {
        self.load_duration.set(duration.as_secs_f64());
    }

    /// A handle for whoever forms batches (a dynamic batcher) to record the
    /// size of each engine run; never observed when batching is off.
    pub fn batch_sizes(&self) -> BatchSizes {
        BatchSizes(self.batch_size.clone())
    }
}

/// Records batch sizes of one model version; cheap to clone and to send to
/// a worker thread.
#[derive(Clone)]
pub struct BatchSizes(Histogram);

impl BatchSizes {
    /// One engine run over `rows` rows (or requests) merged into one batch.
    pub fn observe(&self, rows: usize) {
        self.0.observe(rows as f64);
    }
}
