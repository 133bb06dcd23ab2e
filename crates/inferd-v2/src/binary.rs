//! Raw tensor buffers of the binary tensor extension: little-endian,
//! row-major, no padding, a BOOL one byte (0 or 1).
//!
//! This is the fast way in and out, so each direction is one pass over the
//! elements with no allocation but the destination's: a request's bytes go
//! straight into the tensor's `Vec` (reserved once at its exact length), and
//! a response's elements straight into the body. Fixed-size chunks
//! (`as_chunks`) let the compiler turn both loops into plain copies on a
//! little-endian machine, without `unsafe`.

use inferd_tensor::{DType, TensorData};

/// Why a buffer cannot be read as the elements its datatype says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawError {
    /// The buffer is not a whole number of elements (callers check the size
    /// first, so this is a guard, never expected).
    Length,
    /// A BOOL byte that is neither 0 nor 1, at element `index`.
    NotBool { index: usize, byte: u8 },
}

/// `bytes` as elements of `dtype`.
pub(crate) fn decode_raw(bytes: &[u8], dtype: DType) -> Result<TensorData, RawError> {
    fn read<const N: usize, T>(bytes: &[u8], from: fn([u8; N]) -> T) -> Result<Vec<T>, RawError> {
        let (chunks, rest) = bytes.as_chunks::<N>();
        if !rest.is_empty() {
            return Err(RawError::Length);
        }
        let mut values = Vec::with_capacity(chunks.len());
        values.extend(chunks.iter().map(|chunk| from(*chunk)));
        Ok(values)
    }
    Ok(match dtype {
        DType::F32 => TensorData::F32(read(bytes, f32::from_le_bytes)?),
        DType::F64 => TensorData::F64(read(bytes, f64::from_le_bytes)?),
        DType::I8 => TensorData::I8(read(bytes, i8::from_le_bytes)?),
        DType::I16 => TensorData::I16(read(bytes, i16::from_le_bytes)?),
        DType::I32 => TensorData::I32(read(bytes, i32::from_le_bytes)?),
        DType::I64 => TensorData::I64(read(bytes, i64::from_le_bytes)?),
        DType::U8 => TensorData::U8(bytes.to_vec()),
        DType::U16 => TensorData::U16(read(bytes, u16::from_le_bytes)?),
        DType::U32 => TensorData::U32(read(bytes, u32::from_le_bytes)?),
        DType::U64 => TensorData::U64(read(bytes, u64::from_le_bytes)?),
        DType::Bool => {
            // A byte other than 0 or 1 is refused, not read as true: numpy
            // writes only 0 and 1, so anything else is a framing mistake.
            if let Some(index) = bytes.iter().position(|&b| b > 1) {
                return Err(RawError::NotBool {
                    index,
                    byte: bytes[index],
                });
            }
            TensorData::Bool(bytes.iter().map(|&b| b == 1).collect())
        }
    })
}

/// The size in bytes of `data` as a raw buffer.
pub(crate) fn raw_size(data: &TensorData) -> usize {
    // Every DType's datatype has a fixed size (only BYTES has none).
    let size = crate::Datatype::of(data.dtype())
        .element_size()
        .unwrap_or(0);
    data.len() * size
}

/// Appends `data` to `out` as a raw buffer.
pub(crate) fn encode_raw(out: &mut Vec<u8>, data: &TensorData) {
    fn write<const N: usize, T: Copy>(out: &mut Vec<u8>, values: &[T], to: fn(T) -> [u8; N]) {
        let start = out.len();
        out.resize(start + values.len() * N, 0);
        let (chunks, _) = out[start..].as_chunks_mut::<N>();
        for (chunk, value) in chunks.iter_mut().zip(values) {
            *chunk = to(*value);
        }
    }
    match data {
        TensorData::F32(v) => write(out, v, f32::to_le_bytes),
        TensorData::F64(v) => write(out, v, f64::to_le_bytes),
        TensorData::I8(v) => write(out, v, i8::to_le_bytes),
        TensorData::I16(v) => write(out, v, i16::to_le_bytes),
        TensorData::I32(v) => write(out, v, i32::to_le_bytes),
        TensorData::I64(v) => write(out, v, i64::to_le_bytes),
        TensorData::U8(v) => out.extend_from_slice(v),
        TensorData::U16(v) => write(out, v, u16::to_le_bytes),
        TensorData::U32(v) => write(out, v, u32::to_le_bytes),
        TensorData::U64(v) => write(out, v, u64::to_le_bytes),
        TensorData::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<TensorData> {
        vec![
            TensorData::F32(vec![1.5, -0.0, f32::MAX, f32::NAN, f32::MIN_POSITIVE]),
            TensorData::F64(vec![1.5, -2.25e300, f64::INFINITY]),
            TensorData::I8(vec![i8::MIN, -1, 0, i8::MAX]),
            TensorData::I16(vec![i16::MIN, 2, i16::MAX]),
            TensorData::I32(vec![i32::MIN, 3, i32::MAX]),
            TensorData::I64(vec![i64::MIN, 4, i64::MAX]),
            TensorData::U8(vec![0, 7, 255]),
            TensorData::U16(vec![0, 8, u16::MAX]),
            TensorData::U32(vec![0, 9, u32::MAX]),
            TensorData::U64(vec![0, 10, u64::MAX]),
            TensorData::Bool(vec![true, false, true]),
        ]
    }

    #[test]
    fn every_element_type_round_trips_to_the_bit() {
        for data in samples() {
            let mut out = vec![0xAA];
            encode_raw(&mut out, &data);
            assert_eq!(out.len(), 1 + raw_size(&data), "{:?}", data.dtype());
            let back = decode_raw(&out[1..], data.dtype()).unwrap();
            // Compared as bytes: NaN is not equal to itself.
            let mut again = Vec::new();
            encode_raw(&mut again, &back);
            assert_eq!(again, out[1..], "{:?}", data.dtype());
            assert_eq!(back.dtype(), data.dtype());
        }
    }

    #[test]
    fn buffers_are_little_endian() {
        let mut out = Vec::new();
        encode_raw(&mut out, &TensorData::I32(vec![1, -2]));
        assert_eq!(out, [1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff]);
        out.clear();
        encode_raw(&mut out, &TensorData::F32(vec![1.0]));
        assert_eq!(out, [0, 0, 0x80, 0x3f]);
        assert_eq!(
            decode_raw(&[0, 0, 0x80, 0x3f], DType::F32),
            Ok(TensorData::F32(vec![1.0]))
        );
    }

    #[test]
    fn bools_are_zero_or_one() {
        assert_eq!(
            decode_raw(&[1, 0, 2], DType::Bool),
            Err(RawError::NotBool { index: 2, byte: 2 })
        );
    }

    #[test]
    fn partial_elements_are_refused() {
        assert_eq!(decode_raw(&[0; 7], DType::F64), Err(RawError::Length));
    }
}
