//! The fast path: a POST body's data read straight into the model's one
//! input tensor, in one pass over the bytes, with no JSON tree and no
//! `Deserializer` call per element in between (for a 784-float row that
//! was most of a request's cost).
//!
//! It only ever answers for a request the general path (`request` then
//! `decode`) would accept with the same tensor: any doubt (a ragged row, an
//! element of the wrong kind, a number out of range, an empty list, a
//! duplicate field, a key with escapes, a shape the model does not take)
//! abandons it, and the caller decodes the body again on the general path,
//! which gives the answer or the error with its path. Errors are rare and
//! cost a second parse; valid requests, the hot path, cost one. Numbers are
//! read by `number`, to the bit what serde_json reads; fields other than
//! the data field are skipped by serde_json itself, so what counts as valid
//! JSON there is exactly what the general path says.

use serde::de::IgnoredAny;

use inferd_tensor::{DType, Tensor, TensorData, TensorSpec};

use crate::number::{Number, read_number};

/// The tensor of `spec` from the field `field` of `body`, or `None` when
/// the general path must decide.
pub fn tensor_from_body(body: &[u8], field: &str, spec: &TensorSpec) -> Option<Tensor> {
    // The general path refuses invalid UTF-8 anywhere, even in skipped
    // fields. Outside keys and skipped values this pass accepts ASCII
    // bytes only, so those two are all it checks (`key`, `skip_value`).
    let mut state = State::new(spec, body.len());
    let mut walk = Walk { bytes: body, at: 0 };
    walk.whitespace();
    walk.expect(b'{')?;
    walk.whitespace();
    let mut found = false;
    if !walk.eat(b'}') {
        loop {
            walk.whitespace();
            let is_field = walk.key()? == field.as_bytes();
            walk.whitespace();
            walk.expect(b':')?;
            walk.whitespace();
            if is_field {
                if found {
                    return None;
                }
                found = true;
                walk.data(&mut state)?;
            } else {
                walk.skip_value()?;
            }
            walk.whitespace();
            match walk.next()? {
                b',' => {}
                b'}' => break,
                _ => return None,
            }
        }
    }
    walk.whitespace();
    if walk.at != body.len() || !found {
        return None;
    }
    state.finish(spec)
}

/// Deeper data than this is left to the general path (whose parser stops
/// at 128 levels).
const MAX_DEPTH: usize = 64;

