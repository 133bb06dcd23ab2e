//! What the fuzz targets share: one signature per kind of input the decoder
//! handles (every element type, fixed and free dimensions, undeclared
//! shapes, several inputs), each as a model's contract, and the check that
//! a decoded tensor agrees with its signature.
#![forbid(unsafe_code)]

use inferd_schema::{ModelSchema, SchemaError};
use inferd_tensor::{DType, Dim, Signature, Tensor, TensorSpec};

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
