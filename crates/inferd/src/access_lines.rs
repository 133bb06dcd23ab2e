//! The access line in the JSON log format: the same shape as every other
//! JSON log line (`timestamp`, `level`, `fields`, `target`), at a fraction
//! of the generic formatter's cost. callgrind counted ~27,000 instructions
//! per request for this line through tracing-subscriber's JSON formatter,
//! more than a third of serving a small model.
//!
//! The request's thread only [`encode`]s the line's facts onto its log
//! shelf (see `log_writer`): fixed-width numbers, then the strings. The
//! writer thread [`render`]s them as text, with the wall-clock time worked
//! out from the monotonic instant the request ended at (see [`Anchor`]), so
//! the request's thread reads no extra clock either.

use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use inferd_server::access::{AccessLine, AccessSink};
use inferd_server::millis;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::log_writer::{self, Entry};

/// Writes access lines as JSON log lines.
pub struct JsonAccessLines;

impl AccessSink for JsonAccessLines {
    fn write(&self, line: &AccessLine<'_>) {
        log_writer::append(Entry::Access, |out| encode(out, line));
    }
}

/// Where instants are counted from in a record: signed nanoseconds since
/// the first record's encoding (or render).
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// A reading of both clocks at once, to turn a monotonic instant into the
/// wall-clock time it happened at (as a `SystemTime::now()` then would have
/// read, give or take the clocks' drift since: one writer pass, ms at most).
pub struct Anchor {
    instant: Instant,
    wall: SystemTime,
}

impl Anchor {
    pub fn now() -> Anchor {
        Anchor {
            instant: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    fn wall_time(&self, at: Instant) -> SystemTime {
        match self.instant.checked_duration_since(at) {
            Some(before) => self.wall.checked_sub(before),
            None => self.wall.checked_add(at - self.instant),
        }
        .unwrap_or(self.wall)
    }
}

/// "None" for an optional duration in a record.
const ABSENT: u64 = u64::MAX;

/// Appends the record of `line`: its numbers (little-endian), then the
/// lengths of its strings, then the strings themselves. The numbers are
/// put together on the stack and appended as one copy.
pub fn encode(out: &mut Vec<u8>, line: &AccessLine<'_>) {
    let (model, version) = line.model.unwrap_or_default();
    let strings = [
        line.request_id,
        line.method.as_bytes(),
        line.path.as_bytes(),
        model.as_bytes(),
    ];
    let ended = match line.ended.checked_duration_since(base()) {
        Some(after) => nanos(after) as i64,
        None => -(nanos(base() - line.ended) as i64),
    };
    let optional = |d: Option<Duration>| d.map_or(ABSENT, nanos);
    let mut numbers = [0u8; RECORD_NUMBERS];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        numbers[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(&ended.to_le_bytes());
    put(&nanos(line.total).to_le_bytes());
    put(&optional(line.queue).to_le_bytes());
    put(&optional(line.score).to_le_bytes());
    put(&line.bytes_in.to_le_bytes());
    put(&line.bytes_out.to_le_bytes());
    put(&version.to_le_bytes());
    put(&line.status.to_le_bytes());
    put(&[u8::from(line.model.is_some())]);
    for text in strings {
        put(&u32::try_from(text.len()).unwrap_or(u32::MAX).to_le_bytes());
    }
    out.reserve(RECORD_NUMBERS + strings.iter().map(|s| s.len()).sum::<usize>());
    out.extend_from_slice(&numbers);
    for text in strings {
        out.extend_from_slice(text);
    }
}

/// The bytes of a record before its strings: six 8-byte numbers, the
/// version, the status, whether there is a model, four string lengths.
const RECORD_NUMBERS: usize = 6 * 8 + 4 + 2 + 1 + 4 * 4;

/// Appends the JSON line of the record `bytes` (from [`encode`]); nothing
/// when they are not one (they always are: only [`encode`] writes them).
pub fn render(bytes: &[u8], anchor: &Anchor, out: &mut Vec<u8>) {
    let line = decode(bytes);
    debug_assert!(line.is_some(), "not an access record");
    if let Some(line) = line {
        format_line(out, &line, anchor.wall_time(line.ended));
    }
}

/// The line a record holds.
fn decode(bytes: &[u8]) -> Option<AccessLine<'_>> {
    let mut rest = bytes;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (taken, after) = rest.split_at_checked(n)?;
        rest = after;
        Some(taken)
    };
    let mut u64_ = || Some(u64::from_le_bytes(take(8)?.try_into().ok()?));
    let ended = u64_()? as i64;
    let total = Duration::from_nanos(u64_()?);
    let [queue, score] = [u64_()?, u64_()?].map(|n| (n != ABSENT).then(|| Duration::from_nanos(n)));
    let (bytes_in, bytes_out) = (u64_()?, u64_()?);
    let version = u32::from_le_bytes(take(4)?.try_into().ok()?);
    let status = u16::from_le_bytes(take(2)?.try_into().ok()?);
    let has_model = take(1)? == [1];
    let mut lengths = [0usize; 4];
    for length in &mut lengths {
        *length = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    }
    let request_id = take(lengths[0])?;
    // Method, path and model lie side by side: one UTF-8 check for all three.
    let texts = std::str::from_utf8(take(lengths[1] + lengths[2] + lengths[3])?).ok()?;
    let (method, rest) = texts.split_at_checked(lengths[1])?;
    let (path, model) = rest.split_at_checked(lengths[2])?;
    let ended = if ended >= 0 {
        base().checked_add(Duration::from_nanos(ended as u64))
    } else {
        base().checked_sub(Duration::from_nanos(ended.unsigned_abs()))
    }?;
    Some(AccessLine {
        request_id,
        method,
        path,
        status,
        model: has_model.then_some((model, version)),
        queue,
        score,
        total,
        ended,
        bytes_in,
        bytes_out,
    })
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX - 1)
}

