//! One JSON number literal read from the bytes of a body, giving exactly
//! the value serde_json gives the general path for the same text, so the
//! fast path and the general path cannot disagree on a request.
//!
//! The literal's extent is checked against JSON's grammar here; integers
//! come out as serde_json's `u64`/`i64` would (`-0` as the float `-0.0`,
//! as serde_json reads it). Floats are correctly rounded, as serde_json
//! rounds them when built with `float_roundtrip` (set in the workspace's
//! Cargo.toml so that the two agree to the bit): by one exact operation
//! where that is the correctly rounded value (Clinger's fast path), else
//! by `fast-float2`.

/// A number literal's value, as serde_json's visitor would receive it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i128),
    Float(f64),
}

/// Reads the JSON number starting at `bytes[start]`; answers its value and
/// the index just past it, or `None` when the text is not a valid JSON
/// number or is out of range (the caller then leaves the body to the
/// general path, which says why).
pub fn read_number(bytes: &[u8], start: usize) -> Option<(Number, usize)> {
    let negative = bytes.get(start) == Some(&b'-');
    let int_start = start + usize::from(negative);
    let mut digits = Digits::default();
    let mut at = digits.read(bytes, int_start);
    let int_digits = at - int_start;
    // JSON: `0`, or a non-zero digit and more digits; no leading zeros.
    if int_digits == 0 || (int_digits > 1 && bytes[int_start] == b'0') {
        return None;
    }
    let mut float = false;
    let mut exponent: i64 = 0;
    if bytes.get(at) == Some(&b'.') {
        float = true;
        let frac_start = at + 1;
        at = digits.read(bytes, frac_start);
        if at == frac_start {
            return None;
        }
        exponent = -((at - frac_start) as i64);
    }
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
            // Past a million the value is 0 or out of range either way.
            written = (written * 10 + i64::from(b - b'0')).min(1_000_000);
            at += 1;
        }
        if at == exp_start {
            return None;
        }
        exponent += if negative_exponent { -written } else { written };
    }
    let literal = &bytes[start..at];
    let value = if float {
        digits
            .exact_float(negative, exponent)
            .or_else(|| float_value(literal))?
    } else {
        integer(negative, &digits, literal)?
    };
    Some((value, at))
}

/// A literal's decimal digits, as one integer while it fits.
#[derive(Default)]
struct Digits {
    /// The digits read so far as an integer (wrapping past 19 digits).
    significand: u64,
    count: usize,
}

impl Digits {
    /// Reads the ASCII digits from `bytes[at]` on; the index past them.
    fn read(&mut self, bytes: &[u8], mut at: usize) -> usize {
        while let Some(&b) = bytes.get(at).filter(|b| b.is_ascii_digit()) {
            self.significand = self
                .significand
                .wrapping_mul(10)
                .wrapping_add(u64::from(b - b'0'));
            self.count += 1;
            at += 1;
        }
        at
    }

    /// The significand, when no digit was lost to overflow.
    fn exact(&self) -> Option<u64> {
        (self.count <= 19).then_some(self.significand)
    }

    /// Clinger's fast path: a significand below 2^53 and a power of ten
    /// below 10^23 are both exact in binary64, so one IEEE multiplication
    /// or division gives the correctly rounded value, as any correct
    /// reader (fast-float2, serde_json with `float_roundtrip`) does. Most
    /// literals clients send take it. What it buys: mlp-784 at 64
    /// connections (784 short literals a request) ran at 0.92 (0.86-0.94)
    /// of the old build's requests a second with fast-float2 alone, 1.04
    /// with this first (`benches/old_vs_new.sh`, `benches/RESULTS.md`).
    fn exact_float(&self, negative: bool, exponent: i64) -> Option<Number> {
        const EXACT_POW10: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
            1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        ];
        let significand = self.exact().filter(|s| *s <= 1 << 53)? as f64;
        let pow = *EXACT_POW10.get(exponent.unsigned_abs() as usize)?;
        let value = if exponent >= 0 {
            significand * pow
        } else {
            significand / pow
        };
        Some(Number::Float(if negative { -value } else { value }))
    }
}

/// A float literal, correctly rounded; `None` past f64's range, which
/// serde_json refuses ("number out of range").
fn float_value(literal: &[u8]) -> Option<Number> {
    let value: f64 = fast_float2::parse(literal).ok()?;
    value.is_finite().then_some(Number::Float(value))
}

/// An integer literal as serde_json reads it: u64 when positive, i64 when
/// negative and in range, a float past that and for `-0`.
fn integer(negative: bool, digits: &Digits, literal: &[u8]) -> Option<Number> {
    let magnitude = match digits.exact() {
        Some(magnitude) => magnitude,
        // Twenty digits or more: exactly, or a float past u64, as
        // serde_json makes it.
        None => match std::str::from_utf8(&literal[usize::from(negative)..])
            .ok()?
            .parse::<u64>()
        {
            Ok(magnitude) => magnitude,
            Err(_) => return float_value(literal),
        },
    };
    Some(if !negative {
        Number::Int(i128::from(magnitude))
    } else if magnitude == 0 {
        Number::Float(-0.0)
    } else if magnitude <= 1 << 63 {
        Number::Int(-i128::from(magnitude))
    } else {
        Number::Float(-(magnitude as f64))
    })
}

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
        // serde_json is built with `float_roundtrip` (the workspace's
        // Cargo.toml): a 17-digit decimal its default formula rounds
        // otherwise must come out correctly rounded from both readers.
        let text = "0.91038120247931382";
        let Some(Number::Float(read)) = check(text) else {
            panic!("a float")
        };
        assert_eq!(read.to_bits(), text.parse::<f64>().unwrap().to_bits());
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
