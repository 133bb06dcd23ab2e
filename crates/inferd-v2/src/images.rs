//! Encoded images (PNG, JPEG, ...) as BYTES elements: an input the server
//! declares an image decoder for takes `datatype: "BYTES"`, `shape: [N]`,
//! one encoded image per element, and the N images become its N rows. The
//! same rule as OpenVINO Model Server's for the protocol, and what Triton's
//! clients send for BYTES (tritonclient's default, `binary_data=True`: the
//! binary tensor extension, each element its 4-byte length and its bytes).
//!
//! In JSON, an element is base64 text (RFC 4648, the standard alphabet,
//! its `=` padding optional). The protocol's JSON BYTES are strings, and
//! an encoded image is not text: tritonclient refuses to send bytes that
//! are not UTF-8 as JSON ("use binary_data=True"). Read as the string's
//! own UTF-8 bytes, as Triton reads a JSON BYTES element, no image could
//! ever come this way; read as base64, one can (curl, a browser, and
//! tritonclient's `binary_data=False` given `base64.b64encode(png)`), the
//! convention other servers' examples use. Nothing is lost by it: every
//! format decoded starts with bytes a JSON string cannot hold or that are
//! not base64 text of an image.
//!
//! This crate decodes no image: the server does, through
//! [`EncodedImages`], which also says which inputs take images. The codec
//! checks the request first (shapes, framing, base64), so a bad request
//! costs no decoding.

use std::borrow::Cow;

use inferd_tensor::{Dim, Tensor};

use crate::V2Error;
use crate::json::dim_value;

/// The inputs that take encoded images as BYTES elements, and how their
/// images become tensors: the server's declared image decoders. Handed to
/// [`crate::V2Model::decode_request_with`] per request, so it may also
/// hold the request's memory reservation.
pub trait EncodedImages {
    /// Why images could not be decoded (or their memory reserved); the
    /// codec's own refusals ([`V2Error`]) become it too.
    type Error: From<V2Error>;

    /// Whether input `input` takes encoded images as BYTES elements.
    fn takes_encoded_images(&self, input: &str) -> bool;

    /// `bytes` are about to be copied out of base64 text, and held until
    /// the images are decoded: a server reserves them in its memory
    /// budget. Images sent as binary data are the body's own bytes, not
    /// copies, and are never announced here.
    fn reserve_copies(&mut self, bytes: u64) -> Result<(), Self::Error> {
        let _ = bytes;
        Ok(())
    }

    /// Input `input`'s tensor from `images`, one row each, in order. Called
    /// only for an input [`Self::takes_encoded_images`] accepts, with at
    /// least one image, once every other rule of the request has held.
    fn decode_images(&mut self, input: &str, images: &[&[u8]]) -> Result<Tensor, Self::Error>;
}

/// No input takes images: BYTES stays refused, as inferd's tensors hold
/// no strings. [`crate::V2Model::decode_request`]'s.
pub(crate) struct NoImages;

impl EncodedImages for NoImages {
    type Error = V2Error;

    fn takes_encoded_images(&self, _: &str) -> bool {
        false
    }

    fn decode_images(&mut self, input: &str, _: &[&[u8]]) -> Result<Tensor, V2Error> {
        // Never called: no input takes images. Refused, not a panic, all
        // the same.
        Err(V2Error::UnsupportedDatatype {
            input: input.to_owned(),
            received: "BYTES".to_owned(),
            expected: "its tensor".to_owned(),
            reason: "no image decoder is declared for it".to_owned(),
        })
    }
}

/// An image input's elements, checked but not yet decoded.
#[derive(Debug)]
pub(crate) enum ImageElements<'a> {
    /// Binary data: each element borrowed from the body.
    Binary(Vec<&'a [u8]>),
    /// JSON `data`: each element base64 text (checked), borrowed when
    /// unescaped; `bytes`, what they all decode to.
    Base64 {
        texts: Vec<Cow<'a, str>>,
        bytes: u64,
    },
}

