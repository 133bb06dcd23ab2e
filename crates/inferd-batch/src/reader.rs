//! The job's files read in turn, a chunk at a time, on a thread of their
//! own: decoding the next chunks (CSV splitting, Parquet pages) overlaps
//! with scoring on the engine workers and with writing on the job's
//! thread, instead of taking turns with the writing. Chunks go through a
//! bounded channel, so reading stays at most a channel's length ahead.

use std::sync::Arc;

use inferd_schema::ModelSchema;
use tokio::sync::mpsc::Sender;

use crate::inputs::{Format, InputFile};
use crate::parquet_source::ParquetReader;
use crate::source::{Chunk, FileReader, Position};
use crate::{BatchError, Shard};

/// Where and how to read.
pub(crate) struct Start {
    pub files: Vec<InputFile>,
    pub schema: Arc<ModelSchema>,
    pub id_column: Option<String>,
    pub batch_size: usize,
    pub shard: Shard,
    /// The file, position and chunk number to start at (a resumed job's).
    pub file: usize,
    pub position: Position,
    pub seq: u64,
}

/// One chunk read, with where it stands in the job.
pub(crate) struct ReadChunk {
    pub seq: u64,
    /// This shard's to score and write (else only counted past).
    pub mine: bool,
    /// Its file, an index into the job's files.
    pub file: usize,
    /// Where its file's reader stood after it.
    pub end: Position,
    /// Input bytes read up to its end, for the progress.
    pub bytes: u64,
    pub chunk: Chunk,
}

/// How many chunks past the current one a reader of `format` decodes at
/// once: the channel holds them, so that none waits for the next decode.
pub(crate) fn read_ahead(format: Format, batch_size: usize) -> usize {
    match format {
        Format::Parquet => ParquetReader::read_ahead(batch_size),
        Format::Csv | Format::Jsonl | Format::Npy => 0,
    }
}

/// Reads every chunk from `start` on into `chunks`, then closes it; an
/// error is sent as the last item. Stops early once the receiver is gone.
pub(crate) fn read(start: Start, chunks: Sender<Result<ReadChunk, BatchError>>) {
    if let Err(error) = read_files(&start, &chunks) {
        // The receiver may be gone too: nothing is left to tell.
        let _ = chunks.blocking_send(Err(error));
    }
}

fn read_files(
    start: &Start,
    chunks: &Sender<Result<ReadChunk, BatchError>>,
) -> Result<(), BatchError> {
    let mut seq = start.seq;
    let mut bytes_before: u64 = start.files[..start.file].iter().map(|f| f.bytes).sum();
    for index in start.file..start.files.len() {
        let file = &start.files[index];
        let mut reader = FileReader::open(file, &start.schema, start.id_column.as_deref())?;
        if index == start.file && start.position != Position::default() {
            reader.seek(start.position)?;
        }
        reader.share(start.shard, seq);
        loop {
            let mine = start.shard.takes(seq);
            let Some(chunk) = reader.next_chunk(start.batch_size, mine)? else {
                break;
            };
            let end = reader.position();
            let read = ReadChunk {
                seq,
                mine,
                file: index,
                end,
                bytes: bytes_before + end.byte,
                chunk,
            };
            if chunks.blocking_send(Ok(read)).is_err() {
                return Ok(());
            }
            seq += 1;
        }
        bytes_before += file.bytes;
        tracing::debug!(file = %reader.path().display(), "file read");
    }
    Ok(())
}
