//! Key authentication for inferd: who may call which route.
//!
//! # Layout
//! - [`keys`]: [`KeySet`], the two accepted keys (primary and secondary, both
//!   valid at once) kept only as SHA-256 digests and compared in constant time.
//! - [`header`]: reading `Authorization: Bearer <key>`.
//! - [`store`]: [`KeyStore`], the current keys behind an atomic pointer, and
//!   the poller that reloads a key file (a mounted Secret) without a restart.
//! - [`generate`]: two strong keys written to a 0600 file when auth is on and
//!   no key was given anywhere.
//! - [`gate`]: [`Gate`], the decision for one request: open route, or a key
//!   that matches.
//!
//! This crate knows no HTTP library: the server hands it a path and the raw
//! `Authorization` header value.
#![forbid(unsafe_code)]

pub mod gate;
pub mod generate;
pub mod header;
pub mod keys;
pub mod store;

pub use gate::{DEFAULT_OPEN_ROUTES, Gate};
pub use generate::{GeneratedKeys, generate_keys, random_key};
pub use keys::{KeyError, KeySet};
pub use store::{KeyStore, KeysFileError};

/// Why a request was refused. The message never contains a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("this route requires a key: send 'Authorization: Bearer <key>'")]
    Missing,
    #[error("the Authorization header is not 'Bearer <key>'")]
    Malformed,
    #[error("the key is not valid for this service")]
    Wrong,
}

impl AuthError {
    /// The `WWW-Authenticate` challenge for this refusal (RFC 6750).
    pub fn challenge(&self) -> &'static str {
        match self {
            AuthError::Missing => "Bearer",
            AuthError::Malformed => "Bearer error=\"invalid_request\"",
            AuthError::Wrong => "Bearer error=\"invalid_token\"",
        }
    }
}
