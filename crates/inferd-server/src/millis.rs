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

/// Appends `micros` as milliseconds with exactly three decimals.
pub fn push(out: &mut Vec<u8>, micros: u64) {
    let mut digits = itoa::Buffer::new();
    let whole = digits.format(micros / 1000).as_bytes();
    let fraction = micros % 1000;
    // Composed on the stack and appended once (a u64 has at most 20 digits).
    let mut text = [0u8; 24];
    text[..whole.len()].copy_from_slice(whole);
    text[whole.len()..whole.len() + 4].copy_from_slice(&[
        b'.',
        b'0' + (fraction / 100) as u8,
        b'0' + (fraction / 10 % 10) as u8,
        b'0' + (fraction % 10) as u8,
    ]);
    out.extend_from_slice(&text[..whole.len() + 4]);
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
