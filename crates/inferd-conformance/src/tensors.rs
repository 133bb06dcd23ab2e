//! Tensors from the suite's files (raw little-endian arrays, JSON nested
//! lists) and the comparison of an engine's output with the expected one.

use std::path::Path;

use inferd_tensor::{DType, Tensor, TensorData};

/// Reads `shape`'s elements of `dtype` from a raw little-endian file.
// One macro body for every width, the one-byte types included.
#[allow(clippy::modulo_one)]
pub fn read_raw(path: &Path, dtype: DType, shape: &[usize]) -> anyhow::Result<Tensor> {
    let bytes = std::fs::read(path)?;
    macro_rules! decode {
        ($t:ty, $variant:ident) => {{
            const SIZE: usize = std::mem::size_of::<$t>();
            anyhow::ensure!(
                bytes.len() % SIZE == 0,
                "{}: {} bytes is not a whole number of {}",
                path.display(),
                bytes.len(),
                dtype.name()
            );
            TensorData::$variant(
                bytes
                    .chunks_exact(SIZE)
                    .map(|c| <$t>::from_le_bytes(c.try_into().expect("chunk of SIZE")))
                    .collect(),
            )
        }};
    }
    let data = match dtype {
        DType::F32 => decode!(f32, F32),
        DType::F64 => decode!(f64, F64),
        DType::I8 => decode!(i8, I8),
        DType::I16 => decode!(i16, I16),
        DType::I32 => decode!(i32, I32),
        DType::I64 => decode!(i64, I64),
        DType::U8 => decode!(u8, U8),
        DType::U16 => decode!(u16, U16),
        DType::U32 => decode!(u32, U32),
        DType::U64 => decode!(u64, U64),
        DType::Bool => TensorData::Bool(bytes.iter().map(|&b| b != 0).collect()),
    };
    Ok(Tensor::new(shape.to_vec(), data)?)
}

/// A tensor from nested JSON lists of numbers, cast to `dtype`.
pub fn from_json(value: &serde_json::Value, dtype: DType) -> anyhow::Result<Tensor> {
    let mut shape = Vec::new();
    let mut cursor = value;
    while let serde_json::Value::Array(items) = cursor {
        shape.push(items.len());
        match items.first() {
            Some(first) => cursor = first,
            None => break,
        }
    }
    let mut numbers = Vec::new();
    flatten(value, &mut numbers)?;
    let data = match dtype {
        DType::F32 => TensorData::F32(numbers.iter().map(|&x| x as f32).collect()),
        DType::F64 => TensorData::F64(numbers),
        DType::I8 => TensorData::I8(numbers.iter().map(|&x| x as i8).collect()),
        DType::I16 => TensorData::I16(numbers.iter().map(|&x| x as i16).collect()),
        DType::I32 => TensorData::I32(numbers.iter().map(|&x| x as i32).collect()),
        DType::I64 => TensorData::I64(numbers.iter().map(|&x| x as i64).collect()),
        DType::U8 => TensorData::U8(numbers.iter().map(|&x| x as u8).collect()),
        DType::U16 => TensorData::U16(numbers.iter().map(|&x| x as u16).collect()),
        DType::U32 => TensorData::U32(numbers.iter().map(|&x| x as u32).collect()),
        DType::U64 => TensorData::U64(numbers.iter().map(|&x| x as u64).collect()),
        DType::Bool => TensorData::Bool(numbers.iter().map(|&x| x != 0.0).collect()),
    };
    Ok(Tensor::new(shape, data)?)
}

fn flatten(value: &serde_json::Value, out: &mut Vec<f64>) -> anyhow::Result<()> {
    match value {
        serde_json::Value::Array(items) => items.iter().try_for_each(|v| flatten(v, out)),
        serde_json::Value::Number(n) => {
            out.push(
                n.as_f64()
                    .ok_or_else(|| anyhow::anyhow!("{n} is not a number"))?,
            );
            Ok(())
        }
        serde_json::Value::Bool(b) => {
            out.push(f64::from(u8::from(*b)));
            Ok(())
        }
        other => anyhow::bail!("{other} is not a number"),
    }
}

/// `Ok` when `actual` has `expected`'s element type and shape and every
/// element is within `atol + rtol * |expected|` (NaN matches NaN, infinities
/// must be equal); otherwise the first difference in words.
pub fn compare(actual: &Tensor, expected: &Tensor, rtol: f64, atol: f64) -> Result<(), String> {
    if actual.dtype() != expected.dtype() {
        return Err(format!(
            "element type {} instead of {}",
            actual.dtype().name(),
            expected.dtype().name()
        ));
    }
    if actual.shape() != expected.shape() {
        return Err(format!(
            "shape {:?} instead of {:?}",
            actual.shape(),
            expected.shape()
        ));
    }
    let (a, e) = (as_f64(actual), as_f64(expected));
    for (index, (&x, &y)) in a.iter().zip(&e).enumerate() {
        let close = if y.is_nan() {
            x.is_nan()
        } else if y.is_infinite() {
            x == y
        } else {
            (x - y).abs() <= atol + rtol * y.abs()
        };
        if !close {
            return Err(format!("element {index}: {x} instead of {y}"));
        }
    }
    Ok(())
}

/// The elements widened to f64 for comparison. 64-bit integers beyond 2^53
/// lose precision here; the node cases' integer outputs stay far below it.
fn as_f64(tensor: &Tensor) -> Vec<f64> {
    match tensor.data() {
        TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::F64(v) => v.clone(),
        TensorData::I8(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::I16(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
        TensorData::U8(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::U16(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::U32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::U64(v) => v.iter().map(|&x| x as f64).collect(),
        TensorData::Bool(v) => v.iter().map(|&x| f64::from(u8::from(x))).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(shape: Vec<usize>, v: Vec<f32>) -> Tensor {
        Tensor::new(shape, TensorData::F32(v)).unwrap()
    }

    #[test]
    fn tolerance_is_relative_plus_absolute() {
        let e = f32s(vec![2], vec![100.0, f32::NAN]);
        assert!(compare(&f32s(vec![2], vec![100.05, f32::NAN]), &e, 1e-3, 0.0).is_ok());
        let err = compare(&f32s(vec![2], vec![100.2, f32::NAN]), &e, 1e-3, 0.0).unwrap_err();
        assert!(err.starts_with("element 0"), "{err}");
        assert!(compare(&f32s(vec![2], vec![100.0, 1.0]), &e, 1e-3, 0.0).is_err());
    }

    #[test]
    fn shape_and_type_must_match() {
        let e = f32s(vec![2], vec![1.0, 2.0]);
        assert!(compare(&f32s(vec![1, 2], vec![1.0, 2.0]), &e, 0.0, 0.0).is_err());
        let ints = Tensor::new(vec![2], TensorData::I64(vec![1, 2])).unwrap();
        assert!(compare(&ints, &e, 0.0, 0.0).is_err());
    }

    #[test]
    fn json_nesting_gives_the_shape() {
        let t = from_json(&serde_json::json!([[1, 2, 3], [4, 5, 6]]), DType::I64).unwrap();
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.data(), &TensorData::I64(vec![1, 2, 3, 4, 5, 6]));
    }
}
