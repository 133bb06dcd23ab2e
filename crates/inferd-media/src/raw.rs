//! Raw little-endian elements as an input: `application/octet-stream` of
//! the input's element type, its shape the signature's with a free first
//! dimension taken from the length; and the same element reading for a
//! `.npy` array's data.

use inferd_tensor::{DType, Dim, Tensor, TensorData, TensorSpec};

use crate::error::{DeclarationError, MediaError};
use crate::npy::{self, NpyDType};

/// Bytes per element of `dtype`.
pub(crate) fn element_size(dtype: DType) -> usize {
    match dtype {
        DType::Bool | DType::I8 | DType::U8 => 1,
        DType::I16 | DType::U16 => 2,
        DType::I32 | DType::U32 | DType::F32 => 4,
        DType::I64 | DType::U64 | DType::F64 => 8,
    }
}

/// An input read from raw bytes: the row's shape and size, fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct RawInput {
    dtype: DType,
    /// The shape after the first dimension.
    row_shape: Vec<usize>,
    /// Whether the first dimension is free (else `first` rows exactly).
    first: Option<usize>,
}

impl RawInput {
    /// Raw bytes carry no shape, so the signature must give every
    /// dimension but the first.
    pub(crate) fn new(spec: &TensorSpec) -> Result<RawInput, DeclarationError> {
        let Some(dims) = spec.shape.as_deref().filter(|d| !d.is_empty()) else {
            return Err(DeclarationError::new(
                "decoder",
                format!(
                    "raw bytes carry no shape, and input '{}' declares {}; raw needs a shape whose dimensions after the first are fixed",
                    spec.name,
                    spec.shape_text()
                ),
            ));
        };
        let mut row_shape = Vec::with_capacity(dims.len() - 1);
        for (at, dim) in dims.iter().enumerate().skip(1) {
            match dim {
                Dim::Fixed(n) => row_shape.push(*n),
                Dim::Free(_) => {
                    return Err(DeclarationError::new(
                        "decoder",
                        format!(
                            "raw bytes carry no shape, and dimension {at} of input '{}' {} is free; use npy, whose header gives the shape",
                            spec.name,
                            spec.shape_text()
                        ),
                    ));
                }
            }
        }
        let first = match dims[0] {
            Dim::Fixed(n) => Some(n),
            Dim::Free(_) => None,
        };
        Ok(RawInput {
            dtype: spec.dtype,
            row_shape,
            first,
        })
    }

