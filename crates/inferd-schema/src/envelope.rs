//! The top level of a POST body, read in one pass: `data` is kept, every
//! other field is skipped without being built (a huge unused field costs no
//! memory), and a second `data` is refused: two values for one field are
//! ambiguous, and parsers that pick different ones disagree about what was
//! scored.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

pub(crate) enum Envelope {
    Object {
        data: Option<Value>,
        duplicate: bool,
    },
    Other(&'static str),
}

/// Reads an [`Envelope`] whose data sits in the field named `field`.
pub(crate) struct EnvelopeSeed<'f> {
    pub(crate) field: &'f str,
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_> {
    type Value = Envelope;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Envelope, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_> {
    type Value = Envelope;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
        let (mut data, mut duplicate) = (None, false);
        while let Some(key) = map.next_key_seed(KeySeed { field: self.field })? {
            if key.0 && data.is_none() {
                data = Some(map.next_value::<Value>()?);
            } else {
                duplicate |= key.0;
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Envelope::Object { data, duplicate })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Envelope, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Envelope::Other("a list"))
    }

    fn visit_unit<E>(self) -> Result<Envelope, E> {
        Ok(Envelope::Other("null"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Envelope, E> {
        Ok(Envelope::Other("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Envelope, E> {
        Ok(Envelope::Other("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Envelope, E> {
        Ok(Envelope::Other("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Envelope, E> {
        Ok(Envelope::Other("a number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Envelope, E> {
        Ok(Envelope::Other("a string"))
    }
}

/// A key, reduced to whether it is the data field (no allocation for the
/// others unless they hold escapes).
pub(crate) struct Key(pub(crate) bool);

pub(crate) struct KeySeed<'f> {
    pub(crate) field: &'f str,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, key: &str) -> Result<Key, E> {
        Ok(Key(key == self.field))
    }
}
