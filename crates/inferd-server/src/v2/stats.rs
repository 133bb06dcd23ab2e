//! The statistics extension's document (`GET /v2/models/{m}/stats`), from
//! the same counters `/metrics` exposes (see
//! [`inferd_metrics::ModelMetrics::totals`]): every request to the model,
//! `/score` and v2 alike, as Triton counts them.
//!
//! | Triton | inferd |
//! | --- | --- |
//! | `success`, `fail` | requests by outcome, arrival to answer |
//! | `queue` | admission queue wait |
//! | `compute_input` | decoding the body into tensors |
//! | `compute_infer` | the engine run |
//! | `compute_output` | encoding the answer |
//! | `inference_count` | rows scored |
//! | `execution_count` | engine runs: batches with batching, else successes |

use std::sync::Arc;

use inferd_engine::ServedModel;
use inferd_metrics::{ModelTotals, StageTotal};
use serde::Serialize;

use crate::LiveModel;

#[derive(Serialize)]
struct Document<'a> {
    model_stats: Vec<ModelStats<'a>>,
}

#[derive(Serialize)]
struct ModelStats<'a> {
    name: &'a str,
    version: String,
    last_inference: u64,
    inference_count: u64,
    execution_count: u64,
    inference_stats: InferenceStats,
    batch_stats: [(); 0],
}

#[derive(Serialize)]
struct InferenceStats {
    success: Duration,
    fail: Duration,
    queue: Duration,
    compute_input: Duration,
    compute_infer: Duration,
    compute_output: Duration,
    cache_hit: Duration,
    cache_miss: Duration,
}

#[derive(Serialize, Default)]
struct Duration {
    count: u64,
    ns: u64,
}

impl From<StageTotal> for Duration {
    fn from(total: StageTotal) -> Duration {
        Duration {
            count: total.count,
            ns: total.nanos,
        }
    }
}

/// The document for `models`.
pub(super) fn document(models: &[Arc<LiveModel>]) -> Vec<u8> {
    let model_stats = models
        .iter()
        .map(|model| model_stats(&model.served, &model.handles.metrics.totals()))
        .collect();
    serde_json::to_vec(&Document { model_stats }).expect("plain data serialises")
}

fn model_stats<'a>(model: &'a ServedModel, totals: &ModelTotals) -> ModelStats<'a> {
    let execution_count = if model.executor.batching().is_some() {
        totals.batches
    } else {
        totals.success.count
    };
    ModelStats {
        name: &model.name,
        version: model.version.to_string(),
        last_inference: totals.last_success_ms,
        inference_count: totals.rows,
        execution_count,
        inference_stats: InferenceStats {
            success: totals.success.into(),
            fail: totals.failure.into(),
            queue: totals.queue.into(),
            compute_input: totals.decode.into(),
            compute_infer: totals.scoring.into(),
            compute_output: totals.encode.into(),
            cache_hit: Duration::default(),
            cache_miss: Duration::default(),
        },
        batch_stats: [],
    }
}
