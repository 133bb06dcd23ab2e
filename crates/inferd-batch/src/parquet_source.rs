//! Reading a Parquet file a chunk of rows at a time (Apache Arrow's
//! `parquet` crate), in bounded memory: the footer is read and the
//! columns checked against the model's contract when the file is opened,
//! then the row groups are decoded a batch of rows at a time. A reader
//! continues at a row number (a resumed job) by skipping to its row group.
//!
//! Column names play the CSV header's part; the cells are typed, so a
//! number is a number and a string a string, as a client sends them.

use std::fs::File;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use inferd_schema::{ColumnPlan, ModelSchema};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::arrow_rows;

/// One open Parquet file.
pub(crate) struct ParquetReader {
    /// The decoder, built at the first read (its batch size is the chunk's).
    state: State,
    schema: SchemaRef,
    pub plan: Arc<ColumnPlan>,
    /// The id column's index.
    pub id: Option<usize>,
    /// The next row's number.
    pub row: u64,
    /// The file's rows, from its footer.
    pub rows: u64,
    /// Rows decoded past the last chunk's end.
    held: Option<RecordBatch>,
}

enum State {
    Opened(ParquetRecordBatchReaderBuilder<File>),
    Reading(ParquetRecordBatchReader),
    /// Between the two (only while one becomes the other).
    Moving,
}

impl ParquetReader {
    /// Reads `file`'s footer and checks its columns against `schema`; the
    /// error says what is wrong (a file that is not Parquet, or cut
    /// short, has no footer). A header error is `Err(Ok(..))`, to be said
    /// as the header's.
    pub fn open(
        file: File,
        schema: &ModelSchema,
        id_column: Option<&str>,
    ) -> Result<ParquetReader, Result<String, String>> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
            Err(format!(
                "not a readable Parquet file (not Parquet, or cut short): {e}"
            ))
        })?;
        let arrow_schema = builder.schema().clone();
        for field in arrow_schema.fields() {
            if !arrow_rows::readable(field.data_type()) {
                return Err(Err(format!(
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
            return Err(Err("the file has no columns".into()));
        }
        let plan = schema
            .column_plan(&names, id_column)
            .map_err(|e| Ok(e.to_string()))?;
        let id = id_column.and_then(|id| names.iter().position(|n| *n == id));
        let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        Ok(ParquetReader {
            state: State::Opened(builder),
            schema: arrow_schema,
            plan: Arc::new(plan),
            id,
            row: 0,
            rows,
            held: None,
        })
    }

    /// Continues at row `row` (before the first read): the row groups
    /// before it are not read at all.
    pub fn seek(&mut self, row: u64) -> Result<(), String> {
        let State::Opened(builder) = std::mem::replace(&mut self.state, State::Moving) else {
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
        let builder = builder
            .with_row_groups((first_group..count).collect())
            .with_offset((row - first_row) as usize);
        self.state = State::Opened(builder);
        self.row = row;
        Ok(())
    }

    /// The next `max` rows (fewer at the end), or `None` at the end. An
    /// error is the file's (a corrupt page): it says where.
    pub fn next_batch(&mut self, max: usize) -> Result<Option<RecordBatch>, String> {
        if let State::Opened(_) = self.state {
            let State::Opened(builder) = std::mem::replace(&mut self.state, State::Moving) else {
                unreachable!("matched above")
            };
            let reader = builder
                .with_batch_size(max)
                .build()
                .map_err(|e| e.to_string())?;
            self.state = State::Reading(reader);
        }
        let State::Reading(reader) = &mut self.state else {
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
