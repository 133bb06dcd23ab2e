//! Each request's body and the headers that frame it, for either protocol:
//! a `--body` file, the `/swagger.json` example (`/score`), or a v2 body
//! made from the model metadata (`v2_body`). A binary v2 body goes as
//! `application/octet-stream` with its JSON header's length in
//! `Inference-Header-Content-Length`; every other body as JSON.

use bytes::Bytes;

use crate::BenchError;
use crate::args::BenchArgs;
use crate::protocol::{BodyFormat, Protocol, V2Path};
use crate::target::{Target, body_from_swagger};
use crate::v2_body;

/// The binary tensor extension's header: the length of the body's JSON.
pub const HEADER_LENGTH: &str = "Inference-Header-Content-Length";

/// What every request of the run carries.
#[derive(Debug, Clone)]
pub struct Body {
    pub bytes: Bytes,
    /// The user's `-H` headers and the framing headers, in that order.
    pub headers: Vec<(String, String)>,
    pub protocol: Protocol,
    pub format: BodyFormat,
    /// Where the body came from, for the first line of the report.
    pub source: String,
}

/// The body `args` ask for, its protocol decided (`--protocol`, else the
/// URL's path) and its options checked against it.
pub async fn prepare(
    args: &BenchArgs,
    target: &Target,
    mut headers: Vec<(String, String)>,
) -> Result<Body, BenchError> {
    let wire = &args.wire;
    let protocol = wire
        .protocol
        .unwrap_or_else(|| Protocol::detect(&target.path));
    let format = wire.body_format;
    let usage = |text: &str| Err(BenchError::Usage(text.to_owned()));
    if protocol == Protocol::Score {
        if format != BodyFormat::Json {
            return usage("--body-format binary is for --protocol v2");
        }
        if wire.rows.is_some() || wire.header_length.is_some() {
            return usage("--rows and --header-length are for --protocol v2");
        }
    }
    // A /score request's headers are the user's own business.
    let given = match protocol {
        Protocol::V2 => given_header_length(wire.header_length, &headers)?,
        Protocol::Score => None,
    };
    let (bytes, header_length, source) = match (&args.body, protocol) {
        (Some(path), _) => {
            let bytes = std::fs::read(path)
                .map_err(BenchError::io(format!("cannot read {}", path.display())))?;
            let header_length = file_header_length(format, given, bytes.len())?;
            (bytes, header_length, path.display().to_string())
        }
        (None, Protocol::Score) => (
            body_from_swagger(target).await?.to_vec(),
            None,
            "/swagger.json example".to_owned(),
        ),
        (None, Protocol::V2) => {
            if given.is_some() {
                return usage(
                    "a body made from the model metadata brings its own \
                     Inference-Header-Content-Length; give it only with --body FILE",
                );
            }
            let path = V2Path::parse(&target.path).ok_or_else(|| {
                BenchError::NoBody(format!(
                    "'{}' is not /v2/models/{{m}}[/versions/{{v}}]/infer, so there is \
                     no model metadata to read; give --body FILE",
                    target.path
                ))
            })?;
            let rows = wire.rows.map(|r| r as usize);
            let made = v2_body::fetch(target, path, format, rows).await?;
            (made.encoded.body, made.encoded.header_length, made.source)
        }
    };
    frame(&mut headers, format, header_length);
    Ok(Body {
        bytes: Bytes::from(bytes),
        headers,
        protocol,
        format,
        source,
    })
}

/// `--header-length` or `-H 'Inference-Header-Content-Length: N'`; both
/// are fine when they agree.
fn given_header_length(
    flag: Option<usize>,
    headers: &[(String, String)],
) -> Result<Option<usize>, BenchError> {
    let header = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(HEADER_LENGTH))
        .map(|(_, value)| {
            inferd_v2::parse_header_length(value.as_bytes())
                .map_err(|e| BenchError::Usage(format!("-H {HEADER_LENGTH}: {e}")))
        })
        .transpose()?;
    match (flag, header) {
        (Some(a), Some(b)) if a != b => Err(BenchError::Usage(format!(
            "--header-length {a} and -H '{HEADER_LENGTH}: {b}' disagree"
        ))),
        (flag, header) => Ok(flag.or(header)),
    }
}

