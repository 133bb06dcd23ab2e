//! [`MediaError`]: why a binary body was refused, and which kind of
//! refusal it is ([`Refusal`]), which the server maps to a status.

/// The kind of refusal: the server's error mapping turns it into a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The body is malformed or does not fit the input (400).
    BadRequest,
    /// The body claims more than the limits allow (413).
    TooLarge,
    /// The body's type is not one this input takes (415).
    Unsupported,
}

/// A refused binary body: what was wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MediaError {
    pub refusal: Refusal,
    pub message: String,
}

impl MediaError {
    pub fn bad_request(message: impl Into<String>) -> MediaError {
        MediaError {
            refusal: Refusal::BadRequest,
            message: message.into(),
        }
    }

    pub fn too_large(message: impl Into<String>) -> MediaError {
        MediaError {
            refusal: Refusal::TooLarge,
            message: message.into(),
        }
    }

    pub fn unsupported(message: impl Into<String>) -> MediaError {
        MediaError {
            refusal: Refusal::Unsupported,
            message: message.into(),
        }
    }

    /// The same refusal, its message placed (`input 'x': ...`).
    pub fn at(self, place: &str) -> MediaError {
        MediaError {
            refusal: self.refusal,
            message: format!("{place}: {}", self.message),
        }
    }
}

/// A declared decoder that does not fit its model, found at start: the key
/// under the input (`resize.width`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct DeclarationError {
    pub key: String,
    pub reason: String,
}

impl DeclarationError {
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> DeclarationError {
        DeclarationError {
            key: key.into(),
            reason: reason.into(),
        }
    }
}
