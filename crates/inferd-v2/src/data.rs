//! An input's JSON `data` read straight into the tensor's storage.
//!
//! The header is read first with each `data` kept as its text (its
//! datatype and shape may come after it in the object); this module then
//! reads that text once, element by element, into a `Vec` of the model's
//! element type: no JSON tree, no per-element allocation.
//!
//! The protocol lets `data` be flat or nested as the shape ("natural"
//! form). Both are accepted; anything else is refused, so no reading of
//! the client's intent is guessed at: nesting deeper than the shape,
//! nesting partway (`[[1, 2, 3, 4]]` for shape `[2, 2]`), lists whose
//! lengths are not the shape's, and a flat list of the wrong length.
//! Elements must be of the datatype: numbers in range (whole numbers for
//! integer types; an integral float such as `2.0` is a whole number, as
//! `/score` reads it), `true`/`false` for BOOL.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use inferd_schema::{Number, read_number};
use inferd_tensor::{DType, TensorData};

use crate::json::{clip, shape_text};
use crate::{Datatype, V2Error};

/// What an input's `data` must hold.
pub(crate) struct DataTarget<'s> {
    pub input: &'s str,
    pub datatype: Datatype,
    pub dtype: DType,
    pub shape: &'s [usize],
    /// Elements the shape holds (the product, already checked).
    pub count: usize,
}

/// Reads `raw` (an input's `data`) into storage of the target's type.
pub(crate) fn decode_json_data(
    raw: &RawValue,
    target: &DataTarget<'_>,
) -> Result<TensorData, V2Error> {
    match read_flat(raw.get().as_bytes(), target) {
        Some(data) => Ok(data),
        None => read_general(raw.get(), target),
    }
}

