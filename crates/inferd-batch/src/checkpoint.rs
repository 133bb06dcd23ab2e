//! What a job has finished, beside its output (`preds.csv.checkpoint`):
//! the next chunk, where it starts, and how long the partial files were
//! then. Saved after a chunk is written, at most once a second (written
//! whole to a temporary file and renamed, so it is never half there);
//! rerunning the same command continues from it, cutting the partial
//! files back to those lengths, so the final output is byte for byte an
//! uninterrupted run's.
//!
//! A checkpoint is only for the job that wrote it: its identity covers the
//! input files (path, size, modification time), the model version and
//! contract, the chunk size, the id column and the shard. Another job's
//! checkpoint is refused, never silently continued.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::BatchError;
use crate::inputs::InputFile;
use crate::job::Job;
use crate::score::Model;
use crate::sink::suffixed;
use crate::source::Position;

const VERSION: u32 = 1;

/// A job's progress, as saved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    pub version: u32,
    /// [`identity`] of the job that saved it.
    pub job: String,
    /// The next chunk's number over the whole input.
    pub next_chunk: u64,
    /// The file the next chunk is read from, and where in it.
    pub file: usize,
    pub position: Position,
    pub output_bytes: u64,
    pub errors_bytes: u64,
    pub read: u64,
    pub scored: u64,
    pub failed: u64,
    /// The output's columns, once written.
    pub columns: Option<Vec<String>>,
    /// Rows seen in each input file so far.
    pub file_rows: Vec<u64>,
}

impl Checkpoint {
    pub fn fresh(job: String, files: usize) -> Checkpoint {
        Checkpoint {
            version: VERSION,
            job,
            file_rows: vec![0; files],
            ..Checkpoint::default()
        }
    }
}

/// The checkpoint of `output` (a shard's own output).
pub(crate) fn path(output: &Path) -> PathBuf {
    suffixed(output, ".checkpoint")
}

/// The saved checkpoint, if any.
pub(crate) fn load(path: &Path) -> Result<Option<Checkpoint>, BatchError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(BatchError::io(path)(e)),
    };
    let checkpoint: Checkpoint =
        serde_json::from_slice(&text).map_err(|e| BatchError::Checkpoint {
            path: path.to_path_buf(),
            reason: format!("cannot be read ({e}); delete it to start the job over"),
        })?;
    if checkpoint.version != VERSION {
        return Err(BatchError::Checkpoint {
            path: path.to_path_buf(),
            reason: format!(
                "was written by another version of inferd (format {}); delete it to start the job over",
                checkpoint.version
            ),
        });
    }
    Ok(Some(checkpoint))
}

/// Saves `checkpoint` whole, or leaves the previous one.
pub(crate) fn save(path: &Path, checkpoint: &Checkpoint) -> Result<(), BatchError> {
    let temporary = suffixed(path, ".new");
    let text = serde_json::to_vec(checkpoint).expect("plain data");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        std::io::Write::write_all(&mut file, &text)?;
        file.sync_data()?;
        std::fs::rename(&temporary, path)
    };
    write().map_err(BatchError::io(path))
}

/// What makes two runs the same job; `shard` false leaves the shard out
/// (what every shard of one job shares, checked by the merge).
pub(crate) fn identity(
    job: &Job,
    files: &[InputFile],
    model: &Model,
    shard: bool,
) -> Result<String, BatchError> {
    let mut hash = Sha256::new();
    let mut add = |part: &str| {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    };
    for file in files {
        let meta = std::fs::metadata(&file.path).map_err(BatchError::io(&file.path))?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        add(&format!(
            "{}|{}|{modified}",
            file.path.display(),
            meta.len()
        ));
    }
    let served = &model.served;
    add(&format!(
        "{}:{}:{}",
        served.name, served.version, served.sha256
    ));
    add(&format!(
        "{:?}|{}",
        model.schema.input, model.schema.data_field
    ));
    add(&format!("{}|{:?}", job.batch_size, job.id_column));
    if shard {
        add(&job.shard.to_string());
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
