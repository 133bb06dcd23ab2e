//! TLS for inferd: the certificate chain and private key (PEM files) read and
//! checked at start, and the rustls server configuration built from them.
//!
//! # Layout
//! - [`load`]: [`load()`], reading and checking the files, [`TlsError`].
//! - [`validity`]: the certificate's validity period, read from its DER, so
//!   an expired or not-yet-valid certificate is reported at start.
//!
//! The crypto provider is `ring` (no cmake, builds fast). Only TLS 1.2 and
//! 1.3 are offered; ALPN offers `h2` then `http/1.1`.
#![forbid(unsafe_code)]

pub mod load;
pub mod validity;

pub use load::{Loaded, TlsError, load};
pub use rustls::ServerConfig;
