//! Reading the certificate chain and key, checking that they belong
//! together, and building the server configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use crate::validity::{Validity, validity};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("sslCertificate {}: cannot read it: {reason}", path.display())]
    CertificateRead { path: PathBuf, reason: String },
    #[error("sslCertificate {}: no PEM 'CERTIFICATE' block in it", path.display())]
    NoCertificate { path: PathBuf },
    #[error("sslKey {}: cannot read a PEM private key (PKCS#8, PKCS#1 or SEC1) from it: {reason}", path.display())]
    KeyRead { path: PathBuf, reason: String },
    #[error("sslKey {}: the key is of a kind TLS cannot use: {reason}", path.display())]
    KeyUnsupported { path: PathBuf, reason: String },
    #[error(
        "sslKey {} does not belong to the certificate in sslCertificate {}: the public keys differ",
        key.display(), certificate.display()
    )]
    KeyMismatch { certificate: PathBuf, key: PathBuf },
    #[error("cannot build the TLS configuration: {0}")]
    Config(String),
}

/// A ready configuration and what was noticed about the certificate.
pub struct Loaded {
    pub config: Arc<ServerConfig>,
    /// The leaf certificate's validity, when it could be read.
    pub validity: Option<Validity>,
}

impl Loaded {
    /// A warning for the log when the certificate is outside its validity
    /// period at `now`: clients will refuse it, but serving still lets an
    /// operator see the problem rather than a crash loop.
    pub fn validity_warning(&self, now: SystemTime) -> Option<String> {
        let v = self.validity?;
        if now > v.not_after {
            Some("the TLS certificate has expired; clients will refuse it".to_owned())
        } else if now < v.not_before {
            Some("the TLS certificate is not valid yet; clients will refuse it".to_owned())
        } else {
            None
        }
    }
}

pub fn load(certificate: &Path, key: &Path) -> Result<Loaded, TlsError> {
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::CertificateRead {
            path: certificate.to_owned(),
            reason: pem_reason(e),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: certificate.to_owned(),
        });
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::KeyRead {
        path: key.to_owned(),
        reason: pem_reason(e),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    check_pair(&provider, &chain, &private, certificate, key)?;
    let validity = validity(&chain[0]);
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Loaded {
        config: Arc::new(config),
        validity,
    })
}

fn check_pair(
    provider: &CryptoProvider,
    chain: &[CertificateDer<'static>],
    private: &PrivateKeyDer<'static>,
    certificate: &Path,
    key: &Path,
) -> Result<(), TlsError> {
    let signing = provider
        .key_provider
        .load_private_key(private.clone_key())
        .map_err(|e| TlsError::KeyUnsupported {
            path: key.to_owned(),
            reason: e.to_string(),
        })?;
    match CertifiedKey::new(chain.to_vec(), signing).keys_match() {
        Ok(()) => Ok(()),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::KeyMismatch {
                certificate: certificate.to_owned(),
                key: key.to_owned(),
            })
        }
        // The key cannot say its public half: nothing to compare, accept.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(()),
        Err(e) => Err(TlsError::Config(e.to_string())),
    }
}

fn pem_reason(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM block of that kind".to_owned(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Files {
        _dir: tempfile::TempDir,
        cert: PathBuf,
        key: PathBuf,
    }

    fn files(not_after_year: i32) -> Files {
        let dir = tempfile::tempdir().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2001, 1, 1);
        params.not_after = rcgen::date_time_ymd(not_after_year, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        Files {
            _dir: dir,
            cert: cert_path,
            key: key_path,
        }
    }

    #[test]
    fn a_good_pair_loads_with_alpn() {
        let f = files(2090);
        let loaded = load(&f.cert, &f.key).unwrap();
        assert_eq!(
            loaded.config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        assert_eq!(loaded.validity_warning(SystemTime::now()), None);
    }

    #[test]
    fn an_expired_certificate_is_warned() {
        let f = files(2002);
        let loaded = load(&f.cert, &f.key).unwrap();
        let warning = loaded.validity_warning(SystemTime::now()).unwrap();
        assert!(warning.contains("expired"), "{warning}");
    }

    #[test]
    fn a_key_from_another_certificate_is_refused() {
        let (a, b) = (files(2090), files(2090));
        let e = load(&a.cert, &b.key).err().unwrap();
        assert!(matches!(e, TlsError::KeyMismatch { .. }), "{e}");
        assert!(e.to_string().contains("does not belong"), "{e}");
    }

    #[test]
    fn missing_and_wrong_files_are_named() {
        let f = files(2090);
        let missing = Path::new("/nonexistent/cert.pem");
        let e = load(missing, &f.key).err().unwrap().to_string();
        assert!(e.contains("sslCertificate /nonexistent/cert.pem"), "{e}");
        // The key file holds no certificate.
        let e = load(&f.key, &f.key).err().unwrap();
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
        // The certificate file holds no key.
        let e = load(&f.cert, &f.cert).err().unwrap().to_string();
        assert!(e.starts_with("sslKey"), "{e}");
    }
}
