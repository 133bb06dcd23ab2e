//! [`ModelSchema`]: one model's contract with clients, built once at start
//! from the inference config's entry and the model's signature: which field
//! holds the data, how records or arrays become tensors, how outputs become
//! the answer, and the samples (checked against the model before serving).

use std::sync::Arc;

use serde_json::Value;

use inferd_config::{ModelEntry, OutputLayout, Sample, SampleKind};
use inferd_media::MediaInputs;
use inferd_tensor::{Signature, Tensor};

use crate::SchemaError;
use crate::bound::RawData;
use crate::decode::decode_inputs_at;
use crate::decode::decode_inputs_in;
use crate::encode::encode_outputs;
use crate::labels::Labeller;
use crate::pandas::{Column, ColumnKind, PandasLayout, PandasTarget};
use crate::request::{DATA_FIELD, data_from_body_field, query_data};

/// How a request's data becomes the model's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputLayout {
    /// Nested lists: one input takes them as they are, several take an
    /// object keyed by input name.
    Tensors,
    /// A list of records.
    Pandas(PandasLayout),
}

/// One model's request and response contract.
#[derive(Debug, Clone)]
pub struct ModelSchema {
    pub signature: Signature,
    pub data_field: String,
    pub input: InputLayout,
    pub output: OutputLayout,
    /// The declared kinds of the samples (none: from the signature).
    pub input_kind: Option<SampleKind>,
    pub output_kind: Option<SampleKind>,
    pub input_sample: Option<Value>,
    pub output_sample: Option<Value>,
    /// How binary bodies become the inputs (none declared: JSON only).
    pub media: Option<Arc<MediaInputs>>,
    /// Per output, in the model's order: its labelling, when declared.
    pub labels: Vec<Option<Labeller>>,
}

/// A sample that does not fit its model, found at start.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct SampleError {
    /// The config key at fault (`inputSample`, `inputs.input.resize`).
    pub key: String,
    pub reason: String,
}

impl ModelSchema {
    /// The contract of a model served without an entry: everything from its
    /// signature.
    pub fn from_signature(signature: Signature) -> ModelSchema {
        ModelSchema {
            signature,
            data_field: DATA_FIELD.to_owned(),
            input: InputLayout::Tensors,
            output: OutputLayout::Auto,
            input_kind: None,
            output_kind: None,
            input_sample: None,
            output_sample: None,
            media: None,
            labels: Vec::new(),
        }
    }

    /// The inputs a sample request carries: the input sample decoded as a
    /// request would be, else zeros of each input's smallest shape; `None`
    /// when that fails or holds more than `max_values` values. Examples and
    /// a new version's self-test send these.
    pub fn sample_inputs(&self, max_values: usize) -> Option<Vec<Tensor>> {
        let specs = &self.signature.inputs;
        let tensors = match &self.input_sample {
            Some(sample) => self.decode(sample).ok()?,
            None => specs
                .iter()
                .map(|spec| spec.zeros(max_values))
                .collect::<Option<Vec<Tensor>>>()?,
        };
        let values: usize = tensors.iter().map(|t| t.data().len()).sum();
        (tensors.len() == specs.len() && values <= max_values).then_some(tensors)
    }

    /// The contract of a model with `signature`: its entry's when the
    /// inference config has one for it, else its signature's.
    pub fn for_model(
        entry: Option<&ModelEntry>,
        signature: Signature,
    ) -> Result<ModelSchema, SampleError> {
        match entry {
            Some(entry) => ModelSchema::build(entry, signature),
            None => Ok(ModelSchema::from_signature(signature)),
        }
    }