/// A position in the body.
struct Walk<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl<'b> Walk<'b> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn eat(&mut self, byte: u8) -> bool {
        let here = self.peek() == Some(byte);
        if here {
            self.at += 1;
        }
        here
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    /// JSON's four whitespace bytes, as serde_json skips them.
    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.at += 1;
        }
    }

    /// A key without escapes, as its raw bytes. A key with escapes, a
    /// control byte or invalid UTF-8 gives up.
    fn key(&mut self) -> Option<&'b [u8]> {
        self.expect(b'"')?;
        let start = self.at;
        loop {
            match self.next()? {
                b'"' => {
                    let key = &self.bytes[start..self.at - 1];
                    return std::str::from_utf8(key).is_ok().then_some(key);
                }
                b'\\' => return None,
                byte if byte < 0x20 => return None,
                _ => {}
            }
        }
    }

    /// Skips any one JSON value with serde_json's own parser, so what is
    /// valid there is what the general path says is valid.
    fn skip_value(&mut self) -> Option<()> {
        let rest = &self.bytes[self.at..];
        let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<IgnoredAny>();
        values.next()?.ok()?;
        let skipped = &rest[..values.byte_offset()];
        // serde_json's slice reader skips strings without checking them.
        std::str::from_utf8(skipped).ok()?;
        // A fresh parser allows one level more than the general path has
        // left inside the body's object; deep nesting is rare, so count
        // brackets (strings included, which only errs towards giving up).
        let opened = skipped.iter().filter(|b| matches!(b, b'[' | b'{')).count();
        if opened >= 120 {
            return None;
        }
        self.at += skipped.len();
        Some(())
    }

    /// The data field's value: lists nested to the same depth everywhere,
    /// of numbers or booleans, into `state`.
    fn data(&mut self, state: &mut State) -> Option<()> {
        // The element count of each list still open; its length is the
        // depth of the next element.
        let mut open: Vec<usize> = Vec::with_capacity(4);
        loop {
            // A value is due.
            match self.peek()? {
                b'[' => {
                    let depth = open.len();
                    if depth >= MAX_DEPTH || state.rank.is_some_and(|rank| depth >= rank) {
                        return None;
                    }
                    self.at += 1;
                    open.push(0);
                    // `[]` gives up at the `]`: not a value.
                    self.whitespace();
                    continue;
                }
                b't' | b'f' => {
                    let value = self.literal_bool()?;
                    if !state.element_at(open.len()) || !state.push_bool(value) {
                        return None;
                    }
                }
                _ => {
                    let (number, end) = read_number(self.bytes, self.at)?;
                    self.at = end;
                    let pushed = state.element_at(open.len())
                        && match number {
                            Number::Int(x) => state.push_i128(x),
                            Number::Float(x) => state.push_f64(x),
                        };
                    if !pushed {
                        return None;
                    }
                }
            }
            // After a value: the next one in its list, or the list closes
            // (itself a value of the list around it).
            loop {
                let Some(count) = open.last_mut() else {
                    return Some(());
                };
                *count += 1;
                self.whitespace();
                match self.next()? {
                    b',' => {
                        self.whitespace();
                        break;
                    }
                    b']' => {
                        let length = open.pop()?;
                        if !state.list_closed(open.len(), length) {
                            return None;
                        }
                    }
                    _ => return None,
                }
            }
        }
    }

    fn literal_bool(&mut self) -> Option<bool> {
        let rest = &self.bytes[self.at..];
        let (value, len) = if rest.starts_with(b"true") {
            (true, 4)
        } else if rest.starts_with(b"false") {
            (false, 5)
        } else {
            return None;
        };
        self.at += len;
        Some(value)
    }
}

/// What the walk over the data has learned so far.
/// The most elements a buffer is sized for from the body's length alone;
/// past it the buffer grows as the data comes.
const GUESSED_ELEMENTS: usize = 4096;

/// Cells of a table read as one input's values by the fast path's rules:
/// each cell one plain JSON number literal and nothing else, valued and
/// range-checked as a body's element is (for a batch job's rows). Any doubt
/// answers `false`, and the caller leaves the rows to the general path.
pub(crate) struct CellValues(State);

impl CellValues {
    pub(crate) fn new(spec: &TensorSpec, capacity: usize) -> CellValues {
        CellValues(State {
            dtype: spec.dtype,
            data: TensorData::with_capacity(spec.dtype, capacity),
            lengths: Vec::new(),
            rank: None,
        })
    }

    /// One cell's text as the next value.
    pub(crate) fn push(&mut self, text: &str) -> bool {
        let bytes = text.as_bytes();
        match read_number(bytes, 0) {
            Some((Number::Int(x), end)) if end == bytes.len() => self.0.push_i128(x),
            Some((Number::Float(x), end)) if end == bytes.len() => self.0.push_f64(x),
            _ => false,
        }
    }

    pub(crate) fn into_data(self) -> TensorData {
        self.0.data
    }
}

struct State {
    dtype: DType,
    data: TensorData,
    /// The length of the lists at each depth, fixed by the first list that
    /// closes at that depth.
    lengths: Vec<Option<usize>>,
    /// The depth of the elements, fixed by the first element.
    rank: Option<usize>,
}

