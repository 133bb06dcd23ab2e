//! A v2 infer request body made from what the target says of its model.
//!
//! The model metadata (`GET /v2/models/{m}`) gives each input's name,
//! datatype and shape. The values are the example of the model's `/score`
//! path in `/swagger.json` (its inference config's sample) when the server
//! has one that fits: real values, and the very request a `/score` run
//! sends, so the two runs compare. Otherwise, or when `--rows` asks for a
//! size, they are a fixed pattern. The body is written by inferd-v2's
//! [`encode_request`], the codec the server reads it with.

use serde::Deserialize;
use serde_json::Value;

use inferd_schema::ModelSchema;
use inferd_tensor::{DType, Dim, Signature, Tensor, TensorData, TensorSpec};
use inferd_v2::{Datatype, EncodedBody, encode_request};

use crate::protocol::{BodyFormat, V2Path};
use crate::target::{Target, example_for_model};

/// Why no v2 body could be made.
#[derive(Debug, thiserror::Error)]
pub enum V2BodyError {
    #[error("{0}; give --body FILE")]
    Fetch(String),
    #[error("the model metadata is not understood: {0}")]
    Metadata(String),
    #[error("the model metadata lists no inputs")]
    NoInputs,
    #[error(
        "input '{input}' is {datatype}, which the bench cannot make values for; give --body FILE"
    )]
    Datatype { input: String, datatype: String },
    #[error("input '{input}' has dimension {dim}; a shape holds sizes and -1 (free)")]
    Dim { input: String, dim: i64 },
}

/// The part of a model metadata document a request is made from.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelMetadata {
    pub inputs: Vec<InputMetadata>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InputMetadata {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<i64>,
}

impl ModelMetadata {
    pub fn from_json(doc: Value) -> Result<ModelMetadata, V2BodyError> {
        serde_json::from_value(doc).map_err(|e| V2BodyError::Metadata(e.to_string()))
    }

