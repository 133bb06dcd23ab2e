//! The request envelope: where the data sits in a body or a query string.

use serde::de::DeserializeSeed;
use serde_json::{Map, Value};

use crate::SchemaError;
use crate::envelope::{Envelope, EnvelopeSeed};
use crate::error::json_kind;

/// The field that holds the model's input, as in the contract.
pub const DATA_FIELD: &str = "data";

/// The `data` value of a POST body (for tests: the default field).
#[cfg(test)]
pub(crate) fn data_from_body(body: &[u8]) -> Result<Value, SchemaError> {
    data_from_body_field(body, DATA_FIELD)
}

/// The value of the field `field` of a POST body. Other top-level keys
/// are allowed and ignored, as the original server does; the field twice
/// is refused.
pub(crate) fn data_from_body_field(body: &[u8], field: &str) -> Result<Value, SchemaError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(SchemaError::EmptyBody);
    }
    if let Err(e) = std::str::from_utf8(body) {
        return Err(SchemaError::InvalidUtf8 {
            offset: e.valid_up_to(),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let envelope = EnvelopeSeed { field }
        .deserialize(&mut deserializer)
        .and_then(|envelope| deserializer.end().map(|()| envelope))
        .map_err(|e| SchemaError::MalformedJson(e.to_string()))?;
    match envelope {
        Envelope::Object {
            duplicate: true, ..
        } => Err(SchemaError::DuplicateData(field.to_owned())),
        Envelope::Object {
            data: Some(data), ..
        } => Ok(data),
        Envelope::Object { data: None, .. } => Err(SchemaError::MissingData(field.to_owned())),
        Envelope::Other(received) => Err(SchemaError::NotAnObject { received }),
    }
}

/// The `data` value of a query string (for tests: the default field).
#[cfg(test)]
pub(crate) fn data_from_query(query: &str) -> Result<Value, SchemaError> {
    query_data(query, DATA_FIELD).map(|(data, _)| data)
}

/// The value of the query parameter `field`, parsed as JSON (each
/// parameter is percent-decoded and parsed as JSON, as the original server
/// does), and the parameter's (percent-decoded) text.
pub(crate) fn query_data(query: &str, field: &str) -> Result<(Value, String), SchemaError> {
    let mut fields = Map::new();
    let mut data_text = None;
    for (name, text) in form_urlencoded_pairs(query) {
        let value: Value =
            serde_json::from_str(&text).map_err(|e| SchemaError::MalformedQuery {
                name: name.clone(),
                reason: e.to_string(),
            })?;
        // Only the data field is read; another repeated parameter is harmless.
        if name == field {
            if fields.contains_key(field) {
                return Err(SchemaError::DuplicateData(field.to_owned()));
            }
            data_text = Some(text);
        }
        fields.insert(name, value);
    }
    let data = take_data(Value::Object(fields), field)?;
    Ok((data, data_text.unwrap_or_default()))
}

fn take_data(value: Value, field: &str) -> Result<Value, SchemaError> {
    match value {
        Value::Object(mut fields) => fields
            .remove(field)
            .ok_or_else(|| SchemaError::MissingData(field.to_owned())),
        other => Err(SchemaError::NotAnObject {
            received: json_kind(&other),
        }),
    }
}

/// `application/x-www-form-urlencoded` pairs. A `+` is a space, as form
/// encoding has it (clients such as Python's `requests` send the spaces of
/// `json.dumps` that way), except right after a number's exponent mark, so
/// that a hand-written `1e+5` keeps its sign (`1e 5` is no JSON anyway).
fn form_urlencoded_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            (
                percent_decode(&plus_as_space(name)),
                percent_decode(&plus_as_space(value)),
            )
        })
}

/// Each `+` as a space, but one that follows `e`/`E` after a digit or `.`.
fn plus_as_space(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('+') {
        return text.into();
    }
    let bytes = text.as_bytes();
    let exponent_sign = |i: usize| {
        i >= 2
            && matches!(bytes[i - 1], b'e' | b'E')
            && (bytes[i - 2].is_ascii_digit() || bytes[i - 2] == b'.')
    };
    let spaced: String = text
        .char_indices()
        .map(|(i, c)| {
            if c == '+' && !exponent_sign(i) {
                ' '
            } else {
                c
            }
        })
        .collect();
    spaced.into()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_data_is_taken_and_extra_keys_ignored() {
        let data = data_from_body(br#"{"data": [[1, 2]], "extra": true}"#).unwrap();
        assert_eq!(data, json!([[1, 2]]));
    }

    #[test]
    fn body_errors_say_what_is_wrong() {
        assert_eq!(data_from_body(b"").unwrap_err(), SchemaError::EmptyBody);
        assert_eq!(data_from_body(b"  \n").unwrap_err(), SchemaError::EmptyBody);
        assert_eq!(
            data_from_body(b"{\"data\": \"\xff\"}").unwrap_err(),
            SchemaError::InvalidUtf8 { offset: 10 }
        );
        assert!(matches!(
            data_from_body(b"{\"data\": [1,"),
            Err(SchemaError::MalformedJson(_))
        ));
        assert!(matches!(
            data_from_body(b"{\"data\": NaN}"),
            Err(SchemaError::MalformedJson(_))
        ));
        assert_eq!(
            data_from_body(b"[[1]]").unwrap_err(),
            SchemaError::NotAnObject { received: "a list" }
        );
        assert_eq!(
            data_from_body(b"{\"x\": 1}").unwrap_err(),
            SchemaError::MissingData("data".into())
        );
    }

    #[test]
    fn query_parameters_are_json() {
        let data = data_from_query("data=%5B%5B1,2.5e+1%5D%5D&other=1").unwrap();
        assert_eq!(data, json!([[1, 25.0]]));
        // What Python's requests sends for json.dumps([[1, 2e+3, -4E+1]]).
        let data = data_from_query("data=%5B%5B1%2C+2e%2B3%2C+-4E+1%5D%5D").unwrap();
        assert_eq!(data, json!([[1, 2000.0, -40.0]]));
        assert_eq!(plus_as_space("+1+e+5+.e+"), " 1 e 5 .e+");
        assert_eq!(
            data_from_query("").unwrap_err(),
            SchemaError::MissingData("data".into())
        );
        assert!(matches!(
            data_from_query("data=[[1,"),
            Err(SchemaError::MalformedQuery { .. })
        ));
        // A stray '%' is kept as it is, and then fails as JSON, not as a panic.
        assert!(matches!(
            data_from_query("data=%"),
            Err(SchemaError::MalformedQuery { .. })
        ));
        assert!(matches!(
            data_from_query("data=%4"),
            Err(SchemaError::MalformedQuery { .. })
        ));
    }
}
