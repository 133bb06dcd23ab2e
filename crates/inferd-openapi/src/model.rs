//! One model's `ServiceInput` (the request body) and `ServiceOutput` (the
//! answer), from its [`ModelSchema`]: the decoder's own rules, written as
//! JSON Schema, with the samples as examples. An output the inference
//! config labels (`postprocess`) is answered as classes with scores.

use serde_json::{Map, Value, json};

use inferd_config::{OutputLayout, SampleKind};
use inferd_schema::{ColumnKind, InputLayout, ModelSchema, PandasTarget};
use inferd_tensor::{Dim, TensorSpec};

use crate::SpecVersion;
use crate::types::{Direction, element, tensor};

/// The request body: an object whose data field holds the model's data.
pub fn service_input(schema: &ModelSchema, version: SpecVersion) -> Value {
    let field = &schema.data_field;
    let mut data = match &schema.input {
        InputLayout::Tensors => by_name(&schema.signature.inputs, |_, spec| {
            tensor(spec, Direction::Request, version, false)
        }),
        InputLayout::Pandas(layout) => {
            let mut properties = Map::new();
            for (c, column) in layout.columns.iter().enumerate() {
                let spec = match &layout.target {
                    PandasTarget::Stacked { input } => &schema.signature.inputs[*input],
                    PandasTarget::ByName { inputs } => &schema.signature.inputs[inputs[c]],
                };
                let mut cell = element(spec.dtype, Direction::Request, version);
                if column.kind == ColumnKind::Integer && spec.dtype.is_float() {
                    // The sample declared whole numbers: fractions are refused.
                    cell["type"] = json!("integer");
                    if let Some(object) = cell.as_object_mut() {
                        object.remove("format");
                    }
                }
                properties.insert(column.name.clone(), cell);
            }
            let names: Vec<&String> = layout.columns.iter().map(|c| &c.name).collect();
            json!({
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": names,
                    "properties": properties,
                    "additionalProperties": false
                },
                "format": "pandas.DataFrame:records"
            })
        }
    };
    if schema.input_kind == Some(SampleKind::Numpy)
        && let Some(object) = data.as_object_mut()
    {
        object.insert("format".into(), json!("numpy.ndarray"));
    }
    let mut body = json!({
        "type": "object",
        "required": [field],
        "properties": {field.as_str(): data}
    });
    if let Some(sample) = &schema.input_sample {
        body["example"] = json!({field.as_str(): sample});
    }
    body
}

/// The answer of a successful scoring call.
pub fn service_output(schema: &ModelSchema, version: SpecVersion) -> Value {
    let outputs = &schema.signature.outputs;
    let labelled = |index: usize| schema.labels.get(index).is_some_and(Option::is_some);
    let lone_image = takes_a_lone_image(schema);
    let mut answer = match schema.output {
        OutputLayout::Auto => by_name(outputs, |index, spec| {
            if labelled(index) {
                labelled_rows(spec, version, lone_image)
            } else {
                tensor(spec, Direction::Response, version, false)
            }
        }),
        OutputLayout::Records => {
            let mut properties = Map::new();
            for (index, spec) in outputs.iter().enumerate() {
                let value = if labelled(index) {
                    classes(spec, version)
                } else {
                    tensor(spec, Direction::Response, version, true)
                };
                properties.insert(spec.name.clone(), value);
            }
            let names: Vec<&String> = outputs.iter().map(|o| &o.name).collect();
            json!({
                "type": "array",
                "items": {"type": "object", "required": names, "properties": properties}
            })
        }
    };
    // The samples are the model's own outputs, checked as tensors: once
    // labels replace an output's scores they no longer show the answer.
    let any_labelled = (0..outputs.len()).any(labelled);
    if !any_labelled && let Some(object) = answer.as_object_mut() {
        if schema.output_kind == Some(SampleKind::Numpy) {
            object.insert("format".into(), json!("numpy.ndarray"));
        }
        if let Some(sample) = &schema.output_sample {
            object.insert("example".into(), sample.clone());
        }
    }
    answer
}

/// Whether a request may be one image on its own (Content-Type image/*),
/// whose labelled outputs answer that image's classes, not a list of rows.
fn takes_a_lone_image(schema: &ModelSchema) -> bool {
    schema.media.as_ref().is_some_and(|media| {
        media
            .content_types()
            .iter()
            .any(|t| t.starts_with("image/"))
    })
}

const CLASSES_DESCRIPTION: &str =
    "One row's classes, best first, each with its score (after softmax, when declared).";
const ROWS_DESCRIPTION: &str = "Per row, its classes, best first.";
const LONE_IMAGE_DESCRIPTION: &str = "Per row, its classes, best first; a request of one image \
     on its own (Content-Type image/*) is answered that image's classes alone, not a list of rows.";

/// One row of a labelled output: its best classes, best first.
fn classes(spec: &TensorSpec, version: SpecVersion) -> Value {
    let mut list = json!({
        "type": "array",
        "description": CLASSES_DESCRIPTION,
        "items": {
            "type": "object",
            "required": ["label", "score"],
            "properties": {
                "label": {"type": "string"},
                "score": element(spec.dtype, Direction::Response, version)
            },
            "additionalProperties": false
        }
    });
    // topK keeps at most the classes there are.
    if let Some([_, Dim::Fixed(n)]) = spec.shape.as_deref() {
        list["maxItems"] = json!(n);
    }
    list
}

/// A labelled output of the whole answer: a list of rows and, where a lone
/// image may be sent, that one row's classes. Swagger 2.0 has no anyOf:
/// there the description says so.
fn labelled_rows(spec: &TensorSpec, version: SpecVersion, lone_image: bool) -> Value {
    let mut rows = json!({"type": "array", "items": classes(spec, version)});
    if !lone_image {
        rows["description"] = json!(ROWS_DESCRIPTION);
        return rows;
    }
    if version == SpecVersion::V2 {
        rows["description"] = json!(LONE_IMAGE_DESCRIPTION);
        return rows;
    }
    json!({"description": LONE_IMAGE_DESCRIPTION, "anyOf": [rows, classes(spec, version)]})
}

/// One tensor as it is; several as an object keyed by name, each as
/// `schema` describes it (given its index).
fn by_name(specs: &[TensorSpec], schema: impl Fn(usize, &TensorSpec) -> Value) -> Value {
    if let [only] = specs {
        return schema(0, only);
    }
    let mut properties = Map::new();
    for (index, spec) in specs.iter().enumerate() {
        properties.insert(spec.name.clone(), schema(index, spec));
    }
    let names: Vec<&String> = specs.iter().map(|s| &s.name).collect();
    json!({
        "type": "object",
        "required": names,
        "properties": properties,
        "additionalProperties": false
    })
}
