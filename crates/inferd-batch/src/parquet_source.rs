//! Reading a Parquet file a chunk of rows at a time (Apache Arrow's
//! `parquet` crate), in bounded memory: the footer is read and the
//! columns checked against the model's contract when the file is opened,
//! then the row groups are decoded a batch of rows at a time. A reader
//! continues at a row number (a resumed job) by skipping to its row group,
//! and a shard's reader decodes only its own chunks (the others' rows are
//! skipped by a row selection, their pages never decompressed where a
//! page holds none of the shard's rows).
//!
//! Column names play the CSV header's part; the cells are typed, so a
//! number is a number and a string a string, as a client sends them.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use inferd_schema::{ColumnPlan, ModelSchema};
use parquet::arrow::arrow_reader::{
    ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};

use crate::{BatchError, Shard, arrow_rows};

/// Rows decoded at a time (at least a chunk's): decoding costs a little per
/// column per batch, which is much for mlp-784's 784 columns in batches of
/// 256 rows; chunks are zero-copy slices of it, all scored while the next
/// batch is decoded (`read_ahead`).
const READ_ROWS: usize = 4096;

/// One open Parquet file.
pub(crate) struct ParquetReader {
    /// The decoder's builder until the first read, which builds the
    /// decoder (its batch size from the chunk's, its rows from the shard).
    builder: Option<ParquetRecordBatchReaderBuilder<File>>,
    decoder: Option<ParquetRecordBatchReader>,
    schema: SchemaRef,
    pub plan: Arc<ColumnPlan>,
    /// The id column's index.
    pub id: Option<usize>,
    /// The next row's number.
    pub row: u64,
    /// The file's rows, from its footer.
    pub rows: u64,
    /// The first row of the first row group read (past a seek).
    group_start: u64,
    /// The shard reading, the row it was told at and the number of the
    /// chunk there.
    shard: (Shard, u64, u64),
    /// Rows decoded past the last chunk's end.
    held: Option<RecordBatch>,
}

