//! A wall-clock time as RFC 3339 in UTC with microseconds
//! (`2026-12-02T13:44:00.123456Z`), as the `tracing` subscriber writes
//! its own lines' times. The date and time of day are formatted once per
//! second per thread: a busy server writes thousands of lines a second.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::macros::format_description;

thread_local! {
    /// The second last formatted on this thread, and its text.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Appends `at`; a time before the epoch is written as the epoch.
pub fn push(out: &mut Vec<u8>, at: SystemTime) {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let cached = SECOND.try_with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != seconds {
            *cached = (seconds, date_and_time(seconds));
        }
        out.extend_from_slice(cached.1.as_bytes());
    });
    if cached.is_err() {
        // A thread that is exiting, its cache already gone.
        out.extend_from_slice(date_and_time(seconds).as_bytes());
    }
    let micros = since.subsec_micros();
    out.push(b'.');
    let mut buffer = itoa::Buffer::new();
    let digits = buffer.format(micros).as_bytes();
    out.extend(std::iter::repeat_n(b'0', 6 - digits.len()));
    out.extend_from_slice(digits);
    out.push(b'Z');
}

/// `seconds` since the epoch as `2026-12-02T13:44:00`.
fn date_and_time(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn text(nanos: u64) -> String {
        let mut out = Vec::new();
        push(&mut out, UNIX_EPOCH + Duration::from_nanos(nanos));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_digit_is_written() {
        assert_eq!(
            text(1_796_219_040_123_456_789),
            "2026-12-02T13:44:00.123456Z"
        );
        assert_eq!(
            text(1_796_219_041_000_009_999),
            "2026-12-02T13:44:01.000009Z"
        );
        assert_eq!(
            text(1_796_219_041_100_000_000),
            "2026-12-02T13:44:01.100000Z"
        );
        let before = UNIX_EPOCH - Duration::from_secs(5);
        let mut out = Vec::new();
        push(&mut out, before);
        assert_eq!(out, b"1970-01-01T00:00:00.000000Z");
    }
}
