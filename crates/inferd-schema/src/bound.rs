//! float32's range, exactly as the documents state it (`minimum` and
//! `maximum` of ±f32::MAX), as JSON Schema validators read numbers: a
//! literal with a fraction or an exponent means its nearest float64; an
//! integer literal its exact value (Python's validators, schemathesis among
//! them, compare it as a big integer). The documents write the bound as the
//! integer f32::MAX, so that it reads the same either way.
//!
//! serde_json cannot say either near the bound: it parses an integer past
//! the 64-bit range into a float64 (`340282346638528859811704183484516925441`,
//! f32::MAX + 1, lands on f32::MAX or next to it), and its fast float parser
//! may be one step off (f32::MAX written out in digits arrives one float64
//! above it). So a value within a few float64 steps of ±f32::MAX is judged
//! by its literal, read again from the request's text: found by its place,
//! in one pass over the input's text however many such values there are. Every other value costs one comparison.

use std::cmp::Ordering;

/// f32::MAX as float64 (exact).
pub(crate) const F32_MAX: f64 = f32::MAX as f64;

/// One float64 step (ulp) at f32::MAX: 2^(127 - 52).
const STEP: f64 = (1u128 << 75) as f64;

/// Magnitudes from here to [`NEAR_ABOVE`] are judged by their literal.
pub(crate) const NEAR_BELOW: f64 = F32_MAX - 4.0 * STEP;

/// Past this, a value is out of range whatever its literal.
pub(crate) const NEAR_ABOVE: f64 = F32_MAX + 4.0 * STEP;

/// The digits of f32::MAX, an integer: (2^24 - 1) * 2^104.
const F32_MAX_DIGITS: &str = "340282346638528859811704183484516925440";

/// The text a request's data was parsed from, to read literals again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawData<'t> {
    /// The JSON text: a whole body, or a query parameter's value.
    pub(crate) text: &'t str,
    /// The body's member that holds the data; `None` when `text` is the
    /// data itself.
    pub(crate) field: Option<&'t str>,
}

impl<'t> RawData<'t> {
    /// A cursor at the value under the members `keys` below the data.
    fn at(&self, keys: &[&str]) -> Option<Cursor<'t>> {
        let mut cursor = Cursor {
            text: self.text,
            pos: 0,
        };
        for key in self.field.iter().chain(keys) {
            cursor.enter(key)?;
        }
        Some(cursor)
    }

    /// Of the numbers of the nested list under the members `keys` (none, or
    /// an input's name), row-major as the decoder visits them, the first at
    /// one of `indexes` (ascending) whose literal is beyond ±f32::MAX: its
    /// index and literal.
    pub(crate) fn beyond_f32_in_list(
        &self,
        keys: &[&str],
        indexes: &[usize],
    ) -> Option<(usize, &'t str)> {
        let mut cursor = self.at(keys)?;
        let mut wanted = indexes.iter().copied().peekable();
        let (mut index, mut depth) = (0usize, 0usize);
        loop {
            cursor.skip_space();
            match cursor.peek()? {
                b'[' => {
                    depth += 1;
                    cursor.pos += 1;
                }
                b']' => {
                    depth = depth.checked_sub(1)?;
                    cursor.pos += 1;
                }
                b',' => cursor.pos += 1,
                _ => {
                    let literal = cursor.value()?;
                    if wanted.next_if_eq(&index).is_some() && beyond_f32(literal) {
                        return Some((index, literal));
                    }
                    index += 1;
                }
            }
            if depth == 0 || wanted.peek().is_none() {
                return None;
            }
        }
    }

    /// Of `cells` (record index ascending, column name) of the list of
    /// records that is the data, the first whose literal is beyond
    /// ±f32::MAX: its place in `cells` and literal.
    pub(crate) fn beyond_f32_in_records(
        &self,
        cells: &[(usize, &str)],
    ) -> Option<(usize, &'t str)> {
        let mut cursor = self.at(&[])?;
        cursor.expect(b'[')?;
        let (mut row, mut next) = (0usize, 0usize);
        while next < cells.len() {
            if row > 0 {
                cursor.expect(b',')?;
            }
            let count = cells[next..].iter().take_while(|(r, _)| *r == row).count();
            let wanted = &cells[next..next + count];
            if wanted.is_empty() {
                cursor.skip_value()?;
            } else {
                // The last of a repeated key counts, as serde_json keeps it.
                let mut last: Vec<Option<&'t str>> = vec![None; count];
                cursor.members(|key, _, literal| {
                    for (slot, (_, column)) in last.iter_mut().zip(wanted) {
                        if key_is(key, column) {
                            *slot = Some(literal);
                        }
                    }
                })?;
                if let Some((i, literal)) = last
                    .iter()
                    .enumerate()
                    .find_map(|(i, l)| l.filter(|l| beyond_f32(l)).map(|l| (i, l)))
                {
                    return Some((next + i, literal));
                }
                next += count;
            }
            row += 1;
        }
        None
    }
}

