//! A request's `Content-Type` as the kind of binary body it announces.

use crate::error::MediaError;

/// What a binary body holds, by its `Content-Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyKind {
    /// `image/*`: one encoded image (its format is read from its bytes).
    Image,
    /// `application/x-npy`: a NumPy `.npy` array.
    Npy,
    /// `application/octet-stream`: raw little-endian elements.
    Raw,
    /// `multipart/form-data`, with its boundary.
    Multipart(String),
}

impl BodyKind {
    /// The kind `content_type` announces; `None` for a type that is none of
    /// these (JSON included), an error for a multipart type without a
    /// boundary.
    pub fn from_content_type(content_type: &str) -> Option<Result<BodyKind, MediaError>> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/x-npy" | "application/npy" => Some(Ok(BodyKind::Npy)),
            "application/octet-stream" => Some(Ok(BodyKind::Raw)),
            "multipart/form-data" => Some(
                multer::parse_boundary(content_type)
                    .map(BodyKind::Multipart)
                    .map_err(|_| {
                        MediaError::bad_request(
                            "multipart/form-data needs its boundary: Content-Type: multipart/form-data; boundary=...",
                        )
                    }),
            ),
            image if image.starts_with("image/") => Some(Ok(BodyKind::Image)),
            _ => None,
        }
    }

    /// The kind as a client names it.
    pub fn name(&self) -> &'static str {
        match self {
            BodyKind::Image => "an image",
            BodyKind::Npy => "a .npy array",
            BodyKind::Raw => "raw bytes",
            BodyKind::Multipart(_) => "a multipart form",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_announce_their_kinds() {
        let kind = |t: &str| BodyKind::from_content_type(t).map(|r| r.map_err(|e| e.message));
        assert_eq!(kind("image/png"), Some(Ok(BodyKind::Image)));
        assert_eq!(kind("IMAGE/JPEG; q=1"), Some(Ok(BodyKind::Image)));
        assert_eq!(kind("application/x-npy"), Some(Ok(BodyKind::Npy)));
        assert_eq!(kind("application/octet-stream"), Some(Ok(BodyKind::Raw)));
        assert_eq!(
            kind("multipart/form-data; boundary=abc"),
            Some(Ok(BodyKind::Multipart("abc".into())))
        );
        assert!(matches!(kind("multipart/form-data"), Some(Err(m)) if m.contains("boundary")));
        assert_eq!(kind("application/json"), None);
        assert_eq!(kind("text/plain"), None);
    }
}