impl ParquetReader {
    /// Reads the footer of `file` (at `path`) and checks its columns
    /// against `schema`; the error says what is wrong (a file that is not
    /// Parquet, or cut short, has no footer).
    pub fn open(
        path: &Path,
        file: File,
        schema: &ModelSchema,
        id_column: Option<&str>,
    ) -> Result<ParquetReader, BatchError> {
        let input = |reason: String| BatchError::Input {
            path: path.to_path_buf(),
            reason,
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
            input(format!(
                "not a readable Parquet file (not Parquet, or cut short): {e}"
            ))
        })?;
        let arrow_schema = builder.schema().clone();
        for field in arrow_schema.fields() {
            if !arrow_rows::readable(field.data_type()) {
                return Err(input(format!(
                    "column '{}' holds {}; inferd batch reads numbers, booleans, strings and lists of them",
                    field.name(),
                    field.data_type()
                )));
            }
        }
        let names: Vec<&str> = arrow_schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        if names.is_empty() {
            return Err(input("the file has no columns".into()));
        }
        let (plan, id) = crate::source::header_plan(path, schema, &names, id_column)?;
        let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        Ok(ParquetReader {
            builder: Some(builder),
            decoder: None,
            schema: arrow_schema,
            plan,
            id,
            row: 0,
            rows,
            group_start: 0,
            shard: (Shard::WHOLE, 0, 0),
            held: None,
        })
    }

    /// The chunks of `max` rows one decoded batch holds past the first.
    pub fn read_ahead(max: usize) -> usize {
        READ_ROWS.div_ceil(max).saturating_sub(1)
    }

    /// Continues at row `row` (before the first read): the row groups
    /// before it are not read at all.
    pub fn seek(&mut self, row: u64) -> Result<(), String> {
        let Some(builder) = self.builder.take() else {
            return Err("a Parquet file is continued only before it is read".into());
        };
        if row > self.rows {
            return Err(format!(
                "the checkpoint is at row {row}, and the file has {} rows (was it changed?)",
                self.rows
            ));
        }
        let groups = builder.metadata().row_groups();
        let count = groups.len();
        let mut first_row = 0u64;
        let mut first_group = count;
        for (g, group) in groups.iter().enumerate() {
            let next = first_row + group.num_rows().max(0) as u64;
            if row < next {
                first_group = g;
                break;
            }
            first_row = next;
        }
        self.builder = Some(builder.with_row_groups((first_group..count).collect()));
        self.group_start = first_row;
        self.row = row;
        Ok(())
    }

    /// Reads only `shard`'s chunks from here on, the chunk at the current
    /// row being chunk `seq` of the job (before the first read). The
    /// others' are passed with [`ParquetReader::skip`].
    pub fn share(&mut self, shard: Shard, seq: u64) {
        self.shard = (shard, self.row, seq);
    }

    /// Passes the next chunk of `max` rows without reading it (another
    /// shard's); answers its rows.
    pub fn skip(&mut self, max: usize) -> u64 {
        let rows = (max as u64).min(self.rows - self.row);
        self.row += rows;
        rows
    }

    /// The rows to decode from the first row group on: none before the
    /// row the shard was told at, then each chunk of `max` rows that is
    /// the shard's (chunks skipped since are not decoded either).
    fn selection(&self, max: usize) -> RowSelection {
        let (shard, mut row, mut seq) = self.shard;
        let mut selectors = vec![RowSelector::skip((row - self.group_start) as usize)];
        while row < self.rows {
            let rows = (max as u64).min(self.rows - row) as usize;
            selectors.push(if shard.takes(seq) {
                RowSelector::select(rows)
            } else {
                RowSelector::skip(rows)
            });
            row += rows as u64;
            seq += 1;
        }
        // `From` merges neighbours of a kind.
        RowSelection::from(selectors)
    }

    /// The next `max` rows (fewer at the end), or `None` at the end. An
    /// error is the file's (a corrupt page): it says where.
    pub fn next_batch(&mut self, max: usize) -> Result<Option<RecordBatch>, String> {
        if let Some(builder) = self.builder.take() {
            let decoder = builder
                .with_row_selection(self.selection(max))
                .with_batch_size(max.max(READ_ROWS))
                .build()
                .map_err(|e| e.to_string())?;
            self.decoder = Some(decoder);
        }
        let Some(reader) = &mut self.decoder else {
            return Err("the reader was left unusable by an earlier error".into());
        };
        let mut parts = Vec::new();
        let mut have = 0;
        while have < max {
            let batch = match self.held.take() {
                Some(batch) => batch,
                None => match reader.next() {
                    None => break,
                    Some(Err(e)) => {
                        return Err(format!(
                            "cannot read the rows from row {}: {e}",
                            self.row + have as u64
                        ));
                    }
                    Some(Ok(batch)) => batch,
                },
            };
            let need = max - have;
            if batch.num_rows() > need {
                self.held = Some(batch.slice(need, batch.num_rows() - need));
                parts.push(batch.slice(0, need));
                have = max;
            } else {
                have += batch.num_rows();
                parts.push(batch);
            }
        }
        if have == 0 {
            return Ok(None);
        }
        let batch = if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            arrow_select::concat::concat_batches(&self.schema, &parts).map_err(|e| e.to_string())?
        };
        self.row += have as u64;
        arrow_rows::without_dictionaries(batch).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float32Type;
    use arrow_array::{ArrayRef, Float32Array};
    use inferd_tensor::{DType, Dim, Signature, TensorSpec};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    /// A file whose one float32 column holds each row's number, in row
    /// groups of 40 rows.
    fn numbered(rows: usize) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let column: Float32Array = (0..rows).map(|r| r as f32).collect();
        let batch = RecordBatch::try_from_iter([("x", Arc::new(column) as ArrayRef)]).unwrap();
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(40))
            .build();
        let mut writer =
            ArrowWriter::try_new(file.reopen().unwrap(), batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        file
    }

    fn one_column() -> ModelSchema {
        ModelSchema::from_signature(Signature {
            inputs: vec![TensorSpec {
                name: "x".into(),
                dtype: DType::F32,
                shape: Some(vec![Dim::Free(None)]),
            }],
            outputs: vec![],
        })
    }

    /// The rows of each chunk a shard reads, from `row` (chunk `seq`) on.
    fn read(rows: usize, row: u64, shard: Shard, seq: u64, max: usize) -> Vec<Vec<f32>> {
        let file = numbered(rows);
        let mut reader =
            ParquetReader::open(file.path(), file.reopen().unwrap(), &one_column(), None).unwrap();
        if row > 0 {
            reader.seek(row).unwrap();
        }
        reader.share(shard, seq);
        let mut chunks = Vec::new();
        let mut seq = seq;
        while reader.row < reader.rows {
            if shard.takes(seq) {
                let batch = reader.next_batch(max).unwrap().unwrap();
                let values = batch.column(0).as_primitive::<Float32Type>();
                chunks.push(values.values().to_vec());
            } else {
                reader.skip(max);
            }
            seq += 1;
        }
        assert!(reader.next_batch(max).unwrap().is_none());
        chunks
    }

    #[test]
    fn a_shard_reads_its_own_chunks_from_wherever_it_continues() {
        let expected = |from: u64, shard: Shard, seq: u64, max: u64, rows: u64| {
            let (mut row, mut seq, mut chunks) = (from, seq, Vec::new());
            while row < rows {
                let end = (row + max).min(rows);
                if shard.takes(seq) {
                    chunks.push((row..end).map(|r| r as f32).collect::<Vec<_>>());
                }
                row = end;
                seq += 1;
            }
            chunks
        };
        let third = Shard { index: 1, count: 3 };
        // From the start; from inside the third row group, as a resumed
        // shard continues (its checkpoint names the row and chunk).
        assert_eq!(read(250, 0, third, 0, 7), expected(0, third, 0, 7, 250));
        assert_eq!(read(250, 91, third, 13, 7), expected(91, third, 13, 7, 250));
        assert_eq!(
            read(250, 91, Shard::WHOLE, 13, 16),
            expected(91, Shard::WHOLE, 13, 16, 250)
        );
    }
}
