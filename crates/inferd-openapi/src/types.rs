//! JSON Schemas of tensors: nested arrays whose lengths are the shape's
//! fixed dimensions, around elements typed by the tensor's element type.
//! The fragments are written once for all three document versions; only
//! how "or null" is said differs between them.

use serde_json::{Map, Value, json};

use inferd_tensor::{DType, Dim, TensorSpec};

use crate::SpecVersion;

/// Which way a tensor travels: requests must fill every dimension (an empty
/// list is refused); answers may carry `null` for a non-finite float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

/// The largest finite float32: the decoder refuses anything beyond it.
const F32_MAX: f64 = f32::MAX as f64;

/// How serde_json writes [`F32_MAX`] as a member's value, and f32::MAX
/// exactly, an integer.
const F32_MAX_WRITTEN: &str = ": 3.4028234663852886e+38";
const F32_MAX_EXACT: &str = ": 340282346638528859811704183484516925440";
const MINUS_F32_MAX_WRITTEN: &str = ": -3.4028234663852886e+38";
const MINUS_F32_MAX_EXACT: &str = ": -340282346638528859811704183484516925440";

/// A rendered document with float32's bounds written exactly. serde_json
/// writes the float64 f32::MAX in its shortest form, whose decimal value is
/// 1.9e20 above f32::MAX; a tool that reads a bound as the decimal its text
/// spells (schemathesis does) would then take integers just past f32::MAX as
/// in range, which the decoder refuses. Written as the exact integer, the
/// bound reads the same as decimal and as float64. Only member values are
/// matched (`": "` cannot occur unescaped inside a JSON string).
pub(crate) fn exact_f32_bounds(text: String) -> String {
    if !text.contains(F32_MAX_WRITTEN) && !text.contains(MINUS_F32_MAX_WRITTEN) {
        return text;
    }
    text.replace(F32_MAX_WRITTEN, F32_MAX_EXACT)
        .replace(MINUS_F32_MAX_WRITTEN, MINUS_F32_MAX_EXACT)
}

/// The schema of one element of `dtype`.
pub fn element(dtype: DType, direction: Direction, version: SpecVersion) -> Value {
    let mut schema = match dtype {
        DType::F32 => {
            json!({"type": "number", "format": "float", "minimum": -F32_MAX, "maximum": F32_MAX})
        }
        DType::F64 => json!({"type": "number", "format": "double"}),
        DType::I32 => json!({"type": "integer", "format": "int32"}),
        DType::I64 => json!({"type": "integer", "format": "int64"}),
        DType::U64 => json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
        DType::Bool => json!({"type": "boolean"}),
        other => {
            let (min, max) = other.integer_range().expect("the rest are integers");
            json!({"type": "integer", "minimum": min as i64, "maximum": max as i64})
        }
    };
    if direction == Direction::Response && dtype.is_float() {
        // Answers write NaN and infinities, which JSON lacks, as null.
        let object = schema.as_object_mut().expect("an object");
        object.remove("minimum");
        object.remove("maximum");
        nullable(object, version);
    }
    schema
}

/// Marks a schema as also accepting `null`, as each version says it.
pub fn nullable(schema: &mut Map<String, Value>, version: SpecVersion) {
    match version {
        SpecVersion::V2 => {
            schema.insert("x-nullable".into(), Value::Bool(true));
        }
        SpecVersion::V3 => {
            schema.insert("nullable".into(), Value::Bool(true));
        }
        SpecVersion::V31 => {
            let kind = schema.get("type").cloned().unwrap_or(Value::Null);
            schema.insert("type".into(), json!([kind, "null"]));
        }
    }
}

/// The schema of a tensor of `spec`, as nested lists. With `skip_rows`, the
/// first dimension is left out (one row of a record).
pub fn tensor(
    spec: &TensorSpec,
    direction: Direction,
    version: SpecVersion,
    skip_rows: bool,
) -> Value {
    let leaf = element(spec.dtype, direction, version);
    let Some(dims) = &spec.shape else {
        // An undeclared shape: any nesting of elements.
        return json!({"description": format!("{} values nested to any depth", spec.dtype)});
    };
    let dims = if skip_rows && !dims.is_empty() {
        &dims[1..]
    } else {
        &dims[..]
    };
    dims.iter().rev().fold(leaf, |items, dim| {
        let mut array = Map::new();
        array.insert("type".into(), json!("array"));
        array.insert("items".into(), items);
        match dim {
            Dim::Fixed(n) => {
                array.insert("minItems".into(), json!(n));
                array.insert("maxItems".into(), json!(n));
            }
            Dim::Free(_) if direction == Direction::Request => {
                array.insert("minItems".into(), json!(1));
            }
            Dim::Free(_) => {}
        }
        Value::Object(array)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_become_nested_arrays() {
        let spec = TensorSpec {
            name: "x".into(),
            dtype: DType::I64,
            shape: Some(vec![Dim::Free(Some("N".into())), Dim::Fixed(2)]),
        };
        assert_eq!(
            tensor(&spec, Direction::Request, SpecVersion::V3, false),
            json!({"type": "array", "minItems": 1, "items": {
                "type": "array", "items": {"type": "integer", "format": "int64"},
                "minItems": 2, "maxItems": 2}})
        );
        assert_eq!(
            tensor(&spec, Direction::Response, SpecVersion::V3, true),
            json!({"type": "array", "items": {"type": "integer", "format": "int64"},
                "minItems": 2, "maxItems": 2})
        );
    }

    #[test]
    fn float32_bounds_are_written_exactly() {
        let schema = element(DType::F32, Direction::Request, SpecVersion::V3);
        let text = exact_f32_bounds(serde_json::to_string_pretty(&schema).unwrap());
        assert!(
            text.contains(r#""maximum": 340282346638528859811704183484516925440"#),
            "{text}"
        );
        assert!(
            text.contains(r#""minimum": -340282346638528859811704183484516925440"#),
            "{text}"
        );
        // Read back as float64, the bound is f32::MAX itself.
        let read: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(read["maximum"].as_f64(), Some(F32_MAX));
        assert_eq!(read["minimum"].as_f64(), Some(-F32_MAX));
    }

    #[test]
    fn response_floats_may_be_null() {
        assert_eq!(
            element(DType::F32, Direction::Response, SpecVersion::V31),
            json!({"type": ["number", "null"], "format": "float"})
        );
        assert_eq!(
            element(DType::F64, Direction::Response, SpecVersion::V2)["x-nullable"],
            json!(true)
        );
        assert_eq!(
            element(DType::U8, Direction::Request, SpecVersion::V3),
            json!({"type": "integer", "minimum": 0, "maximum": 255})
        );
    }
}
