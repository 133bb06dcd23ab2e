//! One model's schemas under the Open Inference Protocol (`/v2`): its infer
//! request, each input named with its datatype and shape; its infer
//! response; its metadata document; and an example request, made from the
//! model's input sample (else from its signature).
//!
//! The names, datatypes and shapes come from the same places the server's
//! codec reads them: datatypes from [`Datatype::of`], the metadata from
//! [`V2Model::metadata`] itself, the example from [`encode_request`], so the
//! document cannot say something the routes do not.
//!
//! What JSON Schema cannot say is left to the descriptions: that `data`
//! holds as many values as the shape, and the binary form of a body.

use serde_json::{Map, Value, json};

use inferd_schema::ModelSchema;
use inferd_tensor::{DType, Dim, Signature, Tensor, TensorSpec};
use inferd_v2::{Datatype, V2Model, encode_request};

use crate::SpecVersion;
use crate::types::{Direction, element, tensor};

/// Examples larger than this many values are left out: a document that
/// carries an image model's zeros helps no reader.
const EXAMPLE_VALUES: usize = 4096;

/// The infer request body (its JSON form).
pub fn infer_request(schema: &ModelSchema, version: SpecVersion) -> Value {
    let signature = &schema.signature;
    let inputs: Vec<Value> = signature
        .inputs
        .iter()
        .map(|spec| input(spec, version))
        .collect();
    let count = inputs.len();
    let output_names: Vec<&str> = signature.outputs.iter().map(|s| s.name.as_str()).collect();
    let mut body = json!({
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string", "description": "Echoed in the response."},
            "parameters": {
                "type": "object",
                "description": "The request's parameters. Reserved ones inferd does not \
                    implement (sequence_*, shared_memory_*) are refused when set; unknown ones \
                    are ignored.",
                "properties": {
                    "timeout": {"type": "integer", "minimum": 0,
                        "description": "Microseconds to finish within; 0: the server's own limit."},
                    "priority": {"type": "integer", "minimum": 0},
                    "binary_data_output": {"type": "boolean",
                        "description": "Every output as raw bytes after the JSON (binary form)."}
                }
            },
            "inputs": {
                "type": "array",
                "description": "Each of the model's inputs once, in any order.",
                "minItems": count,
                "maxItems": count,
                "items": one_of(inputs, &signature.inputs, Direction::Request, version)
            },
            "outputs": {
                "type": "array",
                "description": "The outputs to return, in this order; none listed: all of them.",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "enum": output_names},
                        "parameters": {
                            "type": "object",
                            "properties": {"binary_data": {"type": "boolean",
                                "description": "This output as raw bytes after the JSON (binary form)."}}
                        }
                    }
                }
            }
        }
    });
    if let Some(example) = example_request(schema) {
        body["example"] = example;
    }
    body
}

/// The infer response body (its JSON form).
pub fn infer_response(name: &str, signature: &Signature, version: SpecVersion) -> Value {
    let outputs: Vec<Value> = signature
        .outputs
        .iter()
        .map(|spec| output(spec, version))
        .collect();
    json!({
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": exactly(json!(name), "string", version),
            "model_version": {"type": "string"},
            "id": {"type": "string", "description": "The request's id."},
            "parameters": {"type": "object"},
            "outputs": {
                "type": "array",
                "items": one_of(outputs, &signature.outputs, Direction::Response, version)
            }
        }
    })
}

/// The model metadata document. Its `inputs` and `outputs` are fixed: the
/// very lists the server answers, from the codec's own writer.
pub fn model_metadata(name: &str, signature: &Signature, version: SpecVersion) -> Value {
    let written = V2Model::new(name, "", "", signature.clone()).metadata(&[]);
    let written: Value = serde_json::from_slice(&written).expect("the codec writes JSON");
    json!({
        "type": "object",
        "required": ["name", "versions", "platform", "inputs", "outputs"],
        "properties": {
            "name": exactly(json!(name), "string", version),
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": exactly(written["inputs"].clone(), "array", version),
            "outputs": exactly(written["outputs"].clone(), "array", version),
            "inferd_states": {
                "type": "array",
                "description": "Each version's state while updates are on: live, loading, self_testing, draining, or failed with its reason.",
                "items": {"type": "object", "required": ["version", "state"], "properties": {
                    "version": {"type": "string"},
                    "state": {"type": "string"},
                    "reason": {"type": "string"}
                }}
            }
        }
    })
}

/// A schema that admits `value` alone: `const` where JSON Schema has it
/// (3.1), else a one-value `enum`.
fn exactly(value: Value, kind: &str, version: SpecVersion) -> Value {
    if version == SpecVersion::V31 {
        json!({"type": kind, "const": value})
    } else {
        json!({"type": kind, "enum": [value]})
    }
}

/// The protocol's name of a tensor's element type.
fn datatype(dtype: DType) -> &'static str {
    Datatype::of(dtype).as_str()
}

