//! One model version's metrics, labelled once when the model is served.
//! A request's counts and durations go to [`Shards`] (no locked
//! instruction, no label lookup); the rarer figures (batch sizes, the load
//! duration) stay prometheus handles.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// Which protocol a scoring request spoke: `/score` (the Azure ML
/// contract) or the Open Inference Protocol (`/v2/models/.../infer`). Every
/// request counts in `inferd_requests_total`; a v2 one also in
/// `inferd_v2_requests_total`, so the two kinds of traffic can be told
/// apart without a label that would change every existing series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Score,
    V2,
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
    /// Nanoseconds of successful requests, start to answer (the
    /// statistics extension's `success.ns`).
    pub const SUCCESS_NANOS: usize = ROWS + 3;
    /// The v2 requests' outcomes, in [`Outcome::ALL`]'s order.
    const V2_OUTCOMES: usize = ROWS + 4;
    const HISTOGRAMS: usize = V2_OUTCOMES + Outcome::ALL.len();

    pub fn v2_outcome(outcome: Outcome) -> usize {
        V2_OUTCOMES + outcome.index()
    }
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
    /// When the last successful request ended, in milliseconds since the
    /// Unix epoch (0: never). Written at most once a millisecond.
    pub last_success_ms: AtomicU64,
}

impl ModelCells {
    pub fn new(model: &str, version: &str) -> ModelCells {
        ModelCells {
            model: model.to_owned(),
            version: version.to_owned(),
            shards: Shards::new(cell::WIDTH),
            last_success_ms: AtomicU64::new(0),
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
    /// A `protocol` of [`Protocol::V2`] counts the outcome a second time,
    /// in `inferd_v2_requests_total`.
    pub fn finished(
        &self,
        outcome: Outcome,
        total: Duration,
        stages: Option<&Stages>,
        protocol: Protocol,
    ) {
        let writer = self.cells.shards.writer();
        writer.add(cell::ENDED, 1);
        writer.add(cell::outcome(outcome), 1);
        if protocol == Protocol::V2 {
            writer.add(cell::v2_outcome(outcome), 1);
        }
        let nanos = observe(&writer, Stage::Request, total);
        if outcome == Outcome::Success {
            writer.add(cell::SUCCESS_NANOS, nanos);
            self.note_success();
        }
        if let Some(stages) = stages {
            writer.add(cell::ROWS, stages.rows);
            observe(&writer, Stage::QueueWait, stages.queue_wait);
            observe(&writer, Stage::Decode, stages.decode);
            observe(&writer, Stage::Scoring, stages.scoring);
            observe(&writer, Stage::Encode, stages.encode);
        }
    }

    /// Keeps the time of the latest success; the shared cell is written
    /// only when the millisecond has changed, so requests on many threads
    /// do not all write one cache line.
    fn note_success(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let last = &self.cells.last_success_ms;
        if last.load(Ordering::Relaxed) < now {
            last.fetch_max(now, Ordering::Relaxed);
        }
    }

    /// The model's counters summed now: what the statistics extension
    /// (`GET /v2/models/{m}/stats`) reports, from the cells `/metrics` reads.
    pub fn totals(&self) -> ModelTotals {
        let shards = &self.cells.shards;
        let stage = |stage: Stage| {
            let first = cell::histogram(stage);
            let count = (0..cell::HISTOGRAM - 1)
                .map(|i| shards.sum(first + i))
                .sum();
            StageTotal {
                count,
                nanos: shards.sum(first + cell::HISTOGRAM - 1),
            }
        };
        let request = stage(Stage::Request);
        let success = StageTotal {
            count: shards.sum(cell::outcome(Outcome::Success)),
            nanos: shards.sum(cell::SUCCESS_NANOS),
        };
        ModelTotals {
            success,
            // Every request that reached the handler and failed; one
            // refused before it (no key) was never the model's to fail.
            failure: StageTotal {
                count: Outcome::ALL
                    .into_iter()
                    .filter(|o| !matches!(o, Outcome::Success | Outcome::Unauthorized))
                    .map(|o| shards.sum(cell::outcome(o)))
                    .sum(),
                nanos: request.nanos.saturating_sub(success.nanos),
            },
            queue: stage(Stage::QueueWait),
            decode: stage(Stage::Decode),
            scoring: stage(Stage::Scoring),
            encode: stage(Stage::Encode),
            rows: shards.sum(cell::ROWS),
            batches: self.batch_size.get_sample_count(),
            last_success_ms: self.cells.last_success_ms.load(Ordering::Relaxed),
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
/// bound it does not exceed) and its sum; returns it in nanoseconds.
fn observe(writer: &ShardWriter<'_>, stage: Stage, duration: Duration) -> u64 {
    let nanos = duration
        .as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(duration.subsec_nanos()));
    let bucket = duration_bucket(nanos);
    let first = cell::histogram(stage);
    writer.add(first + bucket, 1);
    writer.add(first + cell::HISTOGRAM - 1, nanos);
    nanos
}

/// A count of requests and their nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageTotal {
    pub count: u64,
    pub nanos: u64,
}

/// One model version's counters, summed at one moment (see
/// [`ModelMetrics::totals`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelTotals {
    /// Successful requests, arrival to answer.
    pub success: StageTotal,
    /// Finished requests that failed, arrival to answer.
    pub failure: StageTotal,
    /// The stages of successful requests.
    pub queue: StageTotal,
    pub decode: StageTotal,
    pub scoring: StageTotal,
    pub encode: StageTotal,
    /// Rows scored.
    pub rows: u64,
    /// Engine runs that merged requests (dynamic batching; 0 without it).
    pub batches: u64,
    /// When the last success ended, milliseconds since the Unix epoch; 0: never.
    pub last_success_ms: u64,
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
