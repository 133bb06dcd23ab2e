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
//!
//! A line's middle (method, path, status, model and version) is the same
//! for nearly every line a busy server writes, so the writer keeps the
//! last one's text and reuses it when the next record's bytes for it are
//! the same: one comparison and one copy instead of checking and writing
//! five fields.

use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use inferd_server::access::{AccessLine, AccessSink};
use inferd_server::millis;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::json_text;
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

/// A reading of both clocks at once, to turn a record's instant into the
/// wall-clock time it happened at (as a `SystemTime::now()` then would have
/// read, give or take the clocks' drift since: one writer pass, ms at most).
/// Kept as the wall clock's nanoseconds at [`base`], so that a record's
/// time is one integer addition.
pub struct Anchor {
    wall_at_base: i64,
}

impl Anchor {
    pub fn now() -> Anchor {
        let since = since_base(Instant::now());
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| nanos(d) as i64);
        Anchor {
            wall_at_base: wall.saturating_sub(since),
        }
    }

    /// Nanoseconds since the Unix epoch at `ended` (nanoseconds since
    /// [`base`]); 0 for a time before the epoch.
    fn wall_nanos(&self, ended: i64) -> u64 {
        self.wall_at_base.saturating_add(ended).max(0) as u64
    }
}

/// Signed nanoseconds from [`base`] to `at`.
fn since_base(at: Instant) -> i64 {
    match at.checked_duration_since(base()) {
        Some(after) => nanos(after) as i64,
        None => -(nanos(base() - at) as i64),
    }
}

/// "None" for an optional duration in a record.
const ABSENT: u64 = u64::MAX;

/// The bytes of a record before its middle: six 8-byte numbers, then the
/// request id's length.
const RECORD_NUMBERS: usize = 6 * 8 + 4;

/// The middle's bytes before its strings: the version, the status,
/// whether there is a model, the lengths of method, path and model.
const MIDDLE_NUMBERS: usize = 4 + 2 + 1 + 3 * 4;

/// Appends the record of `line`: [`RECORD_NUMBERS`] (little-endian), its
/// middle ([`MIDDLE_NUMBERS`], then method, path and model side by side),
/// then the request id. The numbers are put together on the stack and
/// appended as one copy.
pub fn encode(out: &mut Vec<u8>, line: &AccessLine<'_>) {
    let (model, version) = line.model.unwrap_or_default();
    let strings = [
        line.method.as_bytes(),
        line.path.as_bytes(),
        model.as_bytes(),
    ];
    let ended = since_base(line.ended);
    let optional = |d: Option<Duration>| d.map_or(ABSENT, nanos);
    let length = |text: &[u8]| u32::try_from(text.len()).unwrap_or(u32::MAX).to_le_bytes();
    let mut numbers = [0u8; RECORD_NUMBERS + MIDDLE_NUMBERS];
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
    put(&length(line.request_id));
    put(&version.to_le_bytes());
    put(&line.status.to_le_bytes());
    put(&[u8::from(line.model.is_some())]);
    for text in strings {
        put(&length(text));
    }
    let texts: usize = strings.iter().map(|s| s.len()).sum();
    out.reserve(numbers.len() + texts + line.request_id.len());
    out.extend_from_slice(&numbers);
    for text in strings {
        out.extend_from_slice(text);
    }
    out.extend_from_slice(line.request_id);
}

/// A record's facts, its middle still as the record holds it.
struct Record<'a> {
    /// Nanoseconds since [`base`].
    ended: i64,
    total: Duration,
    queue: Option<Duration>,
    score: Option<Duration>,
    bytes_in: u64,
    bytes_out: u64,
    request_id: &'a [u8],
    middle: &'a [u8],
}

/// The facts in a record's middle.
struct Middle<'a> {
    method: &'a str,
    path: &'a str,
    status: u16,
    model: Option<(&'a str, u32)>,
}

/// Splits `bytes` into `n` bytes and the rest, advancing `rest`.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (taken, after) = rest.split_at_checked(n)?;
    *rest = after;
    Some(taken)
}

fn take_array<const N: usize>(rest: &mut &[u8]) -> Option<[u8; N]> {
    take(rest, N)?.try_into().ok()
}

