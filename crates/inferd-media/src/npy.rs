//! NumPy `.npy` input for `inferd batch`: the header read and checked, then
//! the rows (the sub-arrays along the first axis) streamed in chunks.
//!
//! A batch job may score a file far bigger than memory, so nothing here reads
//! the whole file: [`read_header`] reads only the header, and
//! [`NpyReader::next_chunk`] reads at most the rows asked for. A resumed job
//! starts again at a row with [`NpyReader::seek_row`].
//!
//! The header is a Python dict literal. It is parsed by a small parser of
//! literals (strings, integers, `True`/`False`/`None`, tuples, lists and
//! dicts), never evaluated: the file is untrusted input. Only what a model can
//! take in is read: booleans, integers and float32/float64, little-endian, in
//! C order. Everything else is refused with a message that says what to change.

use std::io::{self, Read, Seek, SeekFrom};

use serde_json::{Number, Value};

/// The six bytes every `.npy` file starts with.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The longest header read. NumPy's own reader stops at 10 000 bytes unless
/// told otherwise; 64 KiB leaves room for any header of a supported dtype
/// (those that need more are structured dtypes, refused anyway) while keeping
/// a hostile length field from costing memory.
const MAX_HEADER_LEN: usize = 64 * 1024;

/// How deep the header's literals may nest. A supported header nests two
/// levels (the dict, the shape tuple); the limit keeps a hostile header from
/// exhausting the stack of the recursive parser.
const MAX_NESTING: usize = 32;

/// NumPy's limit on the number of dimensions (`NPY_MAXDIMS`).
const MAX_DIMS: usize = 64;

/// The most empty lists one row's JSON may hold. A row with a zero
/// dimension has no bytes, so the file's length bounds nothing: `(1, 2**40,
/// 0)` would make a row of 2**40 empty lists out of a 128-byte file.
const MAX_EMPTY_LISTS: usize = 1 << 20;

/// Where the first chunk of a read starts growing from: a row's buffer grows
/// as its bytes arrive, so a header that promises more than the file holds
/// costs no more memory than the file's bytes.
const FIRST_READ: usize = 64 * 1024;

/// The element types read: little-endian (`<`) or byte-order-free (`|`) only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpyDType {
    /// `|b1`: one byte, zero is false.
    Bool,
    /// `|i1`.
    I8,
    /// `<i2`.
    I16,
    /// `<i4`.
    I32,
    /// `<i8`.
    I64,
    /// `|u1`.
    U8,
    /// `<u2`.
    U16,
    /// `<u4`.
    U32,
    /// `<u8`.
    U64,
    /// `<f4`.
    F32,
    /// `<f8`.
    F64,
}

impl NpyDType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            NpyDType::Bool | NpyDType::I8 | NpyDType::U8 => 1,
            NpyDType::I16 | NpyDType::U16 => 2,
            NpyDType::I32 | NpyDType::U32 | NpyDType::F32 => 4,
            NpyDType::I64 | NpyDType::U64 | NpyDType::F64 => 8,
        }
    }

    /// The header's `descr` for this type, as NumPy writes it (`"<f4"`,
    /// `"|b1"`, ...).
    pub fn descr(self) -> &'static str {
        match self {
            NpyDType::Bool => "|b1",
            NpyDType::I8 => "|i1",
            NpyDType::I16 => "<i2",
            NpyDType::I32 => "<i4",
            NpyDType::I64 => "<i8",
            NpyDType::U8 => "|u1",
            NpyDType::U16 => "<u2",
            NpyDType::U32 => "<u4",
            NpyDType::U64 => "<u8",
            NpyDType::F32 => "<f4",
            NpyDType::F64 => "<f8",
        }
    }

    /// The type a `descr` string names, or why it is refused.
    fn from_descr(descr: &str) -> Result<Self, NpyError> {
        let refuse = |why: &'static str, hint: &'static str| NpyError::UnsupportedDType {
            descr: descr.to_owned(),
            why,
            hint,
        };
        const SUPPORTED: &str =
            "inferd reads bool, int8 to int64, uint8 to uint64, float32 and float64";
        let mut chars = descr.chars();
        let order = chars.next();
        let code = chars.as_str();
        let dtype = match code {
            "b1" => NpyDType::Bool,
            "i1" => NpyDType::I8,
            "i2" => NpyDType::I16,
            "i4" => NpyDType::I32,
            "i8" => NpyDType::I64,
            "u1" => NpyDType::U8,
            "u2" => NpyDType::U16,
            "u4" => NpyDType::U32,
            "u8" => NpyDType::U64,
            "f4" => NpyDType::F32,
            "f8" => NpyDType::F64,
            "f2" => return Err(refuse("float16", "save the array as float32")),
            _ if code.starts_with('O') => {
                return Err(refuse(
                    "Python objects, stored as a pickle",
                    "save a numeric array",
                ));
            }
            _ if code.starts_with('U') || code.starts_with('S') => {
                return Err(refuse("strings", SUPPORTED));
            }
            _ if code.starts_with('c') => return Err(refuse("complex numbers", SUPPORTED)),
            _ => return Err(refuse("not a supported type", SUPPORTED)),
        };
        // Byte order means nothing for one-byte types, so any mark is read;
        // wider types must say little-endian: '|' or '=' on them would leave
        // the order to whichever machine wrote the file.
        match order {
            Some('<') => Ok(dtype),
            Some('|' | '=' | '>') if dtype.size() == 1 => Ok(dtype),
            Some('>') => Err(refuse(
                "big-endian",
                "inferd reads little-endian numbers; save it with arr.astype(arr.dtype.newbyteorder('<'))",
            )),
            _ => Err(refuse(
                "no little-endian byte order",
                "inferd reads little-endian numbers ('<')",
            )),
        }
    }
}

/// A `.npy` file's header: what its elements are, how they are laid out, and
/// where they start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// The element type.
    pub dtype: NpyDType,
    /// The array's shape; the first axis is the rows.
    pub shape: Vec<usize>,
    /// Bytes from the file's start to the first element.
    pub data_offset: u64,
}

impl NpyHeader {
    /// Rows: `shape[0]` (a 0-d array is refused in [`read_header`]: it has no
    /// rows).
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// Elements in one row: the product of `shape[1..]` (1 for a 1-d array).
    /// Saturates for a hand-built header whose size overflows (`read_header`
    /// refuses those).
    pub fn row_len(&self) -> usize {
        self.shape
            .get(1..)
            .unwrap_or(&[])
            .iter()
            .fold(1usize, |n, &d| n.saturating_mul(d))
    }

    /// Bytes in one row: [`row_len`](Self::row_len) times the element size.
    pub fn row_bytes(&self) -> usize {
        self.row_len().saturating_mul(self.dtype.size())
    }

    /// Bytes of data the header promises, in `u128` so no shape overflows it.
    fn data_len(&self) -> u128 {
        self.rows() as u128 * self.row_bytes() as u128
    }
}