impl State {
    /// Room for every element a body of `body_len` bytes can hold (each
    /// takes a byte and a separator), up to [`GUESSED_ELEMENTS`], and for
    /// at least one row of the declared fixed dimensions: a small body's
    /// data never grows the buffer.
    fn new(spec: &TensorSpec, body_len: usize) -> State {
        let row: usize = spec.shape.as_ref().map_or(0, |dims| {
            dims.iter()
                .skip(1)
                .map(|d| match d {
                    inferd_tensor::Dim::Fixed(n) => *n,
                    inferd_tensor::Dim::Free(_) => 1,
                })
                .product()
        });
        let room = row.max((body_len / 2).min(GUESSED_ELEMENTS));
        State {
            dtype: spec.dtype,
            data: TensorData::with_capacity(spec.dtype, room.min(1 << 20)),
            lengths: Vec::new(),
            rank: None,
        }
    }

    fn element_at(&mut self, depth: usize) -> bool {
        match self.rank {
            None => {
                self.rank = Some(depth);
                true
            }
            Some(rank) => rank == depth,
        }
    }

    fn list_closed(&mut self, depth: usize, length: usize) -> bool {
        if length == 0 {
            return false;
        }
        if self.lengths.len() <= depth {
            self.lengths.resize(depth + 1, None);
        }
        match self.lengths[depth] {
            None => {
                self.lengths[depth] = Some(length);
                true
            }
            Some(known) => known == length,
        }
    }

    fn finish(self, spec: &TensorSpec) -> Option<Tensor> {
        let rank = self.rank?;
        // A bare number (rank 0) is rare enough to leave to the general path.
        if rank == 0 || self.lengths.len() != rank {
            return None;
        }
        let shape: Vec<usize> = self.lengths.into_iter().collect::<Option<_>>()?;
        if let Some(dims) = &spec.shape
            && (dims.len() != rank || !dims.iter().zip(&shape).all(|(d, n)| d.accepts(*n)))
        {
            return None;
        }
        Tensor::new(shape, self.data).ok()
    }

    fn push_f64(&mut self, x: f64) -> bool {
        match &mut self.data {
            TensorData::F64(v) => v.push(x),
            // Strictly inside the float32 range: a literal at or past
            // f32::MAX may have been rounded down to it by the parser, and
            // only the general path reads the literal's text.
            TensorData::F32(v) if x.abs() < f64::from(f32::MAX) => v.push(x as f32),
            _ => return false,
        }
        true
    }

    fn push_i128(&mut self, x: i128) -> bool {
        if self.dtype.is_float() {
            return self.push_f64(x as f64);
        }
        let Some((min, max)) = self.dtype.integer_range() else {
            return false;
        };
        if x < min || x > max {
            return false;
        }
        // The range check makes every `as` exact.
        match &mut self.data {
            TensorData::I8(v) => v.push(x as i8),
            TensorData::I16(v) => v.push(x as i16),
            TensorData::I32(v) => v.push(x as i32),
            TensorData::I64(v) => v.push(x as i64),
            TensorData::U8(v) => v.push(x as u8),
            TensorData::U16(v) => v.push(x as u16),
            TensorData::U32(v) => v.push(x as u32),
            TensorData::U64(v) => v.push(x as u64),
            TensorData::F32(_) | TensorData::F64(_) | TensorData::Bool(_) => return false,
        }
        true
    }