/// Any `data`, flat or nested, through serde_json: every answer and every error.
fn read_general(text: &str, target: &DataTarget<'_>) -> Result<TensorData, V2Error> {
    // Each element takes at least two characters (a digit and a comma), so
    // the text bounds the capacity whatever the shape claims.
    let capacity = target.count.min(text.len() / 2 + 1);
    let mut fill = Fill {
        target,
        data: TensorData::with_capacity(target.dtype, capacity),
        leaf_depth: None,
        error: None,
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let read = Node {
        fill: &mut fill,
        depth: 0,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end());
    if let Some(error) = fill.error {
        return Err(error);
    }
    if let Err(e) = read {
        return Err(V2Error::InvalidJson {
            reason: clip(&format!("input '{}': \"data\": {e}", target.input), 240),
        });
    }
    if fill.data.len() != target.count {
        return Err(fill.count_error(fill.data.len().to_string()));
    }
    Ok(fill.data)
}

/// The fast path: a flat list of plain numbers that all fit, read with
/// `inferd-schema`'s number reader (the value serde_json gives, to the
/// bit) and no serde machinery. Any doubt (nesting, another kind of
/// element, a value that does not fit, a count that is not the shape's)
/// answers `None`, and the general reader below decides and says why. On
/// mlp-784's 784 floats it is what lets v2 JSON keep up with `/score`'s
/// own fast reader (`benches/RESULTS.md`, issue 31).
fn read_flat(text: &[u8], target: &DataTarget<'_>) -> Option<TensorData> {
    let skip = |mut at: usize| {
        while text.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        at
    };
    let mut at = skip(0);
    if text.get(at) != Some(&b'[') {
        return None;
    }
    at = skip(at + 1);
    let mut data = TensorData::with_capacity(target.dtype, target.count.min(text.len() / 2 + 1));
    loop {
        let (number, end) = read_number(text, at)?;
        match (&mut data, number) {
            (TensorData::F32(v), Number::Float(x)) => {
                let y = x as f32;
                if y.is_infinite() {
                    return None;
                }
                v.push(y);
            }
            (TensorData::F64(v), Number::Float(x)) => v.push(x),
            (data, Number::Int(i)) => {
                let scalar = match (i64::try_from(i), u64::try_from(i)) {
                    (Ok(i), _) => Scalar::Int(i),
                    (_, Ok(u)) => Scalar::UInt(u),
                    _ => return None,
                };
                push(data, scalar).ok()?;
            }
            (data, Number::Float(x)) => push(data, Scalar::Float(x)).ok()?,
        }
        if data.len() > target.count {
            return None;
        }
        at = skip(end);
        match text.get(at) {
            Some(b',') => at = skip(at + 1),
            Some(b']') => break,
            _ => return None,
        }
    }
    (skip(at + 1) == text.len() && data.len() == target.count).then_some(data)
}

struct Fill<'t, 's> {
    target: &'t DataTarget<'s>,
    data: TensorData,
    /// The nesting of the first element found: 1 (flat) or the rank.
    leaf_depth: Option<usize>,
    /// The error found, kept here while serde unwinds with a blank one.
    error: Option<V2Error>,
}

impl Fill<'_, '_> {
    /// Records `error` and gives serde an error to stop with.
    fn fail<E: serde::de::Error>(&mut self, error: V2Error) -> E {
        self.error = Some(error);
        E::custom("")
    }

    fn rank(&self) -> usize {
        self.target.shape.len()
    }

    /// Nesting allowed: the rank, and 1 (a flat list) for a scalar.
    fn max_depth(&self) -> usize {
        self.rank().max(1)
    }

    fn count_error(&self, received: String) -> V2Error {
        V2Error::DataCount {
            input: self.target.input.to_owned(),
            shape: shape_text(self.target.shape),
            expected: self.target.count,
            received,
        }
    }

    fn ragged(&self, depth: usize, expected: String, received: String) -> V2Error {
        V2Error::DataRagged {
            input: self.target.input.to_owned(),
            shape: shape_text(self.target.shape),
            depth,
            expected,
            received,
        }
    }

    fn nesting(&self, depth: usize) -> V2Error {
        V2Error::DataNesting {
            input: self.target.input.to_owned(),
            shape: shape_text(self.target.shape),
            rank: self.rank(),
            depth,
        }
    }

    /// An element at nesting `depth`, as `scalar` describes it.
    fn leaf<E: serde::de::Error>(&mut self, depth: usize, scalar: Scalar<'_>) -> Result<(), E> {
        if depth == 0 {
            let received = scalar.kind();
            return Err(self.fail(V2Error::DataNotList {
                input: self.target.input.to_owned(),
                received,
            }));
        }
        match self.leaf_depth {
            None if depth == 1 || depth == self.rank() => self.leaf_depth = Some(depth),
            None => return Err(self.fail(self.nesting(depth))),
            Some(expected) if expected != depth => {
                let error = self.ragged(
                    depth - 1,
                    format!("lists nested {expected} deep"),
                    format!("{} at depth {depth}", scalar.kind()),
                );
                return Err(self.fail(error));
            }
            Some(_) => {}
        }
        let index = self.data.len();
        if index == self.target.count {
            let error = self.count_error(format!("more than {}", self.target.count));
            return Err(self.fail(error));
        }
        if let Err(received) = push(&mut self.data, scalar) {
            let error = V2Error::DataElement {
                input: self.target.input.to_owned(),
                index,
                datatype: self.target.datatype.to_string(),
                received,
            };
            return Err(self.fail(error));
        }
        Ok(())
    }

    /// A list at nesting `depth` has ended with `items` items.
    fn list_end<E: serde::de::Error>(&mut self, depth: usize, items: usize) -> Result<(), E> {
        let flat = matches!(self.leaf_depth, None | Some(1));
        if depth == 0 && flat {
            // A flat list: its length is the element count.
            if items != self.target.count {
                let error = self.count_error(items.to_string());
                return Err(self.fail(error));
            }
            return Ok(());
        }
        // Nested as the shape: every list at depth d has shape[d] items.
        match self.target.shape.get(depth) {
            Some(&expected) if expected == items => Ok(()),
            Some(&expected) => {
                let error =
                    self.ragged(depth, format!("{expected} items"), format!("{items} items"));
                Err(self.fail(error))
            }
            None => Err(self.fail(self.nesting(depth + 1))),
        }
    }
}

/// A JSON value that is not a list.
#[derive(Clone, Copy)]
enum Scalar<'v> {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Other(&'v str),
}

impl Scalar<'_> {
    fn kind(self) -> String {
        match self {
            Scalar::Bool(_) => "a boolean".to_owned(),
            Scalar::Int(_) | Scalar::UInt(_) | Scalar::Float(_) => "a number".to_owned(),
            Scalar::Other(kind) => kind.to_owned(),
        }
    }
}

