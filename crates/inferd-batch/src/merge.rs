//! Joining the outputs of a sharded job (`--shard I/N`) into the one file
//! an unsharded run writes, byte for byte: chunk `k` of the input was
//! shard `k % N`'s, so the merge walks the input's chunks in order (from
//! the shards' manifests: each input file's rows and the chunk size) and
//! takes each chunk's rows from its shard, its failed rows (named in the
//! shard's errors file) left out of the output and put in the errors file.
//! A Parquet merge holds the same rows as the unsharded run's file (its
//! row groups may fall elsewhere).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::parquet_sink::ParquetOut;
use crate::sink::{
    Counted, OutputFormat, errors_path, finish_errors, finish_pair, partial_errors, suffixed,
    write_csv_record,
};
use crate::{BatchError, Manifest, Shard, manifest_path};

/// What a merge wrote.
#[derive(Debug, Clone)]
pub struct MergeSummary {
    pub output: PathBuf,
    pub errors: Option<PathBuf>,
    pub shards: u32,
    pub rows_scored: u64,
    pub rows_failed: u64,
}

/// Merges the shards of the job whose `--output` was `output` (their files
/// are `out.shard-I-of-N.csv`, each with its `.done.json`) into `output`.
/// Every shard must have finished, with the same inputs and chunk size.
/// An `output` that exists is replaced only with `overwrite`.
pub fn merge(output: &Path, overwrite: bool) -> Result<MergeSummary, BatchError> {
    let format = OutputFormat::of(output)?;
    crate::refuse_existing(output, overwrite)?;
    let manifests = find_shards(output)?;
    let first = &manifests[0].1;
    for (path, manifest) in &manifests[1..] {
        if manifest.job != first.job
            || manifest.files != first.files
            || manifest.batch_size != first.batch_size
        {
            return Err(BatchError::Merge(format!(
                "{} is from a different job than shard 0 (other inputs, model or batch size)",
                path.display()
            )));
        }
    }
    let shards = first.shards;
    let mut readers = manifests
        .iter()
        .map(|(path, _)| ShardReader::open(path, format))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = match format {
        OutputFormat::Parquet => Out::Parquet(ParquetOut::new(suffixed(output, ".partial"))),
        _ => Out::Text(Counted::open(suffixed(output, ".partial"), 0)?),
    };
    let mut errors_out = Counted::open(partial_errors(output), 0)?;
    // The header: every shard that wrote rows wrote the same one.
    let mut header: Option<Vec<u8>> = None;
    for reader in &readers {
        if let Some(h) = &reader.header {
            match &header {
                Some(seen) if seen != h => {
                    return Err(BatchError::Merge(format!(
                        "{} has other columns than the shards before it",
                        reader.path.display()
                    )));
                }
                _ => header = Some(h.clone()),
            }
        }
    }
    if let (Some(header), Out::Text(out)) = (&header, &mut out) {
        out.write(header)?;
    }
    let (mut scored, mut failed) = (0u64, 0u64);
    let mut chunk = 0u64;
    for (file, rows) in &first.files {
        let mut low = 0u64;
        while low < *rows {
            let high = (low + first.batch_size as u64).min(*rows);
            let reader = &mut readers[(chunk % u64::from(shards)) as usize];
            let failures = reader.take_errors(file, high)?;
            failed += failures.len() as u64;
            for line in &failures {
                errors_out.write(line)?;
            }
            let answers = (high - low)
                .checked_sub(failures.len() as u64)
                .ok_or_else(|| {
                    BatchError::Merge(format!(
                        "{} names more failed rows in {file} rows {low}..{high} than there are",
                        reader.errors_path.display()
                    ))
                })?;
            if !reader.copy(answers, &mut out)? {
                return Err(BatchError::Merge(format!(
                    "{} ends before the rows of {file} from row {low} (a shard's output was cut short?)",
                    reader.path.display()
                )));
            }
            scored += answers;
            low = high;
            chunk += 1;
        }
    }
    for reader in &mut readers {
        if reader.has_more()? || !reader.errors.is_empty() || reader.more_errors()? {
            return Err(BatchError::Merge(format!(
                "{} holds rows past the input its manifest names",
                reader.path.display()
            )));
        }
    }
    let errors = match out {
        Out::Text(out) => finish_pair(out, errors_out, output, false)?,
        Out::Parquet(out) => {
            // With no row answered, any shard's file has the columns.
            out.finish(output, readers[0].schema()?)?;
            finish_errors(errors_out, output, false)?
        }
    };
    Ok(MergeSummary {
        output: output.to_path_buf(),
        errors,
        shards,
        rows_scored: scored,
        rows_failed: failed,
    })
}

