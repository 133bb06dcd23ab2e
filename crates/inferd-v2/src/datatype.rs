//! The protocol's tensor datatypes (`FP32`, `INT64`, `BYTES`, ...), their
//! sizes, and how they map to inferd's element types ([`DType`]) and to the
//! `TYPE_*` names of Triton's model configuration.
//!
//! The protocol names fourteen datatypes; inferd's tensors carry eleven of
//! them. FP16, BF16 and BYTES have no [`DType`] (inferd-tensor stores no
//! 16-bit floats and no strings, and models with such inputs are refused at
//! load), so a request that sends them is refused with
//! [`crate::V2Error::UnsupportedDatatype`] rather than converted.

use std::fmt;

use inferd_tensor::DType;

/// A datatype of the Open Inference Protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Datatype {
    Bool,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Int8,
    Int16,
    Int32,
    Int64,
    Fp16,
    Fp32,
    Fp64,
    Bf16,
    Bytes,
}

impl Datatype {
    /// Every datatype the protocol names.
    pub const ALL: [Datatype; 14] = [
        Datatype::Bool,
        Datatype::Uint8,
        Datatype::Uint16,
        Datatype::Uint32,
        Datatype::Uint64,
        Datatype::Int8,
        Datatype::Int16,
        Datatype::Int32,
        Datatype::Int64,
        Datatype::Fp16,
        Datatype::Fp32,
        Datatype::Fp64,
        Datatype::Bf16,
        Datatype::Bytes,
    ];

    /// The datatype a request names. Exact and upper case, as the
    /// specification writes them and every client sends them.
    pub fn parse(text: &str) -> Option<Datatype> {
        Datatype::ALL.into_iter().find(|d| d.as_str() == text)
    }

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Datatype::Bool => "BOOL",
            Datatype::Uint8 => "UINT8",
            Datatype::Uint16 => "UINT16",
            Datatype::Uint32 => "UINT32",
            Datatype::Uint64 => "UINT64",
            Datatype::Int8 => "INT8",
            Datatype::Int16 => "INT16",
            Datatype::Int32 => "INT32",
            Datatype::Int64 => "INT64",
            Datatype::Fp16 => "FP16",
            Datatype::Fp32 => "FP32",
            Datatype::Fp64 => "FP64",
            Datatype::Bf16 => "BF16",
            Datatype::Bytes => "BYTES",
        }
    }

    /// Bytes per element in a binary buffer; `None` for BYTES, whose
    /// elements each carry their own length.
    pub fn element_size(self) -> Option<usize> {
        Some(match self {
            Datatype::Bool | Datatype::Uint8 | Datatype::Int8 => 1,
            Datatype::Uint16 | Datatype::Int16 | Datatype::Fp16 | Datatype::Bf16 => 2,
            Datatype::Uint32 | Datatype::Int32 | Datatype::Fp32 => 4,
            Datatype::Uint64 | Datatype::Int64 | Datatype::Fp64 => 8,
            Datatype::Bytes => return None,
        })
    }

    /// inferd's element type for this datatype; `None` when inferd's
    /// tensors cannot carry it (FP16, BF16, BYTES).
    pub fn dtype(self) -> Option<DType> {
        Some(match self {
            Datatype::Bool => DType::Bool,
            Datatype::Uint8 => DType::U8,
            Datatype::Uint16 => DType::U16,
            Datatype::Uint32 => DType::U32,
            Datatype::Uint64 => DType::U64,
            Datatype::Int8 => DType::I8,
            Datatype::Int16 => DType::I16,
            Datatype::Int32 => DType::I32,
            Datatype::Int64 => DType::I64,
            Datatype::Fp32 => DType::F32,
            Datatype::Fp64 => DType::F64,
            Datatype::Fp16 | Datatype::Bf16 | Datatype::Bytes => return None,
        })
    }

    /// The datatype of an inferd element type (every [`DType`] has one).
    pub fn of(dtype: DType) -> Datatype {
        match dtype {
            DType::Bool => Datatype::Bool,
            DType::U8 => Datatype::Uint8,
            DType::U16 => Datatype::Uint16,
            DType::U32 => Datatype::Uint32,
            DType::U64 => Datatype::Uint64,
            DType::I8 => Datatype::Int8,
            DType::I16 => Datatype::Int16,
            DType::I32 => Datatype::Int32,
            DType::I64 => Datatype::Int64,
            DType::F32 => Datatype::Fp32,
            DType::F64 => Datatype::Fp64,
        }
    }

    /// The name Triton's model configuration uses (`data_type`). BYTES is
    /// `TYPE_STRING` there.
    pub fn config_name(self) -> &'static str {
        match self {
            Datatype::Bool => "TYPE_BOOL",
            Datatype::Uint8 => "TYPE_UINT8",
            Datatype::Uint16 => "TYPE_UINT16",
            Datatype::Uint32 => "TYPE_UINT32",
            Datatype::Uint64 => "TYPE_UINT64",
            Datatype::Int8 => "TYPE_INT8",
            Datatype::Int16 => "TYPE_INT16",
            Datatype::Int32 => "TYPE_INT32",
            Datatype::Int64 => "TYPE_INT64",
            Datatype::Fp16 => "TYPE_FP16",
            Datatype::Fp32 => "TYPE_FP32",
            Datatype::Fp64 => "TYPE_FP64",
            Datatype::Bf16 => "TYPE_BF16",
            Datatype::Bytes => "TYPE_STRING",
        }
    }

    /// Why inferd cannot carry this datatype, for the error a client gets;
    /// `None` when it can.
    pub fn unsupported_reason(self) -> Option<&'static str> {
        match self {
            Datatype::Fp16 | Datatype::Bf16 => Some("inferd's tensors hold no 16-bit floats"),
            Datatype::Bytes => Some("inferd's tensors hold no strings"),
            _ => None,
        }
    }
}

