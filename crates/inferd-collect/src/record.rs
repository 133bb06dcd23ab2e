//! One collected request: a single line of JSON,
//! `{"time", "request_id", "model", "version", "input", "output"}`.

use std::io::Write;
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use bytes::Bytes;
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// RFC 3339 in UTC with exactly six fraction digits.
const TIME_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// What the client sent.
#[derive(Debug, Clone)]
pub enum Input {
    /// A JSON body (`{"data": ...}`), written as JSON.
    Json(Bytes),
    /// A `GET` query string, written as a string.
    Query(String),
    /// A binary body (an image, `.npy`, raw, a form): its type, and its
    /// bytes written in base64 (JSON holds no bytes).
    Binary { content_type: String, body: Bytes },
}

/// One scored request. Made on the request path, so it only holds
/// reference-counted buffers; all formatting happens on the writer thread.
#[derive(Debug, Clone)]
pub struct Record {
    pub time: SystemTime,
    pub request_id: String,
    pub model: Arc<str>,
    pub version: u32,
    pub input: Input,
    /// The response body (JSON).
    pub output: Bytes,
}

impl Record {
    /// The record as one line of JSON, newline included. JSON that is not
    /// valid (which the server never hands over) is kept as a string, so a
    /// line is always valid JSON on its own.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = Vec::with_capacity(128 + self.output.len() + self.input_len());
        // Fixed width (microseconds, UTC): every line of a record with the
        // same content has the same length, and the lines sort as text.
        let time = OffsetDateTime::from(self.time)
            .format(TIME_FORMAT)
            .unwrap_or_default();
        line.extend_from_slice(b"{\"time\":");
        string(&mut line, &time);
        line.extend_from_slice(b",\"request_id\":");
        string(&mut line, &self.request_id);
        line.extend_from_slice(b",\"model\":");
        string(&mut line, &self.model);
        let _ = write!(line, ",\"version\":{}", self.version);
        match &self.input {
            Input::Json(body) => {
                line.extend_from_slice(b",\"input\":");
                json(&mut line, body);
            }
            Input::Query(query) => {
                line.extend_from_slice(b",\"input_query\":");
                string(&mut line, query);
            }
            Input::Binary { content_type, body } => {
                line.extend_from_slice(b",\"input_binary\":{\"content_type\":");
                string(&mut line, content_type);
                line.extend_from_slice(b",\"base64\":\"");
                let start = line.len();
                line.resize(start + body.len().div_ceil(3) * 4, 0);
                let written = base64::engine::general_purpose::STANDARD
                    .encode_slice(body, &mut line[start..])
                    .expect("the line was grown by the encoded length");
                line.truncate(start + written);
                line.extend_from_slice(b"\"}");
            }
        }
        line.extend_from_slice(b",\"output\":");
        json(&mut line, &self.output);
        line.extend_from_slice(b"}\n");
        line
    }

    fn input_len(&self) -> usize {
        match &self.input {
            Input::Json(body) => body.len(),
            Input::Query(query) => query.len(),
            Input::Binary { body, .. } => body.len() / 3 * 4 + 64,
        }
    }
}

fn string(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(out, text).expect("a string serialises");
}

/// JSON text, re-serialised so that whitespace (newlines) inside it cannot
/// break the one-record-per-line format.
fn json(out: &mut Vec<u8>, text: &[u8]) {
    match serde_json::from_slice::<serde_json::Value>(text) {
        Ok(value) => serde_json::to_writer(out, &value).expect("a value serialises"),
        Err(_) => string(out, &String::from_utf8_lossy(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn record(input: Input, output: &'static [u8]) -> Record {
        Record {
            time: UNIX_EPOCH + Duration::from_millis(1_764_000_000_123),
            request_id: "req-\"1\"".into(),
            model: "ridge".into(),
            version: 3,
            input,
            output: Bytes::from_static(output),
        }
    }

    #[test]
    fn a_binary_body_is_written_in_base64_with_its_type() {
        let input = Input::Binary {
            content_type: "image/png".into(),
            body: Bytes::from_static(b"\x89PNG\r\n"),
        };
        let line = record(input, b"[1]").to_line();
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["input_binary"]["content_type"], "image/png");
        assert_eq!(value["input_binary"]["base64"], "iVBORw0K");
    }

    #[test]
    fn a_record_is_one_line_of_json() {
        let body = Bytes::from_static(b"{\"data\":\n  [[1, 2],\n   [3, 4]]}");
        let line = record(Input::Json(body), b"[0.5,1.5]").to_line();
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        assert_eq!(line.last(), Some(&b'\n'));
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["time"], "2025-11-24T16:00:00.123000Z");
        assert_eq!(value["request_id"], "req-\"1\"");
        assert_eq!(value["model"], "ridge");
        assert_eq!(value["version"], 3);
        assert_eq!(value["input"]["data"][1][0], 3);
        assert_eq!(value["output"][1], 1.5);
    }

    #[test]
    fn a_query_and_invalid_json_are_kept_as_strings() {
        let line = record(Input::Query("data=[[1,2]]".into()), b"not json\n").to_line();
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["input_query"], "data=[[1,2]]");
        assert_eq!(value["output"], "not json\n");
    }
}
