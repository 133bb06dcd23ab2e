//! Rows of an Arrow record batch (a chunk of a Parquet file) as the
//! model's input: each row as the JSON a client would send for it (so a
//! row that does not fit gets the server's message), and, for a one-input
//! tensor contract whose columns are plain numbers, the input tensor
//! read straight from the columns (no JSON value per cell).
//!
//! The fast path takes exactly the values the general path takes: a value
//! it is not sure of (a null, NaN or an infinity, a float at the edge of
//! float32's range, an integer outside the input's type) sends the chunk
//! to the general path, which says what is wrong with which row.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch, UInt64Array};
use arrow_schema::DataType;
use inferd_schema::{ColumnPlan, DecodedRows, InputLayout, ModelSchema};
use inferd_tensor::{DType, Dim, Tensor, TensorData};
use serde_json::Value;

/// Whether cells of `data_type` can be read as JSON values: numbers,
/// booleans, strings, lists of them (or of lists), and dictionaries of
/// scalars (a top-level column's only: `without_dictionaries` unpacks
/// those).
pub(crate) fn readable(data_type: &DataType) -> bool {
    match data_type {
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            !matches!(item.data_type(), DataType::Dictionary(..)) && readable(item.data_type())
        }
        DataType::Dictionary(_, values) => scalar(values),
        other => scalar(other),
    }
}

fn scalar(data_type: &DataType) -> bool {
    use DataType as D;
    matches!(
        data_type,
        D::Null
            | D::Boolean
            | D::Int8
            | D::Int16
            | D::Int32
            | D::Int64
            | D::UInt8
            | D::UInt16
            | D::UInt32
            | D::UInt64
            | D::Float16
            | D::Float32
            | D::Float64
            | D::Utf8
            | D::LargeUtf8
            | D::Utf8View
    )
}

/// `batch` with each dictionary column replaced by its values (a pandas
/// categorical column arrives as a dictionary), so a cell is read in one
/// step.
pub(crate) fn without_dictionaries(batch: RecordBatch) -> Result<RecordBatch, String> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Dictionary(..)))
    {
        return Ok(batch);
    }
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match field.data_type() {
            DataType::Dictionary(_, values) => {
                let dictionary = column.as_any_dictionary();
                let keys: Vec<u64> = dictionary
                    .normalized_keys()
                    .into_iter()
                    .map(|k| k as u64)
                    .collect();
                let keys = UInt64Array::new(keys.into(), dictionary.keys().nulls().cloned());
                let taken = arrow_select::take::take(dictionary.values().as_ref(), &keys, None)
                    .map_err(|e| format!("column '{}': {e}", field.name()))?;
                fields.push(field.as_ref().clone().with_data_type((**values).clone()));
                columns.push(taken);
            }
            _ => {
                fields.push(field.as_ref().clone());
                columns.push(column.clone());
            }
        }
    }
    RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns)
        .map_err(|e| e.to_string())
}

/// Cell `i` of `array` as the JSON value a client would send for it. NaN
/// and infinities have no JSON form: they are null, which the contract
/// refuses with its message.
pub(crate) fn cell_json(array: &dyn Array, i: usize) -> Value {
    use DataType as D;
    if array.is_null(i) {
        return Value::Null;
    }
    let float = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
    match array.data_type() {
        D::Boolean => Value::Bool(array.as_boolean().value(i)),
        D::Int8 => array.as_primitive::<Int8Type>().value(i).into(),
        D::Int16 => array.as_primitive::<Int16Type>().value(i).into(),
        D::Int32 => array.as_primitive::<Int32Type>().value(i).into(),
        D::Int64 => array.as_primitive::<Int64Type>().value(i).into(),
        D::UInt8 => array.as_primitive::<UInt8Type>().value(i).into(),
        D::UInt16 => array.as_primitive::<UInt16Type>().value(i).into(),
        D::UInt32 => array.as_primitive::<UInt32Type>().value(i).into(),
        D::UInt64 => array.as_primitive::<UInt64Type>().value(i).into(),
        D::Float16 => float(array.as_primitive::<Float16Type>().value(i).to_f64()),
        D::Float32 => float(f64::from(array.as_primitive::<Float32Type>().value(i))),
        D::Float64 => float(array.as_primitive::<Float64Type>().value(i)),
        D::Utf8 => Value::String(array.as_string::<i32>().value(i).to_owned()),
        D::LargeUtf8 => Value::String(array.as_string::<i64>().value(i).to_owned()),
        D::Utf8View => Value::String(array.as_string_view().value(i).to_owned()),
        D::List(_) => list_json(array.as_list::<i32>().value(i).as_ref()),
        D::LargeList(_) => list_json(array.as_list::<i64>().value(i).as_ref()),
        D::FixedSizeList(..) => list_json(array.as_fixed_size_list().value(i).as_ref()),
        // Refused when the file was opened (`readable`).
        _ => Value::Null,
    }
}

