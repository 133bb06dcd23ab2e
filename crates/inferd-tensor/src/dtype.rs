//! Element types a model input or output may have.

use std::fmt;

/// The element types inferd moves between JSON and engines.
///
/// The set is the ONNX numeric types that JSON can carry without loss of
/// meaning; models with other types are refused at load time with a message
/// naming the type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DType {
    #[serde(rename = "float32")]
    F32,
    #[serde(rename = "float64")]
    F64,
    #[serde(rename = "int8")]
    I8,
    #[serde(rename = "int16")]
    I16,
    #[serde(rename = "int32")]
    I32,
    #[serde(rename = "int64")]
    I64,
    #[serde(rename = "uint8")]
    U8,
    #[serde(rename = "uint16")]
    U16,
    #[serde(rename = "uint32")]
    U32,
    #[serde(rename = "uint64")]
    U64,
    #[serde(rename = "bool")]
    Bool,
}

impl DType {
    /// The ONNX name of the type, as users see it in model viewers and errors.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::Bool => "bool",
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// The inclusive range of an integer type, as `i128` so every type fits.
    pub fn integer_range(self) -> Option<(i128, i128)> {
        Some(match self {
            DType::I8 => (i8::MIN.into(), i8::MAX.into()),
            DType::I16 => (i16::MIN.into(), i16::MAX.into()),
            DType::I32 => (i32::MIN.into(), i32::MAX.into()),
            DType::I64 => (i64::MIN.into(), i64::MAX.into()),
            DType::U8 => (0, u8::MAX.into()),
            DType::U16 => (0, u16::MAX.into()),
            DType::U32 => (0, u32::MAX.into()),
            DType::U64 => (0, u64::MAX.into()),
            DType::F32 | DType::F64 | DType::Bool => return None,
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_onnx() {
        assert_eq!(DType::F32.to_string(), "float32");
        assert_eq!(DType::I64.name(), "int64");
    }

    #[test]
    fn integer_ranges_cover_the_type() {
        assert_eq!(DType::U8.integer_range(), Some((0, 255)));
        assert_eq!(
            DType::I64.integer_range(),
            Some((i64::MIN as i128, i64::MAX as i128))
        );
        assert_eq!(DType::F32.integer_range(), None);
    }
}