/// Why a `.npy` file cannot be read; each message says what was wrong and
/// where.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The file does not start like a `.npy` file.
    #[error("not a .npy file: {0}")]
    NotNpy(&'static str),

    /// A format version other than 1.0, 2.0 or 3.0.
    #[error(
        "unsupported .npy format version {major}.{minor}; inferd reads versions 1.0, 2.0 and 3.0"
    )]
    Version {
        /// The major version byte.
        major: u8,
        /// The minor version byte.
        minor: u8,
    },

    /// The header's length field is over the limit.
    #[error("the .npy header is {len} bytes long, over inferd's limit of {MAX_HEADER_LEN} bytes")]
    HeaderTooLong {
        /// The length the file gives.
        len: u64,
    },

    /// The header's dict is not what NumPy writes.
    #[error("header: {0}")]
    Header(String),

    /// An element type inferd does not read.
    #[error("unsupported dtype '{descr}' ({why}); {hint}")]
    UnsupportedDType {
        /// The header's `descr`.
        descr: String,
        /// What the type is.
        why: &'static str,
        /// What to do instead.
        hint: &'static str,
    },

    /// The elements are in column-major order.
    #[error(
        "fortran_order True is not supported; save the array in C order (np.ascontiguousarray)"
    )]
    FortranOrder,

    /// The array's byte size does not fit in memory's address range.
    #[error("header: shape {shape} of {descr} is too big: its size in bytes overflows")]
    TooBig {
        /// The shape, as the header writes it.
        shape: String,
        /// The element type's `descr`.
        descr: &'static str,
    },

    /// The file's length disagrees with the header.
    #[error(
        "the header says {rows} rows of {row_bytes} bytes ({expected} bytes of data) but the file holds {actual} bytes after its {data_offset}-byte header"
    )]
    LengthMismatch {
        /// The header's rows.
        rows: usize,
        /// The header's bytes per row.
        row_bytes: usize,
        /// Bytes of data the header promises.
        expected: u128,
        /// Bytes of data there are.
        actual: u64,
        /// Where the data starts.
        data_offset: u64,
    },

    /// The file ends part-way through a row.
    #[error("the file ends inside row {row} (rows count from 0; the header says {rows} rows)")]
    Truncated {
        /// The row the file ends in.
        row: usize,
        /// The header's rows.
        rows: usize,
    },

    /// The file ends between rows, before the last.
    #[error("the file ends before row {row} (rows count from 0; the header says {rows} rows)")]
    EndsEarly {
        /// The first row missing.
        row: usize,
        /// The header's rows.
        rows: usize,
    },

    /// A resume point past the end.
    #[error("cannot resume at row {row}: the file has {rows} rows")]
    SeekPastEnd {
        /// The row asked for.
        row: usize,
        /// The header's rows.
        rows: usize,
    },

    /// Reading or seeking failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl From<io::Error> for NpyError {
    /// For callers' own reads (`?` on an `io::Error`); this module's reads
    /// say what they were reading.
    fn from(source: io::Error) -> Self {
        NpyError::Io {
            what: "reading the .npy file".to_owned(),
            source,
        }
    }
}

/// Reads and checks the header (versions 1.0, 2.0 and 3.0; the header is a
/// Python dict literal with keys 'descr', 'fortran_order' and 'shape' in any
/// order, spaces anywhere, a trailing comma allowed; parsed, never
/// evaluated). Refuses a header over 64 KiB, a 0-d array (no rows), and a
/// shape whose size in bytes overflows. Leaves `reader` at the first element.
pub fn read_header(reader: &mut impl Read) -> Result<NpyHeader, NpyError> {
    let mut start = [0u8; 8];
    let got = read_full(reader, &mut start).map_err(io_error("reading the .npy header"))?;
    if got < MAGIC.len() || start[..MAGIC.len()] != MAGIC[..] {
        return Err(NpyError::NotNpy("the magic string \\x93NUMPY is missing"));
    }
    if got < start.len() {
        return Err(NpyError::NotNpy("the file ends inside its header"));
    }
    let (major, minor) = (start[6], start[7]);
    // Version 1.0 gives the header's length in 2 bytes; 2.0 and 3.0 (3.0:
    // the header may be UTF-8, which matters only inside strings) in 4.
    let len_bytes = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => return Err(NpyError::Version { major, minor }),
    };
    let mut len_field = [0u8; 4];
    let got = read_full(reader, &mut len_field[..len_bytes])
        .map_err(io_error("reading the .npy header"))?;
    if got < len_bytes {
        return Err(NpyError::NotNpy("the file ends inside its header"));
    }
    let header_len = u32::from_le_bytes(len_field);
    let header_len = usize::try_from(header_len)
        .ok()
        .filter(|&len| len <= MAX_HEADER_LEN)
        .ok_or(NpyError::HeaderTooLong {
            len: u64::from(header_len),
        })?;
    // Checked against the limit before it is allocated: the length field is
    // the file's word, not a fact.
    let mut text = vec![0u8; header_len];
    let got = read_full(reader, &mut text).map_err(io_error("reading the .npy header"))?;
    if got < header_len {
        return Err(NpyError::Header(format!(
            "the file ends inside the header ({got} of its {header_len} bytes)"
        )));
    }
    let data_offset = (start.len() + len_bytes + header_len) as u64;
    parse_header(&text, data_offset)
}

/// Checks the data length against the header when the file's length is
/// known: a header that lies (shape × dtype bigger or smaller than the bytes
/// there) is caught before any row is scored.
pub fn check_length(header: &NpyHeader, file_len: u64) -> Result<(), NpyError> {
    let actual = file_len.saturating_sub(header.data_offset);
    let expected = header.data_len();
    if file_len < header.data_offset || u128::from(actual) != expected {
        return Err(NpyError::LengthMismatch {
            rows: header.rows(),
            row_bytes: header.row_bytes(),
            expected,
            actual,
            data_offset: header.data_offset,
        });
    }
    Ok(())
}

/// Reads until `buf` is full or the input ends; the count read. Unlike
/// `read_exact`, says how far it got, for the error message.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn io_error(what: &str) -> impl FnOnce(io::Error) -> NpyError + '_ {
    move |source| NpyError::Io {
        what: what.to_owned(),
        source,
    }
}

/// The header's dict, checked into an [`NpyHeader`].
fn parse_header(text: &[u8], data_offset: u64) -> Result<NpyHeader, NpyError> {
    let mut parser = Parser { text, pos: 0 };
    let top = parser.value(0)?;
    parser.skip_space();
    if parser.pos < text.len() {
        return Err(parser.error("unexpected text after the dict"));
    }
    let Lit::Dict(entries) = top.lit else {
        return Err(NpyError::Header(format!(
            "{} is not a dict",
            snippet(text, &top.span)
        )));
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (key, value) in entries {
        let slot = match &key.lit {
            Lit::Str(k) if k == "descr" => &mut descr,
            Lit::Str(k) if k == "fortran_order" => &mut fortran,
            Lit::Str(k) if k == "shape" => &mut shape,
            _ => {
                return Err(NpyError::Header(format!(
                    "unexpected key {}; a .npy header has 'descr', 'fortran_order' and 'shape'",
                    snippet(text, &key.span)
                )));
            }
        };
        // Python would keep the last of two; a header that says two things
        // is refused rather than guessed at.
        if slot.replace(value).is_some() {
            return Err(NpyError::Header(format!(
                "key {} appears twice",
                snippet(text, &key.span)
            )));
        }
    }
    let missing = |key: &str| NpyError::Header(format!("the key '{key}' is missing"));
    let descr = descr.ok_or_else(|| missing("descr"))?;
    let fortran = fortran.ok_or_else(|| missing("fortran_order"))?;
    let shape = shape.ok_or_else(|| missing("shape"))?;

    let dtype = match &descr.lit {
        Lit::Str(s) => NpyDType::from_descr(s)?,
        Lit::List => {
            return Err(NpyError::UnsupportedDType {
                descr: snippet(text, &descr.span),
                why: "a structured dtype",
                hint: "save each field as its own array",
            });
        }
        _ => {
            return Err(NpyError::Header(format!(
                "descr {} is not a string",
                snippet(text, &descr.span)
            )));
        }
    };
    match fortran.lit {
        Lit::Bool(false) => {}
        Lit::Bool(true) => return Err(NpyError::FortranOrder),
        _ => {
            return Err(NpyError::Header(format!(
                "fortran_order {} is not True or False",
                snippet(text, &fortran.span)
            )));
        }
    }
    let shape_text = snippet(text, &shape.span);
    let not_ints = || NpyError::Header(format!("shape {shape_text} is not a tuple of integers"));
    let Lit::Tuple(dims) = shape.lit else {
        return Err(not_ints());
    };
    let mut shape = Vec::with_capacity(dims.len().min(MAX_DIMS));
    for dim in dims {
        let Lit::Int { negative, digits } = dim.lit else {
            return Err(not_ints());
        };
        if negative && digits.bytes().any(|b| b != b'0') {
            return Err(NpyError::Header(format!(
                "shape {shape_text} has a negative dimension"
            )));
        }
        let too_big = || NpyError::TooBig {
            shape: shape_text.clone(),
            descr: dtype.descr(),
        };
        shape.push(digits.parse::<usize>().map_err(|_| too_big())?);
        if shape.len() > MAX_DIMS {
            return Err(NpyError::Header(format!(
                "shape {shape_text} has more than {MAX_DIMS} dimensions, NumPy's limit"
            )));
        }
    }
    if shape.is_empty() {
        return Err(NpyError::Header(
            "shape () is a 0-d array, which has no rows; save it with at least one dimension"
                .to_owned(),
        ));
    }
    // NumPy's rule: the product of the nonzero dimensions, in bytes, must fit
    // in an isize, even when a zero makes the array empty. It bounds every
    // size computed from the header (rows × row bytes, a row's bytes, a
    // chunk's bytes), so none of them can overflow later.
    let bytes = shape
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(dtype.size(), |n, &d| n.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize);
    if bytes.is_none() {
        return Err(NpyError::TooBig {
            shape: shape_text,
            descr: dtype.descr(),
        });
    }
    // A row with a zero dimension is a nest of empty lists that no bytes pay
    // for; bound how many, so `row_json` cannot be made to build billions.
    let row_dims = &shape[1..];
    if let Some(zero) = row_dims.iter().position(|&d| d == 0) {
        let empty_lists = row_dims[..zero]
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d));
        if empty_lists.is_none_or(|n| n > MAX_EMPTY_LISTS) {
            return Err(NpyError::Header(format!(
                "shape {shape_text}: each row would be more than {MAX_EMPTY_LISTS} empty lists"
            )));
        }
    }
    Ok(NpyHeader {
        dtype,
        shape,
        data_offset,
    })
}