fn list_json(values: &dyn Array) -> Value {
    Value::Array((0..values.len()).map(|i| cell_json(values, i)).collect())
}

/// Row `i` of `batch` as a client would send it in `data`.
pub(crate) fn row_json(
    schema: &ModelSchema,
    plan: &ColumnPlan,
    batch: &RecordBatch,
    i: usize,
) -> Value {
    schema.row_of_values(
        plan,
        batch
            .columns()
            .iter()
            .map(|column| cell_json(column.as_ref(), i)),
    )
}

/// The rows of `batch` as the model's inputs, each row that does not fit
/// set aside with the server's message.
pub(crate) fn decode(schema: &ModelSchema, plan: &ColumnPlan, batch: &RecordBatch) -> DecodedRows {
    if let Some(tensor) = batch_tensor(schema, plan, batch) {
        return DecodedRows {
            inputs: Some(vec![tensor]),
            kept: (0..batch.num_rows()).collect(),
            failed: Vec::new(),
        };
    }
    schema.decode_json_rows(
        (0..batch.num_rows())
            .map(|i| row_json(schema, plan, batch, i))
            .collect(),
    )
}

/// The fast path: a one-input tensor contract of shape `[N]` or `[N, K]`
/// fed by K columns of plain numbers (booleans for a boolean input), read
/// column by column into the tensor. `None` leaves the chunk to the
/// general path.
fn batch_tensor(schema: &ModelSchema, plan: &ColumnPlan, batch: &RecordBatch) -> Option<Tensor> {
    let InputLayout::Tensors = schema.input else {
        return None;
    };
    let [input] = schema.signature.inputs.as_slice() else {
        return None;
    };
    let columns: Vec<&dyn Array> = plan
        .data_columns()
        .map(|i| batch.column(i).as_ref())
        .collect();
    let (rows, width) = (batch.num_rows(), columns.len());
    if plan.records() || rows == 0 || columns.iter().any(|c| c.null_count() > 0) {
        return None;
    }
    let shape = match input.shape.as_deref()? {
        [first] if width == 1 && first.accepts(rows) => vec![rows],
        [first, Dim::Fixed(k)] if *k == width && first.accepts(rows) => vec![rows, width],
        _ => return None,
    };
    let data = match input.dtype {
        DType::F32 => TensorData::F32(gather(&columns, rows, to_f32)?),
        DType::F64 => TensorData::F64(gather(&columns, rows, to_f64)?),
        DType::I64 => TensorData::I64(gather(&columns, rows, to_i64)?),
        DType::I32 => TensorData::I32(gather(&columns, rows, to_i32)?),
        DType::Bool => TensorData::Bool(gather(&columns, rows, to_bool)?),
        _ => return None,
    };
    Tensor::new(shape, data).ok()
}

/// Fills a row-major `rows x columns` buffer one column at a time with
/// `fill`, which answers false for a column it does not take.
fn gather<T: Copy + Default>(
    columns: &[&dyn Array],
    rows: usize,
    fill: fn(&dyn Array, &mut [T], usize, usize) -> bool,
) -> Option<Vec<T>> {
    let width = columns.len();
    let mut out = vec![T::default(); rows * width];
    for (j, column) in columns.iter().enumerate() {
        if !fill(*column, &mut out, width, j) {
            return None;
        }
    }
    Some(out)
}

