//! `inferd batch`: scoring large files with a registered model, the way the
//! server scores requests (the same engine workers, the same contract and
//! the same messages), at the engine's speed and in bounded memory.
//!
//! One door, [`run`]: the job's files are read a chunk of rows at a time
//! (`source`), each chunk decoded and scored on the model's workers while
//! the next is read (`score`), and written in input order (`sink`); a
//! checkpoint beside the output (`checkpoint`) lets the same command
//! continue after a crash; `--shard I/N` takes every Nth chunk, and
//! [`merge`] joins the shards' outputs back in input order.
//!
//! # Layout
//! - `job`: what a job is asked ([`Job`], [`Threshold`], [`Shard`]).
//! - `inputs`: the input paths (files, folders, globs) as files with formats.
//! - `reader`: the job's files read in turn on a thread of their own.
//! - `source`: one file's rows, a chunk at a time (CSV, JSON Lines, `.npy`,
//!   Parquet).
//! - `inferd_media::npy` (shared with the server's `.npy` bodies): the NumPy `.npy` reader.
//! - `parquet_source`: the Parquet reader; `arrow_rows`: its rows as the
//!   model's input.
//! - `score`: one chunk on the engine workers, with retries and splitting.
//! - `sink`: the output and errors files; `parquet_sink`: a Parquet output.
//! - `checkpoint`: what has been finished, to continue from.
//! - `merge`: the shards' outputs as one.
//! - `progress`: the bar, or progress lines.
//! - `ceiling`: the engine alone on the input's rows, what a job is measured against.
//! - `error`: [`BatchError`].
#![forbid(unsafe_code)]

mod arrow_rows;
mod ceiling;
mod checkpoint;
mod error;
mod inputs;
mod job;
mod merge;
mod parquet_sink;
mod parquet_source;
mod progress;
mod reader;
mod score;
mod sink;
mod source;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use ceiling::{EngineRate, measure_engine};
pub use error::BatchError;
pub use inputs::{Format, InputFile};
pub use job::{Job, Shard, Threshold};
pub use merge::{MergeSummary, merge};
pub use progress::ProgressMode;
pub use score::Model;
pub use sink::{OutputFormat, errors_path};

use checkpoint::Checkpoint;
use progress::{Counts, Progress};
use reader::ReadChunk;
use score::ChunkScore;
use sink::Sink;
use source::Rows;

/// How often the checkpoint is saved, at most.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// What a finished job did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The file written (a shard's own).
    pub output: PathBuf,
    /// The errors file, when a row failed.
    pub errors: Option<PathBuf>,
    pub rows_read: u64,
    pub rows_scored: u64,
    pub rows_failed: u64,
    /// Rows already done by an earlier run this one continued.
    pub resumed_rows: u64,
    pub elapsed: Duration,
}

/// A shard's record of its input, beside its output, for the merge.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Manifest {
    pub shard: u32,
    pub shards: u32,
    pub batch_size: usize,
    /// What every shard of the job shares (`checkpoint::identity` without
    /// the shard).
    pub job: String,
    /// Each input file, as named, and its rows.
    pub files: Vec<(String, u64)>,
    pub rows_scored: u64,
    pub rows_failed: u64,
}

/// A shard's manifest beside its output.
pub(crate) fn manifest_path(output: &Path) -> PathBuf {
    sink::suffixed(output, ".done.json")
}

