//! Small pieces of JSON reading and writing the other modules share: a
//! string read without copying when it has no escapes ([`Text`]), strings
//! and shapes written straight into a body, and shapes as messages show
//! them (`[-1, 784]`, the protocol's way of writing a free dimension).

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Visitor};

use inferd_tensor::Dim;

/// A JSON string, borrowed from the request when it has no escapes. Used
/// for names and datatypes, so reading a header allocates for them only
/// when a client escapes characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Writes `text` as a JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(&mut *out, text).expect("writing to a Vec cannot fail");
}

/// Writes `[2,784]`.
pub(crate) fn write_shape(out: &mut Vec<u8>, shape: &[usize]) {
    serde_json::to_writer(&mut *out, shape).expect("writing to a Vec cannot fail");
}

/// A declared shape as the protocol writes it: a free dimension is `-1`.
/// An undeclared shape (the model accepts any rank) is `[-1]`: not the
/// whole truth, but every rank-1 request it describes is accepted, while
/// `[]` would claim a scalar.
pub(crate) fn protocol_dims(shape: Option<&[Dim]>) -> Vec<i64> {
    match shape {
        Some(dims) => dims.iter().map(dim_value).collect(),
        None => vec![-1],
    }
}

pub(crate) fn dim_value(dim: &Dim) -> i64 {
    match dim {
        Dim::Fixed(n) => i64::try_from(*n).unwrap_or(i64::MAX),
        Dim::Free(_) => -1,
    }
}

/// `[-1, 784]` for messages.
pub(crate) fn dims_text(shape: Option<&[Dim]>) -> String {
    match shape {
        Some(dims) => list_text(dims.iter().map(dim_value)),
        None => "any".to_owned(),
    }
}

/// `[1, 784]` for messages.
pub(crate) fn shape_text(shape: &[usize]) -> String {
    list_text(shape.iter())
}

/// `[1, 2, 3]`; past 16 items, the first 16 and the count, so that a
/// message never grows with what a client sent.
pub(crate) fn list_text<T: fmt::Display>(items: impl ExactSizeIterator<Item = T>) -> String {
    const SHOWN: usize = 16;
    let len = items.len();
    let mut inner: Vec<String> = items.take(SHOWN).map(|i| i.to_string()).collect();
    if len > SHOWN {
        inner.push(format!("... {len} in all"));
    }
    format!("[{}]", inner.join(", "))
}

/// A client's text in a message, cut at `max` characters, so that a
/// message never grows with what a client sent.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}... ({} bytes in all)", &text[..end], text.len()),
    }
}

/// The length names and datatypes are cut at in messages.
pub(crate) const NAME_CHARS: usize = 64;

/// `'a', 'b'` for messages listing names.
pub(crate) fn names_text<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = names.map(|n| format!("'{n}'")).collect();
    if quoted.is_empty() {
        "none".to_owned()
    } else {
        quoted.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_borrows_unless_escaped() {
        let plain: Text<'_> = serde_json::from_str(r#""input""#).unwrap();
        assert!(matches!(plain.0, Cow::Borrowed("input")));
        let escaped: Text<'_> = serde_json::from_str(r#""in\"put""#).unwrap();
        assert_eq!(&*escaped, "in\"put");
        assert!(serde_json::from_str::<Text<'_>>("3").is_err());
    }

    #[test]
    fn shapes_read_as_the_protocol_writes_them() {
        let dims = [Dim::Free(Some("N".into())), Dim::Fixed(784)];
        assert_eq!(protocol_dims(Some(&dims)), [-1, 784]);
        assert_eq!(protocol_dims(None), [-1]);
        assert_eq!(dims_text(Some(&dims)), "[-1, 784]");
        assert_eq!(dims_text(Some(&[])), "[]");
        assert_eq!(shape_text(&[2, 3]), "[2, 3]");
        assert_eq!(names_text(["a", "b"].into_iter()), "'a', 'b'");
        let long: Vec<usize> = (0..100).collect();
        assert_eq!(
            shape_text(&long),
            "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, ... 100 in all]"
        );
        assert_eq!(clip("abcdef", 3), "abc... (6 bytes in all)");
        assert_eq!(clip("ééé", 3), "ééé");
        let mut out = Vec::new();
        write_shape(&mut out, &[2, 3]);
        write_str(&mut out, "é\"");
        assert_eq!(String::from_utf8(out).unwrap(), "[2,3]\"é\\\"\"");
    }
}