/// Up to 80 characters of the header's text at `span`, for a message.
fn snippet(text: &[u8], span: &std::ops::Range<usize>) -> String {
    let bytes = text.get(span.clone()).unwrap_or(&[]);
    let s = String::from_utf8_lossy(bytes);
    if s.chars().count() > 80 {
        let cut: String = s.chars().take(77).collect();
        format!("{cut}...")
    } else {
        s.into_owned()
    }
}

/// A Python literal from the header.
#[derive(Debug)]
enum Lit {
    Str(String),
    Bool(bool),
    None,
    /// Decimal digits and a sign, left as text: a dimension may be too big for
    /// any integer type, and that is reported as such.
    Int {
        negative: bool,
        digits: String,
    },
    Tuple(Vec<Node>),
    /// A list; its items are parsed (to find the header's end) but not kept:
    /// the only list a header holds is a structured dtype's, refused.
    List,
    Dict(Vec<(Node, Node)>),
}

/// A literal and where it is in the header, to quote it in a message.
#[derive(Debug)]
struct Node {
    lit: Lit,
    span: std::ops::Range<usize>,
}

/// A recursive-descent parser of the Python literals a `.npy` header holds.
struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0c') = self.peek() {
            self.pos += 1;
        }
    }

    fn error(&self, what: &str) -> NpyError {
        let found = match self.peek() {
            None => "the end of the header".to_owned(),
            Some(b) if b.is_ascii_graphic() => format!("'{}'", b as char),
            Some(b) => format!("byte 0x{b:02x}"),
        };
        NpyError::Header(format!(
            "{what} at byte {} of the header's dict (found {found})",
            self.pos
        ))
    }

    fn value(&mut self, depth: usize) -> Result<Node, NpyError> {
        if depth > MAX_NESTING {
            return Err(self.error("literals nested too deep"));
        }
        self.skip_space();
        let start = self.pos;
        let lit = match self.peek() {
            Some(q @ (b'\'' | b'"')) => self.string(q)?,
            Some(b'(') => self.tuple(depth)?,
            Some(b'[') => {
                self.items(b']', depth)?;
                Lit::List
            }
            Some(b'{') => self.dict(depth)?,
            Some(b'-' | b'+' | b'0'..=b'9') => self.int()?,
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => {
                while self
                    .peek()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    self.pos += 1;
                }
                match &self.text[start..self.pos] {
                    b"True" => Lit::Bool(true),
                    b"False" => Lit::Bool(false),
                    b"None" => Lit::None,
                    _ => {
                        self.pos = start;
                        return Err(self.error("a name where a literal belongs"));
                    }
                }
            }
            _ => return Err(self.error("expected a literal")),
        };
        Ok(Node {
            lit,
            span: start..self.pos,
        })
    }

    /// A quoted string; a backslash keeps the next character as it is (no
    /// header of a supported dtype holds one).
    fn string(&mut self, quote: u8) -> Result<Lit, NpyError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\n') => {
                    self.pos = start;
                    return Err(self.error("a string with no closing quote"));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    if let Some(b) = self.peek() {
                        out.push(b);
                        self.pos += 1;
                    }
                }
                Some(b) if b == quote => {
                    self.pos += 1;
                    break;
                }
                Some(b) => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
        Ok(Lit::Str(String::from_utf8_lossy(&out).into_owned()))
    }

    /// A decimal integer, maybe signed, maybe with Python 2's `L` suffix
    /// (NumPy under Python 2 wrote shapes like `(3L, 4L)`).
    fn int(&mut self) -> Result<Lit, NpyError> {
        let negative = match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                true
            }
            Some(b'+') => {
                self.pos += 1;
                false
            }
            _ => false,
        };
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("a sign with no digits"));
        }
        let digits = String::from_utf8_lossy(&self.text[start..self.pos]).into_owned();
        if let Some(b'L' | b'l') = self.peek() {
            self.pos += 1;
        }
        if self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
        {
            return Err(self.error("a number that is not a decimal integer"));
        }
        Ok(Lit::Int { negative, digits })
    }

    /// `(a, b)` is a tuple, `()` the empty one, `(a,)` one of one; `(a)` is
    /// just `a`, as in Python.
    fn tuple(&mut self, depth: usize) -> Result<Lit, NpyError> {
        let (items, trailing_comma) = self.items(b')', depth)?;
        match <[Node; 1]>::try_from(items) {
            Ok([only]) if !trailing_comma => Ok(only.lit),
            Ok([only]) => Ok(Lit::Tuple(vec![only])),
            Err(items) => Ok(Lit::Tuple(items)),
        }
    }

    /// Comma-separated values up to `close`, and whether a comma follows the
    /// last; the parser is at the opening bracket.
    fn items(&mut self, close: u8, depth: usize) -> Result<(Vec<Node>, bool), NpyError> {
        self.pos += 1;
        let mut items = Vec::new();
        let mut trailing_comma = false;
        loop {
            self.skip_space();
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok((items, trailing_comma));
            }
            items.push(self.value(depth + 1)?);
            self.skip_space();
            trailing_comma = match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    true
                }
                Some(b) if b == close => false,
                _ => return Err(self.error("expected ',' or a closing bracket")),
            };
        }
    }

    /// `{key: value, ...}`, a trailing comma allowed.
    fn dict(&mut self, depth: usize) -> Result<Lit, NpyError> {
        self.pos += 1;
        let mut entries = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(Lit::Dict(entries));
            }
            let key = self.value(depth + 1)?;
            self.skip_space();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':' after a key"));
            }
            self.pos += 1;
            let value = self.value(depth + 1)?;
            entries.push((key, value));
            self.skip_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }
}

