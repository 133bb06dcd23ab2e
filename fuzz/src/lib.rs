//! What the fuzz targets share: one signature per kind of input the decoder
//! handles (every element type, fixed and free dimensions, undeclared
//! shapes, several inputs), each as a model's contract (`/score`) and as a
//! v2 model, and the checks that a decoded request agrees with its
//! signature and, for v2, survives a round trip to the bit. The binary
//! bodies of inferd-media (images, `.npy`, raw, multipart forms) have
//! theirs in [`media`].
#![forbid(unsafe_code)]

pub mod media;

use inferd_schema::{ModelSchema, SchemaError};
use inferd_tensor::{DType, Dim, Signature, Tensor, TensorSpec};
use inferd_v2::{V2Error, V2Model, encode_request};

const DTYPES: [DType; 11] = [
    DType::F32,
    DType::F64,
    DType::I8,
    DType::I16,
    DType::I32,
    DType::I64,
    DType::U8,
    DType::U16,
    DType::U32,
    DType::U64,
    DType::Bool,
];

fn spec(name: &str, dtype: DType, shape: Option<Vec<Dim>>) -> TensorSpec {
    TensorSpec {
        name: name.to_owned(),
        dtype,
        shape,
    }
}

fn n() -> Dim {
    Dim::Free(Some("N".to_owned()))
}

/// The bundled models' inputs and the other shapes the decoder supports.
pub fn signatures() -> Vec<Vec<TensorSpec>> {
    let mut all = vec![
        vec![spec("input", DType::F32, Some(vec![n(), Dim::Fixed(10)]))],
        vec![spec("input", DType::F32, Some(vec![n(), Dim::Fixed(64)]))],
        vec![spec("input", DType::F32, Some(vec![n(), Dim::Fixed(784)]))],
        vec![spec(
            "input",
            DType::F32,
            Some(vec![n(), Dim::Fixed(1), Dim::Fixed(28), Dim::Fixed(28)]),
        )],
        vec![spec("x", DType::I64, Some(vec![n()]))],
        vec![spec("scalar", DType::F32, Some(vec![]))],
        vec![spec(
            "free",
            DType::F64,
            Some(vec![Dim::Free(None), Dim::Free(None)]),
        )],
        vec![
            spec("a", DType::F32, Some(vec![n(), Dim::Fixed(2)])),
            spec("b", DType::I32, Some(vec![n()])),
        ],
    ];
    for dtype in DTYPES {
        all.push(vec![spec("any", dtype, None)]);
        all.push(vec![spec("rows", dtype, Some(vec![n(), Dim::Fixed(3)]))]);
    }
    all
}

/// One contract per signature of [`signatures`], as a model with those
/// inputs is served without an inference config.
pub fn schemas() -> Vec<(Vec<TensorSpec>, ModelSchema)> {
    signatures()
        .into_iter()
        .map(|inputs| {
            let schema = ModelSchema::from_signature(Signature {
                inputs: inputs.clone(),
                outputs: Vec::new(),
            });
            (inputs, schema)
        })
        .collect()
}

/// A decoded request must give one tensor per input, each of the input's
/// type, with as many elements as its shape says.
pub fn check_decoded(inputs: &[TensorSpec], decoded: Result<Vec<Tensor>, SchemaError>) {
    if let Ok(tensors) = decoded {
        assert_eq!(tensors.len(), inputs.len());
        for (tensor, spec) in tensors.iter().zip(inputs) {
            assert_eq!(tensor.dtype(), spec.dtype);
            let elements: usize = tensor.shape().iter().product();
            assert_eq!(elements, tensor.data().len());
        }
    }
}

/// One v2 model per signature of [`signatures`], its outputs the same
/// tensors as its inputs (so a decoded request can be encoded back as a
/// response).
pub fn v2_models() -> Vec<(Vec<TensorSpec>, V2Model)> {
    signatures()
        .into_iter()
        .map(|inputs| {
            let signature = Signature {
                inputs: inputs.clone(),
                outputs: inputs.clone(),
            };
            (
                inputs,
                V2Model::new("m", "1", "onnxruntime_onnx", signature),
            )
        })
        .collect()
}

/// A v2 request decoded for `model` must give one tensor per input of the
/// input's type and count; encoded again (binary) it must decode to the
/// same bits, and so must its JSON form when every value is finite; its
/// response must encode.
pub fn check_v2(
    inputs: &[TensorSpec],
    model: &V2Model,
    decoded: Result<inferd_v2::InferRequest, V2Error>,
) {
    let Ok(request) = decoded else {
        return;
    };
    check_decoded(inputs, Ok::<_, SchemaError>(request.inputs.clone()));
    let named: Vec<(&str, &Tensor)> = inputs
        .iter()
        .map(|spec| spec.name.as_str())
        .zip(&request.inputs)
        .collect();
    let binary = encode_request(&named, true, true);
    let again = model
        .decode_request(&binary.body, binary.header_length)
        .expect("a request encoded from decoded tensors decodes");
    let again_named: Vec<(&str, &Tensor)> =
        named.iter().map(|(n, _)| *n).zip(&again.inputs).collect();
    assert_eq!(
        encode_request(&again_named, true, true),
        binary,
        "binary round trip"
    );
    if request.inputs.iter().all(finite) {
        let json = encode_request(&named, false, false);
        let from_json = model
            .decode_request(&json.body, json.header_length)
            .expect("a JSON request encoded from decoded tensors decodes");
        let json_named: Vec<(&str, &Tensor)> = named
            .iter()
            .map(|(n, _)| *n)
            .zip(&from_json.inputs)
            .collect();
        assert_eq!(
            encode_request(&json_named, true, true),
            binary,
            "JSON round trip"
        );
    }
    model
        .encode_response(&request.outputs, request.id.as_deref(), &request.inputs)
        .expect("the outputs are the model's");
}

/// Whether JSON can carry every value (it has no NaN or infinity).
fn finite(tensor: &Tensor) -> bool {
    match tensor.data() {
        inferd_tensor::TensorData::F32(v) => v.iter().all(|x| x.is_finite()),
        inferd_tensor::TensorData::F64(v) => v.iter().all(|x| x.is_finite()),
        _ => true,
    }
}