    /// The tensor `bytes` hold.
    pub(crate) fn decode(&self, bytes: &[u8]) -> Result<Tensor, MediaError> {
        let size = element_size(self.dtype);
        if !bytes.len().is_multiple_of(size) {
            return Err(MediaError::bad_request(format!(
                "{} bytes is not a whole number of {size}-byte {} elements",
                bytes.len(),
                self.dtype.name()
            )));
        }
        let elements = bytes.len() / size;
        let row: usize = self.row_shape.iter().product();
        let rows = match self.first {
            Some(n) if n * row == elements => n,
            None if row > 0 && elements.is_multiple_of(row) && elements > 0 => elements / row,
            _ => {
                let expected = match self.first {
                    Some(n) => format!("{} bytes ({n} rows)", n * row * size),
                    None => format!("a positive multiple of {} bytes (one row)", row * size),
                };
                return Err(MediaError::bad_request(format!(
                    "{} bytes of {} do not make whole rows of shape [{}]: expected {expected}",
                    bytes.len(),
                    self.dtype.name(),
                    self.row_shape
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        };
        let data = elements_from_le(self.dtype, bytes)?;
        let mut shape = Vec::with_capacity(self.row_shape.len() + 1);
        shape.push(rows);
        shape.extend_from_slice(&self.row_shape);
        Tensor::new(shape, data).map_err(|e| MediaError::bad_request(e.to_string()))
    }
}

/// A `.npy` body as the input `spec`: the header checked against the body's
/// length (a header that lies is refused), then its element type and shape
/// against the input's.
pub(crate) fn npy_tensor(body: &[u8], spec: &TensorSpec) -> Result<Tensor, MediaError> {
    let mut cursor = std::io::Cursor::new(body);
    let header =
        npy::read_header(&mut cursor).map_err(|e| MediaError::bad_request(e.to_string()))?;
    npy::check_length(&header, body.len() as u64)
        .map_err(|e| MediaError::bad_request(e.to_string()))?;
    if header.rows() == 0 {
        // As raw bytes: a request of no rows has nothing to score.
        return Err(MediaError::bad_request(format!(
            "the array's shape is {}: it has no rows",
            inferd_tensor::signature::format_dims(&header.shape)
        )));
    }
    let dtype = npy_dtype(header.dtype);
    if dtype != spec.dtype {
        return Err(MediaError::bad_request(format!(
            "the array holds {} ('{}'), and input '{}' takes {}; convert it with .astype(numpy.{})",
            dtype.name(),
            header.dtype.descr(),
            spec.name,
            spec.dtype.name(),
            spec.dtype.name()
        )));
    }
    if let Some(dims) = &spec.shape {
        let fits = dims.len() == header.shape.len()
            && dims.iter().zip(&header.shape).all(|(d, &n)| d.accepts(n));
        if !fits {
            return Err(MediaError::bad_request(format!(
                "the array's shape is {}, and input '{}' takes {}",
                inferd_tensor::signature::format_dims(&header.shape),
                spec.name,
                spec.shape_text()
            )));
        }
    }
    let start = usize::try_from(header.data_offset).unwrap_or(usize::MAX);
    let data = body.get(start..).unwrap_or_default();
    let data = elements_from_le(dtype, data)?;
    Tensor::new(header.shape, data).map_err(|e| MediaError::bad_request(e.to_string()))
}

fn npy_dtype(dtype: NpyDType) -> DType {
    match dtype {
        NpyDType::Bool => DType::Bool,
        NpyDType::I8 => DType::I8,
        NpyDType::I16 => DType::I16,
        NpyDType::I32 => DType::I32,
        NpyDType::I64 => DType::I64,
        NpyDType::U8 => DType::U8,
        NpyDType::U16 => DType::U16,
        NpyDType::U32 => DType::U32,
        NpyDType::U64 => DType::U64,
        NpyDType::F32 => DType::F32,
        NpyDType::F64 => DType::F64,
    }
}

/// Little-endian elements of `dtype` (whole ones: the caller checked the
/// length). A bool byte must be 0 or 1, as NumPy writes them.
fn elements_from_le(dtype: DType, bytes: &[u8]) -> Result<TensorData, MediaError> {
    macro_rules! read {
        ($variant:ident, $t:ty) => {
            TensorData::$variant(
                bytes
                    .chunks_exact(size_of::<$t>())
                    .map(|b| {
                        <$t>::from_le_bytes(
                            b.try_into().expect("chunks_exact gives whole elements"),
                        )
                    })
                    .collect(),
            )
        };
    }
    Ok(match dtype {
        DType::F32 => read!(F32, f32),
        DType::F64 => read!(F64, f64),
        DType::I8 => read!(I8, i8),
        DType::I16 => read!(I16, i16),
        DType::I32 => read!(I32, i32),
        DType::I64 => read!(I64, i64),
        DType::U8 => TensorData::U8(bytes.to_vec()),
        DType::U16 => read!(U16, u16),
        DType::U32 => read!(U32, u32),
        DType::U64 => read!(U64, u64),
        DType::Bool => {
            if let Some(at) = bytes.iter().position(|&b| b > 1) {
                return Err(MediaError::bad_request(format!(
                    "bool element {at} is byte {}; a bool is 0 or 1",
                    bytes[at]
                )));
            }
            TensorData::Bool(bytes.iter().map(|&b| b == 1).collect())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dtype: DType, dims: Vec<Dim>) -> TensorSpec {
        TensorSpec {
            name: "x".into(),
            dtype,
            shape: Some(dims),
        }
    }

    #[test]
    fn a_free_first_dimension_is_taken_from_the_length() {
        let raw = RawInput::new(&spec(DType::F32, vec![Dim::Free(None), Dim::Fixed(2)])).unwrap();
        let bytes: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let tensor = raw.decode(&bytes).unwrap();
        assert_eq!(tensor.shape(), &[2, 2]);
        assert_eq!(tensor.data(), &TensorData::F32(vec![1.0, 2.0, 3.0, 4.0]));
    }

    #[test]
    fn lengths_that_do_not_fit_are_refused_with_the_sizes() {
        let raw = RawInput::new(&spec(DType::F32, vec![Dim::Free(None), Dim::Fixed(2)])).unwrap();
        let e = raw.decode(&[0; 6]).unwrap_err();
        assert_eq!(
            e.message,
            "6 bytes is not a whole number of 4-byte float32 elements"
        );
        let e = raw.decode(&[0; 12]).unwrap_err();
        assert!(e.message.contains("positive multiple of 8 bytes"), "{e}");
        assert!(raw.decode(&[]).is_err());
        let fixed = RawInput::new(&spec(DType::U8, vec![Dim::Fixed(1), Dim::Fixed(3)])).unwrap();
        assert!(fixed.decode(&[1, 2, 3]).is_ok());
        assert!(
            fixed
                .decode(&[1, 2, 3, 4, 5, 6])
                .unwrap_err()
                .message
                .contains("expected 3 bytes (1 rows)")
        );
    }

    #[test]
    fn a_shape_raw_bytes_cannot_give_is_refused_at_start() {
        let e =
            RawInput::new(&spec(DType::F32, vec![Dim::Free(None), Dim::Free(None)])).unwrap_err();
        assert!(e.reason.contains("dimension 1"), "{e}");
        let none = TensorSpec {
            name: "x".into(),
            dtype: DType::F32,
            shape: None,
        };
        assert!(RawInput::new(&none).is_err());
    }

    #[test]
    fn bools_are_zero_or_one() {
        let raw = RawInput::new(&spec(DType::Bool, vec![Dim::Free(None)])).unwrap();
        assert_eq!(
            raw.decode(&[0, 1]).unwrap().data(),
            &TensorData::Bool(vec![false, true])
        );
        assert!(raw.decode(&[0, 2]).unwrap_err().message.contains("byte 2"));
    }

    fn npy_bytes(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn npy_type_and_shape_are_checked_against_the_input() {
        let input = spec(DType::F32, vec![Dim::Free(None), Dim::Fixed(2)]);
        let data: Vec<u8> = [1.5f32, 2.5].iter().flat_map(|v| v.to_le_bytes()).collect();
        let tensor = npy_tensor(&npy_bytes("<f4", "(1, 2)", &data), &input).unwrap();
        assert_eq!(tensor.shape(), &[1, 2]);
        let e = npy_tensor(&npy_bytes("<f8", "(1, 1)", &data), &input).unwrap_err();
        assert!(e.message.contains("holds float64"), "{e}");
        let e = npy_tensor(&npy_bytes("<f4", "(2, 1)", &data), &input).unwrap_err();
        assert!(e.message.contains("shape is [2, 1]"), "{e}");
        let e = npy_tensor(&npy_bytes("<f4", "(0, 2)", &[]), &input).unwrap_err();
        assert_eq!(e.message, "the array's shape is [0, 2]: it has no rows");
        // A header that promises more than the body holds.
        let e = npy_tensor(&npy_bytes("<f4", "(4, 2)", &data), &input).unwrap_err();
        assert!(!e.message.is_empty());
    }
}