/// Rows read so far as raw little-endian bytes, a chunk at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyChunk {
    /// The element type of `bytes`.
    pub dtype: NpyDType,
    /// One row's shape: the array's shape less its first axis (empty for a
    /// 1-d array, whose rows are single numbers).
    pub row_shape: Vec<usize>,
    /// The file's row index of the chunk's first row.
    pub first_row: usize,
    /// Rows in the chunk.
    pub rows: usize,
    /// The rows' elements, in the file's little-endian layout.
    pub bytes: Vec<u8>,
}

impl NpyChunk {
    /// Row `i` of the chunk (0-based within the chunk) as JSON: a number
    /// (a bool as `true`/`false`) for a 1-d array, else lists nested by
    /// `row_shape`. A float32 prints as its shortest round-trip decimal (0.1,
    /// not 0.10000000149011612); a NaN or infinity is `null`, JSON having
    /// neither. A row past the chunk's end is `null`.
    pub fn row_json(&self, i: usize) -> Value {
        let Some(row_len) = self
            .row_shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
        else {
            return Value::Null;
        };
        let row_bytes = row_len.saturating_mul(self.dtype.size());
        let row = i
            .checked_mul(row_bytes)
            .filter(|_| i < self.rows)
            .and_then(|start| self.bytes.get(start..start.checked_add(row_bytes)?));
        match row {
            Some(row) => nested(self.dtype, &self.row_shape, row),
            None => Value::Null,
        }
    }

    /// The values as `f32`, from a float32 array only (the one type whose
    /// values are all `f32`s without loss or guesswork).
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        match self.dtype {
            NpyDType::F32 => Some(elements(&self.bytes, f32::from_le_bytes).collect()),
            _ => None,
        }
    }

    /// The values as `f64`, from a float64 or float32 array (every `f32` is
    /// an `f64` exactly).
    pub fn to_f64(&self) -> Option<Vec<f64>> {
        match self.dtype {
            NpyDType::F64 => Some(elements(&self.bytes, f64::from_le_bytes).collect()),
            NpyDType::F32 => Some(
                elements(&self.bytes, f32::from_le_bytes)
                    .map(f64::from)
                    .collect(),
            ),
            _ => None,
        }
    }

    /// The values as `i64`, from any integer array (uint64 only when every
    /// value fits) or a bool array (0 and 1); `None` for floats.
    pub fn to_i64(&self) -> Option<Vec<i64>> {
        let b = &self.bytes;
        Some(match self.dtype {
            NpyDType::Bool => b.iter().map(|&x| i64::from(x != 0)).collect(),
            NpyDType::I8 => elements(b, i8::from_le_bytes).map(i64::from).collect(),
            NpyDType::I16 => elements(b, i16::from_le_bytes).map(i64::from).collect(),
            NpyDType::I32 => elements(b, i32::from_le_bytes).map(i64::from).collect(),
            NpyDType::I64 => elements(b, i64::from_le_bytes).collect(),
            NpyDType::U8 => b.iter().map(|&x| i64::from(x)).collect(),
            NpyDType::U16 => elements(b, u16::from_le_bytes).map(i64::from).collect(),
            NpyDType::U32 => elements(b, u32::from_le_bytes).map(i64::from).collect(),
            NpyDType::U64 => elements(b, u64::from_le_bytes)
                .map(|x| i64::try_from(x).ok())
                .collect::<Option<_>>()?,
            NpyDType::F32 | NpyDType::F64 => return None,
        })
    }
}

/// The `N`-byte elements of `bytes`, each decoded by `decode` (a
/// `from_le_bytes`); a partial element at the end is left out.
fn elements<'a, const N: usize, T: 'a>(
    bytes: &'a [u8],
    decode: fn([u8; N]) -> T,
) -> impl Iterator<Item = T> + 'a {
    bytes
        .chunks_exact(N)
        .filter_map(|c| c.first_chunk::<N>())
        .map(move |c| decode(*c))
}

/// `data` (one row, or a part of one) as JSON lists nested by `shape`.
fn nested(dtype: NpyDType, shape: &[usize], data: &[u8]) -> Value {
    let Some((&n, inner_shape)) = shape.split_first() else {
        return scalar(dtype, data);
    };
    // Each of the n parts is an equal share of the bytes; with a zero
    // dimension further in, the share is 0 and each part an empty nest.
    let share = data.len().checked_div(n).unwrap_or(0);
    Value::Array(
        (0..n)
            .map(|k| {
                let part = k
                    .checked_mul(share)
                    .and_then(|at| data.get(at..at.checked_add(share)?))
                    .unwrap_or(&[]);
                nested(dtype, inner_shape, part)
            })
            .collect(),
    )
}

/// The element at the start of `b` as a JSON value; `null` if `b` is too
/// short or the value is a NaN or an infinity.
fn scalar(dtype: NpyDType, b: &[u8]) -> Value {
    fn le<const N: usize>(b: &[u8]) -> Option<[u8; N]> {
        b.first_chunk::<N>().copied()
    }
    let value = match dtype {
        NpyDType::Bool => b.first().map(|&x| Value::Bool(x != 0)),
        NpyDType::I8 => le(b).map(|a| Value::from(i8::from_le_bytes(a))),
        NpyDType::I16 => le(b).map(|a| Value::from(i16::from_le_bytes(a))),
        NpyDType::I32 => le(b).map(|a| Value::from(i32::from_le_bytes(a))),
        NpyDType::I64 => le(b).map(|a| Value::from(i64::from_le_bytes(a))),
        NpyDType::U8 => b.first().map(|&x| Value::from(x)),
        NpyDType::U16 => le(b).map(|a| Value::from(u16::from_le_bytes(a))),
        NpyDType::U32 => le(b).map(|a| Value::from(u32::from_le_bytes(a))),
        NpyDType::U64 => le(b).map(|a| Value::from(u64::from_le_bytes(a))),
        NpyDType::F32 => le(b).and_then(|a| f32_number(f32::from_le_bytes(a))),
        NpyDType::F64 => le(b)
            .and_then(|a| Number::from_f64(f64::from_le_bytes(a)))
            .map(Value::Number),
    };
    value.unwrap_or(Value::Null)
}

/// An `f32` as the JSON number of its shortest round-trip decimal. Widening
/// to `f64` first would print the `f64` nearest the `f32` (0.1 as
/// 0.10000000149011612); instead the `f32`'s own shortest decimal (its
/// `Display`) is read as the `f64` nearest it, which prints back as that
/// decimal. `None` for a NaN or an infinity.
fn f32_number(v: f32) -> Option<Value> {
    if !v.is_finite() {
        return None;
    }
    let nearest: f64 = v.to_string().parse().ok()?;
    Number::from_f64(nearest).map(Value::Number)
}

/// Streams rows after the header.
#[derive(Debug)]
pub struct NpyReader<R> {
    reader: R,
    header: NpyHeader,
    /// The next row's index.
    position: usize,
}

impl<R: Read> NpyReader<R> {
    /// `reader` positioned just after the header (as [`read_header`] leaves
    /// it).
    pub fn new(reader: R, header: NpyHeader) -> Self {
        NpyReader {
            reader,
            header,
            position: 0,
        }
    }

    /// The file's header.
    pub fn header(&self) -> &NpyHeader {
        &self.header
    }

    /// Rows read so far (the next row's index).
    pub fn position(&self) -> usize {
        self.position
    }