/// One input of a request: its name, datatype and shape, and its values.
fn input(spec: &TensorSpec, version: SpecVersion) -> Value {
    json!({
        "type": "object",
        "description": format!("Input '{}': {} {}.", spec.name, datatype(spec.dtype), dims_text(spec)),
        "required": ["name", "datatype", "shape", "data"],
        "properties": {
            "name": exactly(json!(spec.name), "string", version),
            "datatype": exactly(json!(datatype(spec.dtype)), "string", version),
            "shape": shape(spec, Direction::Request, version),
            "parameters": {
                "type": "object",
                "properties": {"binary_data_size": {"type": "integer", "minimum": 0,
                    "description": "In the binary form, in place of data: the bytes of this \
                        input's values after the JSON (little-endian, row-major)."}}
            },
            "data": data(spec, Direction::Request, version)
        }
    })
}

/// One output of a response; `data` is absent when it came as bytes.
fn output(spec: &TensorSpec, version: SpecVersion) -> Value {
    json!({
        "type": "object",
        "description": format!("Output '{}': {} {}.", spec.name, datatype(spec.dtype), dims_text(spec)),
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": exactly(json!(spec.name), "string", version),
            "datatype": exactly(json!(datatype(spec.dtype)), "string", version),
            "shape": shape(spec, Direction::Response, version),
            "parameters": {
                "type": "object",
                "properties": {"binary_data_size": {"type": "integer", "minimum": 0,
                    "description": "This output's values came as this many bytes after the JSON."}}
            },
            "data": data(spec, Direction::Response, version)
        }
    })
}

/// `[-1, 10]`, as the metadata writes shapes (-1: a free dimension).
fn dims_text(spec: &TensorSpec) -> String {
    match &spec.shape {
        None => "of any shape".to_owned(),
        Some(dims) => {
            let dims: Vec<String> = dims
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) => n.to_string(),
                    Dim::Free(_) => "-1".to_owned(),
                })
                .collect();
            format!("of shape [{}]", dims.join(", "))
        }
    }
}

/// The `shape` list: one entry per dimension, a fixed one exactly. A
/// request's free dimension is at least 1 (an empty tensor is refused, as
/// on `/score`); an answer's may be 0.
fn shape(spec: &TensorSpec, direction: Direction, version: SpecVersion) -> Value {
    let least = if direction == Direction::Request {
        1
    } else {
        0
    };
    let free = json!({"type": "integer", "minimum": least});
    let Some(dims) = &spec.shape else {
        return json!({"type": "array", "items": free});
    };
    let rank = dims.len();
    let mut schema = json!({"type": "array", "minItems": rank, "maxItems": rank});
    let fixed: Option<Vec<usize>> = dims
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => Some(*n),
            Dim::Free(_) => None,
        })
        .collect();
    match (version, fixed) {
        // A scalar's shape is `[]`, which minItems and maxItems say.
        _ if rank == 0 => {}
        // 3.1 has tuples: each dimension its own schema. Requests only:
        // schemathesis (tests/api) reads a response's `prefixItems` as a
        // draft-4 tuple `items` and calls the document invalid, and an
        // answer's exact sizes are the metadata's to say.
        (SpecVersion::V31, _) if direction == Direction::Request => {
            let each: Vec<Value> = dims
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) => json!({"type": "integer", "const": n}),
                    Dim::Free(_) => free.clone(),
                })
                .collect();
            schema["prefixItems"] = json!(each);
        }
        (_, Some(all)) => {
            schema["items"] = json!({"type": "integer"});
            schema["enum"] = json!([all]);
        }
        // Before 3.1, one schema covers every entry: the fixed sizes are
        // left to the description.
        (_, None) => {
            schema["items"] = free;
            schema["description"] = json!(format!("{}: -1 is a free dimension.", dims_text(spec)));
        }
    }
    schema
}

/// The values: a flat row-major list, or (3.x, requests) lists nested as
/// the shape. Answers are flat.
fn data(spec: &TensorSpec, direction: Direction, version: SpecVersion) -> Value {
    let Some(dims) = &spec.shape else {
        return tensor(spec, direction, version, false);
    };
    let mut flat = json!({"type": "array", "items": element(spec.dtype, direction, version)});
    match fixed_count(dims) {
        Some(n) => {
            flat["minItems"] = json!(n);
            flat["maxItems"] = json!(n);
        }
        None if direction == Direction::Request => flat["minItems"] = json!(1),
        None => {}
    }
    let text = "Row-major; as many values as the shape holds.";
    if direction == Direction::Response || dims.len() < 2 || version == SpecVersion::V2 {
        flat["description"] = json!(if direction == Direction::Request {
            format!("{text} Lists nested as the shape are accepted too.")
        } else {
            text.to_owned()
        });
        return flat;
    }
    json!({
        "description": format!("{text} Flat, or lists nested as the shape."),
        "anyOf": [flat, tensor(spec, direction, version, false)]
    })
}