/// The first dimension an image input's BYTES shape must have: the
/// model's own when fixed, else `-1` (any count). The metadata says so.
pub(crate) fn image_count_dim(shape: Option<&[Dim]>) -> i64 {
    match shape.and_then(<[Dim]>::first) {
        Some(dim) => dim_value(dim),
        None => -1,
    }
}

/// Input `input`'s images decoded by `images`: base64 copied out (its
/// bytes announced first), then the tensor. Every rule of the request
/// has held by now, the base64 included.
pub(crate) fn decode_elements<I: EncodedImages>(
    input: &str,
    elements: ImageElements<'_>,
    images: &mut I,
) -> Result<Tensor, I::Error> {
    match elements {
        ImageElements::Binary(list) => images.decode_images(input, &list),
        ImageElements::Base64 { texts, bytes } => {
            images.reserve_copies(bytes)?;
            let mut copies = Vec::with_capacity(texts.len());
            for (index, text) in texts.iter().enumerate() {
                // Checked already; a guard, never expected to fail.
                copies.push(decode_base64(text).map_err(|reason| V2Error::NotBase64 {
                    input: input.to_owned(),
                    index,
                    reason: reason.to_string(),
                })?);
            }
            let list: Vec<&[u8]> = copies.iter().map(Vec::as_slice).collect();
            images.decode_images(input, &list)
        }
    }
}

/// Why a text is not base64 (the message's end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Base64Error {
    /// A character outside the alphabet (and not the final padding).
    Character { at: usize, found: char },
    /// 4k+1 characters: the last one carries fewer than 8 bits.
    Length { chars: usize },
    /// `=` that does not end a group of four, or more than two of them.
    Padding { at: usize },
}

impl std::fmt::Display for Base64Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Base64Error::Character { at, found } => write!(
                f,
                "character {found:?} at {at} is not in the base64 alphabet (A-Z, a-z, 0-9, '+', '/')"
            ),
            Base64Error::Length { chars } => write!(
                f,
                "{chars} base64 characters (without padding) cannot end a whole byte"
            ),
            Base64Error::Padding { at } => {
                write!(f, "padding '=' at {at} does not end a group of four")
            }
        }
    }
}

/// `text` as base64 (the standard alphabet; `=` padding optional, but
/// where given it must complete the last group of four).
pub(crate) fn decode_base64(text: &str) -> Result<Vec<u8>, Base64Error> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    base64(text, Some(&mut out))?;
    Ok(out)
}

/// Whether `text` is base64, as [`decode_base64`] reads it, and how many
/// bytes it holds: the check a request passes before anything is copied.
pub(crate) fn check_base64(text: &str) -> Result<u64, Base64Error> {
    base64(text, None)
}

/// Reads `text` as base64, appending its bytes to `out` when given; the
/// count of bytes it holds.
fn base64(text: &str, mut out: Option<&mut Vec<u8>>) -> Result<u64, Base64Error> {
    let bytes = text.as_bytes();
    // The padding: up to two '=' at the very end, making a group of four.
    let data_len = bytes.len() - bytes.iter().rev().take_while(|&&b| b == b'=').count();
    let padding = bytes.len() - data_len;
    if padding > 0 && (padding > 2 || !bytes.len().is_multiple_of(4)) {
        return Err(Base64Error::Padding { at: data_len });
    }
    let data = &bytes[..data_len];
    let mut group = 0u32;
    let mut filled = 0;
    for (at, &byte) in data.iter().enumerate() {
        let Some(value) = sextet(byte) else {
            if byte == b'=' {
                return Err(Base64Error::Padding { at });
            }
            // The character, whole, for the message (`text` is UTF-8; a
            // byte inside a character is found at the character's start).
            let found = text.get(at..).and_then(|t| t.chars().next()).unwrap_or('?');
            return Err(Base64Error::Character { at, found });
        };
        group = group << 6 | u32::from(value);
        filled += 1;
        if filled == 4 {
            if let Some(out) = out.as_deref_mut() {
                out.extend_from_slice(&group.to_be_bytes()[1..]);
            }
            group = 0;
            filled = 0;
        }
    }
    // After the characters: a stray one is the likelier mistake to name.
    if filled == 1 {
        return Err(Base64Error::Length { chars: data.len() });
    }
    // A last group of 2 or 3 characters is 1 or 2 bytes (its spare low
    // bits are ignored, as Python's b64decode ignores them).
    if let Some(out) = out {
        match filled {
            2 => out.push((group >> 4) as u8),
            3 => out.extend_from_slice(&((group >> 2) as u16).to_be_bytes()),
            _ => {}
        }
    }
    let tail = match filled {
        2 => 1,
        3 => 2,
        _ => 0,
    };
    Ok(data.len() as u64 / 4 * 3 + tail)
}

