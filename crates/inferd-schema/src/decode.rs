//! A JSON value to one tensor per model input.
//!
//! The shape is read from the nesting (the first element at each level),
//! checked against the declared shape, then every element is visited once:
//! ragged rows, wrong element types, out-of-range numbers and non-integers
//! for integer inputs are all rejected with the element's path. A float32
//! element must lie within ±f32::MAX exactly (see the `bound` module).

use serde_json::Value;

use inferd_tensor::signature::format_dims;
use inferd_tensor::{Tensor, TensorData, TensorSpec};

use crate::SchemaError;
use crate::bound::{F32_MAX, NEAR_ABOVE, NEAR_BELOW, RawData};
use crate::error::json_kind;

/// Decodes `data` for a model with `inputs`. One input: `data` is that
/// input's nested list. Several: `data` is an object keyed by input name.
#[cfg(test)]
pub(crate) fn decode_inputs(
    data: &Value,
    inputs: &[TensorSpec],
) -> Result<Vec<Tensor>, SchemaError> {
    decode_inputs_at(data, inputs, crate::request::DATA_FIELD)
}

/// [`decode_inputs`] for data that came under the field `root`, which
/// starts every path in errors. Without the request's text, a value near
/// ±f32::MAX is judged by its parsed float64 (see the `bound` module for why
/// that can be a step off).
pub fn decode_inputs_at(
    data: &Value,
    inputs: &[TensorSpec],
    root: &str,
) -> Result<Vec<Tensor>, SchemaError> {
    decode_inputs_in(data, inputs, root, None)
}

/// [`decode_inputs_at`], with the text `data` was parsed from, so that
/// float32's bound is exact for integer literals too.
pub(crate) fn decode_inputs_in(
    data: &Value,
    inputs: &[TensorSpec],
    root: &str,
    raw: Option<&RawData<'_>>,
) -> Result<Vec<Tensor>, SchemaError> {
    if let [only] = inputs {
        let place = Place { raw, key: None };
        return Ok(vec![decode_one(data, only, root.to_owned(), place)?]);
    }
    let names = || format_names(inputs);
    let Value::Object(fields) = data else {
        return Err(SchemaError::InputsNotAnObject {
            path: root.to_owned(),
            expected: names(),
        });
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !inputs.iter().any(|i| &i.name == *k))
    {
        return Err(SchemaError::UnknownInput {
            path: root.to_owned(),
            input: unknown.clone(),
            expected: names(),
        });
    }
    inputs
        .iter()
        .map(|spec| {
            let value = fields
                .get(&spec.name)
                .ok_or_else(|| SchemaError::MissingInput {
                    path: root.to_owned(),
                    input: spec.name.clone(),
                })?;
            let place = Place {
                raw,
                key: Some(&spec.name),
            };
            decode_one(value, spec, format!("{root}.{}", spec.name), place)
        })
        .collect()
}

/// Where an input's value sits in the request's text, when that is known.
#[derive(Clone, Copy)]
struct Place<'a> {
    raw: Option<&'a RawData<'a>>,
    /// The input's key in the data object (several inputs).
    key: Option<&'a str>,
}

fn format_names(inputs: &[TensorSpec]) -> String {
    let names: Vec<String> = inputs.iter().map(|i| format!("'{}'", i.name)).collect();
    names.join(", ")
}

fn decode_one(
    value: &Value,
    spec: &TensorSpec,
    path: String,
    place: Place<'_>,
) -> Result<Tensor, SchemaError> {
    let shape = shape_of(value);
    let wrong_shape = |path: String| SchemaError::WrongShape {
        path,
        input: spec.name.clone(),
        expected: spec.shape_text(),
        dtype: spec.dtype.to_string(),
        received: format_dims(&shape),
    };
    if shape.contains(&0) {
        return Err(SchemaError::Empty {
            path,
            input: spec.name.clone(),
            expected: spec.shape_text(),
            dtype: spec.dtype.to_string(),
        });
    }
    if let Some(dims) = &spec.shape
        && (dims.len() != shape.len() || !dims.iter().zip(&shape).all(|(d, n)| d.accepts(*n)))
    {
        return Err(wrong_shape(path));
    }
    let count: usize = shape.iter().product();
    let mut filler = Filler {
        spec,
        shape: &shape,
        data: TensorData::with_capacity(spec.dtype, count),
        text_known: place.raw.is_some(),
        near_bound: Vec::new(),
    };
    let mut path = path;
    // On success `fill` leaves `path` as it was: the input's.
    filler.fill(value, 0, &mut path)?;
    if let Some(raw) = place.raw
        && !filler.near_bound.is_empty()
    {
        let keys: Vec<&str> = place.key.into_iter().collect();
        if let Some((index, literal)) = raw.beyond_f32_in_list(&keys, &filler.near_bound) {
            return Err(SchemaError::WrongType {
                path: index_path(path, &shape, index),
                input: spec.name.clone(),
                dtype: spec.dtype.to_string(),
                received: format!("{literal}, which is out of range for float32"),
            });
        }
    }
    let data = filler.data;
    Ok(Tensor::new(shape, data).expect("filled exactly the counted elements"))
}