impl Record<'_> {
    fn parse(bytes: &[u8]) -> Option<Record<'_>> {
        let mut rest = bytes;
        let mut u64_ = || take_array(&mut rest).map(u64::from_le_bytes);
        let ended = u64_()? as i64;
        let total = Duration::from_nanos(u64_()?);
        let [queue, score] =
            [u64_()?, u64_()?].map(|n| (n != ABSENT).then(|| Duration::from_nanos(n)));
        let (bytes_in, bytes_out) = (u64_()?, u64_()?);
        let id_length = u32::from_le_bytes(take_array(&mut rest)?) as usize;
        let middle_length = rest.len().checked_sub(id_length)?;
        let (middle, request_id) = rest.split_at(middle_length);
        Some(Record {
            ended,
            total,
            queue,
            score,
            bytes_in,
            bytes_out,
            request_id,
            middle,
        })
    }
}

impl Middle<'_> {
    /// The facts of a record's middle; `None` unless it is exactly one.
    fn parse(bytes: &[u8]) -> Option<Middle<'_>> {
        let mut rest = bytes;
        let version = u32::from_le_bytes(take_array(&mut rest)?);
        let status = u16::from_le_bytes(take_array(&mut rest)?);
        let has_model = take(&mut rest, 1)? == [1];
        let mut lengths = [0usize; 3];
        for length in &mut lengths {
            *length = u32::from_le_bytes(take_array(&mut rest)?) as usize;
        }
        if rest.len() != lengths.iter().sum::<usize>() {
            return None;
        }
        // Method, path and model lie side by side: one UTF-8 check for all three.
        let texts = std::str::from_utf8(rest).ok()?;
        let (method, rest) = texts.split_at_checked(lengths[0])?;
        let (path, model) = rest.split_at_checked(lengths[1])?;
        Some(Middle {
            method,
            path,
            status,
            model: has_model.then_some((model, version)),
        })
    }
}

/// The line a record holds.
#[cfg(test)]
fn decode(bytes: &[u8]) -> Option<AccessLine<'_>> {
    let record = Record::parse(bytes)?;
    let middle = Middle::parse(record.middle)?;
    let ended = if record.ended >= 0 {
        base().checked_add(Duration::from_nanos(record.ended as u64))
    } else {
        base().checked_sub(Duration::from_nanos(record.ended.unsigned_abs()))
    }?;
    Some(AccessLine {
        request_id: record.request_id,
        method: middle.method,
        path: middle.path,
        status: middle.status,
        model: middle.model,
        queue: record.queue,
        score: record.score,
        total: record.total,
        ended,
        bytes_in: record.bytes_in,
        bytes_out: record.bytes_out,
    })
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX - 1)
}

/// The last middle rendered on this thread: its record bytes and its text.
#[derive(Default)]
struct LastMiddle {
    bytes: Vec<u8>,
    text: Vec<u8>,
}

thread_local! {
    static LAST_MIDDLE: RefCell<LastMiddle> = RefCell::default();
}

/// Appends the JSON line of the record `bytes` (from [`encode`]); nothing
/// when they are not one (they always are: only [`encode`] writes them).
pub fn render(bytes: &[u8], anchor: &Anchor, out: &mut Vec<u8>) {
    let rendered = Record::parse(bytes).and_then(|record| {
        LAST_MIDDLE.with(|last| {
            let mut last = last.borrow_mut();
            if last.bytes != record.middle {
                let middle = Middle::parse(record.middle)?;
                last.text.clear();
                write_middle(&mut last.text, &middle);
                last.bytes.clear();
                last.bytes.extend_from_slice(record.middle);
            }
            write_line(out, &record, &last.text, anchor.wall_nanos(record.ended));
            Some(())
        })
    });
    debug_assert!(rendered.is_some(), "not an access record");
}

/// Appends one access line, newline included. Each constant piece
/// (punctuation and field names) is one copy; numbers are written without
/// `fmt` (`write!` costs about 600 instructions a call, more than a whole
/// field).
fn write_line(out: &mut Vec<u8>, record: &Record<'_>, middle: &[u8], wall_nanos: u64) {
    out.reserve(160 + record.request_id.len() + middle.len());
    out.extend_from_slice(b"{\"timestamp\":\"");
    timestamp(out, wall_nanos);
    out.extend_from_slice(
        b"\",\"level\":\"INFO\",\"fields\":{\"message\":\"access\",\"request_id\":\"",
    );
    json_text::bytes(out, record.request_id);
    out.extend_from_slice(middle);
    if let Some(queue) = record.queue {
        out.extend_from_slice(b",\"queue_ms\":");
        millis::push(out, millis::micros(queue));
    }
    if let Some(score) = record.score {
        out.extend_from_slice(b",\"score_ms\":");
        millis::push(out, millis::micros(score));
    }
    out.extend_from_slice(b",\"total_ms\":");
    millis::push(out, millis::micros(record.total));
    out.extend_from_slice(b",\"bytes_in\":");
    int(out, record.bytes_in);
    out.extend_from_slice(b",\"bytes_out\":");
    int(out, record.bytes_out);
    out.extend_from_slice(b"},\"target\":\"inferd::access\"}\n");
}