/// The shards' outputs and manifests, by shard; all of them, or an error
/// naming the missing ones.
fn find_shards(output: &Path) -> Result<Vec<(PathBuf, Manifest)>, BatchError> {
    let folder = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let stem = output.file_stem().unwrap_or_default().to_string_lossy();
    let prefix = format!("{stem}.shard-");
    let mut count = None;
    let entries = std::fs::read_dir(&folder).map_err(BatchError::io(&folder))?;
    for entry in entries {
        let name = entry.map_err(BatchError::io(&folder))?.file_name();
        let name = name.to_string_lossy();
        if let Some(rest) = name.strip_prefix(&prefix)
            && name.ends_with(".done.json")
            && let Some((_, n)) = rest.split_once("-of-")
            && let Some(n) = n.split('.').next().and_then(|n| n.parse::<u32>().ok())
        {
            match count {
                Some(seen) if seen != n => {
                    return Err(BatchError::Merge(format!(
                        "shards of {} were run with both {seen} and {n} shards; remove one set",
                        output.display()
                    )));
                }
                _ => count = Some(n),
            }
        }
    }
    let Some(count) = count.filter(|n| *n > 1) else {
        return Err(BatchError::Merge(format!(
            "no finished shard of {} (no {prefix}I-of-N...done.json beside it); run `inferd batch --shard I/N --output {}` for each shard first",
            output.display(),
            output.display()
        )));
    };
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for index in 0..count {
        let path = Shard { index, count }.output(output);
        let manifest = manifest_path(&path);
        match std::fs::read(&manifest) {
            Ok(text) => {
                let manifest: Manifest = serde_json::from_slice(&text)
                    .map_err(|e| BatchError::Merge(format!("{}: {e}", manifest.display())))?;
                found.push((path, manifest));
            }
            Err(_) => missing.push(index.to_string()),
        }
    }
    if !missing.is_empty() {
        return Err(BatchError::Merge(format!(
            "shards {} of {count} have not finished (no manifest beside their output)",
            missing.join(", ")
        )));
    }
    Ok(found)
}

/// The merged output being written.
enum Out {
    Text(Counted),
    Parquet(ParquetOut),
}

/// A shard's Parquet output, a batch at a time.
struct ParquetRows {
    reader: ParquetRecordBatchReader,
    schema: arrow_schema::SchemaRef,
    /// Rows read and not yet copied.
    held: Option<RecordBatch>,
}

/// One shard's output and errors, read in order.
struct ShardReader {
    path: PathBuf,
    format: OutputFormat,
    csv: Option<csv::Reader<File>>,
    lines: Option<BufReader<File>>,
    parquet: Option<ParquetRows>,
    header: Option<Vec<u8>>,
    record: csv::StringRecord,
    errors_path: PathBuf,
    errors_file: Option<BufReader<File>>,
    /// Error lines read ahead (the next chunk's), with their file and row.
    errors: VecDeque<(String, u64, Vec<u8>)>,
}