impl fmt::Display for Scalar<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::UInt(u) => write!(f, "{u}"),
            Scalar::Float(x) => write!(f, "{x:?}"),
            Scalar::Other(kind) => f.write_str(kind),
        }
    }
}

/// Appends `scalar` to `data`; the error says what came and why it does
/// not fit.
fn push(data: &mut TensorData, scalar: Scalar<'_>) -> Result<(), String> {
    let datatype = Datatype::of(data.dtype());
    let out_of_range = || format!("{scalar}, which is out of range for {datatype}");
    // A whole number of any integer type, as i128 so every type's range fits.
    let whole = || -> Result<i128, String> {
        match scalar {
            Scalar::Int(i) => Ok(i.into()),
            Scalar::UInt(u) => Ok(u.into()),
            // Beyond ±1.7e38 no integer type can hold it anyway, and the
            // cast to i128 is exact below that.
            Scalar::Float(x) if x.fract() == 0.0 && x.abs() < 1.7e38 => Ok(x as i128),
            Scalar::Float(_) => Err(format!("{scalar}, which is not a whole number")),
            Scalar::Bool(_) | Scalar::Other(_) => Err(scalar.kind()),
        }
    };
    macro_rules! int {
        ($v:expr, $t:ty) => {
            $v.push(<$t>::try_from(whole()?).map_err(|_| out_of_range())?)
        };
    }
    match data {
        TensorData::Bool(v) => match scalar {
            Scalar::Bool(b) => v.push(b),
            other => return Err(other.kind()),
        },
        TensorData::F32(v) => {
            let x = float(scalar)?;
            // Rounded to the nearest float32; a value beyond float32's
            // range would become infinite, which no JSON number means.
            let y = x as f32;
            if y.is_infinite() {
                return Err(out_of_range());
            }
            v.push(y);
        }
        TensorData::F64(v) => v.push(float(scalar)?),
        TensorData::I8(v) => int!(v, i8),
        TensorData::I16(v) => int!(v, i16),
        TensorData::I32(v) => int!(v, i32),
        TensorData::I64(v) => int!(v, i64),
        TensorData::U8(v) => int!(v, u8),
        TensorData::U16(v) => int!(v, u16),
        TensorData::U32(v) => int!(v, u32),
        TensorData::U64(v) => int!(v, u64),
    }
    Ok(())
}

fn float(scalar: Scalar<'_>) -> Result<f64, String> {
    match scalar {
        Scalar::Int(i) => Ok(i as f64),
        Scalar::UInt(u) => Ok(u as f64),
        Scalar::Float(x) => Ok(x),
        Scalar::Bool(_) | Scalar::Other(_) => Err(scalar.kind()),
    }
}