/// Whether the JSON number `literal` is beyond ±f32::MAX as validators read
/// it: an integer exactly, anything else as its nearest float64 (which
/// Rust's parser finds exactly).
pub(crate) fn beyond_f32(literal: &str) -> bool {
    let digits = literal.strip_prefix('-').unwrap_or(literal);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return literal.parse::<f64>().is_ok_and(|x| x.abs() > F32_MAX);
    }
    let digits = digits.trim_start_matches('0');
    match digits.len().cmp(&F32_MAX_DIGITS.len()) {
        Ordering::Greater => true,
        Ordering::Less => false,
        // Same length: digit strings compare as the numbers do.
        Ordering::Equal => digits > F32_MAX_DIGITS,
    }
}

/// A position in JSON text that serde_json has already accepted; every
/// method answers `None` rather than panic on anything unexpected.
struct Cursor<'t> {
    text: &'t str,
    pos: usize,
}

impl<'t> Cursor<'t> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// Past a string; at its opening quote.
    fn skip_string(&mut self) -> Option<()> {
        self.pos += 1;
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                b'\\' => self.pos += 2,
                _ => self.pos += 1,
            }
        }
    }

    /// Past the value that starts here (after white space).
    fn skip_value(&mut self) -> Option<()> {
        self.skip_space();
        match self.peek()? {
            b'"' => self.skip_string(),
            b'[' | b'{' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'[' | b'{' => depth += 1,
                        b']' | b'}' => {
                            depth = depth.checked_sub(1)?;
                            if depth == 0 {
                                self.pos += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
            }
            _ => {
                // A number, true, false or null: up to the next delimiter.
                let start = self.pos;
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.pos += 1;
                }
                (self.pos > start).then_some(())
            }
        }
    }

    /// The text of the value that starts here.
    fn value(&mut self) -> Option<&'t str> {
        self.skip_space();
        let start = self.pos;
        self.skip_value()?;
        self.text.get(start..self.pos)
    }

    /// Moves to the start of the value of the member `key` (the last, when
    /// it repeats) of the object that starts here.
    fn enter(&mut self, key: &str) -> Option<()> {
        let mut found = None;
        self.members(|name, at, _| {
            if key_is(name, key) {
                found = Some(at);
            }
        })?;
        self.pos = found?;
        Some(())
    }

    /// Calls `each` with every member's key literal, the position of its
    /// value and the value's text, of the object that starts here; moves
    /// past the object.
    fn members(&mut self, mut each: impl FnMut(&'t str, usize, &'t str)) -> Option<()> {
        self.expect(b'{')?;
        loop {
            self.skip_space();
            if self.peek()? == b'}' {
                self.pos += 1;
                return Some(());
            }
            let name = self.value()?;
            self.expect(b':')?;
            self.skip_space();
            let at = self.pos;
            let value = self.value()?;
            each(name, at, value);
            self.skip_space();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// Whether the JSON string literal `literal` says `key`.
fn key_is(literal: &str, key: &str) -> bool {
    match literal.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        Some(plain) if !plain.contains('\\') => plain == key,
        _ => serde_json::from_str::<String>(literal).is_ok_and(|k| k == key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEYOND: &str = "340282346638528859811704183484516925441";

    #[test]
    fn literals_compare_with_f32_max_as_validators_read_them() {
        assert!(!beyond_f32(F32_MAX_DIGITS));
        assert!(!beyond_f32(&format!("-{F32_MAX_DIGITS}")));
        assert!(beyond_f32(BEYOND));
        assert!(beyond_f32(&format!("-{BEYOND}")));
        assert!(!beyond_f32("340282346638528859811704183484516925439"));
        assert!(beyond_f32("1000000000000000000000000000000000000000"));
        assert!(!beyond_f32("099999999999999999999999999999999999999"));
        // A fraction or an exponent: its nearest float64.
        assert!(!beyond_f32(&format!("{BEYOND}.0")));
        assert!(!beyond_f32("3.4028234663852886e38"));
        assert!(!beyond_f32("3.4028234663852887e38"));
        assert!(beyond_f32("3.402823466385289e38"));
        assert!(beyond_f32("-1E+39"));
        assert!(!beyond_f32("-"));
    }

    #[test]
    fn float64_parsing_near_the_bound_needs_the_literal() {
        // f32::MAX + 1 parses as f32::MAX or next to it, and f32::MAX
        // written out may parse a step above: both inside the window.
        for literal in [BEYOND, F32_MAX_DIGITS] {
            let parsed: f64 = serde_json::from_str(literal).unwrap();
            assert!((NEAR_BELOW..=NEAR_ABOVE).contains(&parsed), "{literal}");
        }
    }

    #[test]
    fn list_elements_are_found_in_one_pass() {
        let body = format!(
            r#" {{"other": [1, {{"data": 2}}], "data" : {{"a": [[1, 2], [3,
            -{BEYOND} ]], "b\"": [{F32_MAX_DIGITS}, {BEYOND}], "a": [[5, 6]]}} }} "#
        );
        let raw = RawData {
            text: &body,
            field: Some("data"),
        };
        // "a" repeats: the last one counts, as in the parsed value.
        assert_eq!(raw.beyond_f32_in_list(&["a"], &[0, 1, 3]), None);
        let b = ["b\""];
        assert_eq!(raw.beyond_f32_in_list(&b, &[0]), None);
        assert_eq!(raw.beyond_f32_in_list(&b, &[0, 1]), Some((1, BEYOND)));
        let list = format!("[[1, 2], [3, -{BEYOND} ]]");
        let data = RawData {
            text: &list,
            field: None,
        };
        let minus = format!("-{BEYOND}");
        assert_eq!(
            data.beyond_f32_in_list(&[], &[3]),
            Some((3, minus.as_str()))
        );
        assert_eq!(data.beyond_f32_in_list(&[], &[1, 2]), None);
        let scalar = RawData {
            text: BEYOND,
            field: None,
        };
        assert_eq!(scalar.beyond_f32_in_list(&[], &[0]), Some((0, BEYOND)));
        assert_eq!(data.beyond_f32_in_list(&["x"], &[0]), None);
    }

    #[test]
    fn record_cells_are_found_by_row_and_column() {
        let body = format!(
            r#"{{"data": [{{"p": 1, "q": "]"}}, {{"q": {BEYOND}, "p": {F32_MAX_DIGITS}, "q": 2}},
            {{"p": {BEYOND}}}]}}"#
        );
        let raw = RawData {
            text: &body,
            field: Some("data"),
        };
        // Row 1's q repeats; its last value counts.
        assert_eq!(raw.beyond_f32_in_records(&[(1, "p"), (1, "q")]), None);
        assert_eq!(
            raw.beyond_f32_in_records(&[(0, "p"), (1, "p"), (2, "p")]),
            Some((2, BEYOND))
        );
    }
}
