//! The job's ceiling: the engine alone on the input's own rows at the
//! job's chunk size and workers, with no reading, decoding or writing
//! (`inferd batch --measure-engine SECONDS`). The first chunk is decoded
//! once and scored over and over, as many chunks in flight as the job
//! keeps; what a job reaches is measured against this.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::score::Model;
use crate::source::FileReader;
use crate::{BatchError, Job, inputs};

/// What the engine alone did.
#[derive(Debug, Clone, Copy)]
pub struct EngineRate {
    pub rows: u64,
    pub elapsed: Duration,
    pub batch_size: usize,
}

impl EngineRate {
    pub fn rows_per_s(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Scores the first chunk of `job`'s input for `seconds`.
pub fn measure_engine(job: &Job, model: &Model, seconds: f64) -> Result<EngineRate, BatchError> {
    let files = inputs::expand(&job.inputs)?;
    let file = &files[0];
    let mut reader = FileReader::open(file, &model.schema, job.id_column.as_deref())?;
    let chunk = reader
        .next_chunk(job.batch_size, true)?
        .ok_or_else(|| BatchError::Input {
            path: file.path.clone(),
            reason: "has no rows to measure the engine on".into(),
        })?;
    let decoded = chunk.rows.decode(&model.schema);
    let Some(inputs) = decoded.inputs.filter(|_| decoded.failed.is_empty()) else {
        return Err(BatchError::Input {
            path: file.path.clone(),
            reason: "its first chunk has rows that do not fit the model; the engine is measured on good rows".into(),
        });
    };
    let rows_per_run = decoded.kept.len() as u64;
    let inputs = Arc::new(inputs);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| BatchError::Usage(format!("cannot start the runtime: {e}")))?;
    let served = model.served.clone();
    runtime.block_on(async move {
        let until = Duration::from_secs_f64(seconds.max(0.1));
        let started = Instant::now();
        let mut running = VecDeque::new();
        let mut rows = 0;
        loop {
            while running.len() < job.in_flight.max(1) && started.elapsed() < until {
                let (served, inputs) = (served.clone(), inputs.clone());
                running.push_back(tokio::spawn(async move {
                    let ticket = served.enter()?;
                    let prepare = Box::new(move || Ok(inputs.as_ref().clone()));
                    served.run_prepared(prepare, ticket).await.map(drop)
                }));
            }
            let Some(next) = running.pop_front() else {
                break;
            };
            match next.await {
                Ok(Ok(())) => rows += rows_per_run,
                Ok(Err(error)) => {
                    return Err(BatchError::Outputs(format!("the engine failed: {error}")));
                }
                Err(error) => {
                    return Err(BatchError::Outputs(format!("the engine failed: {error}")));
                }
            }
        }
        Ok(EngineRate {
            rows,
            elapsed: started.elapsed(),
            batch_size: job.batch_size,
        })
    })
}