/// Runs `job` with `model`; continues from the checkpoint a stopped run of
/// the same job left. Rows that do not fit go to the errors file; the job
/// stops with [`BatchError::Threshold`] once they pass its threshold.
pub fn run(job: &Job, model: Model, mode: ProgressMode) -> Result<Summary, BatchError> {
    let started = Instant::now();
    if job.batch_size == 0 || job.in_flight == 0 {
        return Err(BatchError::Usage(
            "--batch-size and the chunks in flight must be at least 1".into(),
        ));
    }
    let files = inputs::expand(&job.inputs)?;
    let format = OutputFormat::of(&job.output)?;
    let output = job.shard.output(&job.output);
    for file in &files {
        if same_file(&file.path, &output) {
            return Err(BatchError::Usage(format!(
                "--output {} is also an input",
                output.display()
            )));
        }
    }
    let identity = checkpoint::identity(job, &files, &model, true)?;
    let checkpoint_path = checkpoint::path(&output);
    let state = match checkpoint::load(&checkpoint_path)? {
        Some(saved) if saved.job == identity && saved.file_rows.len() == files.len() => {
            tracing::info!(
                rows = saved.read,
                chunk = saved.next_chunk,
                "continuing from the checkpoint"
            );
            saved
        }
        Some(_) => {
            return Err(BatchError::Checkpoint {
                path: checkpoint_path,
                reason: "was left by a different job (other inputs, model, contract, batch size, id column or shard); \
                         delete it (and the .partial files beside it) to start over"
                    .into(),
            });
        }
        None => {
            refuse_existing(&output, job.overwrite)?;
            Checkpoint::fresh(identity, files.len())
        }
    };
    let sink = Sink::open(
        &output,
        format,
        job.id_column.clone(),
        model.served.signature.outputs.clone(),
        (state.output_bytes, state.errors_bytes),
        state.columns.clone(),
    )?;
    let total_bytes = files.iter().map(|f| f.bytes).sum();
    let resumed_rows = state.read;
    let mut pipeline = Pipeline {
        job,
        files: &files,
        names: files.iter().map(|f| f.path.display().to_string()).collect(),
        model,
        sink,
        progress: Progress::new(mode, total_bytes, resumed_rows),
        checkpoint_path,
        saved_at: Instant::now(),
        state,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| BatchError::Usage(format!("cannot start the job's runtime: {e}")))?;
    let result = runtime.block_on(pipeline.run());
    pipeline.progress.finish();
    result?;
    let Pipeline {
        sink,
        state,
        checkpoint_path,
        model,
        ..
    } = pipeline;
    sink.finish(&output, job.shard.count > 1)?;
    if job.shard.count > 1 {
        let manifest = Manifest {
            shard: job.shard.index,
            shards: job.shard.count,
            batch_size: job.batch_size,
            job: checkpoint::identity(job, &files, &model, false)?,
            files: files
                .iter()
                .zip(&state.file_rows)
                .map(|(f, rows)| (f.path.display().to_string(), *rows))
                .collect(),
            rows_scored: state.scored,
            rows_failed: state.failed,
        };
        let path = manifest_path(&output);
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(&manifest).expect("plain data"),
        )
        .map_err(BatchError::io(&path))?;
    }
    match std::fs::remove_file(&checkpoint_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(BatchError::io(&checkpoint_path)(e));
        }
        _ => {}
    }
    let errors = errors_path(&output);
    let summary = Summary {
        errors: (state.failed > 0).then_some(errors),
        output,
        rows_read: state.read,
        rows_scored: state.scored,
        rows_failed: state.failed,
        resumed_rows,
        elapsed: started.elapsed(),
    };
    if job.error_threshold.passed(state.failed, state.read, true) {
        return Err(BatchError::Threshold {
            failed: state.failed,
            read: state.read,
            threshold: job.error_threshold.to_string(),
        });
    }
    Ok(summary)
}

