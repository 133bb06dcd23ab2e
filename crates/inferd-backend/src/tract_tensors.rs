//! Our tensors in and out of tract, and one run of a plan on them: what
//! the tract engine and its fixed-size plans (`tract_sizes`) share.

use std::sync::Arc;

use inferd_tensor::{DType, Tensor, TensorData, TensorSpec};
use tract_onnx::prelude::*;

/// An optimised model, ready to run; shared by the sessions on it.
pub(crate) type Plan = Arc<TypedRunnableModel>;

/// Runs `state`'s plan on `inputs`: our tensors in, the outputs back as
/// ours, each cast to its declared type in `outputs`.
pub(crate) fn run_on(
    state: &mut TypedSimpleState,
    inputs: Vec<Tensor>,
    outputs: &[TensorSpec],
) -> TractResult<Vec<Tensor>> {
    let inputs = inputs
        .into_iter()
        .map(to_tract)
        .collect::<TractResult<TVec<TValue>>>()?;
    state
        .run(inputs)?
        .iter()
        .zip(outputs)
        .map(|(value, spec)| from_tract(value, spec.dtype))
        .collect()
}

pub(crate) fn datum_type(dtype: DType) -> DatumType {
    match dtype {
        DType::F32 => f32::datum_type(),
        DType::F64 => f64::datum_type(),
        DType::I8 => i8::datum_type(),
        DType::I16 => i16::datum_type(),
        DType::I32 => i32::datum_type(),
        DType::I64 => i64::datum_type(),
        DType::U8 => u8::datum_type(),
        DType::U16 => u16::datum_type(),
        DType::U32 => u32::datum_type(),
        DType::U64 => u64::datum_type(),
        DType::Bool => bool::datum_type(),
    }
}

/// The elements copied once into a tract tensor's aligned storage (tract
/// copies them either way). Going through an ndarray `ArrayD`, as before,
/// also worked out dynamic strides and layout on every run, which cost
/// more than the copy of a small input.
pub(crate) fn to_tract(tensor: Tensor) -> TractResult<TValue> {
    let (shape, data) = tensor.into_parts();
    let tensor = inferd_tensor::for_each_data!(&data, v => {
        tract_onnx::prelude::Tensor::from_shape(&shape, v)?
    });
    Ok(tensor.into_tvalue())
}

/// Copies a tract output into our tensor, cast to the declared type (tract
/// may compute shapes as `TDim` where the model says int64).
pub(crate) fn from_tract(value: &TValue, dtype: DType) -> TractResult<Tensor> {
    let tensor = value.cast_to_dt(datum_type(dtype))?;
    let shape = tensor.shape().to_vec();
    // A tract tensor's elements are contiguous in order: one slice copy,
    // not an ndarray walk that steps a dynamic index per element.
    fn collect<T: Datum + Copy>(t: &tract_onnx::prelude::Tensor) -> TractResult<Vec<T>> {
        Ok(t.try_as_plain_ram()?.as_slice::<T>()?.to_vec())
    }
    let data = match dtype {
        DType::F32 => TensorData::F32(collect(&tensor)?),
        DType::F64 => TensorData::F64(collect(&tensor)?),
        DType::I8 => TensorData::I8(collect(&tensor)?),
        DType::I16 => TensorData::I16(collect(&tensor)?),
        DType::I32 => TensorData::I32(collect(&tensor)?),
        DType::I64 => TensorData::I64(collect(&tensor)?),
        DType::U8 => TensorData::U8(collect(&tensor)?),
        DType::U16 => TensorData::U16(collect(&tensor)?),
        DType::U32 => TensorData::U32(collect(&tensor)?),
        DType::U64 => TensorData::U64(collect(&tensor)?),
        DType::Bool => TensorData::Bool(collect(&tensor)?),
    };
    Ok(Tensor::new(shape, data)?)
}