    /// Up to `max_rows` next rows (0 is read as 1, so a loop always moves
    /// on); `None` at the end, after exactly `header().rows()` rows. A file
    /// that ends early is an error naming the row. The chunk's buffer is at
    /// most `max_rows * row_bytes`, and grows only as bytes arrive. After an
    /// error the stream is part-way through a row: seek before reading on.
    pub fn next_chunk(&mut self, max_rows: usize) -> Result<Option<NpyChunk>, NpyError> {
        let total = self.header.rows();
        let remaining = total.saturating_sub(self.position);
        if remaining == 0 {
            return Ok(None);
        }
        let rows = max_rows.clamp(1, remaining);
        let row_bytes = self.header.row_bytes();
        // Fits: read_header bounds rows × row_bytes by isize::MAX. A
        // hand-built header that overflows is refused, not wrapped.
        let len = rows
            .checked_mul(row_bytes)
            .ok_or_else(|| NpyError::TooBig {
                shape: python_shape(&self.header.shape),
                descr: self.header.dtype.descr(),
            })?;
        let mut bytes = Vec::new();
        let mut got = 0;
        while got < len {
            // Grow by doubling, never past `len`: a header that promises more
            // rows than the file holds costs only the bytes there are.
            let grow_to = len.min(got.saturating_mul(2).max(FIRST_READ));
            bytes.reserve_exact(grow_to - got);
            bytes.resize(grow_to, 0);
            let n =
                read_full(&mut self.reader, &mut bytes[got..]).map_err(|source| NpyError::Io {
                    what: format!("reading row {}", self.position + got / row_bytes.max(1)),
                    source,
                })?;
            got += n;
            if got < grow_to {
                let row = self.position + got / row_bytes.max(1);
                return Err(if got % row_bytes.max(1) == 0 {
                    NpyError::EndsEarly { row, rows: total }
                } else {
                    NpyError::Truncated { row, rows: total }
                });
            }
        }
        let chunk = NpyChunk {
            dtype: self.header.dtype,
            row_shape: self.header.shape.get(1..).unwrap_or(&[]).to_vec(),
            first_row: self.position,
            rows,
            bytes,
        };
        self.position += rows;
        Ok(Some(chunk))
    }
}

impl<R: Read + Seek> NpyReader<R> {
    /// Continues at row `row` (for a resumed job): seeks to `data_offset +
    /// row * row_bytes`, offsets counted from the stream's start (the
    /// file's). `row == rows` is the end (the next chunk is `None`); past it
    /// is an error.
    pub fn seek_row(&mut self, row: usize) -> Result<(), NpyError> {
        let rows = self.header.rows();
        if row > rows {
            return Err(NpyError::SeekPastEnd { row, rows });
        }
        let offset =
            u128::from(self.header.data_offset) + row as u128 * self.header.row_bytes() as u128;
        let offset = u64::try_from(offset).map_err(|_| NpyError::TooBig {
            shape: python_shape(&self.header.shape),
            descr: self.header.dtype.descr(),
        })?;
        self.reader
            .seek(SeekFrom::Start(offset))
            .map_err(|source| NpyError::Io {
                what: format!("seeking to row {row}"),
                source,
            })?;
        self.position = row;
        Ok(())
    }
}

