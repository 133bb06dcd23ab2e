//! `Content-Encoding: gzip` / `deflate` on v2 infer bodies, both ways, as
//! tritonclient sends and asks for them (`request_compression_algorithm`,
//! `response_compression_algorithm`). HTTP's `deflate` is the zlib format
//! (RFC 9110, 8.4.1.2), which is what tritonclient writes.
//!
//! A compressed body is inflated on the model's worker, with the decoding
//! (so a request refused under load costs no inflating), never past the
//! server's body limit: a small body cannot inflate into a large one.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::{GzDecoder, ZlibDecoder};
use flate2::write::{GzEncoder, ZlibEncoder};
use http::HeaderMap;
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING};

use crate::ApiError;

/// A content coding the v2 routes read and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Deflate,
}

impl Coding {
    pub fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
        }
    }

    fn parse(token: &str) -> Option<Coding> {
        if token.eq_ignore_ascii_case("gzip") || token.eq_ignore_ascii_case("x-gzip") {
            Some(Coding::Gzip)
        } else if token.eq_ignore_ascii_case("deflate") {
            Some(Coding::Deflate)
        } else {
            None
        }
    }
}

/// A compressed body that does not inflate.
#[derive(Debug, thiserror::Error)]
pub enum InflateError {
    #[error("the {coding} request body does not decompress: {reason}")]
    Corrupt {
        coding: &'static str,
        reason: String,
    },
    #[error("the {coding} request body decompresses to more than the limit of {limit} bytes")]
    TooLarge { coding: &'static str, limit: usize },
}

/// The request body's coding: none (absent or `identity`), gzip or
/// deflate; any other is refused (415), as is more than one.
pub fn request_coding(headers: &HeaderMap) -> Result<Option<Coding>, ApiError> {
    let mut values = headers.get_all(CONTENT_ENCODING).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let unsupported =
        || ApiError::ContentEncoding(String::from_utf8_lossy(value.as_bytes()).into_owned());
    if values.next().is_some() {
        return Err(unsupported());
    }
    let token = value.to_str().map_err(|_| unsupported())?.trim();
    if token.is_empty() || token.eq_ignore_ascii_case("identity") {
        return Ok(None);
    }
    Coding::parse(token).map(Some).ok_or_else(unsupported)
}

/// The coding to answer in: the first of gzip and deflate the client
/// accepts (`q=0` refuses one), else none.
pub fn response_coding(headers: &HeaderMap) -> Option<Coding> {
    let mut accepted = (false, false);
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let token = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            match Coding::parse(token) {
                Some(Coding::Gzip) if !refused => accepted.0 = true,
                Some(Coding::Deflate) if !refused => accepted.1 = true,
                _ => {}
            }
        }
    }
    match accepted {
        (true, _) => Some(Coding::Gzip),
        (false, true) => Some(Coding::Deflate),
        _ => None,
    }
}

/// `body` inflated, at most `limit` bytes of it.
pub fn inflate(coding: Coding, body: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    let most = limit as u64 + 1;
    let read = match coding {
        Coding::Gzip => GzDecoder::new(body).take(most).read_to_end(&mut out),
        Coding::Deflate => ZlibDecoder::new(body).take(most).read_to_end(&mut out),
    };
    read.map_err(|e| InflateError::Corrupt {
        coding: coding.name(),
        reason: e.to_string(),
    })?;
    if out.len() > limit {
        return Err(InflateError::TooLarge {
            coding: coding.name(),
            limit,
        });
    }
    Ok(out)
}

/// `body` compressed with `coding`, at the fast level: an answer's bytes
/// are few and its latency counts more than its last percent of size.
pub fn deflate(coding: Coding, body: &[u8]) -> Vec<u8> {
    let out = Vec::with_capacity(body.len() / 2 + 64);
    let written = match coding {
        Coding::Gzip => {
            let mut encoder = GzEncoder::new(out, Compression::fast());
            encoder.write_all(body).and_then(|()| encoder.finish())
        }
        Coding::Deflate => {
            let mut encoder = ZlibEncoder::new(out, Compression::fast());
            encoder.write_all(body).and_then(|()| encoder.finish())
        }
    };
    written.expect("writing to memory cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(name: http::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn request_codings_are_read() {
        assert_eq!(request_coding(&HeaderMap::new()).unwrap(), None);
        let coding = |v| request_coding(&headers(CONTENT_ENCODING, v));
        assert_eq!(coding("identity").unwrap(), None);
        assert_eq!(coding("gzip").unwrap(), Some(Coding::Gzip));
        assert_eq!(coding("GZIP").unwrap(), Some(Coding::Gzip));
        assert_eq!(coding(" deflate ").unwrap(), Some(Coding::Deflate));
        for bad in ["br", "gzip, deflate", "zstd"] {
            let e = coding(bad).unwrap_err();
            assert_eq!(
                e.status(),
                http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{bad}"
            );
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn accepted_codings_prefer_gzip() {
        let coding = |v| response_coding(&headers(ACCEPT_ENCODING, v));
        assert_eq!(response_coding(&HeaderMap::new()), None);
        assert_eq!(coding("gzip"), Some(Coding::Gzip));
        assert_eq!(coding("deflate"), Some(Coding::Deflate));
        assert_eq!(coding("deflate, gzip"), Some(Coding::Gzip));
        assert_eq!(coding("gzip;q=0, deflate"), Some(Coding::Deflate));
        assert_eq!(coding("br, identity"), None);
    }

    #[test]
    fn bodies_round_trip_and_stay_within_the_limit() {
        let body: Vec<u8> = (0..10_000u32).flat_map(|i| (i % 7).to_le_bytes()).collect();
        for coding in [Coding::Gzip, Coding::Deflate] {
            let packed = deflate(coding, &body);
            assert!(packed.len() < body.len() / 4);
            assert_eq!(inflate(coding, &packed, body.len()).unwrap(), body);
            let e = inflate(coding, &packed, body.len() - 1).unwrap_err();
            assert!(matches!(e, InflateError::TooLarge { .. }), "{e}");
            let e = inflate(coding, &packed[..packed.len() / 2], body.len()).unwrap_err();
            assert!(matches!(e, InflateError::Corrupt { .. }), "{e}");
            let e = inflate(coding, b"not compressed at all", 1000).unwrap_err();
            assert!(e.to_string().contains(coding.name()), "{e}");
        }
    }
}
