//! One model's `ServiceInput` (the request body) and `ServiceOutput` (the
//! answer), from its [`ModelSchema`]: the decoder's own rules, written as
//! JSON Schema, with the samples as examples.

use serde_json::{Map, Value, json};

use inferd_config::{OutputLayout, SampleKind};
use inferd_schema::{ColumnKind, InputLayout, ModelSchema, PandasTarget};
use inferd_tensor::TensorSpec;

use crate::SpecVersion;
use crate::types::{Direction, element, tensor};

/// The request body: an object whose data field holds the model's data.
pub fn service_input(schema: &ModelSchema, version: SpecVersion) -> Value {
    let field = &schema.data_field;
    let mut data = match &schema.input {
        InputLayout::Tensors => tensors(&schema.signature.inputs, Direction::Request, version),
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
    let mut answer = match schema.output {
        OutputLayout::Auto => tensors(outputs, Direction::Response, version),
        OutputLayout::Records => {
            let mut properties = Map::new();
            for spec in outputs {
                properties.insert(
                    spec.name.clone(),
                    tensor(spec, Direction::Response, version, true),
                );
            }
            let names: Vec<&String> = outputs.iter().map(|o| &o.name).collect();
            json!({
                "type": "array",
                "items": {"type": "object", "required": names, "properties": properties}
            })
        }
    };
    if let Some(object) = answer.as_object_mut() {
        if schema.output_kind == Some(SampleKind::Numpy) {
            object.insert("format".into(), json!("numpy.ndarray"));
        }
        if let Some(sample) = &schema.output_sample {
            object.insert("example".into(), sample.clone());
        }
    }
    answer
}

/// One tensor as it is; several as an object keyed by name.
fn tensors(specs: &[TensorSpec], direction: Direction, version: SpecVersion) -> Value {
    if let [only] = specs {
        return tensor(only, direction, version, false);
    }
    let mut properties = Map::new();
    for spec in specs {
        properties.insert(spec.name.clone(), tensor(spec, direction, version, false));
    }
    let names: Vec<&String> = specs.iter().map(|s| &s.name).collect();
    json!({
        "type": "object",
        "required": names,
        "properties": properties,
        "additionalProperties": false
    })
}
