//! [`Gate`]: which routes are open, and the key check for the others.

use std::sync::Arc;

use crate::{AuthError, KeyStore, header};

/// Routes that answer without a key unless configured otherwise: liveness,
/// readiness and metrics, which orchestrators and scrapers call keyless,
/// and the Open Inference Protocol's liveness and readiness (KServe probes).
pub const DEFAULT_OPEN_ROUTES: &[&str] = &[
    "/",
    "/ready",
    "/metrics",
    "/v2/health/live",
    "/v2/health/ready",
];

#[derive(Debug, Clone)]
pub struct Gate {
    keys: Arc<KeyStore>,
    open_routes: Vec<String>,
}

impl Gate {
    pub fn new(keys: Arc<KeyStore>, open_routes: Vec<String>) -> Gate {
        Gate { keys, open_routes }
    }

    /// Paths that answer without a key (exact matches).
    pub fn open_routes(&self) -> &[String] {
        &self.open_routes
    }

    /// Whether `path` needs a key (for documents such as `/swagger.json`).
    pub fn requires_key(&self, path: &str) -> bool {
        !self.open_routes.iter().any(|open| open == path)
    }

    /// Lets the request through, or says why not. Every path that is not
    /// open needs a key, unknown ones included, so a caller without a key
    /// learns nothing about which routes exist.
    pub fn check(&self, path: &str, authorization: Option<&[u8]>) -> Result<(), AuthError> {
        if !self.requires_key(path) {
            return Ok(());
        }
        let key = header::bearer(authorization)?;
        if self.keys.accepts(key) {
            Ok(())
        } else {
            Err(AuthError::Wrong)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeySet;

    #[test]
    fn open_routes_pass_and_others_need_a_key() {
        let keys = KeyStore::fixed(KeySet::new(Some("kkkkkkkkkkkkkkkkkkkk"), None).unwrap());
        let gate = Gate::new(
            keys,
            DEFAULT_OPEN_ROUTES.iter().map(|s| s.to_string()).collect(),
        );
        assert_eq!(gate.check("/", None), Ok(()));
        assert_eq!(gate.check("/ready", None), Ok(()));
        assert_eq!(gate.check("/score", None), Err(AuthError::Missing));
        assert_eq!(gate.check("/nope", None), Err(AuthError::Missing));
        assert_eq!(
            gate.check("/score", Some(b"Bearer kkkkkkkkkkkkkkkkkkkx")),
            Err(AuthError::Wrong)
        );
        assert_eq!(
            gate.check("/score", Some(b"Bearer kkkkkkkkkkkkkkkkkkkk")),
            Ok(())
        );
        // Paths match exactly: a suffix or prefix is not the open route.
        assert_eq!(gate.check("/ready/", None), Err(AuthError::Missing));
    }
}