/// Appends one access line, newline included. Each constant piece
/// (punctuation and field names) is one copy, so a line is about twenty
/// appends; numbers are written without `fmt` (`write!` costs about 600
/// instructions a call, more than a whole field).
fn format_line(out: &mut Vec<u8>, line: &AccessLine<'_>, time: SystemTime) {
    let model = line.model.map_or(0, |(name, _)| name.len());
    out.reserve(320 + line.request_id.len() + line.path.len() + model);
    out.extend_from_slice(b"{\"timestamp\":\"");
    timestamp(out, time);
    out.extend_from_slice(
        b"\",\"level\":\"INFO\",\"fields\":{\"message\":\"access\",\"request_id\":\"",
    );
    // Not UTF-8 only when a client sent obs-text bytes in its id.
    match std::str::from_utf8(line.request_id) {
        Ok(id) => string(out, id),
        Err(_) => string(out, &String::from_utf8_lossy(line.request_id)),
    }
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

/// `time` in RFC 3339, UTC, with microseconds; the date and time of day
/// are formatted once per second per thread.
fn timestamp(out: &mut Vec<u8>, time: SystemTime) {
    let now = time.duration_since(UNIX_EPOCH).unwrap_or_default();
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

    fn facts<'a>(model: Option<(&'a str, u32)>, request_id: &'a str) -> AccessLine<'a> {
        AccessLine {
            request_id: request_id.as_bytes(),
            method: "POST",
            path: "/score",
            status: 200,
            model,
            queue: Some(Duration::from_nanos(12_500)),
            score: Some(Duration::from_micros(3_200)),
            total: Duration::from_nanos(12_345_600),
            ended: Instant::now(),
            bytes_in: 40,
            bytes_out: 12,
        }
    }

    /// The line of `facts`, through a record and the writer's rendering.
    fn rendered(facts: &AccessLine<'_>) -> Vec<u8> {
        let mut record = Vec::new();
        encode(&mut record, facts);
        let mut out = b"earlier line\n".to_vec();
        render(&record, &Anchor::now(), &mut out);
        // Appended after what the buffer held, untouched.
        let line = out.split_off(b"earlier line\n".len());
        assert_eq!(out, b"earlier line\n");
        line
    }

    fn line(model: Option<(&str, u32)>, request_id: &str) -> Vec<u8> {
        rendered(&facts(model, request_id))
    }

    #[test]
    fn a_record_renders_as_the_line_of_its_facts() {
        let facts = facts(Some(("m", u32::MAX)), "r\u{e9}q");
        let mut record = Vec::new();
        encode(&mut record, &facts);
        let decoded = decode(&record).unwrap();
        assert_eq!(
            (decoded.request_id, decoded.method, decoded.path),
            ("r\u{e9}q".as_bytes(), "POST", "/score")
        );
        assert_eq!(decoded.model, Some(("m", u32::MAX)));
        assert_eq!((decoded.queue, decoded.score), (facts.queue, facts.score));
        assert_eq!((decoded.total, decoded.ended), (facts.total, facts.ended));
        assert_eq!((decoded.bytes_in, decoded.bytes_out), (40, 12));
        let anchor = Anchor::now();
        let (mut direct, mut through) = (Vec::new(), Vec::new());
        format_line(&mut direct, &facts, anchor.wall_time(facts.ended));
        render(&record, &anchor, &mut through);
        assert_eq!(direct, through);
        // Absent parts stay absent; a cut record renders nothing.
        let bare = AccessLine {
            model: None,
            queue: None,
            score: None,
            ..facts
        };
        record.clear();
        encode(&mut record, &bare);
        let decoded = decode(&record).unwrap();
        assert_eq!(
            (decoded.model, decoded.queue, decoded.score),
            (None, None, None)
        );
        assert!(decode(&record[..record.len() - 1]).is_none());
        // obs-text in a client's id is written as the replacement character.
        let odd = AccessLine {
            request_id: b"id-\xe9",
            ..facts
        };
        let parsed: serde_json::Value = serde_json::from_slice(&rendered(&odd)).unwrap();
        assert_eq!(parsed["fields"]["request_id"], "id-\u{fffd}");
    }

    #[test]
    fn the_timestamp_is_when_the_request_ended() {
        let wall = |facts: &AccessLine<'_>| {
            let parsed: serde_json::Value = serde_json::from_slice(&rendered(facts)).unwrap();
            let stamp = parsed["timestamp"].as_str().unwrap().to_owned();
            let time =
                OffsetDateTime::parse(&stamp, &time::format_description::well_known::Rfc3339)
                    .unwrap();
            SystemTime::from(time)
        };
        let now = SystemTime::now();
        let Some(ago) = Instant::now().checked_sub(Duration::from_secs(90)) else {
            return;
        };
        let earlier = wall(&AccessLine {
            ended: ago,
            ..facts(None, "a")
        });
        let lag = now.duration_since(earlier).unwrap();
        assert!(
            lag > Duration::from_secs(89) && lag < Duration::from_secs(91),
            "{lag:?}"
        );
        // An instant before the first record's is fine too.
        let Some(before) = base().checked_sub(Duration::from_secs(5)) else {
            return;
        };
        let stamped = wall(&AccessLine {
            ended: before,
            ..facts(None, "b")
        });
        assert!(stamped < now);
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
