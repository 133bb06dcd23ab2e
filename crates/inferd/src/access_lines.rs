//! The access line in the JSON log format, written by hand into one buffer
//! and queued for the log writer: the same shape as every other JSON log
//! line (`timestamp`, `level`, `fields`, `target`), at a fraction of the
//! generic formatter's cost. callgrind counted ~27,000 instructions per
//! request for this line through tracing-subscriber's JSON formatter, more
//! than a third of serving a small model.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use inferd_server::access::{AccessLine, AccessSink};
use inferd_server::millis;
use time::OffsetDateTime;
use time::macros::format_description;

/// Writes access lines as JSON log lines.
pub struct JsonAccessLines;

impl AccessSink for JsonAccessLines {
    fn write(&self, line: &AccessLine<'_>) {
        crate::log_writer::queue_line(format_line(line));
    }
}

/// One access line, newline included.
fn format_line(line: &AccessLine<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"{\"timestamp\":\"");
    timestamp(&mut out);
    out.extend_from_slice(b"\",\"level\":\"INFO\",\"fields\":{\"message\":\"access\"");
    field_str(&mut out, "request_id", line.request_id);
    field_str(&mut out, "method", line.method);
    field_str(&mut out, "path", line.path);
    field_int(&mut out, "status", line.status.into());
    if let Some((model, version)) = line.model {
        field_str(&mut out, "model", model);
        field_int(&mut out, "version", version.into());
    }
    for (name, ms) in [
        ("queue_ms", line.queue_ms),
        ("score_ms", line.score_ms),
        ("total_ms", Some(line.total_ms)),
    ] {
        if let Some(ms) = ms {
            field_ms(&mut out, name, ms);
        }
    }
    field_int(&mut out, "bytes_in", line.bytes_in);
    field_int(&mut out, "bytes_out", line.bytes_out);
    out.extend_from_slice(b"},\"target\":\"inferd::access\"}\n");
    out
}

/// `,"name":` (names are ours: plain ASCII). `write!` into a `Vec` costs
/// about 600 instructions a call (callgrind), more than the rest of a field.
fn field_name(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// `,"name":"value"` with the value escaped as JSON (client-given text
/// such as the request id and the path may hold anything).
fn field_str(out: &mut Vec<u8>, name: &str, value: &str) {
    field_name(out, name);
    let plain = value
        .bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b != 0x7f);
    if plain {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, value);
    }
}

fn field_int(out: &mut Vec<u8>, name: &str, value: u64) {
    field_name(out, name);
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// `,"name":12.345`: milliseconds to the microsecond, as the tracing
/// event wrote them, without formatting a float.
fn field_ms(out: &mut Vec<u8>, name: &str, ms: f64) {
    field_name(out, name);
    let micros = (ms * 1000.0).round().max(0.0) as u64;
    millis::push(out, micros);
}

thread_local! {
    /// The second last formatted on this thread, and its text.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// RFC 3339 in UTC with microseconds; the date and time of day are
/// formatted once per second per thread.
fn timestamp(out: &mut Vec<u8>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = now.as_secs();
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != seconds {
            let text = i64::try_from(seconds)
                .ok()
                .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
                .and_then(|t| {
                    t.format(format_description!(
                        "[year]-[month]-[day]T[hour]:[minute]:[second]"
                    ))
                    .ok()
                })
                .unwrap_or_default();
            *cached = (seconds, text);
        }
        out.extend_from_slice(cached.1.as_bytes());
    });
    let micros = now.subsec_micros();
    out.push(b'.');
    for place in [100_000, 10_000, 1_000, 100, 10, 1] {
        out.push(b'0' + (micros / place % 10) as u8);
    }
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(model: Option<(&str, u32)>, request_id: &str) -> Vec<u8> {
        format_line(&AccessLine {
            request_id,
            method: "POST",
            path: "/score",
            status: 200,
            model,
            queue_ms: Some(0.0125),
            score_ms: Some(3.2),
            total_ms: 12.3456,
            bytes_in: 40,
            bytes_out: 12,
        })
    }

    #[test]
    fn the_line_is_json_with_every_field() {
        let text = line(Some(("diabetes-ridge", 1)), "id-1");
        let parsed: serde_json::Value = serde_json::from_slice(&text).unwrap();
        let fields = &parsed["fields"];
        assert_eq!(fields["request_id"], "id-1");
        assert_eq!(fields["model"], "diabetes-ridge");
        assert_eq!(fields["version"], 1);
        assert_eq!(fields["queue_ms"], 0.013);
        assert_eq!(fields["score_ms"], 3.2);
        assert_eq!(fields["total_ms"], 12.346);
        assert_eq!(
            (fields["status"].clone(), fields["method"].clone()),
            (200.into(), "POST".into())
        );
        assert_eq!(
            (fields["bytes_in"].clone(), fields["bytes_out"].clone()),
            (40.into(), 12.into())
        );
        assert_eq!(parsed["target"], "inferd::access");
        assert_eq!(parsed["level"], "INFO");
        assert!(text.ends_with(b"\n"));
        let stamp = parsed["timestamp"].as_str().unwrap();
        assert!(
            OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339).is_ok(),
            "{stamp}"
        );
    }

    #[test]
    fn client_text_is_escaped() {
        let nasty = "a\"b\\c\nd\u{1}e\u{7f}";
        let text = line(None, nasty);
        let parsed: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(parsed["fields"]["request_id"], nasty);
        assert!(parsed["fields"].get("model").is_none());
    }
}