/// Writes `values` as column `j` of `out` (rows of `width`), each through
/// `convert`; false at the first it refuses.
fn scatter<S: Copy, T>(
    values: &[S],
    out: &mut [T],
    width: usize,
    j: usize,
    convert: impl Fn(S) -> Option<T>,
) -> bool {
    for (r, value) in values.iter().enumerate() {
        match convert(*value) {
            Some(x) => out[r * width + j] = x,
            None => return false,
        }
    }
    true
}

fn values<T: ArrowPrimitiveType>(array: &dyn Array) -> &[T::Native] {
    array.as_primitive::<T>().values()
}

/// An integer column's values through `convert` (from the value as an
/// i128, as the general path reads an integer literal).
macro_rules! integers {
    ($array:expr, $out:expr, $width:expr, $j:expr, $convert:expr) => {
        match $array.data_type() {
            DataType::Int8 => scatter(values::<Int8Type>($array), $out, $width, $j, |x| {
                $convert(i128::from(x))
            }),
            DataType::Int16 => scatter(values::<Int16Type>($array), $out, $width, $j, |x| {
                $convert(i128::from(x))
            }),
            DataType::Int32 => scatter(values::<Int32Type>($array), $out, $width, $j, |x| {
                $convert(i128::from(x))
            }),
            DataType::Int64 => scatter(values::<Int64Type>($array), $out, $width, $j, |x| {
                $convert(i128::from(x))
            }),
            DataType::UInt8 => scatter(values::<UInt8Type>($array), $out, $width, $j, |x| {
                $convert(i128::from(x))
            }),
            DataType::UInt16 => scatter(values::<UInt16Type>($array), $out, $width, $j, |x| {
                $convert(i128::from(x))
            }),
            DataType::UInt32 => scatter(values::<UInt32Type>($array), $out, $width, $j, |x| {
                $convert(i128::from(x))
            }),
            DataType::UInt64 => scatter(values::<UInt64Type>($array), $out, $width, $j, |x| {
                $convert(i128::from(x))
            }),
            _ => false,
        }
    };
}

/// float32's largest magnitude as float64: a value at or past it is left
/// to the general path, which judges the edge of the range.
const F32_MAX: f64 = f32::MAX as f64;

fn to_f32(array: &dyn Array, out: &mut [f32], width: usize, j: usize) -> bool {
    match array.data_type() {
        DataType::Float32 => scatter(values::<Float32Type>(array), out, width, j, |x| {
            (x.abs() < f32::MAX).then_some(x)
        }),
        DataType::Float64 => scatter(values::<Float64Type>(array), out, width, j, |x| {
            (x.abs() < F32_MAX).then_some(x as f32)
        }),
        // As the general path: the integer as float64, then float32.
        _ => integers!(array, out, width, j, |x: i128| Some(x as f64 as f32)),
    }
}

fn to_f64(array: &dyn Array, out: &mut [f64], width: usize, j: usize) -> bool {
    match array.data_type() {
        DataType::Float32 => scatter(values::<Float32Type>(array), out, width, j, |x| {
            x.is_finite().then_some(f64::from(x))
        }),
        DataType::Float64 => scatter(values::<Float64Type>(array), out, width, j, |x| {
            x.is_finite().then_some(x)
        }),
        _ => integers!(array, out, width, j, |x: i128| Some(x as f64)),
    }
}

fn to_i64(array: &dyn Array, out: &mut [i64], width: usize, j: usize) -> bool {
    integers!(array, out, width, j, |x: i128| i64::try_from(x).ok())
}

fn to_i32(array: &dyn Array, out: &mut [i32], width: usize, j: usize) -> bool {
    integers!(array, out, width, j, |x: i128| i32::try_from(x).ok())
}

