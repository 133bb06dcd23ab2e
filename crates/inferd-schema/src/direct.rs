//! The fast path: a POST body's data read straight into the model's one
//! input tensor, in one pass over the bytes, with no JSON tree in between.
//!
//! It only ever answers for a request the general path (`request` then
//! `decode`) would accept with the same tensor: any doubt (a ragged row, an
//! element of the wrong kind, a number out of range, an empty list, a
//! duplicate field, a shape the model does not take) abandons it, and the
//! caller decodes the body again on the general path, which gives the
//! answer or the error with its path. Errors are rare and cost a second
//! parse; valid requests, the hot path, cost one.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use inferd_tensor::{DType, Tensor, TensorData, TensorSpec};

use crate::envelope::{Key, KeySeed};

/// The tensor of `spec` from the field `field` of `body`, or `None` when
/// the general path must decide.
pub fn tensor_from_body(body: &[u8], field: &str, spec: &TensorSpec) -> Option<Tensor> {
    // The general path refuses invalid UTF-8 anywhere, even in skipped fields.
    std::str::from_utf8(body).ok()?;
    let mut state = State::new(spec);
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let found = BodySeed {
        field,
        state: &mut state,
    }
    .deserialize(&mut deserializer)
    .ok()?;
    deserializer.end().ok()?;
    if !found {
        return None;
    }
    state.finish(spec)
}

/// Why the fast path gave up; never shown to anyone.
#[derive(Debug)]
struct GiveUp;

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("left to the general decoder")
    }
}

impl std::error::Error for GiveUp {}

impl de::Error for GiveUp {
    fn custom<T: fmt::Display>(_: T) -> GiveUp {
        GiveUp
    }
}

fn give_up<E: de::Error>() -> E {
    E::custom(GiveUp)
}

/// What the walk over the data has learned so far.
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
    fn new(spec: &TensorSpec) -> State {
        // Room for one row of the declared fixed dimensions: the whole of a
        // one-row request, which is the common one.
        let row: usize = spec.shape.as_ref().map_or(0, |dims| {
            dims.iter()
                .skip(1)
                .map(|d| match d {
                    inferd_tensor::Dim::Fixed(n) => *n,
                    inferd_tensor::Dim::Free(_) => 1,
                })
                .product()
        });
        State {
            dtype: spec.dtype,
            data: TensorData::with_capacity(spec.dtype, row.min(1 << 20)),
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
}

/// The body's top level: an object whose field `field` appears exactly
/// once; answers whether it was there.
struct BodySeed<'a> {
    field: &'a str,
    state: &'a mut State,
}

impl<'de> DeserializeSeed<'de> for BodySeed<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(Key(is_field)) = map.next_key_seed(KeySeed { field: self.field })? {
            if is_field {
                if found {
                    return Err(give_up());
                }
                found = true;
                map.next_value_seed(Level {
                    depth: 0,
                    state: &mut *self.state,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// A value at `depth` in the data: a list, or an element.
struct Level<'a> {
    depth: usize,
    state: &'a mut State,
}

impl<'de> DeserializeSeed<'de> for Level<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list or a number")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.state.rank.is_some_and(|rank| self.depth >= rank) {
            return Err(give_up());
        }
        let mut length = 0;
        while seq
            .next_element_seed(Level {
                depth: self.depth + 1,
                state: &mut *self.state,
            })?
            .is_some()
        {
            length += 1;
        }
        if self.state.list_closed(self.depth, length) {
            Ok(())
        } else {
            Err(give_up())
        }
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<(), E> {
        let ok = self.state.element_at(self.depth)
            && self.state.dtype.is_float()
            && self.state.push_f64(x);
        if ok { Ok(()) } else { Err(give_up()) }
    }

    fn visit_i64<E: de::Error>(self, x: i64) -> Result<(), E> {
        let ok = self.state.element_at(self.depth) && self.state.push_i128(x.into());
        if ok { Ok(()) } else { Err(give_up()) }
    }

    fn visit_u64<E: de::Error>(self, x: u64) -> Result<(), E> {
        let ok = self.state.element_at(self.depth) && self.state.push_i128(x.into());
        if ok { Ok(()) } else { Err(give_up()) }
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<(), E> {
        if !self.state.element_at(self.depth) {
            return Err(give_up());
        }
        match &mut self.state.data {
            TensorData::Bool(v) => {
                v.push(b);
                Ok(())
            }
            _ => Err(give_up()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{data_from_body, decode_inputs};
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
        let bad_utf8 = b"{\"x\": \"\xff\", \"data\": [[1, 2]]}";
        assert!(tensor_from_body(bad_utf8, "data", &f32s).is_none());
    }

    #[test]
    fn the_data_field_can_be_renamed() {
        let t = tensor_from_body(br#"{"rows": [[1, 2]]}"#, "rows", &rows_of(2, DType::F32));
        assert_eq!(t.unwrap().shape(), [1, 2]);
    }
}