    fn push_bool(&mut self, b: bool) -> bool {
        match &mut self.data {
            TensorData::Bool(v) => {
                v.push(b);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_inputs;
    use crate::request::data_from_body;
    use inferd_tensor::Dim;

    fn spec(dtype: DType, dims: Option<Vec<Dim>>) -> TensorSpec {
        TensorSpec {
            name: "input".into(),
            dtype,
            shape: dims,
        }
    }

    fn rows_of(n: usize, dtype: DType) -> TensorSpec {
        spec(
            dtype,
            Some(vec![Dim::Free(Some("N".into())), Dim::Fixed(n)]),
        )
    }

    /// The fast path, checked against the general path on the same body:
    /// when it answers, it answers what the general path does.
    fn fast(body: &str, spec: &TensorSpec) -> Option<Tensor> {
        let direct = tensor_from_body(body.as_bytes(), "data", spec);
        if let Some(tensor) = &direct {
            let general = data_from_body(body.as_bytes())
                .and_then(|data| decode_inputs(&data, std::slice::from_ref(spec)))
                .expect("the general path accepts what the fast path accepts");
            assert_eq!(&general[0], tensor, "{body}");
        }
        direct
    }

    #[test]
    fn valid_rows_take_the_fast_path() {
        let t = fast(
            r#"{"data": [[1, 2.5, -3], [4, 5, 6]]}"#,
            &rows_of(3, DType::F32),
        )
        .unwrap();
        assert_eq!(t.shape(), [2, 3]);
        let t = fast(
            r#"{"other": {"x": [1, "y"]}, "data": [[1, -2]], "more": null}"#,
            &rows_of(2, DType::I64),
        )
        .unwrap();
        assert_eq!(t.data(), &TensorData::I64(vec![1, -2]));
        let t = fast(r#"{"data": [[true, false]]}"#, &rows_of(2, DType::Bool)).unwrap();
        assert_eq!(t.data(), &TensorData::Bool(vec![true, false]));
        let t = fast(
            r#"{"data": [[18446744073709551615]]}"#,
            &rows_of(1, DType::U64),
        )
        .unwrap();
        assert_eq!(t.data(), &TensorData::U64(vec![u64::MAX]));
        let any_rank = spec(DType::F64, None);
        assert_eq!(
            fast(r#"{"data": [[[1]], [[2]]]}"#, &any_rank)
                .unwrap()
                .shape(),
            [2, 1, 1]
        );
    }

    #[test]
    fn anything_doubtful_is_left_to_the_general_path() {
        let f32s = rows_of(2, DType::F32);
        for body in [
            r#"{"data": [[1, 2], [3]]}"#,
            r#"{"data": [[1, 2], 3]}"#,
            r#"{"data": [[1, [2]], [3, 4]]}"#,
            r#"{"data": [[1, "2"]]}"#,
            r#"{"data": [[null, 1]]}"#,
            r#"{"data": [[true, 1]]}"#,
            r#"{"data": [[1e39, 1]]}"#,
            r#"{"data": [[-340282356779733661637539395458142568448, 1]]}"#,
            r#"{"data": [[340282346638528860000000000000000000001, 1]]}"#,
            r#"{"data": []}"#,
            r#"{"data": [[]]}"#,
            r#"{"data": [[1, 2, 3]]}"#,
            r#"{"data": [1, 2]}"#,
            r#"{"data": 5}"#,
            r#"{"data": [[1, 2]], "data": [[3, 4]]}"#,
            r#"{"nodata": [[1, 2]]}"#,
            r#"[[1, 2]]"#,
            r#"{"data": [[1, 2]]} trailing"#,
            r#"{"data": [[1, 2]]"#,
            r#"{"data": [[1, 2],]}"#,
            r#"{"data": [[1 2]]}"#,
            r#"{"data": [[1, 2]],}"#,
            r#"{,"data": [[1, 2]]}"#,
            r#"{"data" [[1, 2]]}"#,
            r#"{"data": [[1, 2]] "x": 1}"#,
            r#"{"data": [[01, 2]]}"#,
            r#"{"data": [[1., 2]]}"#,
            r#"{"data": [[tru, 2]]}"#,
            r#"{"data": [[1, 2]], "x": [1,]}"#,
            r#"{"data": [[1, 2]], "x": "a\qb"}"#,
            r#"{"d\u0061ta": [[1, 2]]}"#,
        ] {
            assert!(fast(body, &f32s).is_none(), "{body}");
        }
        let ints = rows_of(2, DType::I64);
        for body in [
            r#"{"data": [[1, 2.0]]}"#,
            r#"{"data": [[1, 1.9]]}"#,
            r#"{"data": [[1, 18446744073709551615]]}"#,
        ] {
            assert!(fast(body, &ints).is_none(), "{body}");
        }
        assert!(fast(r#"{"data": [[1, 300]]}"#, &rows_of(2, DType::U8)).is_none());
        assert!(fast(r#"{"data": [[1, -1]]}"#, &rows_of(2, DType::U8)).is_none());
        // Invalid UTF-8 anywhere: in a skipped value, a key, between
        // tokens, in the data. The general path refuses each.
        for bad_utf8 in [
            &b"{\"x\": \"\xff\", \"data\": [[1, 2]]}"[..],
            b"{\"x\": {\"\xc3\": 1}, \"data\": [[1, 2]]}",
            b"{\"\xe2\x82\": 1, \"data\": [[1, 2]]}",
            b"{\"data\": [[1, 2]]\xff}",
            b"{\"data\": [[1\xff, 2]]}",
            b"\xef\xbb\xbf{\"data\": [[1, 2]]}",
        ] {
            assert!(tensor_from_body(bad_utf8, "data", &f32s).is_none());
            assert!(data_from_body(bad_utf8).is_err());
        }
        // Valid UTF-8 beyond ASCII in keys and skipped values is fine.
        let t = fast(
            r#"{"é": "naïve ☃", "data": [[1, 2]], "x": {"ü": ["€"]}}"#,
            &f32s,
        )
        .unwrap();
        assert_eq!(t.data(), &TensorData::F32(vec![1.0, 2.0]));
    }

    #[test]
    fn whitespace_and_other_fields_anywhere() {
        let t = fast(
            "\t{ \"x\" : {\"a\": [true, null, \"]\"]} ,\r\n\"data\" :[ [ 1 ,2.5e0 ] , [3,-4 ]\n] , \"y\":-1e5 } \n",
            &rows_of(2, DType::F64),
        )
        .unwrap();
        assert_eq!(t.data(), &TensorData::F64(vec![1.0, 2.5, 3.0, -4.0]));
        let deep = format!(
            r#"{{"data": [[1, 2]], "x": {}{}}}"#,
            "[".repeat(127),
            "]".repeat(127)
        );
        assert!(fast(&deep, &rows_of(2, DType::F32)).is_none());
        let shallow = format!(
            r#"{{"data": [[1, 2]], "x": {}{}}}"#,
            "[".repeat(20),
            "]".repeat(20)
        );
        assert!(fast(&shallow, &rows_of(2, DType::F32)).is_some());
    }

    #[test]
    fn long_rows_of_every_kind_of_literal_match_the_general_path() {
        let mut next = crate::number::sequence(0x2545_F491_4F6C_DD1D);
        for round in 0..40 {
            let row: Vec<String> = (0..784)
                .map(|_| match next(5) {
                    0 => format!("{}", next(1 << 40) as f64 / (1 << 20) as f64),
                    1 => format!("{:e}", (next(1 << 53) as f64 - (1u64 << 52) as f64) * 1e-30),
                    2 => format!("-{}", next(1000)),
                    3 => format!(
                        "{:e}",
                        f64::from_bits(next(u64::MAX) & 0xC7DF_FFFF_FFFF_FFFF)
                    ),
                    _ => format!("0.{:017}", next(u64::MAX)),
                })
                .collect();
            let body = format!(r#"{{"data": [[{}]]}}"#, row.join(", "));
            for dtype in [DType::F32, DType::F64] {
                let t = fast(&body, &rows_of(784, dtype));
                assert!(t.is_some(), "round {round}, {dtype:?}: fell back");
            }
        }
    }

    #[test]
    fn the_data_field_can_be_renamed() {
        let t = tensor_from_body(br#"{"rows": [[1, 2]]}"#, "rows", &rows_of(2, DType::F32));
        assert_eq!(t.unwrap().shape(), [1, 2]);
    }
}
