//! Reading one input file a chunk of rows at a time, in bounded memory:
//! CSV (its header checked against the model's contract once), JSON Lines
//! (each line a row as a client sends it in `data`: a list of values, or a
//! record), NumPy `.npy` (rows along the first axis) and Parquet (its
//! columns as the CSV header's, `parquet_source`). A reader can say where
//! it stands and continue there (a resumed job).
//!
//! Row numbers count a file's rows from 0 (the CSV header and blank JSON
//! lines are not rows), as pandas numbers a frame read from the file.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use inferd_schema::{Cell, ColumnPlan, DecodedRows, InputLayout, ModelSchema};
use inferd_tensor::{DType, Dim, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::BatchError;
use crate::arrow_rows;
use crate::inputs::{Format, InputFile};
use crate::parquet_source::ParquetReader;
use inferd_media::npy::{self, NpyChunk, NpyReader};

/// The longest JSON line read: a longer one is a broken file, not a row.
const MAX_LINE_BYTES: u64 = 64 * 1024 * 1024;

/// Where a reader stands in its file: enough to continue there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub byte: u64,
    pub line: u64,
    /// The next row's number.
    pub row: u64,
}

/// Rows read from one file, in file order.
pub(crate) struct Chunk {
    /// The rows that could be read, as the model's contract takes them.
    pub rows: Rows,
    /// Each readable row's number in its file.
    pub numbers: Vec<u64>,
    /// Each readable row's id (`--id-column`), when one is asked for.
    pub ids: Option<Vec<Value>>,
    /// Rows that could not be read at all (a CSV field that is not UTF-8,
    /// a JSON line that is not JSON), with why.
    pub unreadable: Vec<(u64, String)>,
}

/// The readable rows of a chunk.
pub(crate) enum Rows {
    Cells {
        plan: Arc<ColumnPlan>,
        records: Vec<csv::StringRecord>,
    },
    Json(Vec<Value>),
    Npy(NpyChunk),
    Arrow {
        plan: Arc<ColumnPlan>,
        batch: arrow_array::RecordBatch,
    },
}

impl Rows {
    pub fn len(&self) -> usize {
        match self {
            Rows::Cells { records, .. } => records.len(),
            Rows::Json(rows) => rows.len(),
            Rows::Npy(chunk) => chunk.rows,
            Rows::Arrow { batch, .. } => batch.num_rows(),
        }
    }

