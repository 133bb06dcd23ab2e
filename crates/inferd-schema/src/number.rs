//! One JSON number literal read from the bytes of a body, giving exactly
//! the value serde_json gives the general path for the same text (so the
//! fast path and the general path cannot disagree on a request), at a
//! fraction of the cost of going through a `Deserializer` per element.
//!
//! Integers come out as serde_json's `u64`/`i64` would (`-0` as the float
//! `-0.0`, as serde_json reads it). Floats of up to 19 digits whose decimal
//! exponent is within ±22 are computed here:
//! - digits that fit 2^53: one exact IEEE operation, which is both
//!   serde_json's formula and the correctly rounded value, so it holds
//!   whichever of serde_json's float modes is built in;
//! - more digits (the 17 that `repr` gives most float64 values, as numpy
//!   clients send them): serde_json's own formula when it is built without
//!   `float_roundtrip` (its default; seen once, by a probe), else handed on.
//!
//! Any other float literal is handed to serde_json itself.

/// A number literal's value, as serde_json's visitor would receive it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Int(i128),
    Float(f64),
}

/// Powers of ten that are exact in binary64.
const EXACT_POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Integers up to this are exact in binary64.
const EXACT_INT: u64 = 1 << 53;

/// Reads the JSON number starting at `bytes[start]`; answers its value and
/// the index just past it, or `None` when the text is not a valid JSON
/// number or is out of range (the caller then leaves the body to the
/// general path, which says why).
pub(crate) fn read_number(bytes: &[u8], start: usize) -> Option<(Number, usize)> {
    let negative = bytes.get(start) == Some(&b'-');
    let int_start = start + usize::from(negative);
    let mut significand: u64 = 0;
    let mut at = digits(bytes, int_start, &mut significand);
    let int_digits = at - int_start;
    // JSON: `0`, or a non-zero digit and more digits; no leading zeros.
    if int_digits == 0 || (int_digits > 1 && bytes[int_start] == b'0') {
        return None;
    }
    let mut frac_digits = 0;
    if bytes.get(at) == Some(&b'.') {
        let frac_start = at + 1;
        at = fraction_digits(bytes, frac_start, &mut significand);
        frac_digits = at - frac_start;
        if frac_digits == 0 {
            return None;
        }
    }
    let mut exponent = -(frac_digits as i64);
    let mut float = frac_digits > 0;
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        float = true;
        at += 1;
        let negative_exponent = bytes.get(at) == Some(&b'-');
        if matches!(bytes.get(at), Some(b'-' | b'+')) {
            at += 1;
        }
        let exp_start = at;
        let mut written: i64 = 0;
        while let Some(&b) = bytes.get(at).filter(|b| b.is_ascii_digit()) {
            // Past a million the value is 0 or out of range either way;
            // serde_json decides which.
            written = (written * 10 + i64::from(b - b'0')).min(1_000_000);
            at += 1;
        }
        if at == exp_start {
            return None;
        }
        exponent += if negative_exponent { -written } else { written };
    }
    let literal = &bytes[start..at];
    // Up to 19 digits a u64 cannot have overflowed.
    let exact_digits = int_digits + frac_digits <= 19;
    if !float {
        return Some((integer(negative, significand, exact_digits, literal)?, at));
    }
    if exact_digits
        && (-22..=22).contains(&exponent)
        && (significand <= EXACT_INT || !serde_rounds_correctly())
    {
        // Rounded once to binary64 (exact up to 2^53), then one operation
        // with an exact power of ten: serde_json's `f64_from_parts`.
        let magnitude = significand as f64;
        let pow = EXACT_POW10[exponent.unsigned_abs() as usize];
        let value = if exponent >= 0 {
            magnitude * pow
        } else {
            magnitude / pow
        };
        return Some((Number::Float(if negative { -value } else { value }), at));
    }
    let value = serde_json::from_slice::<f64>(literal).ok()?;
    Some((Number::Float(value), at))
}

/// A literal that serde_json's default formula and a correctly rounded
/// reading (its `float_roundtrip` feature, and `str::parse`) make two
/// different floats of.
const MODE_PROBE: &str = "0.91038120247931382";

/// Whether serde_json, as built into this program, rounds floats correctly
/// (`float_roundtrip`, which any crate in the build can turn on) rather
/// than by its default formula; read once, from [`MODE_PROBE`].
fn serde_rounds_correctly() -> bool {
    static CORRECT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CORRECT.get_or_init(|| {
        let theirs = serde_json::from_str::<f64>(MODE_PROBE).ok();
        theirs.map(f64::to_bits) == MODE_PROBE.parse::<f64>().ok().map(f64::to_bits)
    })
}

