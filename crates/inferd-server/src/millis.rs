//! Durations written as milliseconds with three decimals (`12.345`), for
//! the timing headers and the access line. Integer arithmetic on whole
//! microseconds: `format!("{:.3}")` on an `f64` costs about a thousand
//! instructions a number (callgrind), and a request writes five of them.

use std::time::Duration;

/// Whole microseconds, rounded to the nearest (in 64 bits: `as_nanos`
/// is a `u128`, and dividing one calls a library routine).
pub fn micros(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from((duration.subsec_nanos() + 500) / 1000))
}

/// Appends `micros` as milliseconds with exactly three decimals. Under a
/// second (nearly every duration here) the digits are placed directly, two
/// at a time from a table; longer ones are written from the right into a
/// stack buffer.
pub fn push(out: &mut Vec<u8>, micros: u64) {
    if micros < 1_000_000 {
        let (whole, fraction) = ((micros / 1000) as u32, (micros % 1000) as u32);
        let mut text = [0u8; 7];
        let at = if whole >= 100 {
            text[0] = b'0' + (whole / 100) as u8;
            text[1..3].copy_from_slice(&two_digits(whole));
            3
        } else if whole >= 10 {
            text[..2].copy_from_slice(&two_digits(whole));
            2
        } else {
            text[0] = b'0' + whole as u8;
            1
        };
        text[at] = b'.';
        text[at + 1] = b'0' + (fraction / 100) as u8;
        text[at + 2..at + 4].copy_from_slice(&two_digits(fraction));
        out.extend_from_slice(&text[..at + 4]);
        return;
    }
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

/// The last two decimal digits of `n`.
pub fn two_digits(n: u32) -> [u8; 2] {
    DIGIT_PAIRS[(n % 100) as usize]
}

/// "00" to "99".
const DIGIT_PAIRS: [[u8; 2]; 100] = {
    let mut pairs = [[0u8; 2]; 100];
    let mut n = 0;
    while n < 100 {
        pairs[n] = [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
        n += 1;
    }
    pairs
};

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
        assert_eq!(shown(Duration::from_nanos(999_999_499)), "999.999");
        assert_eq!(shown(Duration::from_nanos(999_999_500)), "1000.000");
        assert_eq!(shown(Duration::new(2, 999_999_999)), "3000.000");
        assert_eq!(shown(Duration::MAX), "18446744073709551.615");
        let mut out = Vec::new();
        push(&mut out, u64::MAX);
        assert_eq!(out, b"18446744073709551.615");
    }

    #[test]
    fn agrees_with_float_formatting() {
        let around_each_length = (0..7).flat_map(|p| {
            let n = 10u64.pow(p);
            [n - 1, n, n + 1, 5 * n, 9 * n + 7]
        });
        let wide = [999_999, 1_000_000, 1_000_001, 123_456_789, 9_999_999];
        for micros in around_each_length.chain(wide) {
            let expected = format!("{:.3}", micros as f64 / 1000.0);
            let mut out = Vec::new();
            push(&mut out, micros);
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn every_duration_under_a_second_is_exact() {
        let mut out = Vec::new();
        for micros in 0..1_000_000u64 {
            out.clear();
            push(&mut out, micros);
            let expected = format!("{}.{:03}", micros / 1000, micros % 1000);
            assert_eq!(out, expected.as_bytes());
        }
    }
}
