//! Durations written as milliseconds with three decimals (`12.345`), for
//! the timing headers and the access line: integers only, since
//! formatting an `f64` with `{:.3}` costs about a thousand instructions a
//! number and a request writes several.

use std::time::Duration;

/// Whole microseconds, rounded to the nearest.
fn micros(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from((duration.subsec_nanos() + 500) / 1000))
}

/// Appends `duration` as milliseconds with exactly three decimals.
pub fn push(out: &mut Vec<u8>, duration: Duration) {
    let micros = micros(duration);
    out.extend_from_slice(itoa::Buffer::new().format(micros / 1000).as_bytes());
    let fraction = (micros % 1000) as u32;
    out.extend_from_slice(&[
        b'.',
        b'0' + (fraction / 100) as u8,
        b'0' + (fraction / 10 % 10) as u8,
        b'0' + (fraction % 10) as u8,
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(duration: Duration) -> String {
        let mut out = Vec::new();
        push(&mut out, duration);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn three_decimals_rounded_to_the_microsecond() {
        assert_eq!(text(Duration::ZERO), "0.000");
        assert_eq!(text(Duration::from_nanos(499)), "0.000");
        assert_eq!(text(Duration::from_nanos(500)), "0.001");
        assert_eq!(text(Duration::from_micros(12_345)), "12.345");
        assert_eq!(text(Duration::from_micros(7_050)), "7.050");
        assert_eq!(text(Duration::from_secs(61)), "61000.000");
        assert_eq!(text(Duration::from_nanos(999_999_500)), "1000.000");
        assert_eq!(text(Duration::MAX), "18446744073709551.615");
    }

    #[test]
    fn agrees_with_float_formatting() {
        for micros in (0..2_000_000u64).step_by(7).chain([999_999, 123_456_789]) {
            let expected = format!("{:.3}", micros as f64 / 1000.0);
            assert_eq!(text(Duration::from_micros(micros)), expected);
        }
    }
}
