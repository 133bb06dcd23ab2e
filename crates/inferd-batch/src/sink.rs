//! Writing a job's answers and its failed rows, a chunk at a time, in
//! input order. The output is CSV (one column per output value: `y` for
//! one value a row, `y[0]`, `y[1]` ... for several), JSON Lines (one
//! object a row, each output as the server answers it) or Parquet
//! (`parquet_sink`); each row starts with its source file and row number,
//! or with its id (`--id-column`).
//! Failed rows go to a JSON Lines errors file: file, row, and why.
//!
//! Writes go to `.partial` files; their lengths after each chunk are what
//! a checkpoint records, so a resumed job cuts them back to a chunk's end.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use inferd_tensor::{Tensor, TensorSpec};
use serde_json::Value;

use crate::BatchError;
use crate::parquet_sink::{self, Keys};
use crate::score::ChunkScore;

/// The output's format, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Csv,
    Jsonl,
    Parquet,
}

impl OutputFormat {
    pub fn of(path: &Path) -> Result<OutputFormat, BatchError> {
        match crate::inputs::extension(path).as_str() {
            "csv" => Ok(OutputFormat::Csv),
            "jsonl" | "ndjson" => Ok(OutputFormat::Jsonl),
            "parquet" | "pq" => Ok(OutputFormat::Parquet),
            _ => Err(BatchError::Usage(format!(
                "--output {}: name the output .csv, .jsonl or .parquet (the extension says the format)",
                path.display()
            ))),
        }
    }
}

/// The errors file beside an output: `preds.csv.errors.jsonl`.
pub fn errors_path(output: &Path) -> PathBuf {
    suffixed(output, ".errors.jsonl")
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Where a chunk's rows came from.
pub(crate) struct Source<'a> {
    /// The input file, as the job named it.
    pub file: &'a str,
    /// Each of the chunk's readable rows' number.
    pub numbers: &'a [u64],
    pub ids: Option<&'a [Value]>,
    /// Rows that could not be read, by number.
    pub unreadable: &'a [(u64, String)],
}

/// The output and errors files being written.
pub(crate) struct Sink {
    format: OutputFormat,
    id_column: Option<String>,
    specs: Vec<TensorSpec>,
    output: Counted,
    errors: Counted,
    /// The CSV header (Parquet's columns and their types), once the
    /// first answers say each output's width.
    pub columns: Option<Vec<String>>,
    line: Vec<u8>,
}

/// A file and the bytes written to it.
pub(crate) struct Counted {
    path: PathBuf,
    file: BufWriter<File>,
    pub bytes: u64,
}

impl Counted {
    /// Opens `path` for writing from `bytes` on (the rest cut off). A
    /// file shorter than `bytes` is not the one a checkpoint named.
    pub(crate) fn open(path: PathBuf, bytes: u64) -> Result<Counted, BatchError> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(bytes == 0)
            .open(&path)
            .map_err(BatchError::io(&path))?;
        let length = file.metadata().map_err(BatchError::io(&path))?.len();
        if length < bytes {
            return Err(BatchError::Checkpoint {
                path,
                reason: format!(
                    "the checkpoint counts {bytes} bytes written to it, and it holds {length}; delete the checkpoint and the .partial files to start over"
                ),
            });
        }
        file.set_len(bytes).map_err(BatchError::io(&path))?;
        let mut file = BufWriter::with_capacity(1 << 20, file);
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(bytes))
            .map_err(BatchError::io(&path))?;
        Ok(Counted { path, file, bytes })
    }

    pub(crate) fn write(&mut self, data: &[u8]) -> Result<(), BatchError> {
        self.file
            .write_all(data)
            .map_err(BatchError::io(&self.path))?;
        self.bytes += data.len() as u64;
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Synced and closed: answers its length.
    pub(crate) fn finish(mut self) -> Result<u64, BatchError> {
        self.sync()?;
        Ok(self.bytes)
    }

    /// Everything written so far on disk (to survive the machine, not only
    /// the process).
    fn sync(&mut self) -> Result<(), BatchError> {
        self.file.flush().map_err(BatchError::io(&self.path))?;
        self.file
            .get_ref()
            .sync_data()
            .map_err(BatchError::io(&self.path))
    }
}