fn sextet(byte: u8) -> Option<u8> {
    Some(match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_with_or_without_padding() {
        for (text, bytes) in [
            ("", &b""[..]),
            ("Zg==", b"f"),
            ("Zg", b"f"),
            ("Zm8=", b"fo"),
            ("Zm8", b"fo"),
            ("Zm9v", b"foo"),
            ("Zm9vYmFy", b"foobar"),
            ("iVBORw0KGgo=", b"\x89PNG\r\n\x1a\n"),
            ("/+8=", &[0xff, 0xef]),
        ] {
            assert_eq!(decode_base64(text).unwrap(), bytes, "{text}");
        }
        let all: Vec<u8> = (0..=255).collect();
        // Python: base64.b64encode(bytes(range(21)))
        assert_eq!(
            decode_base64("AAECAwQFBgcICQoLDA0ODxAREhMU").unwrap(),
            all[..21]
        );
    }

    #[test]
    fn what_is_not_base64_is_refused_with_where() {
        assert_eq!(
            decode_base64("Zm9v YmFy"),
            Err(Base64Error::Character { at: 4, found: ' ' })
        );
        assert_eq!(
            decode_base64("Zm9-"),
            Err(Base64Error::Character { at: 3, found: '-' })
        );
        assert_eq!(
            decode_base64("Zm9é"),
            Err(Base64Error::Character { at: 3, found: 'é' })
        );
        assert_eq!(
            decode_base64("Zm9vY"),
            Err(Base64Error::Length { chars: 5 })
        );
        assert_eq!(
            decode_base64("Zg=="),
            Ok(b"f".to_vec()),
            "two pads close a group"
        );
        for (text, at) in [("Zg=", 2), ("Z===", 1), ("Zg==Zg==", 2), ("=", 0)] {
            assert_eq!(
                decode_base64(text),
                Err(Base64Error::Padding { at }),
                "{text}"
            );
        }
        assert_eq!(
            Base64Error::Character { at: 4, found: ' ' }.to_string(),
            "character ' ' at 4 is not in the base64 alphabet (A-Z, a-z, 0-9, '+', '/')"
        );
    }

    #[test]
    fn the_check_counts_what_the_decoding_gives() {
        for text in [
            "",
            "Zg",
            "Zg==",
            "Zm8",
            "Zm9v",
            "Zm9vYmFy",
            "AAECAwQFBgcICQoLDA0ODxAREhMU",
        ] {
            assert_eq!(
                check_base64(text).unwrap(),
                decode_base64(text).unwrap().len() as u64,
                "{text}"
            );
        }
        assert_eq!(
            check_base64("Zm9-"),
            Err(Base64Error::Character { at: 3, found: '-' })
        );
    }

    #[test]
    fn the_image_count_is_the_models_first_dimension() {
        assert_eq!(image_count_dim(None), -1);
        assert_eq!(image_count_dim(Some(&[])), -1);
        assert_eq!(image_count_dim(Some(&[Dim::Free(None), Dim::Fixed(3)])), -1);
        assert_eq!(image_count_dim(Some(&[Dim::Fixed(1), Dim::Fixed(3)])), 1);
    }
}
