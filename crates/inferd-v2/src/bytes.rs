//! BYTES elements in a binary buffer: each a 4-byte little-endian length,
//! then that many bytes, one after another with nothing between.
//!
//! inferd's tensors hold no strings, so a BYTES input is refused unless it
//! takes encoded images (each element one image; see `images`); the
//! framing is read first either way, so that a malformed buffer is
//! reported as what it is. Reading never goes past the buffer, whatever
//! the lengths say.

/// How a BYTES buffer disagrees with its framing or with the element count
/// its shape gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error(
        "element {element}'s 4-byte length starts at byte {offset} but the buffer ends at byte {len}"
    )]
    LengthCut {
        element: usize,
        offset: usize,
        len: usize,
    },

    #[error(
        "element {element} says it has {length} bytes from byte {offset}, past the buffer's end at byte {len}"
    )]
    ElementPastEnd {
        element: usize,
        length: u32,
        offset: usize,
        len: usize,
    },

    #[error("the shape holds {expected} elements but {extra} bytes follow the last of them")]
    LeftOver { expected: usize, extra: usize },

    #[error(
        "an element of {length} bytes cannot be framed: lengths are 4-byte (at most 4294967295)"
    )]
    TooLong { length: usize },
}

/// The `count` elements framed in `buffer`, which must end right after the
/// last one.
pub fn split_bytes_elements(buffer: &[u8], count: usize) -> Result<Vec<&[u8]>, FramingError> {
    // Every element takes at least its 4-byte length: a count that cannot
    // fit is found at the first missing length, and the capacity never
    // trusts the count alone.
    let mut elements = Vec::with_capacity(count.min(buffer.len() / 4));
    let mut offset = 0;
    for element in 0..count {
        let rest = &buffer[offset..];
        let Some((length, rest)) = rest.split_first_chunk::<4>() else {
            return Err(FramingError::LengthCut {
                element,
                offset,
                len: buffer.len(),
            });
        };
        let length = u32::from_le_bytes(*length);
        let Some(bytes) = rest.get(..length as usize) else {
            return Err(FramingError::ElementPastEnd {
                element,
                length,
                offset: offset + 4,
                len: buffer.len(),
            });
        };
        elements.push(bytes);
        offset += 4 + bytes.len();
    }
    if offset != buffer.len() {
        return Err(FramingError::LeftOver {
            expected: count,
            extra: buffer.len() - offset,
        });
    }
    Ok(elements)
}

/// Appends one framed element to `out`.
pub fn write_bytes_element(out: &mut Vec<u8>, element: &[u8]) -> Result<(), FramingError> {
    let length = u32::try_from(element.len()).map_err(|_| FramingError::TooLong {
        length: element.len(),
    })?;
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(element);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(elements: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for element in elements {
            write_bytes_element(&mut out, element).unwrap();
        }
        out
    }

    #[test]
    fn elements_round_trip() {
        let elements: [&[u8]; 4] = [b"abc", b"", "é\0x".as_bytes(), &[0xff; 300]];
        let buffer = framed(&elements);
        assert_eq!(&buffer[..7], b"\x03\0\0\0abc");
        assert_eq!(buffer.len(), 4 * 4 + 3 + 4 + 300);
        assert_eq!(split_bytes_elements(&buffer, 4).unwrap(), elements);
        assert_eq!(split_bytes_elements(&[], 0).unwrap(), Vec::<&[u8]>::new());
    }

    #[test]
    fn a_length_cut_short_is_found() {
        let buffer = framed(&[b"ab"]);
        assert_eq!(
            split_bytes_elements(&buffer, 2),
            Err(FramingError::LengthCut {
                element: 1,
                offset: 6,
                len: 6
            })
        );
        assert!(matches!(
            split_bytes_elements(&buffer[..3], 1),
            Err(FramingError::LengthCut { element: 0, .. })
        ));
    }

    #[test]
    fn an_element_past_the_end_is_never_read() {
        let mut buffer = framed(&[b"ab", b"cd"]);
        buffer[6] = 200;
        let err = split_bytes_elements(&buffer, 2).unwrap_err();
        assert_eq!(
            err,
            FramingError::ElementPastEnd {
                element: 1,
                length: 200,
                offset: 10,
                len: 12
            }
        );
        assert_eq!(
            err.to_string(),
            "element 1 says it has 200 bytes from byte 10, past the buffer's end at byte 12"
        );
        let huge = [0xff, 0xff, 0xff, 0xff, b'x'];
        assert!(matches!(
            split_bytes_elements(&huge, 1),
            Err(FramingError::ElementPastEnd {
                length: u32::MAX,
                ..
            })
        ));
    }

    #[test]
    fn bytes_after_the_last_element_are_refused() {
        let buffer = framed(&[b"ab", b"cd"]);
        assert_eq!(
            split_bytes_elements(&buffer, 1),
            Err(FramingError::LeftOver {
                expected: 1,
                extra: 6
            })
        );
    }

    #[test]
    fn a_huge_count_allocates_by_the_buffer() {
        assert!(matches!(
            split_bytes_elements(b"\0\0\0\0", usize::MAX),
            Err(FramingError::LengthCut { element: 1, .. })
        ));
    }
}
