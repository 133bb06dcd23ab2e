//! One model version's metrics, labelled once when the model is served.
//! A request's counts and durations go to [`Shards`] (no locked
//! instruction, no label lookup); the rarer figures (batch sizes, the load
//! duration) stay prometheus handles.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{Gauge, Histogram};

use crate::buckets::{DURATION_NANOS, duration_bucket};
use crate::shards::{ShardWriter, Shards};

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
    /// The body memory budget had no room for the request's body or
    /// tensors (503 at once).
    BodyBudgetFull,
    /// The run took longer than scoringTimeoutMs (504).
    ScoringTimeout,
    /// The engine failed, or the server is stopping (500, 503).
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Success,
        Outcome::BadRequest,
        Outcome::Unauthorized,
        Outcome::QueueTimeout,
        Outcome::QueueFull,
        Outcome::BodyBudgetFull,
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
            Outcome::BodyBudgetFull => "body_budget_full",
            Outcome::ScoringTimeout => "scoring_timeout",
            Outcome::Error => "error",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A duration histogram of a scoring request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// From the handler's start to the response being ready.
    Request,
    /// From entering the admission queue to the start on a worker.
    QueueWait,
    /// JSON to tensors, on the worker.
    Decode,
    /// The engine run alone.
    Scoring,
    /// Tensors to JSON.
    Encode,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Request,
        Stage::QueueWait,
        Stage::Decode,
        Stage::Scoring,
        Stage::Encode,
    ];
}

/// Where each counter of a model lives in its [`Shards`].
pub(crate) mod cell {
    use super::{DURATION_NANOS, Outcome, Stage};

    pub fn outcome(outcome: Outcome) -> usize {
        outcome.index()
    }
    pub const ROWS: usize = Outcome::ALL.len();
    pub const BEGAN: usize = ROWS + 1;
    pub const ENDED: usize = ROWS + 2;
    const HISTOGRAMS: usize = ROWS + 3;
    /// A histogram's cells: one per bucket, one past the last (`+Inf`
    /// only), then the sum in nanoseconds.
    pub const HISTOGRAM: usize = DURATION_NANOS.len() + 2;
    pub const WIDTH: usize = HISTOGRAMS + Stage::ALL.len() * HISTOGRAM;

    /// The first cell of `stage`'s histogram.
    pub fn histogram(stage: Stage) -> usize {
        HISTOGRAMS + stage as usize * HISTOGRAM
    }
}

/// One model version's counters, for the collector to read.
pub(crate) struct ModelCells {
    pub model: String,
    pub version: String,
    pub shards: Shards,
}

impl ModelCells {
    pub fn new(model: &str, version: &str) -> ModelCells {
        ModelCells {
            model: model.to_owned(),
            version: version.to_owned(),
            shards: Shards::new(cell::WIDTH),
        }
    }
}

/// What a successful request adds beyond its count and total duration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stages {
    /// Rows (first dimension of the first output) scored.
    pub rows: u64,
    pub queue_wait: Duration,
    pub decode: Duration,
    pub scoring: Duration,
    pub encode: Duration,
}

/// The handles of one model version. Made by [`crate::Metrics::model`].
pub struct ModelMetrics {
    pub(crate) cells: Arc<ModelCells>,
    pub(crate) batch_size: Histogram,
    pub(crate) load_duration: Gauge,
}

impl ModelMetrics {
    /// Counts one request under `outcome`, nothing else (a request that
    /// never reached the handler, such as an unauthorized one).
    pub fn count(&self, outcome: Outcome) {
        self.cells.shards.writer().add(cell::outcome(outcome), 1);
    }

    /// Records one finished request, counted by [`ModelMetrics::began`]:
    /// its outcome, its duration from the handler's start to the response,
    /// and, when it succeeded, its stages; and ends it in flight (as
    /// [`ModelMetrics::ended`] would, through the same writer).
    pub fn finished(&self, outcome: Outcome, total: Duration, stages: Option<&Stages>) {
        let writer = self.cells.shards.writer();
        writer.add(cell::ENDED, 1);
        writer.add(cell::outcome(outcome), 1);
        observe(&writer, Stage::Request, total);
        if let Some(stages) = stages {
            writer.add(cell::ROWS, stages.rows);
            observe(&writer, Stage::QueueWait, stages.queue_wait);
            observe(&writer, Stage::Decode, stages.decode);
            observe(&writer, Stage::Scoring, stages.scoring);
            observe(&writer, Stage::Encode, stages.encode);
        }
    }

    /// A request of this model began (`inferd_requests_in_flight` is the
    /// requests begun less those ended).
    pub fn began(&self) {
        self.cells.shards.writer().add(cell::BEGAN, 1);
    }

    /// A request counted by [`ModelMetrics::began`] ended unfinished (given
    /// up on).
    pub fn ended(&self) {
        self.cells.shards.writer().add(cell::ENDED, 1);
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

/// Adds `duration` to `stage`'s histogram: its bucket (the first whose
/// bound it does not exceed) and its sum.
fn observe(writer: &ShardWriter<'_>, stage: Stage, duration: Duration) {
    let nanos = duration
        .as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(duration.subsec_nanos()));
    let bucket = duration_bucket(nanos);
    let first = cell::histogram(stage);
    writer.add(first + bucket, 1);
    writer.add(first + cell::HISTOGRAM - 1, nanos);
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