fn to_bool(array: &dyn Array, out: &mut [bool], width: usize, j: usize) -> bool {
    let DataType::Boolean = array.data_type() else {
        return false;
    };
    let booleans = array.as_boolean();
    for r in 0..booleans.len() {
        out[r * width + j] = booleans.value(r);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int64Array, StringArray, UInt64Array as U64};
    use inferd_tensor::{Signature, TensorSpec};

    /// One input of shape [N, 2] of `dtype`.
    fn schema(dtype: DType) -> ModelSchema {
        let spec = |name: &str, shape| TensorSpec {
            name: name.into(),
            dtype,
            shape: Some(shape),
        };
        ModelSchema::from_signature(Signature {
            inputs: vec![spec("input", vec![Dim::Free(None), Dim::Fixed(2)])],
            outputs: vec![spec("y", vec![Dim::Free(None)])],
        })
    }

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    /// The fast path's answer, and the general path's for the same rows.
    fn both(schema: &ModelSchema, batch: &RecordBatch) -> (Option<Tensor>, DecodedRows) {
        let names: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let plan = schema.column_plan(&names, None).unwrap();
        let general = schema.decode_json_rows(
            (0..batch.num_rows())
                .map(|i| row_json(schema, &plan, batch, i))
                .collect(),
        );
        (batch_tensor(schema, &plan, batch), general)
    }

    #[test]
    fn the_fast_path_reads_what_the_general_path_reads() {
        let rows = batch(vec![
            ("a", Arc::new(Float64Array::from(vec![0.5, -1.25, 3.0]))),
            ("b", Arc::new(Int64Array::from(vec![1, -2, 1 << 40]))),
        ]);
        let schema = schema(DType::F32);
        let (fast, general) = both(&schema, &rows);
        let fast = fast.expect("plain numbers take the fast path");
        assert_eq!(fast.shape(), &[3, 2]);
        assert_eq!(
            fast.data(),
            &TensorData::F32(vec![0.5, 1.0, -1.25, -2.0, 3.0, (1u64 << 40) as f32])
        );
        assert_eq!(general.inputs.unwrap(), vec![fast]);
    }

    #[test]
    fn values_the_fast_path_is_not_sure_of_go_to_the_general_path() {
        let schema = schema(DType::F32);
        // NaN has no JSON form: null, refused with the server's message.
        let nan = batch(vec![
            ("a", Arc::new(Float64Array::from(vec![0.5, f64::NAN]))),
            ("b", Arc::new(Float64Array::from(vec![1.0, 2.0]))),
        ]);
        let (fast, general) = both(&schema, &nan);
        assert!(fast.is_none());
        assert_eq!(general.kept, vec![0]);
        assert_eq!(
            general.failed[0].1.to_string(),
            "data[0][0]: input 'input' expects float32, received null"
        );
        // Past float32's range.
        let huge = batch(vec![
            ("a", Arc::new(Float64Array::from(vec![1e39]))),
            ("b", Arc::new(Float64Array::from(vec![1.0]))),
        ]);
        let (fast, general) = both(&schema, &huge);
        assert!(fast.is_none());
        assert_eq!(general.failed.len(), 1);
        // An unsigned integer past int64 for an int64 input.
        let schema = super::tests::schema(DType::I64);
        let wide = batch(vec![
            ("a", Arc::new(U64::from(vec![u64::MAX]))),
            ("b", Arc::new(U64::from(vec![1]))),
        ]);
        let (fast, general) = both(&schema, &wide);
        assert!(fast.is_none());
        assert_eq!(general.failed.len(), 1);
        // Strings are not numbers, whichever path.
        let words = batch(vec![
            ("a", Arc::new(StringArray::from(vec!["1"]))),
            ("b", Arc::new(Int64Array::from(vec![1]))),
        ]);
        let (fast, general) = both(&schema, &words);
        assert!(fast.is_none());
        assert!(general.inputs.is_none());
    }

    #[test]
    fn dictionaries_and_lists_read_as_their_values() {
        let keys = arrow_array::Int8Array::from(vec![Some(1), None, Some(0)]);
        let values = Arc::new(StringArray::from(vec!["x", "y"]));
        let dictionary = arrow_array::DictionaryArray::try_new(keys, values).unwrap();
        let rows = without_dictionaries(batch(vec![("d", Arc::new(dictionary))])).unwrap();
        let column = rows.column(0);
        assert_eq!(column.data_type(), &DataType::Utf8);
        let cells: Vec<Value> = (0..3).map(|i| cell_json(column.as_ref(), i)).collect();
        assert_eq!(cells, [Value::from("y"), Value::Null, Value::from("x")]);

        let list = arrow_array::ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
        ]);
        assert_eq!(cell_json(&list, 0), serde_json::json!([1, 2]));
        assert_eq!(cell_json(&list, 1), Value::Null);
        assert!(readable(list.data_type()));
        assert!(!readable(&DataType::Date32));
    }
}
