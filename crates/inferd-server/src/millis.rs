//! Durations written as milliseconds with three decimals (`12.345`), for
//! the timing headers and the access line. Integer arithmetic on whole
//! microseconds: `format!("{:.3}")` on an `f64` costs about a thousand
//! instructions a number (callgrind), and a request writes five of them.

use std::time::Duration;

/// Whole microseconds, rounded to the nearest.
pub fn micros(duration: Duration) -> u64 {
    let nanos = duration.as_nanos();
    u64::try_from((nanos + 500) / 1000).unwrap_or(u64::MAX)
}

/// Appends `micros` as milliseconds with exactly three decimals: digits
/// written from the right into a stack buffer, appended once.
pub fn push(out: &mut Vec<u8>, micros: u64) {
    // A u64 has at most 20 digits, plus the point.
    let mut text = [0u8; 21];
    let mut at = text.len();
    let mut rest = micros;
    let mut place = 0;
    // The three decimals, the point, then the whole part (at least a 0).
    while place < 4 || rest > 0 {
        if place == 3 {
            at -= 1;
            text[at] = b'.';
        }
        at -= 1;
        text[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        place += 1;
    }
    out.extend_from_slice(&text[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(duration: Duration) -> String {
        let mut out = Vec::new();
        push(&mut out, micros(duration));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn three_decimals_rounded_to_the_microsecond() {
        assert_eq!(shown(Duration::ZERO), "0.000");
        assert_eq!(shown(Duration::from_nanos(499)), "0.000");
        assert_eq!(shown(Duration::from_nanos(500)), "0.001");
        assert_eq!(shown(Duration::from_micros(12_345)), "12.345");
        assert_eq!(shown(Duration::from_micros(7_050)), "7.050");
        assert_eq!(shown(Duration::from_secs(61)), "61000.000");
        let mut out = Vec::new();
        push(&mut out, u64::MAX);
        assert_eq!(out, b"18446744073709551.615");
    }

    #[test]
    fn agrees_with_float_formatting() {
        for micros in [0u64, 1, 9, 10, 99, 100, 999, 1000, 1001, 123_456, 9_999_999] {
            let expected = format!("{:.3}", micros as f64 / 1000.0);
            let mut out = Vec::new();
            push(&mut out, micros);
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }
}