impl Sink {
    /// Opens the partial files, continuing at the lengths given (0 and 0
    /// for a new job).
    pub fn open(
        output: &Path,
        format: OutputFormat,
        id_column: Option<String>,
        specs: Vec<TensorSpec>,
        lengths: (u64, u64),
        columns: Option<Vec<String>>,
    ) -> Result<Sink, BatchError> {
        Ok(Sink {
            format,
            id_column,
            specs,
            output: Counted::open(suffixed(output, ".partial"), lengths.0)?,
            errors: Counted::open(partial_errors(output), lengths.1)?,
            columns,
            line: Vec::with_capacity(4096),
        })
    }

    /// The partial files' lengths.
    pub fn lengths(&self) -> (u64, u64) {
        (self.output.bytes, self.errors.bytes)
    }

    /// Writes a chunk's answers and failures in row order; answers how
    /// many rows were written and how many failed.
    pub fn write_chunk(
        &mut self,
        source: &Source<'_>,
        score: &ChunkScore,
    ) -> Result<(u64, u64), BatchError> {
        // Each readable row's answer: (part, row in part).
        let mut answer = vec![None; source.numbers.len()];
        for (p, part) in score.parts.iter().enumerate() {
            for (k, &row) in part.rows.iter().enumerate() {
                answer[row] = Some((p, k));
            }
        }
        if self.columns.is_none()
            && self.format != OutputFormat::Parquet
            && let Some(part) = score.parts.first()
        {
            let columns = self.columns_for(&part.outputs);
            if self.format == OutputFormat::Csv {
                self.line.clear();
                write_csv_record(&mut self.line, columns.iter().map(String::as_str));
                let line = std::mem::take(&mut self.line);
                self.output.write(&line)?;
                self.line = line;
            }
            self.columns = Some(columns);
        }
        let mut failures = score.failed.iter().peekable();
        let mut unreadable = source.unreadable.iter().peekable();
        let (mut written, mut failed) = (0, 0);
        // Parquet's answered rows, written as one batch after the loop.
        let mut batch_rows: Vec<(usize, &[Tensor], usize)> = Vec::new();
        for (i, number) in source.numbers.iter().enumerate() {
            while let Some((row, reason)) = unreadable.next_if(|(row, _)| row < number) {
                self.write_error(source.file, *row, None, reason)?;
                failed += 1;
            }
            if let Some((_, reason)) = failures.next_if(|(k, _)| *k == i) {
                let id = source.ids.map(|ids| &ids[i]);
                self.write_error(source.file, *number, id, reason)?;
                failed += 1;
                continue;
            }
            let Some((p, k)) = answer[i] else {
                continue;
            };
            written += 1;
            if self.format == OutputFormat::Parquet {
                batch_rows.push((i, &score.parts[p].outputs, k));
                continue;
            }
            let id = source.ids.map(|ids| &ids[i]);
            self.write_answer(source.file, *number, id, &score.parts[p].outputs, k)?;
        }
        for (row, reason) in unreadable {
            self.write_error(source.file, *row, None, reason)?;
            failed += 1;
        }
        if !batch_rows.is_empty() {
            self.write_batch(source, &batch_rows)?;
        }
        Ok((written, failed))
    }