    /// The rows as the model's input tensors, each row that does not fit
    /// set aside with the server's message for it.
    pub fn decode(&self, schema: &ModelSchema) -> DecodedRows {
        match self {
            Rows::Cells { plan, records } => {
                let cells: Vec<Vec<Cell<'_>>> = records
                    .iter()
                    .map(|record| record.iter().map(Cell::Text).collect())
                    .collect();
                let rows: Vec<&[Cell<'_>]> = cells.iter().map(Vec::as_slice).collect();
                schema.decode_rows(plan, &rows)
            }
            Rows::Json(rows) => schema.decode_json_rows(rows.clone()),
            Rows::Npy(chunk) => match npy_tensor(schema, chunk) {
                Some(tensor) => DecodedRows {
                    inputs: Some(vec![tensor]),
                    kept: (0..chunk.rows).collect(),
                    failed: Vec::new(),
                },
                None => {
                    schema.decode_json_rows((0..chunk.rows).map(|i| chunk.row_json(i)).collect())
                }
            },
            Rows::Arrow { plan, batch } => arrow_rows::decode(schema, plan, batch),
        }
    }

    /// Row `i` as a client would send it in `data`.
    pub fn row_json(&self, schema: &ModelSchema, i: usize) -> Value {
        match self {
            Rows::Cells { plan, records } => {
                let cells: Vec<Cell<'_>> = records[i].iter().map(Cell::Text).collect();
                schema.row_json(plan, &cells)
            }
            Rows::Json(rows) => rows[i].clone(),
            Rows::Npy(chunk) => chunk.row_json(i),
            Rows::Arrow { plan, batch } => arrow_rows::row_json(schema, plan, batch, i),
        }
    }
}

/// One open input file.
pub(crate) struct FileReader {
    path: PathBuf,
    kind: Kind,
    id_column: Option<String>,
}

enum Kind {
    Csv {
        reader: csv::Reader<File>,
        plan: Arc<ColumnPlan>,
        /// The id column's index in a record.
        id: Option<usize>,
        record: csv::StringRecord,
        row: u64,
    },
    Jsonl {
        reader: BufReader<File>,
        at: Position,
        line: Vec<u8>,
    },
    Npy(NpyReader<BufReader<File>>),
    Parquet {
        reader: Box<ParquetReader>,
        /// The file's size, to say progress in bytes.
        bytes: u64,
    },
}

impl FileReader {
    /// Opens `file`; a CSV file's header is checked against `schema`.
    pub fn open(
        file: &InputFile,
        schema: &ModelSchema,
        id_column: Option<&str>,
    ) -> Result<FileReader, BatchError> {
        let path = file.path.clone();
        let handle = File::open(&path).map_err(BatchError::io(&path))?;
        let input = |reason: String| BatchError::Input {
            path: path.clone(),
            reason,
        };
        let kind = match file.format {
            Format::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    // A ragged row is the row's fault, said by the schema.
                    .flexible(true)
                    .from_reader(handle);
                let header = reader
                    .headers()
                    .map_err(|e| input(format!("cannot read the header: {e}")))?
                    .clone();
                let names: Vec<&str> = header.iter().collect();
                if names.is_empty() {
                    return Err(input("the file is empty: no header row".into()));
                }
                let (plan, id) = header_plan(&path, schema, &names, id_column)?;
                Kind::Csv {
                    reader,
                    plan,
                    id,
                    record: csv::StringRecord::new(),
                    row: 0,
                }
            }
            Format::Jsonl => Kind::Jsonl {
                reader: BufReader::with_capacity(1 << 20, handle),
                at: Position::default(),
                line: Vec::new(),
            },
            Format::Npy => {
                let length = handle.metadata().map_err(BatchError::io(&path))?.len();
                let mut reader = BufReader::with_capacity(1 << 20, handle);
                let header = npy::read_header(&mut reader).map_err(|e| input(e.to_string()))?;
                npy::check_length(&header, length).map_err(|e| input(e.to_string()))?;
                npy_fits(schema, &header).map_err(input)?;
                if id_column.is_some() {
                    return Err(input(
                        "a .npy file has no columns, so no --id-column; rows are named by number"
                            .into(),
                    ));
                }
                Kind::Npy(NpyReader::new(reader, header))
            }
            Format::Parquet => {
                let reader = ParquetReader::open(&path, handle, schema, id_column)?;
                Kind::Parquet {
                    reader: Box::new(reader),
                    bytes: file.bytes,
                }
            }
        };
        Ok(FileReader {
            path,
            kind,
            id_column: id_column.map(str::to_owned),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads only `shard`'s chunks from here on, the next being chunk
    /// `seq` of the job: a Parquet reader skips the others' rows undecoded
    /// (every other reader reads and drops them).
    pub fn share(&mut self, shard: crate::Shard, seq: u64) {
        if let Kind::Parquet { reader, .. } = &mut self.kind {
            reader.share(shard, seq);
        }
    }

    /// Where the next row starts.
    pub fn position(&self) -> Position {
        match &self.kind {
            Kind::Csv { reader, row, .. } => {
                let at = reader.position();
                Position {
                    byte: at.byte(),
                    line: at.line(),
                    row: *row,
                }
            }
            Kind::Jsonl { at, .. } => *at,
            Kind::Npy(reader) => {
                let header = reader.header();
                let row = reader.position() as u64;
                Position {
                    byte: header.data_offset + row * header.row_bytes() as u64,
                    line: 0,
                    row,
                }
            }
            // Rows are compressed column by column: the byte is the
            // share of the file's rows read, for the progress only.
            Kind::Parquet { reader, bytes } => Position {
                byte: (*bytes as u128 * u128::from(reader.row) / u128::from(reader.rows.max(1)))
                    as u64,
                line: 0,
                row: reader.row,
            },
        }
    }

    /// Continues at `at`, a position this reader gave before.
    pub fn seek(&mut self, at: Position) -> Result<(), BatchError> {
        let path = self.path.clone();
        match &mut self.kind {
            Kind::Csv { reader, row, .. } => {
                let mut position = csv::Position::new();
                position
                    .set_byte(at.byte)
                    .set_line(at.line)
                    .set_record(at.row + 1);
                reader.seek(position).map_err(|e| BatchError::Checkpoint {
                    path,
                    reason: format!("cannot continue at byte {}: {e}", at.byte),
                })?;
                *row = at.row;
            }
            Kind::Jsonl {
                reader, at: here, ..
            } => {
                reader
                    .seek(SeekFrom::Start(at.byte))
                    .map_err(BatchError::io(&path))?;
                *here = at;
            }
            Kind::Npy(reader) => {
                reader
                    .seek_row(at.row as usize)
                    .map_err(|e| BatchError::Checkpoint {
                        path,
                        reason: e.to_string(),
                    })?;
            }
            Kind::Parquet { reader, .. } => {
                reader
                    .seek(at.row)
                    .map_err(|reason| BatchError::Checkpoint { path, reason })?;
            }
        }
        Ok(())
    }

    /// The next `max` rows (fewer at the end of the file), or `None` when
    /// none is left. With `keep` false the rows are only counted (another
    /// shard's chunk): the answer holds their numbers and nothing else.
    pub fn next_chunk(&mut self, max: usize, keep: bool) -> Result<Option<Chunk>, BatchError> {
        let path = self.path.clone();
        let wants_id = self.id_column.clone();
        let mut numbers = Vec::new();
        let mut unreadable = Vec::new();
        let mut ids = wants_id.as_ref().map(|_| Vec::new());
        let rows = match &mut self.kind {
            Kind::Csv {
                reader,
                plan,
                id,
                record,
                row,
            } => {
                let mut records = Vec::new();
                while numbers.len() + unreadable.len() < max {
                    match reader.read_record(record) {
                        Ok(false) => break,
                        Ok(true) => {
                            if keep {
                                if let (Some(ids), Some(id)) = (ids.as_mut(), *id) {
                                    ids.push(Value::String(
                                        record.get(id).unwrap_or_default().to_owned(),
                                    ));
                                }
                                records.push(record.clone());
                            }
                            numbers.push(*row);
                        }
                        Err(error) if error.is_io_error() => {
                            return Err(BatchError::Input {
                                path,
                                reason: error.to_string(),
                            });
                        }
                        Err(error) => unreadable.push((*row, csv_error(&error))),
                    }
                    *row += 1;
                }
                Rows::Cells {
                    plan: plan.clone(),
                    records,
                }
            }
            Kind::Jsonl { reader, at, line } => {
                let mut rows = Vec::new();
                while numbers.len() + unreadable.len() < max {
                    line.clear();
                    let read = reader
                        .by_ref()
                        .take(MAX_LINE_BYTES + 1)
                        .read_until(b'\n', line)
                        .map_err(BatchError::io(&path))?;
                    if read == 0 {
                        break;
                    }
                    if read as u64 > MAX_LINE_BYTES {
                        return Err(BatchError::Input {
                            path,
                            reason: format!(
                                "line {} is longer than {MAX_LINE_BYTES} bytes",
                                at.line + 1
                            ),
                        });
                    }
                    at.byte += read as u64;
                    at.line += 1;
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let row = at.row;
                    at.row += 1;
                    if !keep {
                        numbers.push(row);
                        continue;
                    }
                    match json_row(line, wants_id.as_deref()) {
                        Ok((value, id)) => {
                            if let (Some(ids), Some(id)) = (ids.as_mut(), id) {
                                ids.push(id);
                            }
                            rows.push(value);
                            numbers.push(row);
                        }
                        Err(reason) => {
                            unreadable.push((row, format!("line {}: {reason}", at.line)))
                        }
                    }
                }
                Rows::Json(rows)
            }
            Kind::Npy(reader) => {
                let first = reader.position() as u64;
                match reader.next_chunk(max).map_err(|e| BatchError::Input {
                    path,
                    reason: e.to_string(),
                })? {
                    Some(chunk) => {
                        numbers.extend(first..first + chunk.rows as u64);
                        Rows::Npy(chunk)
                    }
                    None => return Ok(None),
                }
            }
            Kind::Parquet { reader, .. } if !keep => {
                let first = reader.row;
                let rows = reader.skip(max);
                if rows == 0 {
                    return Ok(None);
                }
                numbers.extend(first..first + rows);
                Rows::Json(Vec::new())
            }
            Kind::Parquet { reader, .. } => {
                let first = reader.row;
                let Some(batch) = reader
                    .next_batch(max)
                    .map_err(|reason| BatchError::Input { path, reason })?
                else {
                    return Ok(None);
                };
                numbers.extend(first..first + batch.num_rows() as u64);
                if let (Some(ids), Some(id)) = (ids.as_mut(), reader.id) {
                    let column = batch.column(id);
                    ids.extend((0..batch.num_rows()).map(|i| arrow_rows::cell_json(column, i)));
                }
                Rows::Arrow {
                    plan: reader.plan.clone(),
                    batch,
                }
            }
        };
        if numbers.is_empty() && unreadable.is_empty() {
            return Ok(None);
        }
        let rows = if keep { rows } else { Rows::Json(Vec::new()) };
        Ok(Some(Chunk {
            rows,
            numbers,
            ids,
            unreadable,
        }))
    }
}

/// How a file's columns (`names`, its header) feed the model, checked
/// against `schema`, and which is the id column.
pub(crate) fn header_plan(
    path: &Path,
    schema: &ModelSchema,
    names: &[&str],
    id_column: Option<&str>,
) -> Result<(Arc<ColumnPlan>, Option<usize>), BatchError> {
    let plan = schema
        .column_plan(names, id_column)
        .map_err(|e| BatchError::Header {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let id = id_column.and_then(|id| names.iter().position(|n| *n == id));
    Ok((Arc::new(plan), id))
}

/// Refuses, at open, a `.npy` file whose rows can never be the model's
/// input: a pandas contract (records by name; an array's rows have no
/// names), a model of several inputs, rows of another shape, or elements
/// of a kind the input never takes (booleans for numbers, floats for
/// integers, numbers for booleans). Values are still checked one by one.
fn npy_fits(schema: &ModelSchema, header: &npy::NpyHeader) -> Result<(), String> {
    let InputLayout::Tensors = schema.input else {
        return Err(
            "the model takes records by column name (a pandas sample); a .npy row has no names"
                .into(),
        );
    };
    let [input] = schema.signature.inputs.as_slice() else {
        return Err(format!(
            "the model has {} inputs; a .npy file's rows feed one",
            schema.signature.inputs.len()
        ));
    };
    let row = header.shape.get(1..).unwrap_or_default();
    if let Some([_, rest @ ..]) = input.shape.as_deref()
        && !(rest.len() == row.len() && rest.iter().zip(row).all(|(d, n)| d.accepts(*n)))
    {
        return Err(format!(
            "rows of shape {row:?} do not fit input '{}' of shape {}",
            input.name,
            input.shape_text()
        ));
    }
    let elements = header.dtype;
    let float = matches!(elements, npy::NpyDType::F32 | npy::NpyDType::F64);
    let boolean = elements == npy::NpyDType::Bool;
    let fits = match input.dtype {
        DType::Bool => boolean,
        dtype if dtype.is_float() => !boolean,
        _ => !boolean && !float,
    };
    if !fits {
        return Err(format!(
            "the array holds {} ('{}'), and input '{}' takes {}",
            if boolean {
                "booleans"
            } else if float {
                "floats"
            } else {
                "integers"
            },
            elements.descr(),
            input.name,
            input.dtype
        ));
    }
    Ok(())
}

/// A `.npy` chunk as the input tensor as it is, when the array is what a
/// one-input model takes (its type, and each row the input's fixed
/// dimensions after the first): no value is read twice. Anything else is
/// left to the general reader, which says what does not fit. Unlike JSON,
/// an array carries NaN and infinities, and they reach the model.
fn npy_tensor(schema: &ModelSchema, chunk: &NpyChunk) -> Option<Tensor> {
    let InputLayout::Tensors = schema.input else {
        return None;
    };
    let [input] = schema.signature.inputs.as_slice() else {
        return None;
    };
    let (Dim::Free(_), rest) = input.shape.as_deref()?.split_first()? else {
        return None;
    };
    let fits = rest.len() == chunk.row_shape.len()
        && rest
            .iter()
            .zip(&chunk.row_shape)
            .all(|(dim, size)| *dim == Dim::Fixed(*size));
    if !fits {
        return None;
    }
    let data = match input.dtype {
        DType::F32 => TensorData::F32(chunk.to_f32()?),
        DType::F64 => TensorData::F64(chunk.to_f64()?),
        DType::I64 => TensorData::I64(chunk.to_i64()?),
        _ => return None,
    };
    let mut shape = vec![chunk.rows];
    shape.extend(&chunk.row_shape);
    Tensor::new(shape, data).ok()
}

/// A CSV record that cannot be read, said for its row.
fn csv_error(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::Utf8 { err, .. } => {
            format!("field {} is not valid UTF-8", err.field() + 1)
        }
        _ => error.to_string(),
    }
}

/// One JSON line as a row: the value, and the id taken out of a record.
fn json_row(line: &[u8], id_column: Option<&str>) -> Result<(Value, Option<Value>), String> {
    let mut value: Value =
        serde_json::from_slice(line).map_err(|e| format!("not valid JSON: {e}"))?;
    let Some(id_column) = id_column else {
        return Ok((value, None));
    };
    let Value::Object(record) = &mut value else {
        return Err(format!(
            "the row is not a record, so it has no '{id_column}' (--id-column)"
        ));
    };
    let id = record
        .remove(id_column)
        .ok_or_else(|| format!("the record has no '{id_column}' (--id-column)"))?;
    Ok((value, Some(id)))
}
