//! A `parameters` object of a request, an input or a requested output, and
//! the typed reading of the parameters the protocol and its extensions
//! reserve (`binary_data_size`, `binary_data`, `binary_data_output`,
//! `timeout`, `priority`, `sequence_*`, `shared_memory_*`,
//! `classification`).
//!
//! Other parameters are the client's own and are ignored, whatever their
//! value: servers may define their own, and MLServer's clients send some.
//! A reserved parameter of the wrong type is refused with its place and
//! what came, never guessed at.

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::V2Error;
use crate::json::{NAME_CHARS, Text, clip};

/// One parameter's value. Objects and lists are not parameter values in
/// the protocol; they are kept only as their kind, for messages.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param<'a> {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(Text<'a>),
    Other(&'static str),
}

impl fmt::Display for Param<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Param::Bool(b) => write!(f, "{b}"),
            Param::Int(i) => write!(f, "{i}"),
            Param::UInt(u) => write!(f, "{u}"),
            Param::Float(x) => write!(f, "{x}"),
            Param::Str(s) => write!(f, "{:?}", clip(s, NAME_CHARS)),
            Param::Other(kind) => f.write_str(kind),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Param<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ParamVisitor;
        impl<'de> Visitor<'de> for ParamVisitor {
            type Value = Param<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a parameter value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Param<'de>, E> {
                Ok(Param::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Param<'de>, E> {
                Ok(Param::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Param<'de>, E> {
                Ok(Param::UInt(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Param<'de>, E> {
                Ok(Param::Float(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Param<'de>, E> {
                Ok(Param::Str(Text(v.into())))
            }
            fn visit_str<E>(self, v: &str) -> Result<Param<'de>, E> {
                Ok(Param::Str(Text(v.to_owned().into())))
            }
            fn visit_unit<E>(self) -> Result<Param<'de>, E> {
                Ok(Param::Other("null"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Param<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Param::Other("an object"))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Param<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Param::Other("a list"))
            }
        }
        deserializer.deserialize_any(ParamVisitor)
    }
}

/// A `parameters` object, in the order given (a name given twice: the
/// last wins, as a JSON object's reader would keep it).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Params<'a> {
    entries: Vec<(Text<'a>, Param<'a>)>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Params<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ParamsVisitor;
        impl<'de> Visitor<'de> for ParamsVisitor {
            type Value = Params<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of parameters")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params<'de>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Params { entries })
            }
        }
        deserializer.deserialize_map(ParamsVisitor)
    }
}

impl<'a> Params<'a> {
    pub(crate) fn get(&self, name: &str) -> Option<&Param<'a>> {
        self.entries
            .iter()
            .rev()
            .find(|(key, _)| &**key == name)
            .map(|(_, value)| value)
    }

    /// A boolean parameter.
    pub(crate) fn bool(&self, place: &Place<'_>, name: &str) -> Result<Option<bool>, V2Error> {
        match self.get(name) {
            None => Ok(None),
            Some(Param::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(invalid(place, name, "true or false", other)),
        }
    }

    /// A parameter that is a whole number, 0 or more.
    pub(crate) fn count(&self, place: &Place<'_>, name: &str) -> Result<Option<u64>, V2Error> {
        match self.get(name) {
            None => Ok(None),
            Some(Param::UInt(u)) => Ok(Some(*u)),
            Some(Param::Int(i)) if *i >= 0 => Ok(Some(*i as u64)),
            Some(other) => Err(invalid(place, name, "a whole number, 0 or more", other)),
        }
    }

    /// Refuses a parameter that asks for something inferd does not do:
    /// given with any value but `0`, `""`, `false` (what clients send when
    /// they mean "off").
    pub(crate) fn refuse_if_set(
        &self,
        place: &Place<'_>,
        name: &str,
        what: &str,
    ) -> Result<(), V2Error> {
        let set = match self.get(name) {
            None | Some(Param::Bool(false) | Param::Int(0) | Param::UInt(0)) => false,
            Some(Param::Str(s)) => !s.is_empty(),
            Some(_) => true,
        };
        if set {
            return Err(V2Error::Unsupported {
                place: place.to_string(),
                what: format!("{what} (parameter '{name}')"),
            });
        }
        Ok(())
    }
}

fn invalid(place: &Place<'_>, name: &str, expected: &'static str, received: &Param<'_>) -> V2Error {
    V2Error::InvalidParameter {
        place: place.to_string(),
        name: name.to_owned(),
        expected,
        received: received.to_string(),
    }
}

/// Where a parameter sits, for messages: `the request`, `input 'x'`,
/// `output 'y'`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Place<'a> {
    Request,
    Input(&'a str),
    Output(&'a str),
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Request => f.write_str("the request"),
            Place::Input(name) => write!(f, "input '{name}'"),
            Place::Output(name) => write!(f, "output '{name}'"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: &str) -> Params<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn reserved_parameters_are_read_by_type() {
        let p = params(
            r#"{"binary_data_size": 16, "binary_data": true, "timeout": 0, "custom": {"x": [1]}}"#,
        );
        let place = Place::Input("x");
        assert_eq!(p.count(&place, "binary_data_size"), Ok(Some(16)));
        assert_eq!(p.count(&place, "timeout"), Ok(Some(0)));
        assert_eq!(p.bool(&place, "binary_data"), Ok(Some(true)));
        assert_eq!(p.bool(&place, "missing"), Ok(None));
        assert_eq!(p.get("custom"), Some(&Param::Other("an object")));
    }

    #[test]
    fn wrong_types_name_the_place_and_what_came() {
        let p = params(r#"{"binary_data_size": -1, "binary_data": "yes", "timeout": 1.5}"#);
        assert_eq!(
            p.count(&Place::Input("x"), "binary_data_size")
                .unwrap_err()
                .to_string(),
            "input 'x': parameter 'binary_data_size' must be a whole number, 0 or more, received -1"
        );
        assert_eq!(
            p.bool(&Place::Output("y"), "binary_data")
                .unwrap_err()
                .to_string(),
            "output 'y': parameter 'binary_data' must be true or false, received \"yes\""
        );
        assert!(p.count(&Place::Request, "timeout").is_err());
    }

    #[test]
    fn off_values_of_unsupported_features_pass() {
        let p = params(r#"{"sequence_id": 0, "sequence_start": false, "sequence_end": false}"#);
        for name in ["sequence_id", "sequence_start", "sequence_end"] {
            assert!(
                p.refuse_if_set(&Place::Request, name, "sequence batching")
                    .is_ok()
            );
        }
        let p = params(r#"{"sequence_id": "s1"}"#);
        assert_eq!(
            p.refuse_if_set(&Place::Request, "sequence_id", "sequence batching")
                .unwrap_err()
                .to_string(),
            "the request: sequence batching (parameter 'sequence_id') is not supported by inferd"
        );
    }

    #[test]
    fn the_last_of_a_repeated_name_wins() {
        let p = params(r#"{"binary_data": false, "binary_data": true}"#);
        assert_eq!(p.bool(&Place::Request, "binary_data"), Ok(Some(true)));
    }
}