    /// The contract that `entry` declares for a model with `signature`. The
    /// samples must fit the model: the input sample is decoded as a request
    /// would be, the output sample checked against the outputs.
    pub fn build(entry: &ModelEntry, signature: Signature) -> Result<ModelSchema, SampleError> {
        let mut schema = ModelSchema::from_signature(signature);
        schema.data_field = entry.data_field.clone();
        schema.output = entry.output_layout;
        if let Some(sample) = &entry.input_sample {
            schema.input_kind = Some(sample.kind);
            schema.input_sample = Some(sample.value().clone());
            if sample.kind == SampleKind::Pandas {
                schema.input = InputLayout::Pandas(pandas_layout(sample, &schema.signature)?);
            }
            schema.decode(sample.value()).map_err(|e| SampleError {
                key: "inputSample".into(),
                reason: format!("does not fit the model: {e}"),
            })?;
        }
        if schema.output == OutputLayout::Records
            && let Some(output) = schema
                .signature
                .outputs
                .iter()
                .find(|o| o.shape.as_ref().is_some_and(Vec::is_empty))
        {
            return Err(SampleError {
                key: "outputLayout".into(),
                reason: format!(
                    "records need a row dimension, and output '{}' is a scalar",
                    output.name
                ),
            });
        }
        if let Some(sample) = &entry.output_sample {
            schema.output_kind = Some(sample.kind);
            schema.output_sample = Some(sample.value().clone());
            check_output_sample(sample.value(), &schema).map_err(|reason| SampleError {
                key: "outputSample".into(),
                reason,
            })?;
        }
        schema.media = MediaInputs::build(&entry.inputs, &schema.signature)
            .map_err(|e| SampleError {
                key: format!("inputs.{}", e.key),
                reason: e.reason,
            })?
            .map(Arc::new);
        if let Some(name) = entry
            .postprocess
            .keys()
            .find(|name| !schema.signature.outputs.iter().any(|o| &o.name == *name))
        {
            return Err(SampleError {
                key: format!("postprocess.{name}"),
                reason: format!(
                    "the model has no output '{name}'; its outputs are {}",
                    schema
                        .signature
                        .outputs
                        .iter()
                        .map(|o| format!("'{}'", o.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        if !entry.postprocess.is_empty() {
            schema.labels = schema
                .signature
                .outputs
                .iter()
                .map(|spec| {
                    entry
                        .postprocess
                        .get(&spec.name)
                        .map(|p| {
                            Labeller::build(p, spec).map_err(|reason| SampleError {
                                key: format!("postprocess.{}", spec.name),
                                reason,
                            })
                        })
                        .transpose()
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(schema)
    }

    /// The model's inputs from a request's data. Without the request's text,
    /// a value near ±f32::MAX is judged by its parsed float64, which can be
    /// a step off (see `bound`): requests go through
    /// [`ModelSchema::decode_body`] or [`ModelSchema::decode_query`].
    pub fn decode(&self, data: &Value) -> Result<Vec<Tensor>, SchemaError> {
        self.decode_in(data, None)
    }

    /// The model's inputs from a POST body's data field: straight into the
    /// tensor when the model has one input and the body is plainly valid
    /// (`direct`), else through the JSON value, which gives the answer or
    /// the error with its path.
    pub fn decode_body(&self, body: &[u8]) -> Result<Vec<Tensor>, SchemaError> {
        if let (InputLayout::Tensors, [only]) = (&self.input, self.signature.inputs.as_slice())
            && let Some(tensor) = crate::direct::tensor_from_body(body, &self.data_field, only)
        {
            // The fuzz build checks the premise of the fast path: whatever
            // it answers, the general path answers the same.
            #[cfg(fuzzing)]
            assert_eq!(
                self.decode_body_generally(body).as_deref(),
                Ok(std::slice::from_ref(&tensor)),
                "the fast path decoded differently"
            );
            return Ok(vec![tensor]);
        }
        self.decode_body_generally(body)
    }

    /// [`ModelSchema::decode_body`] through the JSON value alone.
    fn decode_body_generally(&self, body: &[u8]) -> Result<Vec<Tensor>, SchemaError> {
        let data = data_from_body_field(body, &self.data_field)?;
        // Checked as UTF-8 by the line above.
        let text = std::str::from_utf8(body).unwrap_or_default();
        let raw = RawData {
            text,
            field: Some(&self.data_field),
        };
        self.decode_in(&data, Some(&raw))
    }

    /// The model's inputs from a query string's data parameter.
    pub fn decode_query(&self, query: &str) -> Result<Vec<Tensor>, SchemaError> {
        let (data, text) = query_data(query, &self.data_field)?;
        let raw = RawData {
            text: &text,
            field: None,
        };
        self.decode_in(&data, Some(&raw))
    }

    fn decode_in(
        &self,
        data: &Value,
        raw: Option<&RawData<'_>>,
    ) -> Result<Vec<Tensor>, SchemaError> {
        let inputs = &self.signature.inputs;
        match &self.input {
            InputLayout::Tensors => decode_inputs_in(data, inputs, &self.data_field, raw),
            InputLayout::Pandas(layout) => layout.decode_in(data, inputs, &self.data_field, raw),
        }
    }

    /// The response body for the model's outputs.
    pub fn encode(&self, outputs: &[Tensor]) -> Result<Vec<u8>, String> {
        self.encode_answer(outputs, false)
    }

    /// The response body for the model's outputs, `single` when the request
    /// was one image on its own: a labelled output then answers that
    /// image's classes rather than a list of rows.
    pub fn encode_answer(&self, outputs: &[Tensor], single: bool) -> Result<Vec<u8>, String> {
        let specs = &self.signature.outputs;
        if self.labels.is_empty() {
            return match self.output {
                OutputLayout::Auto => Ok(encode_outputs(outputs, specs)),
                OutputLayout::Records => crate::encode::encode_records(outputs, specs),
            };
        }
        crate::encode::encode_labelled(outputs, specs, self.output, &self.labels, single)
    }
}

/// The columns of a pandas sample (`columns` in order, else its first
/// record's) and where they go in the model.
fn pandas_layout(sample: &Sample, signature: &Signature) -> Result<PandasLayout, SampleError> {
    let input = sample.input.as_deref();
    let declared = sample.columns.as_ref();
    let sample = sample.value();
    let fail = |reason: String| SampleError {
        key: "inputSample".into(),
        reason,
    };
    let rows = sample.as_array().map(Vec::as_slice).unwrap_or_default();
    let Some(Value::Object(first)) = rows.first() else {
        return Err(fail(
            "a pandas sample is a non-empty list of records".into(),
        ));
    };
    let names: Vec<&String> = match declared {
        Some(names) => names.iter().collect(),
        None => first.keys().collect(),
    };
    if let Some((index, _)) = rows
        .iter()
        .enumerate()
        .find(|(_, row)| row.as_object().is_none_or(|r| r.len() != names.len()))
    {
        return Err(fail(format!(
            "record {index} does not have exactly the columns {names:?}"
        )));
    }
    let mut columns = Vec::with_capacity(names.len());
    for name in names {
        let mut kind = None;
        for (index, row) in rows.iter().enumerate() {
            let value = row.get(name).ok_or_else(|| {
                fail(format!(
                    "record {index} has no column '{name}'; every record needs the same columns"
                ))
            })?;
            let this = match value {
                Value::Bool(_) => ColumnKind::Boolean,
                Value::Number(n) if n.is_i64() || n.is_u64() => ColumnKind::Integer,
                Value::Number(_) => ColumnKind::Number,
                other => {
                    return Err(fail(format!(
                        "column '{name}' holds {}; ONNX inputs take numbers and booleans only",
                        crate::error::json_kind(other)
                    )));
                }
            };
            kind = Some(match (kind, this) {
                (None, k) => k,
                (Some(a), b) if a == b => a,
                (Some(ColumnKind::Integer), ColumnKind::Number)
                | (Some(ColumnKind::Number), ColumnKind::Integer) => ColumnKind::Number,
                _ => return Err(fail(format!("column '{name}' mixes booleans and numbers"))),
            });
        }
        columns.push(Column {
            name: name.clone(),
            kind: kind.expect("at least one record"),
        });
    }
    let inputs = &signature.inputs;
    let position = |name: &str| inputs.iter().position(|i| i.name == name);
    let target = match input {
        Some(name) => PandasTarget::Stacked {
            input: position(name).ok_or_else(|| SampleError {
                key: "inputSample.input".into(),
                reason: format!("the model has no input '{name}'"),
            })?,
        },
        None => {
            let by_name: Option<Vec<usize>> = columns.iter().map(|c| position(&c.name)).collect();
            match by_name {
                Some(found) if found.len() == inputs.len() => {
                    PandasTarget::ByName { inputs: found }
                }
                _ if inputs.len() == 1 => PandasTarget::Stacked { input: 0 },
                _ => {
                    return Err(fail(
                        "the columns are not the model's inputs by name; name the input to stack them into (inputSample.input)"
                            .into(),
                    ));
                }
            }
        }
    };
    if matches!(target, PandasTarget::Stacked { .. }) && declared.is_none() && columns.len() > 1 {
        return Err(SampleError {
            key: "inputSample.columns".into(),
            reason: "stacking columns into one input needs their order: list them in columns"
                .into(),
        });
    }
    for (c, column) in columns.iter().enumerate() {
        let spec = match &target {
            PandasTarget::Stacked { input } => &inputs[*input],
            PandasTarget::ByName { inputs: found } => &inputs[found[c]],
        };
        if !column.kind.fits(spec.dtype) {
            return Err(fail(format!(
                "column '{}' holds {} values, which input '{}' ({}) cannot take",
                column.name,
                column.kind.name(),
                spec.name,
                spec.dtype
            )));
        }
        let rank_ok = match (&target, &spec.shape) {
            (_, None) => true,
            (PandasTarget::Stacked { .. }, Some(dims)) => {
                dims.len() == 2 && dims[1].accepts(columns.len())
            }
            (PandasTarget::ByName { .. }, Some(dims)) => {
                dims.len() == 1 || (dims.len() == 2 && dims[1].accepts(1))
            }
        };
        if !rank_ok {
            return Err(fail(format!(
                "input '{}' has shape {}, which {} columns cannot fill",
                spec.name,
                spec.shape_text(),
                columns.len()
            )));
        }
    }
    Ok(PandasLayout { columns, target })
}

fn check_output_sample(sample: &Value, schema: &ModelSchema) -> Result<(), String> {
    let outputs = &schema.signature.outputs;
    match schema.output {
        OutputLayout::Auto => decode_inputs_at(sample, outputs, "outputSample")
            .map(drop)
            .map_err(|e| format!("does not fit the model's outputs: {e}")),
        OutputLayout::Records => {
            let rows = sample.as_array().filter(|r| !r.is_empty()).ok_or(
                "with outputLayout records, the output sample is a non-empty list of records",
            )?;
            for (index, row) in rows.iter().enumerate() {
                let keys: Vec<&String> = row
                    .as_object()
                    .map(|o| o.keys().collect())
                    .unwrap_or_default();
                let names: Vec<&String> = outputs.iter().map(|o| &o.name).collect();
                if keys != names {
                    return Err(format!(
                        "record {index} must have the model's outputs as keys, in order: {names:?}"
                    ));
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inferd_tensor::{DType, Dim, TensorData, TensorSpec};

    /// f32::MAX + 1 and f32::MAX, written as integers.
    const BEYOND: &str = "340282346638528859811704183484516925441";
    const AT: &str = "340282346638528859811704183484516925440";

    fn input(name: &str) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            dtype: DType::F32,
            shape: Some(vec![Dim::Free(None), Dim::Fixed(2)]),
        }
    }

    fn schema(inputs: Vec<TensorSpec>) -> ModelSchema {
        let outputs = vec![input("y")];
        ModelSchema::from_signature(Signature { inputs, outputs })
    }

    fn body_error(schema: &ModelSchema, body: &str) -> String {
        schema.decode_body(body.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn float32_takes_its_bound_and_refuses_one_past_it_exactly() {
        let one = schema(vec![input("x")]);
        for at in [
            format!(r#"{{"data": [[{AT}, -{AT}]]}}"#),
            r#"{"data": [[3.4028234663852886e38, -3.4028234663852886e+38]]}"#.to_owned(),
        ] {
            let t = one.decode_body(at.as_bytes()).unwrap();
            assert_eq!(
                t[0].data(),
                &TensorData::F32(vec![f32::MAX, -f32::MAX]),
                "{at}"
            );
        }
        assert_eq!(
            body_error(&one, &format!(r#"{{"data": [[1, 2], [3, -{BEYOND}]]}}"#)),
            format!(
                "data[1][1]: input 'x' expects float32, received -{BEYOND}, which is out of range for float32"
            )
        );
        assert!(
            body_error(&one, &format!(r#"{{"data": [[{BEYOND}, 0]]}}"#)).starts_with(&format!(
                "data[0][0]: input 'x' expects float32, received {BEYOND}, which"
            ))
        );
        // The next float64 past f32::MAX still rounds to f32::MAX as a
        // float32, yet is out of range; so is a large exponent.
        for beyond in ["3.402823466385289e38", "-1e39", "1E+300"] {
            let message = body_error(&one, &format!(r#"{{"data": [[0, {beyond}]]}}"#));
            assert!(
                message.starts_with("data[0][1]: input 'x' expects float32, received ")
                    && message.ends_with(", which is out of range for float32"),
                "{beyond}: {message}"
            );
        }
        // The query string reads its own text.
        let query = format!("data=%5B%5B{AT},-{BEYOND}%5D%5D");
        assert!(
            one.decode_query(&query)
                .unwrap_err()
                .to_string()
                .starts_with(&format!(
                    "data[0][1]: input 'x' expects float32, received -{BEYOND}"
                ))
        );
        let query = format!("data=[[{AT},-{AT}]]");
        assert!(one.decode_query(&query).is_ok());
    }

    #[test]
    fn the_bound_is_exact_under_named_inputs_and_records() {
        let two = schema(vec![input("a"), input("b")]);
        let body =
            format!(r#"{{"data": {{"b": [[1, {BEYOND}]], "a": [[{AT}, 1]]}}, "x": [{BEYOND}]}}"#);
        assert!(
            body_error(&two, &body).starts_with(&format!(
                "data.b[0][1]: input 'b' expects float32, received {BEYOND}"
            )),
            "{body}"
        );
        let fine =
            format!(r#"{{"data": {{"b": [[1, {AT}]], "a": [[{AT}, 1]]}}, "x": [{BEYOND}]}}"#);
        assert!(two.decode_body(fine.as_bytes()).is_ok());

        let mut records = schema(vec![input("x")]);
        records.input = InputLayout::Pandas(PandasLayout {
            columns: vec![
                Column {
                    name: "p".into(),
                    kind: ColumnKind::Number,
                },
                Column {
                    name: "q".into(),
                    kind: ColumnKind::Integer,
                },
            ],
            target: PandasTarget::Stacked { input: 0 },
        });
        let body = format!(r#"{{"data": [{{"p": 1, "q": 2}}, {{"q": -{BEYOND}, "p": {AT}}}]}}"#);
        assert!(
            body_error(&records, &body).starts_with("data[1].q: column 'q' "),
            "{}",
            body_error(&records, &body)
        );
        assert!(body_error(&records, &body).contains(&format!("-{BEYOND}, which is out of range")));
        let fine = format!(r#"{{"data": [{{"q": -{AT}, "p": {AT}}}]}}"#);
        assert!(records.decode_body(fine.as_bytes()).is_ok());
    }
}
