//! Text inside JSON strings, for the access line: client-given bytes (a
//! request id, a path) checked eight at a time, and escaped only when they
//! must be. A request id the server made up (or an ordinary client's) is
//! plain ASCII, and is copied as it is after one pass over its bytes.

/// Appends `bytes` inside a JSON string (the quotes are the caller's):
/// copied when [`plain`], else as UTF-8 (obs-text becomes the replacement
/// character) with what JSON requires escaped.
pub fn bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    if plain(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => string(out, text),
        Err(_) => string(out, &String::from_utf8_lossy(bytes)),
    }
}

/// Text that never holds a byte JSON must escape: copied as it is.
/// Checked in debug builds.
pub fn trusted(out: &mut Vec<u8>, value: &str) {
    debug_assert!(
        !value.bytes().any(|b| NEEDS_ESCAPE[usize::from(b)]),
        "{value:?}"
    );
    out.extend_from_slice(value.as_bytes());
}

/// The inside of a JSON string: client-given text may hold anything.
pub fn string(out: &mut Vec<u8>, value: &str) {
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

const ONES: u64 = u64::from_ne_bytes([1; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Some byte of `x` is below `n` (n <= 0x80). Each test here is exact as
/// a whole: a borrow can only spill into a byte above one that matched.
fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS
}

fn equal(x: u64, n: u8) -> u64 {
    below(x ^ (ONES * u64::from(n)), 1)
}

/// Some byte of `x` is 0x7f or above (no carry leaves a byte: its low
/// seven bits plus one is at most 0x80).
fn at_least_del(x: u64) -> u64 {
    (((x & !HIGHS) + ONES) | x) & HIGHS
}

/// Whether any byte is one of [`NEEDS_ESCAPE`]'s, eight at a time.
pub fn needs_escape(bytes: &[u8]) -> bool {
    any_chunk(bytes, |x| {
        below(x, 0x20) | equal(x, b'"') | equal(x, b'\\') | equal(x, 0x7f)
    }) || tail(bytes).iter().any(|&b| NEEDS_ESCAPE[usize::from(b)])
}

/// Whether every byte is printable ASCII that JSON need not escape: such
/// bytes are UTF-8 and go into a string as they are.
pub fn plain(bytes: &[u8]) -> bool {
    !any_chunk(bytes, |x| {
        below(x, 0x20) | equal(x, b'"') | equal(x, b'\\') | at_least_del(x)
    }) && tail(bytes)
        .iter()
        .all(|&b| b < 0x7f && !NEEDS_ESCAPE[usize::from(b)])
}

/// Whether `test` is nonzero for any whole eight bytes of `bytes`.
fn any_chunk(bytes: &[u8], test: impl Fn(u64) -> u64) -> bool {
    bytes
        .chunks_exact(8)
        .any(|chunk| test(u64::from_ne_bytes(chunk.try_into().expect("eight bytes"))) != 0)
}

/// The bytes after the last whole eight.
fn tail(bytes: &[u8]) -> &[u8] {
    &bytes[bytes.len() / 8 * 8..]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eight_at_a_time_checks_agree_with_the_table() {
        for byte in 0..=255u8 {
            for at in 0..17 {
                let mut text = *b"abcdefghijklmnopq";
                text[at] = byte;
                let escaped = NEEDS_ESCAPE[usize::from(byte)];
                assert_eq!(needs_escape(&text), escaped, "{byte:#x} at {at}");
                assert_eq!(plain(&text), byte < 0x80 && !escaped, "{byte:#x} at {at}");
            }
        }
        assert!(!needs_escape(b"") && plain(b""));
        assert!(!needs_escape("d\u{e9}j\u{e0} vu, \u{1f600} ~".as_bytes()));
        assert!(!plain("d\u{e9}j\u{e0} vu".as_bytes()));
        assert!(plain(b"6f1c2e0a-4b7d-4c11-9a3e-0d5b8f2c7e19"));
    }

    #[test]
    fn bytes_are_copied_escaped_or_replaced() {
        let written = |input: &[u8]| {
            let mut out = Vec::new();
            bytes(&mut out, input);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(written(b"id-1"), "id-1");
        assert_eq!(written("r\u{e9}q".as_bytes()), "r\u{e9}q");
        assert_eq!(
            written(b"a\"b\\c\n\x01\x7f"),
            "a\\\"b\\\\c\\n\\u0001\\u007f"
        );
        assert_eq!(written(b"id-\xe9"), "id-\u{fffd}");
    }
}
