//! Writing a job's answers as Parquet.
//!
//! A Parquet file's footer, which indexes its row groups, is written last,
//! so a half-written file cannot be continued after a crash. The answers
//! are spooled instead: each chunk's rows as one Arrow IPC stream appended
//! to the `.partial` file, whose length after a chunk is what a checkpoint
//! records (as for CSV: a resumed job cuts the spool back to it). When the
//! job finishes, the Parquet file is written from the spool (the answers
//! only, a few columns a row: a short pass) and moved to its name.
//!
//! Columns: the row's key (`file` and `row`, or the id column), then one
//! column per output: its values for a one-value output, a fixed-size list
//! of the row's values otherwise (one cell per row, as pandas reads an
//! array column).

use std::fs::File;
use std::io::{BufReader, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{
    ArrayRef, BooleanArray, FixedSizeListArray, Float64Array, Int64Array, PrimitiveArray,
    RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use inferd_tensor::{DType, Tensor, TensorData, TensorSpec};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::Value;

use crate::BatchError;
use crate::sink::{Counted, suffixed};

/// Rows per row group: a row group is held in memory until it is full, so
/// this bounds the writer's memory (an mlp-784 answer row is ~50 bytes).
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// How a chunk's rows are named in the output.
pub(crate) enum Keys<'a> {
    /// The input file and each row's number in it.
    FileRow { file: &'a str, numbers: Vec<u64> },
    /// Each row's id (`--id-column`), under its column's name.
    Id { name: &'a str, ids: Vec<&'a Value> },
}

/// One chunk's answered rows as a record batch: `rows` are (tensors of
/// the part that answered the row, the row in them), in output order.
pub(crate) fn answers_batch(
    keys: Keys<'_>,
    specs: &[TensorSpec],
    rows: &[(&[Tensor], usize)],
) -> Result<RecordBatch, BatchError> {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    match keys {
        Keys::FileRow { file, numbers } => {
            fields.push(Field::new("file", DataType::Utf8, false));
            columns.push(Arc::new(StringArray::from(vec![file; numbers.len()])));
            fields.push(Field::new("row", DataType::Int64, false));
            columns.push(Arc::new(Int64Array::from_iter_values(
                numbers.iter().map(|n| *n as i64),
            )));
        }
        Keys::Id { name, ids } => {
            let (field, column) = id_column(name, &ids);
            fields.push(field);
            columns.push(column);
        }
    }
    for (o, spec) in specs.iter().enumerate() {
        let tensors: Vec<(&Tensor, usize)> = rows.iter().map(|(t, k)| (&t[o], *k)).collect();
        let (field, column) = output_column(&spec.name, &tensors)?;
        fields.push(field);
        columns.push(column);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| BatchError::Outputs(format!("cannot build the answers' columns: {e}")))
}

/// The id column: integers, numbers, booleans or strings when every id
/// is one (as the input held them); anything else as its JSON text.
fn id_column(name: &str, ids: &[&Value]) -> (Field, ArrayRef) {
    let field = |data_type| Field::new(name, data_type, true);
    if ids.iter().all(|v| v.is_i64() || v.is_null()) {
        let column = Int64Array::from_iter(ids.iter().map(|v| v.as_i64()));
        return (field(DataType::Int64), Arc::new(column));
    }
    if ids.iter().all(|v| v.is_number() || v.is_null()) {
        let column = Float64Array::from_iter(ids.iter().map(|v| v.as_f64()));
        return (field(DataType::Float64), Arc::new(column));
    }
    if ids.iter().all(|v| v.is_boolean() || v.is_null()) {
        let column = BooleanArray::from_iter(ids.iter().map(|v| v.as_bool()));
        return (field(DataType::Boolean), Arc::new(column));
    }
    let column = StringArray::from_iter(ids.iter().map(|v| match v {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }));
    (field(DataType::Utf8), Arc::new(column))
}

/// One output's column from row `k` of each tensor.
fn output_column(name: &str, rows: &[(&Tensor, usize)]) -> Result<(Field, ArrayRef), BatchError> {
    let Some((first, _)) = rows.first() else {
        return Err(BatchError::Outputs("a chunk with no answered row".into()));
    };
    let width: usize = first.shape()[1..].iter().product();
    let dtype = first.dtype();
    if let Some((other, _)) = rows
        .iter()
        .find(|(t, _)| t.dtype() != dtype || t.shape()[1..].iter().product::<usize>() != width)
    {
        return Err(BatchError::Outputs(format!(
            "output '{name}' changed within a chunk ({:?} of {dtype}, then {:?} of {})",
            first.shape(),
            other.shape(),
            other.dtype()
        )));
    }
    macro_rules! gather {
        ($variant:ident, $arrow:ty) => {{
            let mut values = Vec::with_capacity(rows.len() * width);
            for (tensor, k) in rows {
                if let TensorData::$variant(v) = tensor.data() {
                    values.extend_from_slice(&v[k * width..(k + 1) * width]);
                }
            }
            Arc::new(PrimitiveArray::<$arrow>::from(values)) as ArrayRef
        }};
    }
    let values: ArrayRef = match dtype {
        DType::F32 => gather!(F32, Float32Type),
        DType::F64 => gather!(F64, Float64Type),
        DType::I8 => gather!(I8, Int8Type),
        DType::I16 => gather!(I16, Int16Type),
        DType::I32 => gather!(I32, Int32Type),
        DType::I64 => gather!(I64, Int64Type),
        DType::U8 => gather!(U8, UInt8Type),
        DType::U16 => gather!(U16, UInt16Type),
        DType::U32 => gather!(U32, UInt32Type),
        DType::U64 => gather!(U64, UInt64Type),
        DType::Bool => {
            let mut values = Vec::with_capacity(rows.len() * width);
            for (tensor, k) in rows {
                if let TensorData::Bool(v) = tensor.data() {
                    values.extend_from_slice(&v[k * width..(k + 1) * width]);
                }
            }
            Arc::new(BooleanArray::from(values))
        }
    };
    if first.shape().len() == 1 {
        let field = Field::new(name, values.data_type().clone(), false);
        return Ok((field, values));
    }
    let item = Arc::new(Field::new("item", values.data_type().clone(), false));
    let list = FixedSizeListArray::try_new(item.clone(), width as i32, values, None)
        .map_err(|e| BatchError::Outputs(format!("output '{name}': {e}")))?;
    let field = Field::new(name, DataType::FixedSizeList(item, width as i32), false);
    Ok((field, Arc::new(list)))
}

/// The columns of a batch, as a checkpoint records them (every chunk's
/// must be the same, for one Parquet schema).
pub(crate) fn describe(schema: &Schema) -> Vec<String> {
    schema
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect()
}

/// One chunk's batch as the bytes appended to the spool.
pub(crate) fn spooled(batch: &RecordBatch) -> Result<Vec<u8>, BatchError> {
    let error = |e: arrow_schema::ArrowError| {
        BatchError::Outputs(format!("cannot spool a chunk's answers: {e}"))
    };
    let mut bytes = Vec::new();
    let mut writer =
        arrow_ipc::writer::StreamWriter::try_new(&mut bytes, &batch.schema()).map_err(error)?;
    writer.write(batch).map_err(error)?;
    writer.finish().map_err(error)?;
    drop(writer);
    Ok(bytes)
}

/// A Parquet file written under a passing name (a job's and a merge's
/// alike: snappy, as pandas writes by default, in row groups of
/// [`ROW_GROUP_ROWS`]), its columns those of the first batch written, then
/// synced and moved to its name.
pub(crate) struct ParquetOut {
    path: PathBuf,
    /// Made by the first batch.
    writer: Option<Box<ArrowWriter<File>>>,
}

impl ParquetOut {
    pub(crate) fn new(path: PathBuf) -> ParquetOut {
        ParquetOut { path, writer: None }
    }

    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<(), BatchError> {
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => self.writer.insert(Box::new(self.create(batch.schema())?)),
        };
        writer.write(batch).map_err(|e| self.error(e))
    }

    /// Syncs the file and moves it to `to`; with no batch written, a file
    /// of no rows and the columns `empty`.
    pub(crate) fn finish(mut self, to: &Path, empty: SchemaRef) -> Result<(), BatchError> {
        let writer = match self.writer.take() {
            Some(writer) => *writer,
            None => self.create(empty)?,
        };
        let file = writer.into_inner().map_err(|e| self.error(e))?;
        file.sync_all().map_err(BatchError::io(&self.path))?;
        std::fs::rename(&self.path, to).map_err(BatchError::io(to))
    }

    fn create(&self, schema: SchemaRef) -> Result<ArrowWriter<File>, BatchError> {
        let file = File::create(&self.path).map_err(BatchError::io(&self.path))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        ArrowWriter::try_new(file, schema, Some(properties)).map_err(|e| self.error(e))
    }

    fn error(&self, e: parquet::errors::ParquetError) -> BatchError {
        BatchError::Input {
            path: self.path.clone(),
            reason: format!("cannot write Parquet: {e}"),
        }
    }
}

/// Writes `to` from the spool (through `.finishing`, then moved to its
/// name; the spool removed). `empty` is the schema of a job that answered
/// no row.
pub(crate) fn finish(spool: Counted, to: &Path, empty: SchemaRef) -> Result<(), BatchError> {
    let spool_path = spool.path().to_path_buf();
    let length = spool.finish()?;
    let file = File::open(&spool_path).map_err(BatchError::io(&spool_path))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let spool_error = |e: arrow_schema::ArrowError| BatchError::Input {
        path: spool_path.clone(),
        reason: format!("the spooled answers cannot be read back: {e}"),
    };
    let mut out = ParquetOut::new(suffixed(to, ".finishing"));
    // One stream per chunk, one after another.
    while reader
        .stream_position()
        .map_err(BatchError::io(&spool_path))?
        < length
    {
        let stream =
            arrow_ipc::reader::StreamReader::try_new(&mut reader, None).map_err(spool_error)?;
        for batch in stream {
            out.write(&batch.map_err(spool_error)?)?;
        }
    }
    out.finish(to, empty)?;
    std::fs::remove_file(&spool_path).map_err(BatchError::io(&spool_path))
}

/// The schema of an output with no answered row: the keys, then each
/// output as its spec says (a one-value output by itself, any other as a
/// list, its width unknown).
pub(crate) fn empty_schema(id_column: Option<&str>, specs: &[TensorSpec]) -> SchemaRef {
    let mut fields = match id_column {
        Some(name) => vec![Field::new(name, DataType::Utf8, true)],
        None => vec![
            Field::new("file", DataType::Utf8, false),
            Field::new("row", DataType::Int64, false),
        ],
    };
    for spec in specs {
        let item = match spec.dtype {
            DType::F32 => DataType::Float32,
            DType::F64 => DataType::Float64,
            DType::I8 => DataType::Int8,
            DType::I16 => DataType::Int16,
            DType::I32 => DataType::Int32,
            DType::U8 => DataType::UInt8,
            DType::U16 => DataType::UInt16,
            DType::U32 => DataType::UInt32,
            DType::U64 => DataType::UInt64,
            DType::Bool => DataType::Boolean,
            DType::I64 => DataType::Int64,
        };
        let data_type = match spec.shape.as_deref() {
            Some([_]) => item,
            _ => DataType::List(Arc::new(Field::new("item", item, false))),
        };
        fields.push(Field::new(&spec.name, data_type, false));
    }
    Arc::new(Schema::new(fields))
}
