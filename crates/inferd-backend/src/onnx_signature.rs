//! Reads a model's signature (input and output names, element types, shapes)
//! from the ONNX graph itself, as the file declares it: a free dimension
//! stays free, a named one (`N`) keeps its name.

use std::collections::HashSet;
use std::path::Path;

use inferd_tensor::{DType, Dim, Signature, TensorSpec};
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::pb::{GraphProto, ModelProto, ValueInfoProto};
use tract_onnx::prelude::Framework;

use crate::BackendError;

/// Reads the ONNX file at `path` (protobuf only: nothing is optimised).
pub fn read_model_proto(path: &Path) -> Result<ModelProto, BackendError> {
    tract_onnx::onnx()
        .proto_model_for_path(path)
        .map_err(|e| BackendError::Load {
            path: path.to_owned(),
            reason: format!("not a readable ONNX file: {e}"),
        })
}

/// The signature of the model file at `path`, for engines that read the
/// file themselves but must report the same signature as every other engine.
pub fn signature_of_file(path: &Path) -> Result<Signature, BackendError> {
    let proto = read_model_proto(path)?;
    let graph = proto.graph.as_ref().ok_or_else(|| BackendError::Load {
        path: path.to_owned(),
        reason: "the file has no graph".to_owned(),
    })?;
    signature_of(graph, path)
}

/// The signature of `graph`. Graph inputs that are also initializers (older
/// exporters list weights as inputs) are weights, not inputs.
pub fn signature_of(graph: &GraphProto, path: &Path) -> Result<Signature, BackendError> {
    let weights: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs = graph
        .input
        .iter()
        .filter(|v| !weights.contains(v.name.as_str()))
        .map(|v| spec_of(v, "input", path))
        .collect::<Result<_, _>>()?;
    let outputs = graph
        .output
        .iter()
        .map(|v| spec_of(v, "output", path))
        .collect::<Result<_, _>>()?;
    Ok(Signature { inputs, outputs })
}

fn spec_of(
    value: &ValueInfoProto,
    what: &'static str,
    path: &Path,
) -> Result<TensorSpec, BackendError> {
    let unsupported = |onnx_type: String| BackendError::UnsupportedType {
        path: path.to_owned(),
        what,
        name: value.name.clone(),
        onnx_type,
    };
    let tensor = match value.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TypeValue::TensorType(tensor)) => tensor,
        None => return Err(unsupported("a non-tensor type".to_owned())),
    };
    let data_type = DataType::try_from(tensor.elem_type)
        .map_err(|_| unsupported(format!("code {}", tensor.elem_type)))?;
    let dtype = dtype_of(data_type).ok_or_else(|| unsupported(format!("{data_type:?}")))?;
    let shape = tensor.shape.as_ref().map(|shape| {
        shape
            .dim
            .iter()
            .map(|d| match &d.value {
                Some(DimValue::DimValue(n)) if *n >= 0 => Dim::Fixed(*n as usize),
                Some(DimValue::DimParam(name)) if !name.is_empty() => Dim::Free(Some(name.clone())),
                _ => Dim::Free(None),
            })
            .collect()
    });
    Ok(TensorSpec {
        name: value.name.clone(),
        dtype,
        shape,
    })
}

fn dtype_of(data_type: DataType) -> Option<DType> {
    Some(match data_type {
        DataType::Float => DType::F32,
        DataType::Double => DType::F64,
        DataType::Int8 => DType::I8,
        DataType::Int16 => DType::I16,
        DataType::Int32 => DType::I32,
        DataType::Int64 => DType::I64,
        DataType::Uint8 => DType::U8,
        DataType::Uint16 => DType::U16,
        DataType::Uint32 => DType::U32,
        DataType::Uint64 => DType::U64,
        DataType::Bool => DType::Bool,
        _ => return None,
    })
}