/// Accumulates the decimal digits from `bytes[at]` on into `significand`
/// (wrapping: the caller counts digits to know whether it did); answers
/// the index past them.
fn digits(bytes: &[u8], mut at: usize, significand: &mut u64) -> usize {
    while let Some(&b) = bytes.get(at) {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        *significand = significand.wrapping_mul(10).wrapping_add(u64::from(digit));
        at += 1;
    }
    at
}

/// As [`digits`], eight at a time while eight are there: for fractions,
/// where the 16 or 17 digits of a float64's `repr` (what numpy clients
/// send) take two steps; a short fraction costs one failed check.
fn fraction_digits(bytes: &[u8], mut at: usize, significand: &mut u64) -> usize {
    while let Some(value) = bytes
        .get(at..at + 8)
        .and_then(|chunk| eight_digits(u64::from_le_bytes(chunk.try_into().ok()?)))
    {
        *significand = significand.wrapping_mul(100_000_000).wrapping_add(value);
        at += 8;
    }
    digits(bytes, at, significand)
}

/// The value of eight ASCII digits read as a little-endian word (the
/// first digit in the lowest byte), or `None` when any byte is not a digit.
fn eight_digits(word: u64) -> Option<u64> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // A byte is a digit when it is at least '0' and, plus 0x46, still
    // below 0x80 (at most '9'): either test failing sets its top bit.
    let below = word.wrapping_sub(ONES * u64::from(b'0'));
    let above = word.wrapping_add(ONES * 0x46);
    if (below | above) & (ONES * 0x80) != 0 {
        return None;
    }
    // Combine neighbours three times: pairs (x10), quads (x100), then the
    // two halves (x10^4), each step keeping the more significant digit
    // (the lower byte) times its weight plus the other.
    let pairs = (below * 10 + (below >> 8)) & 0x00FF_00FF_00FF_00FF;
    let quads = (pairs * 100 + (pairs >> 16)) & 0x0000_FFFF_0000_FFFF;
    Some((quads * 10_000 + (quads >> 32)) & 0xFFFF_FFFF)
}

/// An integer literal as serde_json reads it: u64 when positive, i64 when
/// negative and in range, a float past that and for `-0`.
fn integer(negative: bool, significand: u64, exact: bool, literal: &[u8]) -> Option<Number> {
    let significand = if exact {
        significand
    } else {
        // Twenty digits or more: exactly, or a float when past u64.
        let digits = std::str::from_utf8(&literal[usize::from(negative)..]).ok()?;
        match digits.parse::<u64>() {
            Ok(value) => value,
            Err(_) => return Some(Number::Float(serde_json::from_slice(literal).ok()?)),
        }
    };
    Some(if !negative {
        Number::Int(i128::from(significand))
    } else if significand == 0 {
        Number::Float(-0.0)
    } else if significand <= 1 << 63 {
        Number::Int(-i128::from(significand))
    } else {
        Number::Float(-(significand as f64))
    })
}

