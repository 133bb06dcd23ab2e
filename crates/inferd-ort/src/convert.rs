//! Our tensors to ONNX Runtime values and back. Inputs move their `Vec` into
//! the value (no element copy on our side); outputs are copied out, as the
//! session owns its output buffers.

use inferd_tensor::{DType, Tensor, TensorData, for_each_data};
use ort::value::{DynValue, Tensor as OrtTensor, Value};

/// Moves `tensor`'s storage into an ONNX Runtime value.
pub fn to_value(tensor: Tensor) -> Result<DynValue, String> {
    let (shape, data) = tensor.into_parts();
    for_each_data!(data, v => {
        OrtTensor::from_array((shape, v))
            .map(Value::into_dyn)
            .map_err(|e| e.to_string())
    })
}

/// Copies an output value into our tensor, checking it has the element type
/// the model's signature declares.
pub fn from_value(value: &DynValue, dtype: DType, name: &str) -> Result<Tensor, String> {
    fn copy<T: ort::value::PrimitiveTensorElementType + Copy>(
        value: &DynValue,
        name: &str,
    ) -> Result<(Vec<usize>, Vec<T>), String> {
        let (shape, data) = value
            .try_extract_tensor::<T>()
            .map_err(|e| format!("output '{name}': {e}"))?;
        let shape = shape
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| format!("output '{name}' has dimension {d}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((shape, data.to_vec()))
    }
    let (shape, data) = match dtype {
        DType::F32 => copy(value, name).map(|(s, v)| (s, TensorData::F32(v)))?,
        DType::F64 => copy(value, name).map(|(s, v)| (s, TensorData::F64(v)))?,
        DType::I8 => copy(value, name).map(|(s, v)| (s, TensorData::I8(v)))?,
        DType::I16 => copy(value, name).map(|(s, v)| (s, TensorData::I16(v)))?,
        DType::I32 => copy(value, name).map(|(s, v)| (s, TensorData::I32(v)))?,
        DType::I64 => copy(value, name).map(|(s, v)| (s, TensorData::I64(v)))?,
        DType::U8 => copy(value, name).map(|(s, v)| (s, TensorData::U8(v)))?,
        DType::U16 => copy(value, name).map(|(s, v)| (s, TensorData::U16(v)))?,
        DType::U32 => copy(value, name).map(|(s, v)| (s, TensorData::U32(v)))?,
        DType::U64 => copy(value, name).map(|(s, v)| (s, TensorData::U64(v)))?,
        DType::Bool => copy(value, name).map(|(s, v)| (s, TensorData::Bool(v)))?,
    };
    Tensor::new(shape, data).map_err(|e| format!("output '{name}': {e}"))
}