/// The shape implied by following the first element down.
fn shape_of(mut value: &Value) -> Vec<usize> {
    let mut shape = Vec::new();
    while let Value::Array(items) = value {
        shape.push(items.len());
        match items.first() {
            Some(first) => value = first,
            None => break,
        }
    }
    shape
}

/// `path` and the place of the element at row-major `index` in `shape`
/// (`data[1][0]`).
fn index_path(mut path: String, shape: &[usize], index: usize) -> String {
    let mut rest = index;
    let mut indexes: Vec<usize> = shape
        .iter()
        .rev()
        .map(|&len| {
            let i = rest % len;
            rest /= len;
            i
        })
        .collect();
    indexes.reverse();
    for i in indexes {
        use std::fmt::Write;
        let _ = write!(path, "[{i}]");
    }
    path
}

struct Filler<'a> {
    spec: &'a TensorSpec,
    shape: &'a [usize],
    data: TensorData,
    /// Whether the request's text is at hand to judge values near ±f32::MAX.
    text_known: bool,
    /// Row-major indexes of the float32 values whose literal decides.
    near_bound: Vec<usize>,
}

impl Filler<'_> {
    /// Appends every element under `value` (at nesting `depth`) in row-major
    /// order. `path` is extended in place and restored, so the happy path
    /// allocates no strings.
    fn fill(&mut self, value: &Value, depth: usize, path: &mut String) -> Result<(), SchemaError> {
        if depth == self.shape.len() {
            return self.push(value, path);
        }
        let ragged = |received: String, path: &str| SchemaError::Ragged {
            path: path.to_owned(),
            expected: format!("a list of {}", self.shape[depth]),
            received,
        };
        match value {
            Value::Array(items) if items.len() == self.shape[depth] => {
                let base = path.len();
                for (index, item) in items.iter().enumerate() {
                    use std::fmt::Write;
                    let _ = write!(path, "[{index}]");
                    self.fill(item, depth + 1, path)?;
                    path.truncate(base);
                }
                Ok(())
            }
            Value::Array(items) => Err(ragged(format!("a list of {}", items.len()), path)),
            other => Err(ragged(json_kind(other).to_owned(), path)),
        }
    }

    fn push(&mut self, value: &Value, path: &str) -> Result<(), SchemaError> {
        let dtype = self.spec.dtype;
        let wrong = |received: String| SchemaError::WrongType {
            path: path.to_owned(),
            input: self.spec.name.clone(),
            dtype: dtype.to_string(),
            received,
        };
        match (&mut self.data, value) {
            (TensorData::Bool(v), Value::Bool(b)) => {
                v.push(*b);
                Ok(())
            }
            (TensorData::Bool(_), other) => Err(wrong(json_kind(other).to_owned())),
            (data, Value::Number(number)) => {
                let index = data.len();
                if push_number(data, number, self.text_known).map_err(wrong)? == Pushed::NearF32Max
                {
                    self.near_bound.push(index);
                }
                Ok(())
            }
            (_, Value::Array(_)) => Err(SchemaError::Ragged {
                path: path.to_owned(),
                expected: "a number".to_owned(),
                received: "a list (too deep)".to_owned(),
            }),
            (_, other) => Err(wrong(json_kind(other).to_owned())),
        }
    }
}

/// What [`push_number`] appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    Value,
    /// A float32 within a few float64 steps of ±f32::MAX, with the request's
    /// text known: its literal decides whether it is in range (see
    /// [`crate::bound`]); the caller checks it.
    NearF32Max,
}