/// A fixed xorshift sequence for generated test inputs: deterministic,
/// each call a number below its argument.
#[cfg(test)]
pub(crate) fn sequence(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |below| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde_json makes of the literal, in the same terms.
    fn serde(text: &str) -> Option<Number> {
        match serde_json::from_str::<serde_json::Value>(text).ok()? {
            serde_json::Value::Number(n) => Some(if let Some(u) = n.as_u64() {
                Number::Int(u.into())
            } else if let Some(i) = n.as_i64() {
                Number::Int(i.into())
            } else {
                Number::Float(n.as_f64()?)
            }),
            _ => None,
        }
    }

    fn same_bits(a: Number, b: Number) -> bool {
        match (a, b) {
            (Number::Float(x), Number::Float(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    /// Whenever this reader answers, it answers serde_json's value, to the bit.
    fn check(text: &str) -> Option<Number> {
        let ours = read_number(text.as_bytes(), 0);
        if let Some((value, end)) = ours {
            assert_eq!(end, text.len(), "{text}: stopped early");
            let theirs = serde(text).unwrap_or_else(|| panic!("{text}: serde_json refuses it"));
            assert!(same_bits(value, theirs), "{text}: {value:?} vs {theirs:?}");
        }
        ours.map(|(value, _)| value)
    }

    #[test]
    fn plain_literals() {
        assert_eq!(check("0"), Some(Number::Int(0)));
        assert_eq!(check("-17"), Some(Number::Int(-17)));
        assert_eq!(check("0.3125"), Some(Number::Float(0.3125)));
        assert_eq!(check("-2.5e3"), Some(Number::Float(-2500.0)));
        assert_eq!(check("1E-2"), Some(Number::Float(0.01)));
        assert_eq!(
            check("9223372036854775807"),
            Some(Number::Int(i64::MAX.into()))
        );
        let Some(Number::Float(z)) = check("-0") else {
            panic!("-0 is a float")
        };
        assert!(z == 0.0 && z.is_sign_negative());
        assert!(check("0.9636627605010293").is_some());
        assert_eq!(
            check("18446744073709551615"),
            Some(Number::Int(u64::MAX.into()))
        );
        assert_eq!(
            check("-9223372036854775808"),
            Some(Number::Int(i64::MIN.into()))
        );
        assert!(matches!(
            check("-9223372036854775809"),
            Some(Number::Float(_))
        ));
        assert!(matches!(
            check("18446744073709551616"),
            Some(Number::Float(_))
        ));
        assert!(check("1e-400").is_some());
        assert!(check("123456789012345678901234567890.5").is_some());
    }

    #[test]
    fn long_decimals_are_read_as_serde_json_reads_them() {
        // The probe tells the two float modes apart: the formula's value
        // is not the correctly rounded one.
        let formula = 91_038_120_247_931_382_u64 as f64 / 1e17;
        let rounded: f64 = MODE_PROBE.parse().unwrap();
        assert_ne!(formula.to_bits(), rounded.to_bits());
        let Some(Number::Float(read)) = check(MODE_PROBE) else {
            panic!("the probe is a float")
        };
        let expected = if serde_rounds_correctly() {
            rounded
        } else {
            formula
        };
        assert_eq!(read.to_bits(), expected.to_bits());
        // What numpy clients send: 17 significant digits, past 2^53.
        for text in [
            "0.050680119544267654",
            "-0.034820761531591415",
            "-0.002592262113466859",
            "1234567890.123456789",
            "9.999999999999999e22",
            "1.8446744073709551e-5",
        ] {
            assert!(check(text).is_some(), "{text} was handed on");
        }
    }

    #[test]
    fn eight_digits_at_once_match_one_at_a_time() {
        let mut next = sequence(0x2545_F491_4F6C_DD1D);
        for _ in 0..20_000 {
            let mut word = [0u8; 8];
            for byte in &mut word {
                // Mostly digits, sometimes a neighbour of the digit range.
                *byte = match next(12) {
                    10 => [b'/', b':', b'.', b'e', 0, 0xff, b' ', b'-'][next(8) as usize],
                    11 => next(256) as u8,
                    d => b'0' + d as u8,
                };
            }
            let one_by_one = word.iter().try_fold(0u64, |acc, &b| {
                b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
            });
            assert_eq!(
                eight_digits(u64::from_le_bytes(word)),
                one_by_one,
                "{word:?}"
            );
        }
        assert_eq!(eight_digits(u64::from_le_bytes(*b"00000000")), Some(0));
        assert_eq!(
            eight_digits(u64::from_le_bytes(*b"99999999")),
            Some(99_999_999)
        );
        assert_eq!(
            eight_digits(u64::from_le_bytes(*b"12345678")),
            Some(12_345_678)
        );
    }

    #[test]
    fn invalid_or_unwanted_literals_are_refused() {
        for text in [
            "", "-", "1.", ".5", "+1", "1e", "1e+", "--1", "1.e3", "1e400", "-1e400",
        ] {
            assert_eq!(read_number(text.as_bytes(), 0), None, "{text}");
        }
        // The literal ends where JSON says it does; what follows is the caller's.
        assert_eq!(read_number(b"12,3", 0), Some((Number::Int(12), 2)));
        assert_eq!(read_number(b"0123", 0), None);
        assert_eq!(read_number(b"-0.5]", 0), Some((Number::Float(-0.5), 4)));
    }

    #[test]
    fn agrees_with_serde_json_on_many_generated_literals() {
        // Wide enough to cover the exact fast case, its edges, and the
        // hand-over to serde_json.
        let mut next = sequence(0x9E37_79B9_7F4A_7C15);
        let digits = |n: u64, next: &mut dyn FnMut(u64) -> u64| -> String {
            (0..n).map(|_| char::from(b'0' + next(10) as u8)).collect()
        };
        let mut answered = 0;
        for _ in 0..50_000 {
            let mut text = String::new();
            if next(2) == 0 {
                text.push('-');
            }
            let int_len = 1 + next(19);
            let int = digits(int_len, &mut next);
            let int = int.trim_start_matches('0');
            text.push_str(if int.is_empty() { "0" } else { int });
            if next(4) != 0 {
                text.push('.');
                let frac_len = 1 + next(20);
                text.push_str(&digits(frac_len, &mut next));
            }
            if next(3) == 0 {
                text.push(['e', 'E'][next(2) as usize]);
                text.push_str(["", "+", "-"][next(3) as usize]);
                text.push_str(&(next(340)).to_string());
            }
            if check(&text).is_some() {
                answered += 1;
            }
        }
        assert!(answered > 40_000, "only {answered} answered");
    }
}