/// A shape as Python writes it: `(3,)`, `(2, 3)`.
fn python_shape(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    //! The files are NumPy's own bytes (NumPy 2.4, `np.save` to a BytesIO,
    //! each read back by `np.load`), written as byte literals so the tests
    //! need no Python; the Python that made each is above it. Files NumPy
    //! would never write (the refusals of bad headers) are built by
    //! [`npy_v1`].

    use super::*;
    use std::io::Cursor;

    /// `np.save(f, np.array([[0.1, 1.0, -2.5], [3.0, 1e-7, 16777216.0]], dtype=np.float32))`
    const F32_2X3: &[u8] = b"\x93NUMPY\x01\x00v\x00\
        {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }                                                          \n\
        \xcd\xcc\xcc=\x00\x00\x80?\x00\x00\x20\xc0\x00\x00@@\
        \x95\xbf\xd63\x00\x00\x80K";

    /// `np.save(f, np.array([1, -2, 3, 2**53 + 1, -2**63], dtype=np.int64))`
    const I64_5: &[u8] = b"\x93NUMPY\x01\x00v\x00\
        {'descr': '<i8', 'fortran_order': False, 'shape': (5,), }                                                            \n\
        \x01\x00\x00\x00\x00\x00\x00\x00\xfe\xff\xff\xff\xff\xff\xff\xff\
        \x03\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x20\x00\
        \x00\x00\x00\x00\x00\x00\x00\x80";

    /// `np.save(f, np.arange(8, dtype=np.float64).reshape(2, 2, 2) / 4)`
    const F64_2X2X2: &[u8] = b"\x93NUMPY\x01\x00v\x00\
        {'descr': '<f8', 'fortran_order': False, 'shape': (2, 2, 2), }                                                       \n\
        \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xd0?\
        \x00\x00\x00\x00\x00\x00\xe0?\x00\x00\x00\x00\x00\x00\xe8?\
        \x00\x00\x00\x00\x00\x00\xf0?\x00\x00\x00\x00\x00\x00\xf4?\
        \x00\x00\x00\x00\x00\x00\xf8?\x00\x00\x00\x00\x00\x00\xfc?";

    /// `np.save(f, np.array([True, False, True]))`
    const BOOL_3: &[u8] = b"\x93NUMPY\x01\x00v\x00\
        {'descr': '|b1', 'fortran_order': False, 'shape': (3,), }                                                            \n\
        \x01\x00\x01";

    /// `np.save(f, np.array([[True, False], [False, True]]))`
    const BOOL_2X2: &[u8] = b"\x93NUMPY\x01\x00v\x00\
        {'descr': '|b1', 'fortran_order': False, 'shape': (2, 2), }                                                          \n\
        \x01\x00\x00\x01";

    /// `np.save(f, np.array([[1, 2], [3, 255], [0, 7]], dtype=np.uint8))`
    const U8_3X2: &[u8] = b"\x93NUMPY\x01\x00v\x00\
        {'descr': '|u1', 'fortran_order': False, 'shape': (3, 2), }                                                          \n\
        \x01\x02\x03\xff\x00\x07";

    /// `np.save(f, np.array([1, 2**64 - 1], dtype=np.uint64))`
    const U64_2: &[u8] = b"\x93NUMPY\x01\x00v\x00\
        {'descr': '<u8', 'fortran_order': False, 'shape': (2,), }                                                            \n\
        \x01\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff";

    /// `np.save(f, np.zeros((3, 0), dtype=np.float32))`: rows of nothing
    const F32_3X0: &[u8] = b"\x93NUMPY\x01\x00v\x00\
        {'descr': '<f4', 'fortran_order': False, 'shape': (3, 0), }                                                          \n";

    /// `np.lib.format.write_array(f, np.array([[1.5, -2.0], [0.25, 8.0]], dtype=np.float32), version=(2, 0))`
    const F32_V2: &[u8] = b"\x93NUMPY\x02\x00t\x00\x00\x00\
        {'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }                                                        \n\
        \x00\x00\xc0?\x00\x00\x00\xc0\x00\x00\x80>\x00\x00\x00A";

    /// The same array, `version=(3, 0)`
    const F32_V3: &[u8] = b"\x93NUMPY\x03\x00t\x00\x00\x00\
        {'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }                                                        \n\
        \x00\x00\xc0?\x00\x00\x00\xc0\x00\x00\x80>\x00\x00\x00A";

    /// `np.save(f, np.array([[1, 2], [3, 4]], dtype='>f4'))`
    const F32_BIG_ENDIAN: &[u8] = b"\x93NUMPY\x01\x00v\x00\
        {'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }                                                          \n\
        ?\x80\x00\x00@\x00\x00\x00@@\x00\x00@\x80\x00\x00";

    /// `np.save(f, np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))`
    const F32_FORTRAN: &[u8] = b"\x93NUMPY\x01\x00v\x00\
        {'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }                                                           \n\
        \x00\x00\x00\x00\x00\x00@@\x00\x00\x80?\x00\x00\x80@\
        \x00\x00\x00@\x00\x00\xa0@";

    /// `np.save(f, np.array([1, 'a', None], dtype=object))`: a pickle follows the header
    const OBJECT_3: &[u8] = b"\x93NUMPY\x01\x00v\x00\
        {'descr': '|O', 'fortran_order': False, 'shape': (3,), }                                                             \n\
        \x80\x04\x95\x91\x00\x00\x00\x00\x00\x00\x00\x8c\x16num\
        py._core.multiar\
        ray\x94\x8c\x0c_reconstru\
        ct\x94\x93\x94\x8c\x05numpy\x94\x8c\x07n\
        darray\x94\x93\x94K\x00\x85\x94C\x01b\
        \x94\x87\x94R\x94(K\x01K\x03\x85\x94h\x03\x8c\x05\
        dtype\x94\x93\x94\x8c\x02O8\x94\x89\x88\x87\
        \x94R\x94(K\x03\x8c\x01|\x94NNNJ\xff\xff\
        \xff\xffJ\xff\xff\xff\xffK?t\x94b\x89]\x94(\
        K\x01\x8c\x01a\x94Net\x94b.";

    /// `np.save(f, np.array([1.0, 2.0], dtype=np.float16))`
    const F16_2: &[u8] = b"\x93NUMPY\x01\x00v\x00\
        {'descr': '<f2', 'fortran_order': False, 'shape': (2,), }                                                            \n\
        \x00<\x00@";

    /// `np.save(f, np.array(['ab']))`
    const STR_1: &[u8] = b"\x93NUMPY\x01\x00v\x00\
        {'descr': '<U2', 'fortran_order': False, 'shape': (1,), }                                                            \n\
        a\x00\x00\x00b\x00\x00\x00";

    /// `np.save(f, np.zeros(2, dtype=[('x', '<f4'), ('y', '<i4')]))`
    const STRUCT_2: &[u8] = b"\x93NUMPY\x01\x00v\x00\
        {'descr': [('x', '<f4'), ('y', '<i4')], 'fortran_order': False, 'shape': (2,), }                                     \n\
        \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";

    /// `np.save(f, np.float32(3))`: a 0-d array
    const SCALAR_0D: &[u8] = b"\x93NUMPY\x01\x00v\x00\
        {'descr': '<f4', 'fortran_order': False, 'shape': (), }                                                              \n\
        \x00\x00@@";

    /// A version 1.0 file with `dict` as its header (padded as NumPy pads:
    /// spaces, then a newline, to a multiple of 64) and `data` after it.
    fn npy_v1(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut header = dict.as_bytes().to_vec();
        while !(10 + header.len() + 1).is_multiple_of(64) {
            header.push(b' ');
        }
        header.push(b'\n');
        let mut file = b"\x93NUMPY\x01\x00".to_vec();
        file.extend_from_slice(&(header.len() as u16).to_le_bytes());
        file.extend_from_slice(&header);
        file.extend_from_slice(data);
        file
    }

    /// The header of `file`, checked against its length.
    fn header_of(file: &[u8]) -> Result<NpyHeader, NpyError> {
        let header = read_header(&mut Cursor::new(file))?;
        check_length(&header, file.len() as u64)?;
        Ok(header)
    }

    /// Every row of `file`, in one chunk.
    fn all_rows(file: &[u8]) -> NpyChunk {
        let mut cursor = Cursor::new(file);
        let header = read_header(&mut cursor).unwrap();
        check_length(&header, file.len() as u64).unwrap();
        let mut reader = NpyReader::new(cursor, header);
        let chunk = reader.next_chunk(usize::MAX).unwrap().unwrap();
        assert!(reader.next_chunk(usize::MAX).unwrap().is_none());
        chunk
    }

    fn rows_json(chunk: &NpyChunk) -> Vec<String> {
        (0..chunk.rows)
            .map(|i| chunk.row_json(i).to_string())
            .collect()
    }

    /// The error's message, for a refusal.
    fn refusal(file: &[u8]) -> String {
        header_of(file).unwrap_err().to_string()
    }

    #[test]
    fn float32_2x3() {
        let header = header_of(F32_2X3).unwrap();
        assert_eq!(header.dtype, NpyDType::F32);
        assert_eq!(header.shape, vec![2, 3]);
        assert_eq!(header.data_offset, 128);
        assert_eq!(
            (header.rows(), header.row_len(), header.row_bytes()),
            (2, 3, 12)
        );
        let chunk = all_rows(F32_2X3);
        assert_eq!((chunk.first_row, chunk.rows), (0, 2));
        assert_eq!(chunk.row_shape, vec![3]);
        // 0.1 as the f32's shortest decimal, not 0.10000000149011612.
        assert_eq!(
            rows_json(&chunk),
            ["[0.1,1.0,-2.5]", "[3.0,1e-7,16777216.0]"]
        );
        assert_eq!(
            chunk.to_f32().unwrap(),
            [0.1f32, 1.0, -2.5, 3.0, 1e-7, 16777216.0]
        );
        assert_eq!(chunk.to_f64().unwrap()[0], f64::from(0.1f32));
        assert_eq!(chunk.to_i64(), None);
        assert_eq!(chunk.row_json(2), Value::Null);
    }

    #[test]
    fn int64_1d() {
        let header = header_of(I64_5).unwrap();
        assert_eq!(
            (header.dtype, header.shape.as_slice()),
            (NpyDType::I64, &[5][..])
        );
        assert_eq!((header.row_len(), header.row_bytes()), (1, 8));
        let chunk = all_rows(I64_5);
        assert_eq!(chunk.row_shape, Vec::<usize>::new());
        assert_eq!(
            rows_json(&chunk),
            ["1", "-2", "3", "9007199254740993", "-9223372036854775808"]
        );
        assert_eq!(chunk.to_i64().unwrap(), [1, -2, 3, (1 << 53) + 1, i64::MIN]);
        assert_eq!((chunk.to_f32(), chunk.to_f64()), (None, None));
    }

    #[test]
    fn float64_3d() {
        let header = header_of(F64_2X2X2).unwrap();
        assert_eq!(
            (header.dtype, header.row_len(), header.row_bytes()),
            (NpyDType::F64, 4, 32)
        );
        let chunk = all_rows(F64_2X2X2);
        assert_eq!(
            rows_json(&chunk),
            ["[[0.0,0.25],[0.5,0.75]]", "[[1.0,1.25],[1.5,1.75]]"]
        );
        assert_eq!(
            chunk.to_f64().unwrap(),
            [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
        );
        assert_eq!((chunk.to_f32(), chunk.to_i64()), (None, None));
    }

    #[test]
    fn bools_and_bytes() {
        assert_eq!(header_of(BOOL_3).unwrap().dtype, NpyDType::Bool);
        let chunk = all_rows(BOOL_3);
        assert_eq!(rows_json(&chunk), ["true", "false", "true"]);
        assert_eq!(chunk.to_i64().unwrap(), [1, 0, 1]);
        assert_eq!(
            rows_json(&all_rows(BOOL_2X2)),
            ["[true,false]", "[false,true]"]
        );

        let chunk = all_rows(U8_3X2);
        assert_eq!(chunk.dtype, NpyDType::U8);
        assert_eq!(rows_json(&chunk), ["[1,2]", "[3,255]", "[0,7]"]);
        assert_eq!(chunk.to_i64().unwrap(), [1, 2, 3, 255, 0, 7]);
    }

    #[test]
    fn uint64_to_i64_only_when_every_value_fits() {
        let chunk = all_rows(U64_2);
        assert_eq!(rows_json(&chunk), ["1", "18446744073709551615"]);
        assert_eq!(chunk.to_i64(), None);
        let first = NpyChunk {
            rows: 1,
            bytes: chunk.bytes[..8].to_vec(),
            ..chunk
        };
        assert_eq!(first.to_i64().unwrap(), [1]);
    }

    #[test]
    fn versions_2_and_3() {
        for file in [F32_V2, F32_V3] {
            let header = header_of(file).unwrap();
            assert_eq!(header.shape, vec![2, 2]);
            assert_eq!(header.data_offset, 128);
            assert_eq!(rows_json(&all_rows(file)), ["[1.5,-2.0]", "[0.25,8.0]"]);
        }
    }

    #[test]
    fn zero_size_rows() {
        let header = header_of(F32_3X0).unwrap();
        assert_eq!(
            (header.rows(), header.row_len(), header.row_bytes()),
            (3, 0, 0)
        );
        let chunk = all_rows(F32_3X0);
        assert_eq!((chunk.rows, chunk.bytes.len()), (3, 0));
        assert_eq!(rows_json(&chunk), ["[]", "[]", "[]"]);

        let nested = npy_v1(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 0)}",
            b"",
        );
        assert_eq!(rows_json(&all_rows(&nested)), ["[[],[],[]]", "[[],[],[]]"]);

        // shape[0] = 0: no rows at all.
        let empty = npy_v1(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3)}",
            b"",
        );
        let mut cursor = Cursor::new(&empty[..]);
        let header = read_header(&mut cursor).unwrap();
        check_length(&header, empty.len() as u64).unwrap();
        assert!(
            NpyReader::new(cursor, header)
                .next_chunk(4)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn chunks_of_two_over_five_rows() {
        let mut cursor = Cursor::new(I64_5);
        let header = read_header(&mut cursor).unwrap();
        let mut reader = NpyReader::new(cursor, header);
        let mut seen = Vec::new();
        while let Some(chunk) = reader.next_chunk(2).unwrap() {
            assert!(chunk.bytes.len() <= 2 * 8);
            seen.push((chunk.first_row, chunk.rows, chunk.to_i64().unwrap()));
            assert_eq!(reader.position(), chunk.first_row + chunk.rows);
        }
        assert_eq!(
            seen,
            [
                (0, 2, vec![1, -2]),
                (2, 2, vec![3, (1 << 53) + 1]),
                (4, 1, vec![i64::MIN]),
            ]
        );
        assert!(reader.next_chunk(2).unwrap().is_none());
        assert_eq!(reader.position(), 5);
        // 0 rows asked for is read as 1, so a loop cannot stall.
        let mut cursor = Cursor::new(I64_5);
        let header = read_header(&mut cursor).unwrap();
        let mut reader = NpyReader::new(cursor, header);
        assert_eq!(reader.next_chunk(0).unwrap().unwrap().rows, 1);
    }

    #[test]
    fn seek_row_resumes() {
        let mut cursor = Cursor::new(I64_5);
        let header = read_header(&mut cursor).unwrap();
        let mut reader = NpyReader::new(cursor, header.clone());
        assert_eq!(reader.header(), &header);
        reader.seek_row(3).unwrap();
        assert_eq!(reader.position(), 3);
        let chunk = reader.next_chunk(10).unwrap().unwrap();
        assert_eq!((chunk.first_row, chunk.rows), (3, 2));
        assert_eq!(
            rows_json(&chunk),
            ["9007199254740993", "-9223372036854775808"]
        );

        reader.seek_row(1).unwrap();
        assert_eq!(
            reader.next_chunk(1).unwrap().unwrap().to_i64().unwrap(),
            [-2]
        );

        reader.seek_row(5).unwrap();
        assert!(reader.next_chunk(10).unwrap().is_none());
        let err = reader.seek_row(6).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot resume at row 6: the file has 5 rows"
        );
    }

    #[test]
    fn refuses_bad_magic() {
        let msg = "not a .npy file: the magic string \\x93NUMPY is missing";
        assert_eq!(refusal(b"PK\x03\x04 a zip file, say"), msg);
        assert_eq!(refusal(b"\x93NUM"), msg);
        assert_eq!(refusal(b""), msg);
        assert_eq!(
            refusal(b"\x93NUMPY\x01"),
            "not a .npy file: the file ends inside its header"
        );
        assert_eq!(
            refusal(b"\x93NUMPY\x04\x00\x10\x00"),
            "unsupported .npy format version 4.0; inferd reads versions 1.0, 2.0 and 3.0"
        );
        assert_eq!(
            refusal(&F32_2X3[..60]),
            "header: the file ends inside the header (50 of its 118 bytes)"
        );
    }

    #[test]
    fn refuses_unsupported_dtypes() {
        assert_eq!(
            refusal(F32_BIG_ENDIAN),
            "unsupported dtype '>f4' (big-endian); inferd reads little-endian numbers; \
             save it with arr.astype(arr.dtype.newbyteorder('<'))"
        );
        assert_eq!(
            refusal(OBJECT_3),
            "unsupported dtype '|O' (Python objects, stored as a pickle); save a numeric array"
        );
        assert_eq!(
            refusal(F16_2),
            "unsupported dtype '<f2' (float16); save the array as float32"
        );
        assert!(refusal(STR_1).starts_with("unsupported dtype '<U2' (strings)"));
        assert!(
            refusal(STRUCT_2).starts_with(
                "unsupported dtype '[('x', '<f4'), ('y', '<i4')]' (a structured dtype)"
            )
        );
        let native = npy_v1(
            "{'descr': '=f4', 'fortran_order': False, 'shape': (1,)}",
            &[0; 4],
        );
        assert!(refusal(&native).contains("(no little-endian byte order)"));
        // A one-byte type has no byte order to get wrong.
        let signed = npy_v1(
            "{'descr': '<i1', 'fortran_order': False, 'shape': (2,)}",
            b"\xff\x01",
        );
        assert_eq!(rows_json(&all_rows(&signed)), ["-1", "1"]);
    }

    #[test]
    fn refuses_fortran_order_and_0d() {
        assert_eq!(
            refusal(F32_FORTRAN),
            "fortran_order True is not supported; save the array in C order (np.ascontiguousarray)"
        );
        assert_eq!(
            refusal(SCALAR_0D),
            "header: shape () is a 0-d array, which has no rows; save it with at least one dimension"
        );
    }

    #[test]
    fn refuses_a_truncated_file() {
        // Ends 2 bytes into row 1 (the header is 128 bytes, a row 12).
        let file = &F32_2X3[..128 + 12 + 2];
        let mut cursor = Cursor::new(file);
        let header = read_header(&mut cursor).unwrap();
        let mut reader = NpyReader::new(cursor, header);
        let err = reader.next_chunk(10).unwrap_err();
        assert!(matches!(err, NpyError::Truncated { row: 1, rows: 2 }));
        assert_eq!(
            err.to_string(),
            "the file ends inside row 1 (rows count from 0; the header says 2 rows)"
        );

        // Ends between rows: read row by row, row 0 comes, then the error.
        let file = &F32_2X3[..128 + 12];
        let mut cursor = Cursor::new(file);
        let header = read_header(&mut cursor).unwrap();
        let mut reader = NpyReader::new(cursor, header);
        assert_eq!(reader.next_chunk(1).unwrap().unwrap().rows, 1);
        let err = reader.next_chunk(1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the file ends before row 1 (rows count from 0; the header says 2 rows)"
        );
    }

    #[test]
    fn check_length_catches_a_header_lie() {
        // Too short: the header promises more rows than there are.
        let header = read_header(&mut Cursor::new(F32_2X3)).unwrap();
        assert_eq!(
            check_length(&header, 128 + 12).unwrap_err().to_string(),
            "the header says 2 rows of 12 bytes (24 bytes of data) but the file holds 12 bytes \
             after its 128-byte header"
        );
        // Too long: bytes after the last row.
        assert!(matches!(
            check_length(&header, F32_2X3.len() as u64 + 4),
            Err(NpyError::LengthMismatch {
                expected: 24,
                actual: 28,
                ..
            })
        ));
        // Shorter than the header itself.
        assert!(check_length(&header, 10).is_err());

        // A big lie costs no memory: 1000 rows of 3136 bytes promised, 12 there.
        let lie = npy_v1(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 28, 28, 1)}",
            &[0; 12],
        );
        assert_eq!(
            refusal(&lie),
            "the header says 1000 rows of 3136 bytes (3136000 bytes of data) but the file holds \
             12 bytes after its 128-byte header"
        );
        let mut cursor = Cursor::new(&lie[..]);
        let header = read_header(&mut cursor).unwrap();
        let err = NpyReader::new(cursor, header).next_chunk(1000).unwrap_err();
        assert!(matches!(err, NpyError::Truncated { row: 0, rows: 1000 }));
    }

    #[test]
    fn refuses_a_shape_that_overflows() {
        // 2**32 × 2**32 × 4 bytes: past any isize.
        let huge = npy_v1(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}",
            b"",
        );
        assert_eq!(
            refusal(&huge),
            "header: shape (4294967296, 4294967296) of <f4 is too big: its size in bytes overflows"
        );
        let wide = npy_v1(
            "{'descr': '|u1', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
            b"",
        );
        assert!(refusal(&wide).contains("is too big"));
        // NumPy's rule: a zero does not excuse the other dimensions.
        let zero = npy_v1(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296)}",
            b"",
        );
        assert!(refusal(&zero).contains("is too big"));
        // Nor may a zero-size row hide a billion empty lists.
        let empties = npy_v1(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1000000000, 0)}",
            b"",
        );
        assert!(refusal(&empties).contains("empty lists"));
    }

    #[test]
    fn refuses_a_header_over_64_kib() {
        // The length field alone is enough: nothing that long is read.
        let mut file = b"\x93NUMPY\x02\x00".to_vec();
        file.extend_from_slice(&(64 * 1024 + 1u32).to_le_bytes());
        assert_eq!(
            refusal(&file),
            "the .npy header is 65537 bytes long, over inferd's limit of 65536 bytes"
        );
        let mut file = b"\x93NUMPY\x03\x00".to_vec();
        file.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            header_of(&file),
            Err(NpyError::HeaderTooLong { .. })
        ));
    }

    #[test]
    fn header_syntax_python_allows() {
        // Keys in any order, spaces anywhere, double quotes, no trailing
        // comma, Python 2's long integers.
        for dict in [
            "{'shape':(2,3),'fortran_order':False,'descr':'<f4'}",
            "{ \"descr\" : \"<f4\" ,\n 'fortran_order' : False , 'shape' : ( 2 , 3 , ) , }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }",
        ] {
            let file = npy_v1(dict, &F32_2X3[128..]);
            let header = header_of(&file).unwrap_or_else(|e| panic!("{dict}: {e}"));
            assert_eq!(header.shape, vec![2, 3], "{dict}");
        }
    }

    #[test]
    fn refuses_garbage_in_the_dict() {
        let cases = [
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 'a'), }",
                "header: shape (3, 'a') is not a tuple of integers",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (3), }",
                "header: shape (3) is not a tuple of integers",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': [3], }",
                "header: shape [3] is not a tuple of integers",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (3.0,), }",
                "header: a number that is not a decimal integer at byte 52 of the header's dict \
                 (found '.')",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }",
                "header: shape (-3,) has a negative dimension",
            ),
            (
                "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }",
                "header: fortran_order 0 is not True or False",
            ),
            (
                "{'descr': 4, 'fortran_order': False, 'shape': (3,), }",
                "header: descr 4 is not a string",
            ),
            (
                "{'descr': __import__('os'), 'fortran_order': False, 'shape': (3,), }",
                "header: a name where a literal belongs at byte 10 of the header's dict \
                 (found '_')",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False}",
                "header: the key 'shape' is missing",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}",
                "header: unexpected key 'x'; a .npy header has 'descr', 'fortran_order' and \
                 'shape'",
            ),
            (
                "{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (3,)}",
                "header: key 'descr' appears twice",
            ),
            (
                "{'descr': '<f4, 'fortran_order': False, 'shape': (3,)}",
                "header: expected ',' or '}' at byte 17 of the header's dict (found 'f')",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} junk",
                "header: unexpected text after the dict at byte 56 of the header's dict \
                 (found 'j')",
            ),
            ("('descr', '<f4')", "header: ('descr', '<f4') is not a dict"),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)",
                "header: expected ',' or '}' at byte 118 of the header's dict (found the end of \
                 the header)",
            ),
        ];
        for (dict, want) in cases {
            let file = npy_v1(dict, &[0; 12]);
            let got = read_header(&mut Cursor::new(&file[..]))
                .map(|h| format!("read {h:?}"))
                .unwrap_or_else(|e| e.to_string());
            assert_eq!(got, want, "{dict}");
        }

        // Deep nesting is refused, not recursed into.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let err = read_header(&mut Cursor::new(npy_v1(&deep, b""))).unwrap_err();
        assert!(err.to_string().contains("nested too deep"), "{err}");
        // Not UTF-8 (nor Latin-1 text a literal could hold).
        let bad = npy_v1(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}\u{0}",
            b"",
        );
        assert!(read_header(&mut Cursor::new(bad)).is_err());
    }

    #[test]
    fn io_errors_say_what_was_read() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let err = read_header(&mut Failing).unwrap_err();
        assert_eq!(err.to_string(), "reading the .npy header: disk on fire");
        let header = header_of(F32_2X3).unwrap();
        let err = NpyReader::new(Failing, header).next_chunk(1).unwrap_err();
        assert_eq!(err.to_string(), "reading row 0: disk on fire");
    }

    #[test]
    fn row_json_of_floats() {
        let chunk = NpyChunk {
            dtype: NpyDType::F32,
            row_shape: vec![],
            first_row: 0,
            rows: 6,
            bytes: [0.1f32, f32::NAN, f32::INFINITY, -0.0, f32::MAX, 1e-45]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        };
        assert_eq!(
            rows_json(&chunk),
            ["0.1", "null", "null", "-0.0", "3.4028235e+38", "1e-45"]
        );
        // Each prints back to the same f32.
        for i in [0, 3, 4, 5] {
            let text = chunk.row_json(i).to_string();
            let back: f32 = text.parse().unwrap();
            assert_eq!(
                back.to_bits(),
                chunk.to_f32().unwrap()[i].to_bits(),
                "{text}"
            );
        }
        // A chunk built by hand with too few bytes gives null, not a panic.
        let short = NpyChunk {
            rows: 3,
            bytes: vec![0; 5],
            ..chunk
        };
        assert_eq!(rows_json(&short), ["0.0", "null", "null"]);
    }

    #[test]
    fn no_panic_on_mangled_files() {
        // Every prefix, and every byte of the header and first row set to a
        // few troublesome values: an error or rows, never a panic.
        let files = [F32_2X3, I64_5, F64_2X2X2, BOOL_2X2, F32_V2, F32_3X0];
        for file in files {
            let mut variants: Vec<Vec<u8>> = (0..file.len()).map(|n| file[..n].to_vec()).collect();
            for at in 0..file.len().min(150) {
                for b in [0u8, b' ', b'(', b',', b'9', b'\'', b'\\', 0xff] {
                    let mut v = file.to_vec();
                    v[at] = b;
                    variants.push(v);
                }
            }
            for v in variants {
                let mut cursor = Cursor::new(&v[..]);
                let Ok(header) = read_header(&mut cursor) else {
                    continue;
                };
                let _ = check_length(&header, v.len() as u64);
                let mut reader = NpyReader::new(cursor, header);
                while let Ok(Some(chunk)) = reader.next_chunk(3) {
                    for i in 0..=chunk.rows {
                        let _ = chunk.row_json(i);
                    }
                    let _ = (chunk.to_f32(), chunk.to_f64(), chunk.to_i64());
                }
            }
        }
    }
}
