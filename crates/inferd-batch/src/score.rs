//! Scoring one chunk on the model's engine workers, as the server scores a
//! request: decoded on the worker (`run_prepared`), each row that does not
//! fit the contract set aside with the server's message. An engine error
//! is retried; past the retries the chunk is split in halves until the
//! rows at fault are alone, each failing with the engine's message.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use inferd_engine::{EngineError, ServedModel};
use inferd_schema::{DecodedRows, ModelSchema};
use inferd_tensor::Tensor;
use serde_json::Value;

use crate::source::Rows;

/// The served model and its contract.
#[derive(Clone)]
pub struct Model {
    pub served: Arc<ServedModel>,
    pub schema: Arc<ModelSchema>,
}

/// Outputs for some of a chunk's rows: `rows[k]` (an index into the
/// chunk) is row `k` of every tensor.
pub(crate) struct Part {
    pub rows: Vec<usize>,
    pub outputs: Vec<Tensor>,
}

/// A chunk scored: its answers, in parts, and the rows that failed.
pub(crate) struct ChunkScore {
    pub parts: Vec<Part>,
    /// Index into the chunk and why, ascending.
    pub failed: Vec<(usize, String)>,
}

/// The longest pause between two runs of a chunk after an engine error.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Scores `rows`; `Err` only for outputs that cannot be written row by row
/// (a model whose outputs do not have one row per input row).
pub(crate) async fn score_chunk(
    model: Model,
    rows: Arc<Rows>,
    retries: u32,
) -> Result<ChunkScore, String> {
    let decode = {
        let (rows, schema) = (rows.clone(), model.schema.clone());
        Arc::new(move || rows.decode(&schema)) as Decode
    };
    let (mut last_error, mut last_decoded) = (None, None);
    for attempt in 0..=retries {
        if attempt > 0 {
            tokio::time::sleep(backoff(attempt)).await;
        }
        match run(&model, decode.clone()).await {
            Run::Scored(decoded, outputs) => {
                let part = part(decoded.kept, outputs)?;
                return Ok(ChunkScore {
                    parts: vec![part],
                    failed: messages(decoded.failed),
                });
            }
            Run::NothingFits(failed) => {
                return Ok(ChunkScore {
                    parts: Vec::new(),
                    failed: messages(failed),
                });
            }
            Run::Failed(error, decoded) => {
                tracing::warn!(attempt, retries, %error, "engine error on a chunk");
                last_error = Some(error);
                last_decoded = decoded.or(last_decoded);
            }
        }
    }
    // Past the retries: find the rows at fault, from what a worker decoded
    // (decoded here only when no run got as far as a worker).
    let decoded = last_decoded.unwrap_or_else(|| rows.decode(&model.schema));
    let kept: Vec<(usize, Value)> = decoded
        .kept
        .iter()
        .map(|&i| (i, rows.row_json(&model.schema, i)))
        .collect();
    let mut score = ChunkScore {
        parts: Vec::new(),
        failed: messages(decoded.failed),
    };
    let error = last_error.map(|e| e.to_string()).unwrap_or_default();
    split(&model, kept, error, &mut score).await?;
    score.failed.sort_by_key(|(i, _)| *i);
    Ok(score)
}

type Decode = Arc<dyn Fn() -> DecodedRows + Send + Sync>;

enum Run {
    Scored(DecodedRows, Vec<Tensor>),
    /// No row fits the contract: nothing was run.
    NothingFits(Vec<(usize, inferd_schema::SchemaError)>),
    /// With the rows as decoded, when the run got as far as a worker.
    Failed(EngineError, Option<DecodedRows>),
}

/// One run: `decode` on the worker, then the engine.
async fn run(model: &Model, decode: Decode) -> Run {
    let ticket = match model.served.enter() {
        Ok(ticket) => ticket,
        Err(error) => return Run::Failed(error, None),
    };
    let decoded: Arc<Mutex<Option<DecodedRows>>> = Arc::default();
    let slot = decoded.clone();
    let prepare = Box::new(move || {
        let mut rows = decode();
        let inputs = rows.inputs.take();
        *slot.lock().expect("not poisoned") = Some(rows);
        inputs.ok_or_else(|| EngineError::Input("no row of the chunk fits the model".into()))
    });
    let result = model.served.run_prepared(prepare, ticket).await;
    let decoded = decoded.lock().expect("not poisoned").take();
    match (result, decoded) {
        (Ok(scored), Some(rows)) => Run::Scored(rows, scored.outputs),
        (Err(_), Some(rows)) if rows.kept.is_empty() => Run::NothingFits(rows.failed),
        (Err(error), rows) => Run::Failed(error, rows),
        (Ok(_), None) => Run::Failed(EngineError::Stopped, None),
    }
}

/// Scores `rows` (chunk index, row as JSON) in halves until each engine
/// error is pinned on one row.
fn split<'a>(
    model: &'a Model,
    rows: Vec<(usize, Value)>,
    error: String,
    score: &'a mut ChunkScore,
) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
    Box::pin(async move {
        if rows.len() <= 1 {
            score.failed.extend(
                rows.into_iter()
                    .map(|(i, _)| (i, format!("engine error: {error}"))),
            );
            return Ok(());
        }
        let right = rows[rows.len() / 2..].to_vec();
        let left = rows[..rows.len() / 2].to_vec();
        for half in [left, right] {
            let indexes: Vec<usize> = half.iter().map(|(i, _)| *i).collect();
            let values: Vec<Value> = half.iter().map(|(_, v)| v.clone()).collect();
            let schema = model.schema.clone();
            let decode = Arc::new(move || schema.decode_json_rows(values.clone())) as Decode;
            match run(model, decode).await {
                Run::Scored(decoded, outputs) => {
                    let rows = decoded.kept.iter().map(|&k| indexes[k]).collect();
                    score.parts.push(part(rows, outputs)?);
                }
                // The rows fitted a moment ago: they fit now.
                Run::NothingFits(failed) => score
                    .failed
                    .extend(failed.into_iter().map(|(k, e)| (indexes[k], e.to_string()))),
                Run::Failed(error, _) => split(model, half, error.to_string(), score).await?,
            }
        }
        Ok(())
    })
}

/// The outputs of `rows`, checked to hold one row per input row.
fn part(rows: Vec<usize>, outputs: Vec<Tensor>) -> Result<Part, String> {
    if let Some((index, tensor)) = outputs
        .iter()
        .enumerate()
        .find(|(_, t)| t.shape().first() != Some(&rows.len()))
    {
        return Err(format!(
            "output {index} has shape {:?} for {} input rows; each output needs one row per input row",
            tensor.shape(),
            rows.len()
        ));
    }
    Ok(Part { rows, outputs })
}

fn messages(failed: Vec<(usize, inferd_schema::SchemaError)>) -> Vec<(usize, String)> {
    failed
        .into_iter()
        .map(|(i, e)| (i, e.to_string()))
        .collect()
}

/// 100 ms, 200 ms, 400 ms ... at most [`MAX_BACKOFF`].
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64 << attempt.min(10)).min(MAX_BACKOFF)
}