impl fmt::Display for Datatype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DTYPES: [DType; 11] = [
        DType::Bool,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::F32,
        DType::F64,
    ];

    #[test]
    fn every_name_parses_back() {
        for datatype in Datatype::ALL {
            assert_eq!(Datatype::parse(datatype.as_str()), Some(datatype));
            assert_eq!(datatype.to_string(), datatype.as_str());
        }
        assert_eq!(Datatype::parse("fp32"), None);
        assert_eq!(Datatype::parse("FLOAT32"), None);
        assert_eq!(Datatype::parse(""), None);
    }

    #[test]
    fn every_element_type_maps_both_ways() {
        for dtype in DTYPES {
            assert_eq!(Datatype::of(dtype).dtype(), Some(dtype));
        }
        let carried = Datatype::ALL.iter().filter(|d| d.dtype().is_some()).count();
        assert_eq!(carried, DTYPES.len());
        for datatype in [Datatype::Fp16, Datatype::Bf16, Datatype::Bytes] {
            assert_eq!(datatype.dtype(), None);
            assert!(datatype.unsupported_reason().is_some());
        }
        assert_eq!(Datatype::of(DType::F32).as_str(), "FP32");
        assert_eq!(Datatype::of(DType::Bool).as_str(), "BOOL");
        assert_eq!(Datatype::of(DType::U16).as_str(), "UINT16");
    }

    #[test]
    fn sizes_follow_the_specification() {
        let sizes: Vec<Option<usize>> = Datatype::ALL.iter().map(|d| d.element_size()).collect();
        assert_eq!(
            sizes,
            [1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 2]
                .into_iter()
                .map(Some)
                .chain([None])
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn config_names_are_tritons() {
        assert_eq!(Datatype::Fp32.config_name(), "TYPE_FP32");
        assert_eq!(Datatype::Int64.config_name(), "TYPE_INT64");
        assert_eq!(Datatype::Bytes.config_name(), "TYPE_STRING");
        for datatype in Datatype::ALL {
            assert!(datatype.config_name().starts_with("TYPE_"));
        }
    }
}