    /// A chunk's answered rows (index in the chunk, the part's outputs,
    /// the row in them) as one spooled batch of the Parquet output.
    fn write_batch(
        &mut self,
        source: &Source<'_>,
        rows: &[(usize, &[Tensor], usize)],
    ) -> Result<(), BatchError> {
        let keys = match (source.ids, &self.id_column) {
            (Some(ids), Some(name)) => Keys::Id {
                name,
                ids: rows.iter().map(|(i, _, _)| &ids[*i]).collect(),
            },
            _ => Keys::FileRow {
                file: source.file,
                numbers: rows.iter().map(|(i, _, _)| source.numbers[*i]).collect(),
            },
        };
        let outputs: Vec<(&[Tensor], usize)> = rows.iter().map(|(_, t, k)| (*t, *k)).collect();
        let batch = parquet_sink::answers_batch(keys, &self.specs, &outputs)?;
        let columns = parquet_sink::describe(&batch.schema());
        match &self.columns {
            Some(seen) if *seen != columns => {
                return Err(BatchError::Outputs(format!(
                    "the answers for rows from row {} of {} have the columns [{}], and earlier ones [{}] (an output's width or the id's type changed between chunks; write JSON Lines instead)",
                    source.numbers[rows[0].0],
                    source.file,
                    columns.join(", "),
                    seen.join(", ")
                )));
            }
            Some(_) => {}
            None => self.columns = Some(columns),
        }
        let bytes = parquet_sink::spooled(&batch)?;
        self.output.write(&bytes)
    }

    /// The output's columns: the row's key, then each output's values.
    fn columns_for(&self, outputs: &[Tensor]) -> Vec<String> {
        let mut columns = match &self.id_column {
            Some(id) => vec![id.clone()],
            None => vec!["file".to_owned(), "row".to_owned()],
        };
        for (tensor, spec) in outputs.iter().zip(&self.specs) {
            let width: usize = tensor.shape()[1..].iter().product();
            if tensor.shape().len() == 1 {
                columns.push(spec.name.clone());
            } else {
                columns.extend((0..width).map(|i| format!("{}[{i}]", spec.name)));
            }
        }
        columns
    }

    fn write_answer(
        &mut self,
        file: &str,
        number: u64,
        id: Option<&Value>,
        outputs: &[Tensor],
        row: usize,
    ) -> Result<(), BatchError> {
        self.line.clear();
        match self.format {
            OutputFormat::Csv => {
                let mut cells: Vec<String> = match id {
                    Some(id) => vec![id_text(id)],
                    None => vec![file.to_owned(), number.to_string()],
                };
                let mut value = Vec::new();
                for tensor in outputs {
                    let width: usize = tensor.shape()[1..].iter().product();
                    for j in 0..width {
                        value.clear();
                        inferd_schema::write_element(&mut value, tensor, row * width + j);
                        // JSON's null is a value CSV leaves empty (NaN to pandas).
                        cells.push(if value == b"null" {
                            String::new()
                        } else {
                            String::from_utf8_lossy(&value).into_owned()
                        });
                    }
                }
                if self
                    .columns
                    .as_ref()
                    .is_some_and(|c| c.len() != cells.len())
                {
                    return Err(BatchError::Outputs(format!(
                        "row {number} of {file} has {} values, but the output's header has {} columns (an output's width changed between chunks; write JSON Lines instead)",
                        cells.len(),
                        self.columns.as_ref().map_or(0, Vec::len)
                    )));
                }
                write_csv_record(&mut self.line, cells.iter().map(String::as_str));
            }
            OutputFormat::Jsonl => {
                self.line.push(b'{');
                match (id, &self.id_column) {
                    (Some(id), Some(name)) => {
                        write_key(&mut self.line, name);
                        serde_json::to_writer(&mut self.line, id).expect("to a Vec");
                    }
                    _ => {
                        write_key(&mut self.line, "file");
                        serde_json::to_writer(&mut self.line, file).expect("to a Vec");
                        self.line.extend_from_slice(b",\"row\":");
                        self.line.extend_from_slice(number.to_string().as_bytes());
                    }
                }
                for (tensor, spec) in outputs.iter().zip(&self.specs) {
                    self.line.push(b',');
                    write_key(&mut self.line, &spec.name);
                    inferd_schema::write_row(&mut self.line, tensor, row);
                }
                self.line.extend_from_slice(b"}\n");
            }
            OutputFormat::Parquet => unreachable!("Parquet answers are written a chunk at a time"),
        }
        let line = std::mem::take(&mut self.line);
        let result = self.output.write(&line);
        self.line = line;
        result
    }