    /// The inputs as a signature, free dimensions (-1) as [`Dim::Free`].
    /// No outputs: the request asks for all of them.
    pub fn signature(&self) -> Result<Signature, V2BodyError> {
        if self.inputs.is_empty() {
            return Err(V2BodyError::NoInputs);
        }
        let inputs = self
            .inputs
            .iter()
            .map(|input| {
                let dtype = Datatype::parse(&input.datatype)
                    .and_then(Datatype::dtype)
                    .ok_or_else(|| V2BodyError::Datatype {
                        input: input.name.clone(),
                        datatype: input.datatype.clone(),
                    })?;
                let shape = input
                    .shape
                    .iter()
                    .map(|&dim| match dim {
                        -1 => Ok(Dim::Free(None)),
                        n => usize::try_from(n)
                            .map(Dim::Fixed)
                            .map_err(|_| V2BodyError::Dim {
                                input: input.name.clone(),
                                dim,
                            }),
                    })
                    .collect::<Result<_, _>>()?;
                Ok(TensorSpec {
                    name: input.name.clone(),
                    dtype,
                    shape: Some(shape),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Signature {
            inputs,
            outputs: Vec::new(),
        })
    }
}

/// One tensor per input, `rows` rows: a free first dimension is `rows`,
/// any other free dimension 1 (the smallest request the model takes).
pub fn pattern_inputs(signature: &Signature, rows: usize) -> Vec<Tensor> {
    signature
        .inputs
        .iter()
        .map(|spec| {
            let shape = pattern_shape(spec, rows);
            let data = pattern_data(spec.dtype, shape.iter().product());
            Tensor::new(shape, data).expect("the data is sized from the shape")
        })
        .collect()
}

fn pattern_shape(spec: &TensorSpec, rows: usize) -> Vec<usize> {
    let dims = spec.shape.as_deref().unwrap_or_default();
    dims.iter()
        .enumerate()
        .map(|(i, dim)| match dim {
            Dim::Fixed(n) => *n,
            Dim::Free(_) if i == 0 => rows,
            Dim::Free(_) => 1,
        })
        .collect()
}

/// Floats repeat 0, 0.25, 0.5, 0.75: inside the range a model that scales
/// its inputs expects. Integers are 0 and booleans false: an integer input
/// may be an index (a token, a category), and 0 is the one index every
/// table has.
fn pattern_data(dtype: DType, len: usize) -> TensorData {
    let quarter = |i: usize| (i % 4) as f64 * 0.25;
    match dtype {
        DType::F32 => TensorData::F32((0..len).map(|i| quarter(i) as f32).collect()),
        DType::F64 => TensorData::F64((0..len).map(quarter).collect()),
        DType::Bool => TensorData::Bool(vec![false; len]),
        DType::I8 => TensorData::I8(vec![0; len]),
        DType::I16 => TensorData::I16(vec![0; len]),
        DType::I32 => TensorData::I32(vec![0; len]),
        DType::I64 => TensorData::I64(vec![0; len]),
        DType::U8 => TensorData::U8(vec![0; len]),
        DType::U16 => TensorData::U16(vec![0; len]),
        DType::U32 => TensorData::U32(vec![0; len]),
        DType::U64 => TensorData::U64(vec![0; len]),
    }
}

/// The inputs in a `/swagger.json` example, read as `/score` reads a body.
/// The example is `{field: data}`, its one field the model's data field;
/// a pandas (records) example does not read as tensors, and is an error
/// here like any example that does not fit.
pub fn sample_inputs(signature: &Signature, example: &Value) -> Result<Vec<Tensor>, String> {
    let field = match example.as_object() {
        Some(object) if object.len() == 1 => object.keys().next().cloned().unwrap_or_default(),
        _ => return Err("the /swagger.json example is not {field: data}".into()),
    };
    let schema = ModelSchema {
        data_field: field,
        ..ModelSchema::from_signature(signature.clone())
    };
    schema
        .decode_body(example.to_string().as_bytes())
        .map_err(|e| format!("the /swagger.json example does not fit: {e}"))
}

/// The request body for `inputs` (in the signature's order). A binary body
/// asks for binary outputs too, as `tritonclient` does by default; a JSON
/// one for JSON outputs.
pub fn encode(signature: &Signature, inputs: &[Tensor], format: BodyFormat) -> EncodedBody {
    let named: Vec<(&str, &Tensor)> = signature
        .inputs
        .iter()
        .map(|spec| spec.name.as_str())
        .zip(inputs)
        .collect();
    let binary = format == BodyFormat::Binary;
    encode_request(&named, binary, binary)
}

/// A body made here, and what its values came from (for the first line of
/// the report).
#[derive(Debug, Clone)]
pub struct MadeBody {
    pub encoded: EncodedBody,
    pub source: String,
}

/// Makes the body for `path`'s model: the `/swagger.json` example unless
/// `rows` is given or there is none that fits, else the pattern.
pub async fn fetch(
    target: &Target,
    path: V2Path<'_>,
    format: BodyFormat,
    rows: Option<usize>,
) -> Result<MadeBody, V2BodyError> {
    let doc = target
        .get_json(path.model_path)
        .await
        .map_err(V2BodyError::Fetch)?;
    let signature = ModelMetadata::from_json(doc)?.signature()?;
    let (inputs, source) = match rows {
        Some(rows) => (
            pattern_inputs(&signature, rows),
            format!("model metadata, {rows} rows"),
        ),
        None => match example_inputs(target, &signature, path.model).await {
            Ok(inputs) => (inputs, "/swagger.json example".to_owned()),
            Err(why) => (
                pattern_inputs(&signature, 1),
                format!("model metadata, 1 row; {why}"),
            ),
        },
    };
    Ok(MadeBody {
        encoded: encode(&signature, &inputs, format),
        source,
    })
}

async fn example_inputs(
    target: &Target,
    signature: &Signature,
    model: &str,
) -> Result<Vec<Tensor>, String> {
    let doc = target.get_json("/swagger.json").await?;
    let example =
        example_for_model(&doc, model).ok_or("/swagger.json has no example".to_owned())?;
    sample_inputs(signature, &example)
}

#[cfg(test)]
mod tests {
    use super::*;
    use inferd_v2::V2Model;
    use serde_json::json;

    use crate::test_server::TestServer;

    fn metadata() -> Value {
        json!({
            "name": "m", "versions": ["1"], "platform": "onnxruntime_onnx",
            "inputs": [
                {"name": "x", "datatype": "FP32", "shape": [-1, 4]},
                {"name": "ids", "datatype": "INT64", "shape": [-1, -1, 3]},
                {"name": "flags", "datatype": "BOOL", "shape": [2]},
                {"name": "scale", "datatype": "FP64", "shape": []}
            ],
            "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 1]}]
        })
    }

    fn signature() -> Signature {
        ModelMetadata::from_json(metadata())
            .unwrap()
            .signature()
            .unwrap()
    }

    /// The server's own codec reads `body` back into `inputs`.
    fn reads_back(body: &EncodedBody, inputs: &[Tensor]) {
        let model = V2Model::new("m", "1", "onnxruntime_onnx", signature());
        let request = model
            .decode_request(&body.body, body.header_length)
            .unwrap();
        assert_eq!(request.inputs, inputs);
    }

    #[test]
    fn free_first_dimensions_are_the_rows_and_other_free_ones_1() {
        let inputs = pattern_inputs(&signature(), 3);
        let shapes: Vec<&[usize]> = inputs.iter().map(Tensor::shape).collect();
        assert_eq!(shapes, [&[3, 4][..], &[3, 1, 3], &[2], &[]]);
        assert_eq!(
            inputs[0].data(),
            &TensorData::F32([0.0, 0.25, 0.5, 0.75].repeat(3))
        );
        assert_eq!(inputs[1].data(), &TensorData::I64(vec![0; 9]));
        assert_eq!(inputs[2].data(), &TensorData::Bool(vec![false; 2]));
        assert_eq!(inputs[3].data(), &TensorData::F64(vec![0.0]));
    }

    #[test]
    fn a_json_body_has_every_input_as_data() {
        let inputs = pattern_inputs(&signature(), 2);
        let body = encode(&signature(), &inputs, BodyFormat::Json);
        assert_eq!(body.header_length, None);
        let doc: Value = serde_json::from_slice(&body.body).unwrap();
        assert_eq!(doc["inputs"][0]["name"], "x");
        assert_eq!(doc["inputs"][0]["shape"], json!([2, 4]));
        assert_eq!(doc["inputs"][1]["shape"], json!([2, 1, 3]));
        assert_eq!(doc["inputs"][3]["data"], json!([0.0]));
        assert!(doc.get("parameters").is_none(), "JSON outputs: the default");
        reads_back(&body, &inputs);
    }

    #[test]
    fn a_binary_body_is_its_json_header_then_the_raw_tensors() {
        let inputs = pattern_inputs(&signature(), 2);
        let body = encode(&signature(), &inputs, BodyFormat::Binary);
        let header_length = body.header_length.unwrap();
        let header: Value = serde_json::from_slice(&body.body[..header_length]).unwrap();
        assert_eq!(header["parameters"]["binary_data_output"], true);
        assert_eq!(header["inputs"][0]["shape"], json!([2, 4]));
        assert_eq!(
            header["inputs"][0]["parameters"]["binary_data_size"],
            2 * 4 * 4
        );
        assert!(header["inputs"][0].get("data").is_none());
        // FP32 [2,4], INT64 [2,1,3], BOOL [2] (a byte each), FP64 [].
        let raw = 2 * 4 * 4 + 2 * 3 * 8 + 2 + 8;
        assert_eq!(body.body.len() - header_length, raw);
        reads_back(&body, &inputs);
    }

    #[test]
    fn metadata_the_bench_cannot_fill_is_refused_by_name() {
        let with = |input: Value| {
            ModelMetadata::from_json(json!({"name": "m", "inputs": [input]}))
                .unwrap()
                .signature()
        };
        for datatype in ["BYTES", "FP16", "BF16", "float32"] {
            let refused = with(json!({"name": "t", "datatype": datatype, "shape": [1]}));
            assert!(
                matches!(&refused, Err(V2BodyError::Datatype { input, .. }) if input == "t"),
                "{datatype}: {refused:?}"
            );
        }
        let refused = with(json!({"name": "t", "datatype": "FP32", "shape": [-2]}));
        assert!(matches!(refused, Err(V2BodyError::Dim { dim: -2, .. })));
        let none = ModelMetadata::from_json(json!({"name": "m", "inputs": []})).unwrap();
        assert!(matches!(none.signature(), Err(V2BodyError::NoInputs)));
        assert!(matches!(
            ModelMetadata::from_json(json!({"error": "no model"})),
            Err(V2BodyError::Metadata(_))
        ));
    }

    #[test]
    fn a_swagger_example_that_fits_gives_the_values() {
        let one = ModelMetadata::from_json(json!({"inputs": [
            {"name": "x", "datatype": "FP32", "shape": [-1, 2]}
        ]}))
        .unwrap()
        .signature()
        .unwrap();
        let inputs = sample_inputs(&one, &json!({"data": [[1, 2], [3, 4]]})).unwrap();
        assert_eq!(inputs[0].shape(), [2, 2]);
        assert_eq!(inputs[0].data(), &TensorData::F32(vec![1.0, 2.0, 3.0, 4.0]));
        // The data field is the example's one field, whatever its name.
        let inputs = sample_inputs(&one, &json!({"rows": [[5, 6]]})).unwrap();
        assert_eq!(inputs[0].data(), &TensorData::F32(vec![5.0, 6.0]));
        // Several inputs: an object by name.
        let two = ModelMetadata::from_json(json!({"inputs": [
            {"name": "a", "datatype": "INT64", "shape": [-1]},
            {"name": "b", "datatype": "FP64", "shape": [-1]}
        ]}))
        .unwrap()
        .signature()
        .unwrap();
        let inputs = sample_inputs(&two, &json!({"data": {"b": [0.5], "a": [7]}})).unwrap();
        assert_eq!(inputs[0].data(), &TensorData::I64(vec![7]));
        assert_eq!(inputs[1].data(), &TensorData::F64(vec![0.5]));
        // Another model's example, records, or no envelope: not used.
        assert!(sample_inputs(&one, &json!({"data": [[1, 2, 3]]})).is_err());
        assert!(sample_inputs(&one, &json!({"data": [{"a": 1, "b": 2}]})).is_err());
        assert!(sample_inputs(&one, &json!([[1, 2]])).is_err());
    }

    fn swagger() -> Value {
        json!({"definitions": {"ServiceInput": {"example": {"data": [
            [1, 2, 3, 4]
        ]}}}})
    }

    #[tokio::test]
    async fn the_example_is_preferred_and_the_metadata_fills_in() {
        let one = json!({"name": "m", "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [-1, 4]}
        ]});
        let server = TestServer::start(vec![
            ("/v2/models/m", 200, one.to_string()),
            ("/swagger.json", 200, swagger().to_string()),
        ])
        .await;
        let target = Target::parse(&format!("http://{}/v2/models/m/infer", server.addr)).unwrap();
        let path = V2Path::parse(&target.path).unwrap();
        let made = fetch(&target, path, BodyFormat::Json, None).await.unwrap();
        assert_eq!(made.source, "/swagger.json example");
        let doc: Value = serde_json::from_slice(&made.encoded.body).unwrap();
        assert_eq!(doc["inputs"][0]["data"], json!([1.0, 2.0, 3.0, 4.0]));
        // --rows: the pattern, even with an example.
        let made = fetch(&target, path, BodyFormat::Binary, Some(5))
            .await
            .unwrap();
        assert_eq!(made.source, "model metadata, 5 rows");
        let header_length = made.encoded.header_length.unwrap();
        assert_eq!(made.encoded.body.len() - header_length, 5 * 4 * 4);

        // A server without /swagger.json (Triton): the pattern, with why.
        let server = TestServer::start(vec![("/v2/models/m", 200, one.to_string())]).await;
        let target = Target::parse(&format!("http://{}/v2/models/m/infer", server.addr)).unwrap();
        let path = V2Path::parse(&target.path).unwrap();
        let made = fetch(&target, path, BodyFormat::Json, None).await.unwrap();
        assert_eq!(
            made.source,
            "model metadata, 1 row; GET /swagger.json answered 404"
        );
        let doc: Value = serde_json::from_slice(&made.encoded.body).unwrap();
        assert_eq!(doc["inputs"][0]["shape"], json!([1, 4]));

        // No metadata: no body.
        let target = Target::parse(&format!("http://{}/v2/models/n/infer", server.addr)).unwrap();
        let path = V2Path::parse(&target.path).unwrap();
        let error = fetch(&target, path, BodyFormat::Json, None)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "GET /v2/models/n answered 404; give --body FILE"
        );
    }
}