/// A file is sent as it is, so its JSON header's length must be told: the
/// bench does not guess where the JSON of a binary body ends.
fn file_header_length(
    format: BodyFormat,
    given: Option<usize>,
    body_len: usize,
) -> Result<Option<usize>, BenchError> {
    match (format, given) {
        (BodyFormat::Json, None) => Ok(None),
        (BodyFormat::Json, Some(_)) => Err(BenchError::Usage(format!(
            "{HEADER_LENGTH} is for --body-format binary"
        ))),
        (BodyFormat::Binary, None) => Err(BenchError::Usage(
            "--body-format binary with --body FILE needs --header-length N, \
             the length of the file's JSON header"
                .into(),
        )),
        (BodyFormat::Binary, Some(n)) if n > body_len => Err(BenchError::Usage(format!(
            "--header-length {n} is past the end of the {body_len} byte body"
        ))),
        (BodyFormat::Binary, Some(n)) => Ok(Some(n)),
    }
}

/// Adds what a binary body needs and the user did not give (a `-H` of the
/// same name wins). A JSON body needs nothing here: a request without a
/// Content-Type goes as `application/json` (see [`Target::request`]).
fn frame(headers: &mut Vec<(String, String)>, format: BodyFormat, header_length: Option<usize>) {
    let has = |headers: &[(String, String)], name: &str| {
        headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    if format == BodyFormat::Binary && !has(headers, "content-type") {
        headers.push(("Content-Type".into(), "application/octet-stream".into()));
    }
    if let Some(n) = header_length
        && !has(headers, HEADER_LENGTH)
    {
        headers.push((HEADER_LENGTH.into(), n.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn the_header_length_comes_from_the_flag_or_the_header() {
        assert_eq!(given_header_length(None, &[]).unwrap(), None);
        assert_eq!(given_header_length(Some(7), &[]).unwrap(), Some(7));
        let header = [h("inference-header-content-length", " 9 ")];
        assert_eq!(given_header_length(None, &header).unwrap(), Some(9));
        assert_eq!(given_header_length(Some(9), &header).unwrap(), Some(9));
        assert!(given_header_length(Some(8), &header).is_err());
        assert!(given_header_length(None, &[h(HEADER_LENGTH, "-1")]).is_err());
    }

    #[test]
    fn a_binary_file_needs_its_header_length() {
        assert_eq!(
            file_header_length(BodyFormat::Json, None, 10).unwrap(),
            None
        );
        assert!(file_header_length(BodyFormat::Json, Some(4), 10).is_err());
        assert!(file_header_length(BodyFormat::Binary, None, 10).is_err());
        assert!(file_header_length(BodyFormat::Binary, Some(11), 10).is_err());
        assert_eq!(
            file_header_length(BodyFormat::Binary, Some(10), 10).unwrap(),
            Some(10)
        );
    }

    #[test]
    fn binary_bodies_are_framed_and_the_users_headers_win() {
        let mut headers = vec![h("Authorization", "Bearer x")];
        frame(&mut headers, BodyFormat::Binary, Some(42));
        assert_eq!(
            headers,
            [
                h("Authorization", "Bearer x"),
                h("Content-Type", "application/octet-stream"),
                h(HEADER_LENGTH, "42"),
            ]
        );
        let mut headers = vec![h("content-type", "application/x"), h(HEADER_LENGTH, "42")];
        frame(&mut headers, BodyFormat::Binary, Some(42));
        assert_eq!(headers.len(), 2);
        let mut headers = vec![];
        frame(&mut headers, BodyFormat::Json, None);
        assert!(headers.is_empty());
    }
}