/// One JSON value at nesting `depth` (0: `data` itself).
struct Node<'f, 't, 's> {
    fill: &'f mut Fill<'t, 's>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tensor data")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.depth + 1;
        // Refused on entry, so a deep nest is never walked.
        if inner > self.fill.max_depth() {
            return Err(self.fill.fail(self.fill.nesting(inner)));
        }
        let mut items = 0;
        while seq
            .next_element_seed(Node {
                fill: &mut *self.fill,
                depth: inner,
            })?
            .is_some()
        {
            items += 1;
        }
        self.fill.list_end(self.depth, items)
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.fill.leaf(self.depth, Scalar::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.fill.leaf(self.depth, Scalar::Int(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.fill.leaf(self.depth, Scalar::UInt(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.fill.leaf(self.depth, Scalar::Float(v))
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.fill.leaf(self.depth, Scalar::Other("a string"))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.fill.leaf(self.depth, Scalar::Other("null"))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        let result: Result<(), A::Error> = self.fill.leaf(self.depth, Scalar::Other("an object"));
        result.and(Err(A::Error::custom("")))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fast_path_answers_what_the_general_reader_answers() {
        let shape = [2usize, 3];
        for (dtype, datatype) in [
            (DType::F32, Datatype::Fp32),
            (DType::F64, Datatype::Fp64),
            (DType::I64, Datatype::Int64),
            (DType::U8, Datatype::Uint8),
        ] {
            let target = DataTarget {
                input: "x",
                datatype,
                dtype,
                shape: &shape,
                count: 6,
            };
            for text in [
                "[1, 2, 3, 4, 5, 6]",
                " [ 0.1 ,-0, 1e3, 2.5E-3, 340282356779733661637539395458142568448, 7 ] ",
                "[1.0000000000000002, 0.30000000000000004, 5e-324, 1.7976931348623157e308, 3, 4]",
                "[18446744073709551615, -9223372036854775808, 255, 256, -1, 0]",
                "[1, 2, 3, 4, 5]",
                "[1, 2, 3, 4, 5, 6, 7]",
                "[[1, 2, 3], [4, 5, 6]]",
                "[1, 2, 3, 4, 5, true]",
                "[1, 2, 3, 4, 5, 6,]",
                "[1, 2, 3, 4, 5, 6] x",
                "[01, 2, 3, 4, 5, 6]",
            ] {
                let general = read_general(text, &target);
                // Where the fast path gives up, the general reader decides alone.
                if let Some(fast) = read_flat(text.as_bytes(), &target) {
                    let bits = |d: &TensorData| format!("{d:?}");
                    let general = general.unwrap_or_else(|e| panic!("{dtype:?} {text}: {e}"));
                    assert_eq!(bits(&fast), bits(&general), "{dtype:?} {text}");
                }
            }
            assert!(read_flat(b"[1, 2, 3, 4, 5, 6]", &target).is_some());
        }
    }

    use super::*;

    fn read(json: &str, datatype: Datatype, shape: &[usize]) -> Result<TensorData, V2Error> {
        let raw: Box<RawValue> = serde_json::from_str(json).unwrap();
        let target = DataTarget {
            input: "x",
            datatype,
            dtype: datatype.dtype().unwrap(),
            shape,
            count: shape.iter().product(),
        };
        decode_json_data(&raw, &target)
    }

    fn message(json: &str, datatype: Datatype, shape: &[usize]) -> String {
        read(json, datatype, shape).unwrap_err().to_string()
    }

    #[test]
    fn flat_and_nested_data_read_the_same() {
        let flat = read("[1, 2.5, -3, 4, 5, 6]", Datatype::Fp32, &[2, 3]).unwrap();
        let nested = read("[[1, 2.5, -3], [4, 5, 6]]", Datatype::Fp32, &[2, 3]).unwrap();
        assert_eq!(flat, TensorData::F32(vec![1.0, 2.5, -3.0, 4.0, 5.0, 6.0]));
        assert_eq!(flat, nested);
        assert_eq!(
            read("[7]", Datatype::Int64, &[]).unwrap(),
            TensorData::I64(vec![7])
        );
        assert_eq!(
            read("[[[true]], [[false]]]", Datatype::Bool, &[2, 1, 1]).unwrap(),
            TensorData::Bool(vec![true, false])
        );
    }

    #[test]
    fn nesting_deeper_than_the_shape_is_refused() {
        assert_eq!(
            message("[[1, 2]]", Datatype::Fp32, &[2]),
            "input 'x': \"data\" is nested 2 deep but shape [2] has rank 1; send it flat or nested as the shape"
        );
        assert!(message("[[[[[[1]]]]]]", Datatype::Fp32, &[1, 1]).contains("nested 3 deep"));
        assert!(message("[[1]]", Datatype::Fp32, &[]).contains("nested 2 deep"));
        assert!(message("[1, [2]]", Datatype::Fp32, &[2]).contains("nested 2 deep"));
        // Deeper than serde's own recursion limit: refused at the shape's depth.
        let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
        assert!(message(&deep, Datatype::Fp32, &[1, 1]).contains("nested 3 deep"));
    }

    #[test]
    fn nesting_partway_is_refused() {
        assert_eq!(
            message("[[1, 2, 3, 4, 5, 6]]", Datatype::Fp32, &[1, 2, 3]),
            "input 'x': \"data\" is nested 2 deep but shape [1, 2, 3] has rank 3; send it flat or nested as the shape"
        );
    }

    #[test]
    fn lists_must_have_the_shape_lengths() {
        assert_eq!(
            message("[[1, 2], [3]]", Datatype::Fp32, &[2, 2]),
            "input 'x': \"data\" does not follow shape [2, 2]: at depth 1 expected 2 items, received 1 items"
        );
        assert!(
            message("[[1, 2], [3, 4], [5, 6]]", Datatype::Fp32, &[2, 2]).contains("more than 4")
        );
        assert!(
            message("[[1, 2]]", Datatype::Fp32, &[2, 2])
                .contains("at depth 0 expected 2 items, received 1")
        );
        assert!(message("[[1, 2], 3]", Datatype::Fp32, &[2, 2]).contains("a number at depth 1"));
        assert!(
            message("[[], []]", Datatype::Fp32, &[2, 2])
                .contains("at depth 1 expected 2 items, received 0")
        );
    }

    #[test]
    fn flat_lists_must_hold_the_count() {
        assert_eq!(
            message("[1, 2, 3]", Datatype::Fp32, &[2, 2]),
            "input 'x': shape [2, 2] holds 4 elements, \"data\" has 3"
        );
        assert!(message("[1, 2, 3, 4, 5]", Datatype::Fp32, &[2, 2]).ends_with("has more than 4"));
        assert!(message("[]", Datatype::Fp32, &[1]).ends_with("has 0"));
    }

    #[test]
    fn data_must_be_a_list() {
        assert_eq!(
            message("5", Datatype::Fp32, &[]),
            "input 'x': \"data\" must be a list, received a number"
        );
        assert!(message("{\"a\": 1}", Datatype::Fp32, &[1]).ends_with("received an object"));
    }

    #[test]
    fn elements_must_fit_the_datatype() {
        assert_eq!(
            message("[1, 300]", Datatype::Uint8, &[2]),
            "input 'x': element 1 of \"data\" must be UINT8, received 300, which is out of range for UINT8"
        );
        assert!(message("[-1]", Datatype::Uint64, &[1]).contains("out of range for UINT64"));
        assert!(
            message("[1.5]", Datatype::Int32, &[1]).ends_with("1.5, which is not a whole number")
        );
        assert!(
            message("[1e39]", Datatype::Fp32, &[1])
                .ends_with("1e39, which is out of range for FP32")
        );
        assert!(message("[\"1\"]", Datatype::Fp32, &[1]).ends_with("received a string"));
        assert!(message("[null]", Datatype::Fp64, &[1]).ends_with("received null"));
        assert!(message("[true]", Datatype::Int8, &[1]).ends_with("received a boolean"));
        assert!(message("[1]", Datatype::Bool, &[1]).ends_with("received a number"));
        assert!(message("[{}]", Datatype::Fp32, &[1]).ends_with("received an object"));
    }

    #[test]
    fn every_integer_type_reads_its_whole_range() {
        let cases = [
            (
                Datatype::Int8,
                "[-128, 127, 2.0]",
                TensorData::I8(vec![-128, 127, 2]),
            ),
            (
                Datatype::Int16,
                "[-32768, 32767, 0]",
                TensorData::I16(vec![i16::MIN, i16::MAX, 0]),
            ),
            (
                Datatype::Int32,
                "[-2147483648, 2147483647, 0]",
                TensorData::I32(vec![i32::MIN, i32::MAX, 0]),
            ),
            (
                Datatype::Int64,
                "[-9223372036854775808, 9223372036854775807, 0]",
                TensorData::I64(vec![i64::MIN, i64::MAX, 0]),
            ),
            (
                Datatype::Uint8,
                "[0, 255, 1]",
                TensorData::U8(vec![0, 255, 1]),
            ),
            (
                Datatype::Uint16,
                "[0, 65535, 1]",
                TensorData::U16(vec![0, u16::MAX, 1]),
            ),
            (
                Datatype::Uint32,
                "[0, 4294967295, 1]",
                TensorData::U32(vec![0, u32::MAX, 1]),
            ),
            (
                Datatype::Uint64,
                "[0, 18446744073709551615, 1]",
                TensorData::U64(vec![0, u64::MAX, 1]),
            ),
            (
                Datatype::Fp64,
                "[1e300, -0.5, 3]",
                TensorData::F64(vec![1e300, -0.5, 3.0]),
            ),
        ];
        for (datatype, json, expected) in cases {
            assert_eq!(read(json, datatype, &[3]).unwrap(), expected, "{datatype}");
        }
    }

    #[test]
    fn malformed_json_is_reported_with_the_input() {
        let raw = RawValue::from_string("[1, 2]".to_owned()).unwrap();
        let target = DataTarget {
            input: "x",
            datatype: Datatype::Fp32,
            dtype: DType::F32,
            shape: &[usize::MAX],
            count: usize::MAX,
        };
        // A shape that claims more than the text can hold allocates by the text.
        assert!(
            decode_json_data(&raw, &target)
                .unwrap_err()
                .to_string()
                .contains("has 2")
        );
    }
}