/// The line from the request id's closing quote to the status or the
/// version, whichever comes last.
fn write_middle(out: &mut Vec<u8>, middle: &Middle<'_>) {
    out.extend_from_slice(b"\",\"method\":\"");
    // An HTTP token (see `AccessLine::method`).
    json_text::trusted(out, middle.method);
    out.extend_from_slice(b"\",\"path\":\"");
    json_text::string(out, middle.path);
    out.extend_from_slice(b"\",\"status\":");
    int(out, middle.status.into());
    if let Some((model, version)) = middle.model {
        out.extend_from_slice(b",\"model\":\"");
        // The registry's names need no escaping (see `AccessLine::model`).
        json_text::trusted(out, model);
        out.extend_from_slice(b"\",\"version\":");
        int(out, version.into());
    }
}

fn int(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

thread_local! {
    /// The second last formatted on this thread, and its text.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// `nanos` since the Unix epoch in RFC 3339, UTC, with microseconds; the
/// date and time of day are formatted once per second per thread.
fn timestamp(out: &mut Vec<u8>, nanos: u64) {
    let seconds = nanos / 1_000_000_000;
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
    let micros = (nanos % 1_000_000_000 / 1000) as u32;
    let [a, b] = millis::two_digits(micros / 10_000);
    let [c, d] = millis::two_digits(micros / 100);
    let [e, f] = millis::two_digits(micros);
    out.extend_from_slice(&[b'.', a, b, c, d, e, f, b'Z']);
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
    fn the_timestamp_has_every_digit() {
        let mut out = Vec::new();
        timestamp(&mut out, 1_796_219_040_123_456_789);
        assert_eq!(out, b"2026-12-02T13:44:00.123456Z");
        out.clear();
        timestamp(&mut out, 1_796_219_041_000_009_999);
        assert_eq!(out, b"2026-12-02T13:44:01.000009Z");
        // A wall clock before the epoch is written as the epoch.
        assert_eq!(Anchor { wall_at_base: -5 }.wall_nanos(2), 0);
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
    fn a_reused_middle_renders_as_a_fresh_one() {
        // Lines that share a middle, and lines that differ from the last
        // one in each part of it, in turn.
        let score = || facts(Some(("diabetes-ridge", 1)), "id-1");
        let lines = [
            score(),
            AccessLine {
                request_id: b"id-2",
                ..score()
            },
            AccessLine {
                status: 503,
                ..score()
            },
            AccessLine {
                model: Some(("diabetes-ridge", 2)),
                ..score()
            },
            AccessLine {
                model: Some(("iris", 1)),
                ..score()
            },
            AccessLine {
                model: None,
                ..score()
            },
            AccessLine {
                path: "/scorf",
                ..score()
            },
            AccessLine {
                method: "GET",
                ..score()
            },
            score(),
        ];
        let anchor = Anchor::now();
        let mut previous = Vec::new();
        for facts in &lines {
            let mut record = Vec::new();
            encode(&mut record, facts);
            let mut reused = Vec::new();
            render(&record, &anchor, &mut reused);
            LAST_MIDDLE.with(|last| *last.borrow_mut() = LastMiddle::default());
            let mut fresh = Vec::new();
            render(&record, &anchor, &mut fresh);
            assert_eq!(
                String::from_utf8(reused).unwrap(),
                String::from_utf8(fresh.clone()).unwrap()
            );
            assert_ne!(fresh, previous);
            let parsed: serde_json::Value = serde_json::from_slice(&fresh).unwrap();
            assert_eq!(parsed["fields"]["status"], facts.status);
            assert_eq!(parsed["fields"]["path"], facts.path);
            assert_eq!(parsed["fields"]["method"], facts.method);
            assert_eq!(
                parsed["fields"].get("version").and_then(|v| v.as_u64()),
                facts.model.map(|(_, v)| v.into())
            );
            previous = fresh;
        }
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