impl ShardReader {
    fn open(path: &Path, format: OutputFormat) -> Result<ShardReader, BatchError> {
        let file = File::open(path).map_err(BatchError::io(path))?;
        let mut parquet = None;
        let (csv, lines, header) = match format {
            OutputFormat::Csv => {
                let empty = file.metadata().map_err(BatchError::io(path))?.len() == 0;
                let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
                let header = if empty {
                    None
                } else {
                    let names = reader
                        .headers()
                        .map_err(|e| BatchError::Merge(format!("{}: {e}", path.display())))?;
                    let mut line = Vec::new();
                    write_csv_record(&mut line, names.iter());
                    Some(line)
                };
                (Some(reader), None, header)
            }
            OutputFormat::Jsonl => (None, Some(BufReader::new(file)), None),
            OutputFormat::Parquet => {
                let unreadable = |e: parquet::errors::ParquetError| {
                    BatchError::Merge(format!("{}: {e}", path.display()))
                };
                let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(unreadable)?;
                let schema = builder.schema().clone();
                let rows = builder.metadata().file_metadata().num_rows();
                let header = (rows > 0).then(|| {
                    crate::parquet_sink::describe(&schema)
                        .join(", ")
                        .into_bytes()
                });
                parquet = Some(ParquetRows {
                    reader: builder.build().map_err(unreadable)?,
                    schema,
                    held: None,
                });
                (None, None, header)
            }
        };
        let errors_path = errors_path(path);
        let errors_file = match File::open(&errors_path) {
            Ok(f) => Some(BufReader::new(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(BatchError::io(&errors_path)(e)),
        };
        Ok(ShardReader {
            path: path.to_path_buf(),
            format,
            csv,
            lines,
            parquet,
            header,
            record: csv::StringRecord::new(),
            errors_path,
            errors_file,
            errors: VecDeque::new(),
        })
    }

    /// Copies the next `rows` rows to `out`; false when the shard's output
    /// ends first.
    fn copy(&mut self, rows: u64, out: &mut Out) -> Result<bool, BatchError> {
        match out {
            Out::Text(out) => {
                for _ in 0..rows {
                    let Some(record) = self.next_record()? else {
                        return Ok(false);
                    };
                    out.write(&record)?;
                }
                Ok(true)
            }
            Out::Parquet(out) => {
                let mut left = rows as usize;
                while left > 0 {
                    let Some(batch) = self.next_batch()? else {
                        return Ok(false);
                    };
                    let take = batch.num_rows().min(left);
                    if take < batch.num_rows() {
                        let rest = batch.slice(take, batch.num_rows() - take);
                        self.parquet.as_mut().expect("a Parquet shard").held = Some(rest);
                    }
                    out.write(&batch.slice(0, take))?;
                    left -= take;
                }
                Ok(true)
            }
        }
    }

    /// Rows past those copied.
    fn has_more(&mut self) -> Result<bool, BatchError> {
        match self.format {
            OutputFormat::Parquet => Ok(self.next_batch()?.is_some_and(|b| b.num_rows() > 0)),
            _ => Ok(self.next_record()?.is_some()),
        }
    }

    /// The columns of a Parquet shard.
    fn schema(&self) -> Result<arrow_schema::SchemaRef, BatchError> {
        self.parquet
            .as_ref()
            .map(|p| p.schema.clone())
            .ok_or_else(|| BatchError::Merge(format!("{} is not Parquet", self.path.display())))
    }

    /// A Parquet shard's next rows.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, BatchError> {
        let rows = self.parquet.as_mut().expect("a Parquet shard");
        if let Some(held) = rows.held.take() {
            return Ok(Some(held));
        }
        rows.reader
            .next()
            .transpose()
            .map_err(|e| BatchError::Merge(format!("{}: {e}", self.path.display())))
    }

    /// The next output row, as its line.
    fn next_record(&mut self) -> Result<Option<Vec<u8>>, BatchError> {
        match self.format {
            OutputFormat::Csv => {
                let reader = self.csv.as_mut().expect("a CSV reader");
                let more = reader
                    .read_record(&mut self.record)
                    .map_err(|e| BatchError::Merge(format!("{}: {e}", self.path.display())))?;
                Ok(more.then(|| {
                    let mut line = Vec::new();
                    write_csv_record(&mut line, self.record.iter());
                    line
                }))
            }
            OutputFormat::Parquet => unreachable!("Parquet rows are copied by batch"),
            OutputFormat::Jsonl => {
                let mut line = Vec::new();
                let reader = self.lines.as_mut().expect("a line reader");
                let read = reader
                    .read_until(b'\n', &mut line)
                    .map_err(BatchError::io(&self.path))?;
                Ok((read > 0).then_some(line))
            }
        }
    }

    /// Reads one more error line into the queue; false at the end.
    fn more_errors(&mut self) -> Result<bool, BatchError> {
        let Some(file) = self.errors_file.as_mut() else {
            return Ok(false);
        };
        let mut line = Vec::new();
        if file
            .read_until(b'\n', &mut line)
            .map_err(BatchError::io(&self.errors_path))?
            == 0
        {
            return Ok(false);
        }
        let value: serde_json::Value = serde_json::from_slice(&line)
            .map_err(|e| BatchError::Merge(format!("{}: {e}", self.errors_path.display())))?;
        let (Some(name), Some(row)) = (value["file"].as_str(), value["row"].as_u64()) else {
            return Err(BatchError::Merge(format!(
                "{}: a line without its file and row",
                self.errors_path.display()
            )));
        };
        self.errors.push_back((name.to_owned(), row, line));
        Ok(true)
    }

    /// The failed rows of `file` before row `high`, in order.
    fn take_errors(&mut self, file: &str, high: u64) -> Result<Vec<Vec<u8>>, BatchError> {
        let mut taken = Vec::new();
        loop {
            if self.errors.is_empty() && !self.more_errors()? {
                return Ok(taken);
            }
            let (name, row, _) = self.errors.front().expect("not empty");
            if name != file || *row >= high {
                return Ok(taken);
            }
            taken.push(self.errors.pop_front().expect("not empty").2);
        }
    }
}