/// An output that exists is replaced only when asked (`--overwrite`).
pub(crate) fn refuse_existing(output: &Path, overwrite: bool) -> Result<(), BatchError> {
    if !overwrite && output.exists() {
        return Err(BatchError::Usage(format!(
            "--output {} already exists; give --overwrite to replace it",
            output.display()
        )));
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A chunk on its way: read, being scored (or another shard's), to be
/// written in turn.
struct Pending {
    read: ReadChunk,
    /// `None` for another shard's chunk, or one with no readable row.
    scoring: Option<tokio::task::JoinHandle<Result<ChunkScore, String>>>,
}

struct Pipeline<'a> {
    job: &'a Job,
    files: &'a [InputFile],
    /// Each file as the outputs name it (made once, not per chunk).
    names: Vec<String>,
    model: Model,
    sink: Sink,
    progress: Progress,
    checkpoint_path: PathBuf,
    saved_at: Instant,
    /// What has been written, as the checkpoint records it.
    state: Checkpoint,
}

impl Pipeline<'_> {
    /// Reads on a thread of its own (`reader`), so that decoding the next
    /// chunks, scoring (on the engine workers) and writing (here) overlap;
    /// the channel between them holds what one read decodes at once.
    async fn run(&mut self) -> Result<(), BatchError> {
        let read_ahead = self
            .files
            .iter()
            .map(|f| reader::read_ahead(f.format, self.job.batch_size))
            .max()
            .unwrap_or(0);
        let (sender, mut chunks) = tokio::sync::mpsc::channel(self.job.in_flight + read_ahead);
        let start = reader::Start {
            files: self.files.to_vec(),
            schema: self.model.schema.clone(),
            id_column: self.job.id_column.clone(),
            batch_size: self.job.batch_size,
            shard: self.job.shard,
            file: self.state.file,
            position: self.state.position,
            seq: self.state.next_chunk,
        };
        let thread = std::thread::Builder::new()
            .name("inferd-batch-read".into())
            .spawn(move || reader::read(start, sender))
            .map_err(|e| BatchError::Usage(format!("cannot start the reading thread: {e}")))?;
        let result = self.consume(&mut chunks).await;
        // A job stopped early (a threshold, a write error) stops the reader
        // at its next chunk: its sends fail once the receiver is gone.
        drop(chunks);
        thread
            .join()
            .map_err(|_| BatchError::Outputs("the reading thread panicked".into()))?;
        result?;
        self.save()?;
        Ok(())
    }

    /// Scores the chunks read, in order, at most `in_flight` at once, and
    /// writes each in turn.
    async fn consume(
        &mut self,
        chunks: &mut tokio::sync::mpsc::Receiver<Result<ReadChunk, BatchError>>,
    ) -> Result<(), BatchError> {
        let mut pending: VecDeque<Pending> = VecDeque::new();
        while let Some(read) = chunks.recv().await {
            let mut read = read?;
            let rows = std::mem::replace(&mut read.chunk.rows, Rows::Json(Vec::new()));
            let scoring = (read.mine && rows.len() > 0).then(|| {
                tokio::spawn(score::score_chunk(
                    self.model.clone(),
                    Arc::new(rows),
                    self.job.retries,
                ))
            });
            pending.push_back(Pending { read, scoring });
            while pending.len() >= self.job.in_flight {
                let next = pending.pop_front().expect("not empty");
                self.commit(next).await?;
            }
        }
        while let Some(next) = pending.pop_front() {
            self.commit(next).await?;
        }
        Ok(())
    }

    /// Writes a chunk's answers and failures (waiting for its scoring), and
    /// records it as done.
    async fn commit(&mut self, pending: Pending) -> Result<(), BatchError> {
        let Pending { read, scoring } = pending;
        let chunk = &read.chunk;
        let rows = (chunk.numbers.len() + chunk.unreadable.len()) as u64;
        let source = sink::Source {
            file: &self.names[read.file],
            numbers: &chunk.numbers,
            ids: chunk.ids.as_deref(),
            unreadable: &chunk.unreadable,
        };
        if read.mine {
            let score = match scoring {
                Some(handle) => handle
                    .await
                    .map_err(|e| BatchError::Outputs(format!("scoring a chunk failed: {e}")))?
                    .map_err(BatchError::Outputs)?,
                None => ChunkScore {
                    parts: Vec::new(),
                    failed: Vec::new(),
                },
            };
            let (written, failed) = self.sink.write_chunk(&source, &score)?;
            self.state.read += rows;
            self.state.scored += written;
            self.state.failed += failed;
        }
        self.state.next_chunk = read.seq + 1;
        self.state.file = read.file;
        self.state.position = read.end;
        self.state.file_rows[read.file] = read.end.row;
        self.progress.update(&Counts {
            read: self.state.read,
            scored: self.state.scored,
            failed: self.state.failed,
            bytes: read.bytes,
        });
        if self
            .job
            .error_threshold
            .passed(self.state.failed, self.state.read, false)
        {
            self.save()?;
            return Err(BatchError::Threshold {
                failed: self.state.failed,
                read: self.state.read,
                threshold: self.job.error_threshold.to_string(),
            });
        }
        if self.saved_at.elapsed() >= CHECKPOINT_EVERY {
            self.save()?;
        }
        Ok(())
    }

    /// Syncs the partial files and saves the checkpoint naming their lengths.
    fn save(&mut self) -> Result<(), BatchError> {
        self.sink.sync()?;
        (self.state.output_bytes, self.state.errors_bytes) = self.sink.lengths();
        self.state.columns = self.sink.columns.clone();
        checkpoint::save(&self.checkpoint_path, &self.state)?;
        self.saved_at = Instant::now();
        Ok(())
    }
}
