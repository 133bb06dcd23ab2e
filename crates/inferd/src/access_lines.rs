//! The access line in the JSON log format, written by hand straight onto
//! the thread's log shelf (see `log_writer`; no buffer of its own): the
//! same shape as every other JSON log line (`timestamp`, `level`,
//! `fields`, `target`), at a fraction of the generic formatter's cost.
//! callgrind counted ~27,000 instructions per request for this line
//! through tracing-subscriber's JSON formatter, more than a third of
//! serving a small model.

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
        crate::log_writer::append_line(|out| format_line(out, line));
    }
}

/// Appends one access line, newline included. Each constant piece
/// (punctuation and field names) is one copy, so a line is about twenty
/// appends; numbers are written without `fmt` (`write!` costs about 600
/// instructions a call, more than a whole field).
fn format_line(out: &mut Vec<u8>, line: &AccessLine<'_>) {
    let model = line.model.map_or(0, |(name, _)| name.len());
    out.reserve(320 + line.request_id.len() + line.path.len() + model);
    out.extend_from_slice(b"{\"timestamp\":\"");
    timestamp(out);
    out.extend_from_slice(
        b"\",\"level\":\"INFO\",\"fields\":{\"message\":\"access\",\"request_id\":\"",
    );
    string(out, line.request_id);
    out.extend_from_slice(b"\",\"method\":\"");
    trusted(out, line.method);
    out.extend_from_slice(b"\",\"path\":\"");
    string(out, line.path);
    out.extend_from_slice(b"\",\"status\":");
    int(out, line.status.into());
    if let Some((model, version)) = line.model {
        out.extend_from_slice(b",\"model\":\"");
        trusted(out, model);
        out.extend_from_slice(b"\",\"version\":");
        int(out, version.into());
    }
    if let Some(queue) = line.queue {
        out.extend_from_slice(b",\"queue_ms\":");
        millis::push(out, millis::micros(queue));
    }
    if let Some(score) = line.score {
        out.extend_from_slice(b",\"score_ms\":");
        millis::push(out, millis::micros(score));
    }
    out.extend_from_slice(b",\"total_ms\":");
    millis::push(out, millis::micros(line.total));
    out.extend_from_slice(b",\"bytes_in\":");
    int(out, line.bytes_in);
    out.extend_from_slice(b",\"bytes_out\":");
    int(out, line.bytes_out);
    out.extend_from_slice(b"},\"target\":\"inferd::access\"}\n");
}

/// Text that never holds a byte JSON must escape (see [`AccessLine`]'s
/// fields): copied as it is. Checked in debug builds.
fn trusted(out: &mut Vec<u8>, value: &str) {
    debug_assert!(
        !value.bytes().any(|b| NEEDS_ESCAPE[usize::from(b)]),
        "{value:?}"
    );
    out.extend_from_slice(value.as_bytes());
}

/// The inside of a JSON string (the quotes are the caller's): client-given
/// text such as the request id and the path may hold anything.
fn string(out: &mut Vec<u8>, value: &str) {
    if !needs_escape(value.as_bytes()) {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    for byte in value.bytes() {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ if NEEDS_ESCAPE[usize::from(byte)] => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 0xf)],
                ]);
            }
            // Bytes of multi-byte characters pass as they are: `value` is UTF-8.
            _ => out.push(byte),
        }
    }
}

/// Whether any byte is one of [`NEEDS_ESCAPE`]'s, eight bytes at a time (a
/// request id is 36): each test below is exact as a whole (a borrow can
/// only spill into a byte above one that already matched).
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Some byte of `x` is below `n` (n <= 0x80).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
    let equal = |x: u64, n: u8| below(x ^ (ONES * u64::from(n)), 1);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let x = u64::from_ne_bytes(chunk.try_into().expect("eight bytes"));
        if below(x, 0x20) | equal(x, b'"') | equal(x, b'\\') | equal(x, 0x7f) != 0 {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| NEEDS_ESCAPE[usize::from(b)])
}

/// The bytes a JSON string must not hold as they are: controls, `"`, `\`,
/// and DEL (escaped too, so that no line carries a terminal control byte).
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] =
            byte < 0x20 || byte == b'"' as usize || byte == b'\\' as usize || byte == 0x7f;
        byte += 1;
    }
    table
};

fn int(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
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
    let digit = |place: u32| b'0' + (micros / place % 10) as u8;
    out.extend_from_slice(&[
        b'.',
        digit(100_000),
        digit(10_000),
        digit(1_000),
        digit(100),
        digit(10),
        digit(1),
        b'Z',
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn line(model: Option<(&str, u32)>, request_id: &str) -> Vec<u8> {
        let mut out = b"earlier line\n".to_vec();
        format_line(
            &mut out,
            &AccessLine {
                request_id,
                method: "POST",
                path: "/score",
                status: 200,
                model,
                queue: Some(Duration::from_nanos(12_500)),
                score: Some(Duration::from_micros(3_200)),
                total: Duration::from_nanos(12_345_600),
                bytes_in: 40,
                bytes_out: 12,
            },
        );
        // Appended after what the buffer held, untouched.
        let line = out.split_off(b"earlier line\n".len());
        assert_eq!(out, b"earlier line\n");
        line
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
    fn the_eight_at_a_time_check_agrees_with_the_table() {
        for byte in 0..=255u8 {
            for at in 0..17 {
                let mut text = *b"abcdefghijklmnopq";
                text[at] = byte;
                assert_eq!(
                    needs_escape(&text),
                    NEEDS_ESCAPE[usize::from(byte)],
                    "{byte:#x} at {at}"
                );
            }
        }
        assert!(!needs_escape(b""));
        assert!(!needs_escape("d\u{e9}j\u{e0} vu, \u{1f600} ~".as_bytes()));
    }

    #[test]
    fn client_text_is_escaped() {
        let nasty = "a\"b\\c\nd\u{1}e\u{7f}\r\tf\u{e9}\u{1f600}";
        let text = line(None, nasty);
        let parsed: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(parsed["fields"]["request_id"], nasty);
        assert!(parsed["fields"].get("model").is_none());
        let (body, end) = text.split_at(text.len() - 1);
        assert_eq!(end, b"\n");
        assert!(
            body.iter().all(|&b| b >= 0x20 && b != 0x7f),
            "a control byte reached the line"
        );
    }
}