/// Appends a JSON number to numeric storage; the error text says what was
/// received when it does not fit. `text_known`: the request's text can be
/// read again, so a float32 near ±f32::MAX is left to the caller to judge by
/// its literal; without it the parsed float64 decides.
pub(crate) fn push_number(
    data: &mut TensorData,
    number: &serde_json::Number,
    text_known: bool,
) -> Result<Pushed, String> {
    let dtype = data.dtype();
    if dtype.is_float() {
        let x = number
            .as_f64()
            .ok_or_else(|| format!("{number}, which is not a finite number"))?;
        match data {
            TensorData::F64(v) => v.push(x),
            TensorData::F32(v) => {
                // Judged before narrowing: a float64 just past f32::MAX
                // rounds to it as a float32, yet is out of range.
                let magnitude = x.abs();
                let near = (NEAR_BELOW..=NEAR_ABOVE).contains(&magnitude);
                if magnitude > NEAR_ABOVE || (near && !text_known && magnitude > F32_MAX) {
                    return Err(format!("{number}, which is out of range for float32"));
                }
                // Within the range (or judged by its literal), this is
                // finite: near the bound it narrows to ±f32::MAX.
                v.push(x as f32);
                if near && text_known {
                    return Ok(Pushed::NearF32Max);
                }
            }
            _ => unreachable!("is_float covers F32 and F64"),
        }
        return Ok(Pushed::Value);
    }
    let integer: i128 = if let Some(i) = number.as_i64() {
        i.into()
    } else if let Some(u) = number.as_u64() {
        u.into()
    } else {
        let x = number.as_f64().unwrap_or(f64::NAN);
        if x.fract() != 0.0 || !x.is_finite() || x.abs() > 1.7e38 {
            return Err(format!("{number}, which is not an integer"));
        }
        x as i128
    };
    let (min, max) = dtype
        .integer_range()
        .expect("non-float, non-bool types are integers");
    if integer < min || integer > max {
        return Err(format!("{number}, which is out of range for {dtype}"));
    }
    // The range check above makes every `as` below exact.
    match data {
        TensorData::I8(v) => v.push(integer as i8),
        TensorData::I16(v) => v.push(integer as i16),
        TensorData::I32(v) => v.push(integer as i32),
        TensorData::I64(v) => v.push(integer as i64),
        TensorData::U8(v) => v.push(integer as u8),
        TensorData::U16(v) => v.push(integer as u16),
        TensorData::U32(v) => v.push(integer as u32),
        TensorData::U64(v) => v.push(integer as u64),
        TensorData::F32(_) | TensorData::F64(_) | TensorData::Bool(_) => {
            unreachable!("handled above")
        }
    }
    Ok(Pushed::Value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use inferd_tensor::{DType, Dim};
    use serde_json::json;

    fn spec(dtype: DType, dims: Vec<Dim>) -> TensorSpec {
        TensorSpec {
            name: "input".into(),
            dtype,
            shape: Some(dims),
        }
    }

    fn batch_of(n: usize, dtype: DType) -> Vec<TensorSpec> {
        vec![spec(
            dtype,
            vec![Dim::Free(Some("N".into())), Dim::Fixed(n)],
        )]
    }

    fn message(data: Value, inputs: &[TensorSpec]) -> String {
        decode_inputs(&data, inputs).unwrap_err().to_string()
    }

    #[test]
    fn rows_become_a_tensor() {
        let t = decode_inputs(&json!([[1, 2.5, -3], [4, 5, 6]]), &batch_of(3, DType::F32)).unwrap();
        assert_eq!(t[0].shape(), [2, 3]);
        assert_eq!(
            t[0].data(),
            &TensorData::F32(vec![1.0, 2.5, -3.0, 4.0, 5.0, 6.0])
        );
    }

    #[test]
    fn integer_inputs_take_integers_only() {
        let inputs = batch_of(2, DType::I64);
        let t = decode_inputs(&json!([[1, 2.0]]), &inputs).unwrap();
        assert_eq!(t[0].data(), &TensorData::I64(vec![1, 2]));
        assert_eq!(
            message(json!([[1, 1.9]]), &inputs),
            "data[0][1]: input 'input' expects int64, received 1.9, which is not an integer"
        );
        assert_eq!(
            message(json!([[1, 300]]), &batch_of(2, DType::U8)),
            "data[0][1]: input 'input' expects uint8, received 300, which is out of range for uint8"
        );
        assert!(message(json!([[1, -1]]), &batch_of(2, DType::U64)).contains("out of range"));
        let big = decode_inputs(&json!([[u64::MAX, 0]]), &batch_of(2, DType::U64)).unwrap();
        assert_eq!(big[0].data(), &TensorData::U64(vec![u64::MAX, 0]));
    }

    #[test]
    fn shape_errors_name_expected_and_received() {
        let inputs = batch_of(10, DType::F32);
        assert_eq!(
            message(json!([[1, 2, 3, 4, 5, 6, 7, 8, 9]]), &inputs),
            "data: input 'input' expects shape [N, 10] (float32), received shape [1, 9]"
        );
        assert_eq!(
            message(json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), &inputs),
            "data: input 'input' expects shape [N, 10] (float32), received shape [10]"
        );
        assert_eq!(
            message(json!([[[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]]), &inputs),
            "data: input 'input' expects shape [N, 10] (float32), received shape [1, 1, 10]"
        );
        assert_eq!(
            message(json!(5), &inputs),
            "data: input 'input' expects shape [N, 10] (float32), received shape []"
        );
        assert_eq!(
            message(json!([]), &inputs),
            "data: input 'input' expects shape [N, 10] (float32), received an empty list"
        );
    }

    #[test]
    fn ragged_rows_are_found() {
        let inputs = batch_of(2, DType::F32);
        assert_eq!(
            message(json!([[1, 2], [3]]), &inputs),
            "data[1]: rows differ in length (ragged); expected a list of 2, received a list of 1"
        );
        assert_eq!(
            message(json!([[1, 2], 3]), &inputs),
            "data[1]: rows differ in length (ragged); expected a list of 2, received a number"
        );
        assert!(message(json!([[1, 2], [3, [4]]]), &inputs).starts_with("data[1][1]: rows differ"));
    }

    #[test]
    fn wrong_element_types_are_named() {
        let inputs = batch_of(2, DType::F32);
        assert_eq!(
            message(json!([[1, "2"]]), &inputs),
            "data[0][1]: input 'input' expects float32, received a string"
        );
        assert_eq!(
            message(json!([[null, 1]]), &inputs),
            "data[0][0]: input 'input' expects float32, received null"
        );
        assert_eq!(
            message(json!([[true, 1]]), &inputs),
            "data[0][0]: input 'input' expects float32, received a boolean"
        );
        assert_eq!(
            message(json!([[1e39, 1]]), &inputs),
            "data[0][0]: input 'input' expects float32, received 1e+39, which is out of range for float32"
        );
        let bools = decode_inputs(&json!([[true, false]]), &batch_of(2, DType::Bool)).unwrap();
        assert_eq!(bools[0].data(), &TensorData::Bool(vec![true, false]));
        assert!(
            message(json!([[1, 0]]), &batch_of(2, DType::Bool))
                .contains("expects bool, received a number")
        );
    }

    #[test]
    fn several_inputs_come_by_name() {
        let mut a = spec(DType::F32, vec![Dim::Free(None), Dim::Fixed(2)]);
        a.name = "a".into();
        let mut b = spec(DType::I64, vec![Dim::Free(None)]);
        b.name = "b".into();
        let inputs = [a, b];
        let t = decode_inputs(&json!({"a": [[1, 2]], "b": [7]}), &inputs).unwrap();
        assert_eq!(t[1].data(), &TensorData::I64(vec![7]));
        assert_eq!(
            message(json!([[1, 2]]), &inputs),
            "data: the model has inputs 'a', 'b'; send an object with one entry per input"
        );
        assert_eq!(
            message(json!({"a": [[1, 2]]}), &inputs),
            "data: missing input 'b'"
        );
        assert!(
            message(json!({"a": [[1, 2]], "b": [1], "c": 1}), &inputs)
                .starts_with("data: unknown input 'c'")
        );
        assert!(
            message(json!({"a": [[1, 2]], "b": [1.5]}), &inputs)
                .starts_with("data.b[0]: input 'b' expects int64")
        );
    }

    #[test]
    fn undeclared_shapes_take_any_rank() {
        let inputs = [TensorSpec {
            name: "x".into(),
            dtype: DType::F64,
            shape: None,
        }];
        let t = decode_inputs(&json!([[[1]], [[2]]]), &inputs).unwrap();
        assert_eq!(t[0].shape(), [2, 1, 1]);
        let scalar = decode_inputs(&json!(3), &inputs).unwrap();
        assert!(scalar[0].shape().is_empty());
    }
}