    /// One failed row: its file, row number, id (when it has one) and why.
    fn write_error(
        &mut self,
        file: &str,
        row: u64,
        id: Option<&Value>,
        reason: &str,
    ) -> Result<(), BatchError> {
        // Keys in this order (file, row, id, error): a reader's eye goes there.
        let mut text = b"{\"file\":".to_vec();
        serde_json::to_writer(&mut text, file).expect("to a Vec");
        text.extend_from_slice(format!(",\"row\":{row}").as_bytes());
        if let (Some(id), Some(name)) = (id, &self.id_column) {
            text.push(b',');
            write_key(&mut text, name);
            serde_json::to_writer(&mut text, id).expect("to a Vec");
        }
        text.extend_from_slice(b",\"error\":");
        serde_json::to_writer(&mut text, reason).expect("to a Vec");
        text.extend_from_slice(b"}\n");
        self.errors.write(&text)
    }

    /// Flushes and syncs both files (before a checkpoint names their lengths).
    pub fn sync(&mut self) -> Result<(), BatchError> {
        self.output.sync()?;
        self.errors.sync()
    }

    /// Flushes, syncs and moves both files to their final names (see
    /// [`finish_pair`]); a Parquet output is written from its spool.
    pub fn finish(self, output: &Path, keep_empty_errors: bool) -> Result<(), BatchError> {
        if self.format == OutputFormat::Parquet {
            let empty = parquet_sink::empty_schema(self.id_column.as_deref(), &self.specs);
            parquet_sink::finish(self.output, output, empty)?;
            return finish_errors(self.errors, output, keep_empty_errors).map(drop);
        }
        finish_pair(self.output, self.errors, output, keep_empty_errors).map(drop)
    }
}

/// Syncs `output` and `errors` (partial files) and moves them to `to` and
/// its errors file; an empty errors file is removed, with any older one
/// of that name, unless `keep_empty_errors` (a shard's, which the merge
/// reads). Answers the errors file when there is one.
pub(crate) fn finish_pair(
    mut output: Counted,
    errors: Counted,
    to: &Path,
    keep_empty_errors: bool,
) -> Result<Option<PathBuf>, BatchError> {
    output.sync()?;
    std::fs::rename(&output.path, to).map_err(BatchError::io(to))?;
    finish_errors(errors, to, keep_empty_errors)
}

/// Syncs the errors file of the output `to` and moves it to its name, or
/// removes it when empty (see [`finish_pair`]).
pub(crate) fn finish_errors(
    mut errors: Counted,
    to: &Path,
    keep_empty_errors: bool,
) -> Result<Option<PathBuf>, BatchError> {
    errors.sync()?;
    let final_errors = errors_path(to);
    if errors.bytes == 0 && !keep_empty_errors {
        std::fs::remove_file(&errors.path).map_err(BatchError::io(&errors.path))?;
        match std::fs::remove_file(&final_errors) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(BatchError::io(&final_errors)(e));
            }
            _ => return Ok(None),
        }
    }
    std::fs::rename(&errors.path, &final_errors).map_err(BatchError::io(&final_errors))?;
    Ok(Some(final_errors))
}

/// The errors file being written.
pub(crate) fn partial_errors(output: &Path) -> PathBuf {
    suffixed(&errors_path(output), ".partial")
}

fn write_key(out: &mut Vec<u8>, key: &str) {
    serde_json::to_writer(&mut *out, key).expect("to a Vec");
    out.push(b':');
}

/// An id as a CSV cell: a string as it is, anything else as JSON.
fn id_text(id: &Value) -> String {
    match id {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// One CSV record, quoted where RFC 4180 needs it.
pub(crate) fn write_csv_record<'a>(out: &mut Vec<u8>, cells: impl Iterator<Item = &'a str>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if cell.contains([',', '"', '\n', '\r']) {
            out.push(b'"');
            out.extend_from_slice(cell.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(cell.as_bytes());
        }
    }
    out.push(b'\n');
}