/// How many values a shape of fixed dimensions holds; None when one is
/// free (or the count overflows, which no model's shape does).
fn fixed_count(dims: &[Dim]) -> Option<usize> {
    dims.iter().try_fold(1usize, |all, d| match d {
        Dim::Fixed(n) => all.checked_mul(*n),
        Dim::Free(_) => None,
    })
}

/// The schema of an item of `inputs` or `outputs`: the one tensor's, or
/// one of each tensor's. Swagger 2.0 has no `oneOf`: there, one schema
/// admits every tensor's name and datatype, and the description says
/// which goes with which.
fn one_of(
    schemas: Vec<Value>,
    specs: &[TensorSpec],
    direction: Direction,
    version: SpecVersion,
) -> Value {
    match (schemas.len(), version) {
        // No tensors: nothing to say of an item (and `oneOf` may not be empty).
        (0, _) => return json!({"type": "object"}),
        (1, _) => return schemas.into_iter().next().expect("one schema"),
        (_, SpecVersion::V3 | SpecVersion::V31) => return json!({"oneOf": schemas}),
        (_, SpecVersion::V2) => {}
    }
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let mut datatypes: Vec<&str> = specs.iter().map(|s| datatype(s.dtype)).collect();
    datatypes.sort_unstable();
    datatypes.dedup();
    let each: Vec<String> = specs
        .iter()
        .map(|s| format!("'{}': {} {}", s.name, datatype(s.dtype), dims_text(s)))
        .collect();
    let mut required = vec!["name", "datatype", "shape"];
    if direction == Direction::Request {
        required.push("data");
    }
    let mut properties = Map::new();
    properties.insert("name".into(), json!({"type": "string", "enum": names}));
    properties.insert(
        "datatype".into(),
        json!({"type": "string", "enum": datatypes}),
    );
    properties.insert(
        "shape".into(),
        json!({"type": "array", "items": {"type": "integer"}}),
    );
    properties.insert(
        "parameters".into(),
        json!({"type": "object", "properties": {"binary_data_size": {"type": "integer", "minimum": 0}}}),
    );
    properties.insert(
        "data".into(),
        json!({"type": "array", "description": "Row-major values of the tensor's datatype."}),
    );
    json!({
        "type": "object",
        "description": format!("One of: {}.", each.join("; ")),
        "required": required,
        "properties": properties
    })
}

/// A request body in the protocol's JSON form: the input sample decoded as
/// `/score` decodes it, else zeros of each input's shape (a free dimension
/// 1, an undeclared shape one value). None when it would be too large.
fn example_request(schema: &ModelSchema) -> Option<Value> {
    let specs = &schema.signature.inputs;
    let tensors = schema.sample_inputs(EXAMPLE_VALUES)?;
    let named: Vec<(&str, &Tensor)> = specs
        .iter()
        .map(|s| s.name.as_str())
        .zip(&tensors)
        .collect();
    let body = encode_request(&named, false, false).body;
    serde_json::from_slice(&body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::tests::{schemas, spec};

    #[test]
    fn the_example_is_the_sample_in_the_protocols_form() {
        let [ridge, multi] = schemas();
        assert_eq!(
            example_request(&ridge),
            Some(json!({"inputs": [{
                "name": "input", "datatype": "FP32", "shape": [1, 10],
                "data": [10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]
            }]}))
        );
        // No sample: zeros of the smallest shape the model takes.
        assert_eq!(
            example_request(&multi),
            Some(json!({"inputs": [
                {"name": "a", "datatype": "INT64", "shape": [2, 3], "data": [0, 0, 0, 0, 0, 0]},
                {"name": "b", "datatype": "BOOL", "shape": [], "data": [false]},
                {"name": "c", "datatype": "UINT8", "shape": [1], "data": [0]}
            ]}))
        );
        assert_eq!(
            infer_request(&ridge, SpecVersion::V3)["example"]["inputs"][0]["shape"],
            json!([1, 10])
        );
    }

    #[test]
    fn large_inputs_have_no_example() {
        let image = ModelSchema::from_signature(Signature {
            inputs: vec![spec(
                "pixels",
                DType::U8,
                Some(vec![
                    Dim::Free(None),
                    Dim::Fixed(3),
                    Dim::Fixed(224),
                    Dim::Fixed(224),
                ]),
            )],
            outputs: vec![spec(
                "logits",
                DType::F32,
                Some(vec![Dim::Free(None), Dim::Fixed(1000)]),
            )],
        });
        assert_eq!(example_request(&image), None);
        assert!(
            infer_request(&image, SpecVersion::V31)
                .get("example")
                .is_none()
        );
        let huge = spec(
            "x",
            DType::F32,
            Some(vec![Dim::Fixed(usize::MAX), Dim::Fixed(2)]),
        );
        assert!(huge.zeros(EXAMPLE_VALUES).is_none());
        // Too many values to bound: the list is left unbounded, not wrong.
        let flat = data(&huge, Direction::Request, SpecVersion::V2);
        assert!(flat.get("maxItems").is_none());
    }
}
