//! What the document says about the service as a whole.

/// Title, version, path prefix and security of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    /// `SERVICE_NAME`; default `ML service`.
    pub title: String,
    /// `SERVICE_VERSION`; default `1.0`.
    pub version: String,
    /// `SERVICE_PATH_PREFIX` normalised to `/api/v1` form; empty for none.
    pub path_prefix: String,
    /// Whether scoring needs `Authorization: Bearer <key>` (the deployment
    /// config's authEnabled).
    pub auth_required: bool,
    /// Whether the service is served over TLS (the Swagger 2.0 `schemes`).
    pub https: bool,
}

impl Default for ServiceInfo {
    fn default() -> ServiceInfo {
        ServiceInfo {
            title: "ML service".to_owned(),
            version: "1.0".to_owned(),
            path_prefix: String::new(),
            auth_required: false,
            https: false,
        }
    }
}

impl ServiceInfo {
    /// From the `SERVICE_NAME`, `SERVICE_VERSION` and `SERVICE_PATH_PREFIX`
    /// values given by `var` (the process environment in the binary).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> ServiceInfo {
        let defaults = ServiceInfo::default();
        let given = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        ServiceInfo {
            title: given("SERVICE_NAME").unwrap_or(defaults.title),
            version: given("SERVICE_VERSION").unwrap_or(defaults.version),
            path_prefix: normalise_prefix(&given("SERVICE_PATH_PREFIX").unwrap_or_default()),
            ..defaults
        }
    }

    /// `path` (`/score`) under the prefix.
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.path_prefix)
    }
}

/// `api/v1`, `/api/v1/` and `/api/v1` all become `/api/v1`; `/` becomes empty.
pub fn normalise_prefix(prefix: &str) -> String {
    let inner = prefix.trim().trim_matches('/');
    if inner.is_empty() {
        String::new()
    } else {
        format!("/{inner}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_sets_title_version_and_prefix() {
        let info = ServiceInfo::from_vars(|name| match name {
            "SERVICE_NAME" => Some("diabetes-svc".into()),
            "SERVICE_VERSION" => Some("2.3".into()),
            "SERVICE_PATH_PREFIX" => Some("api/v1/".into()),
            _ => None,
        });
        assert_eq!(info.title, "diabetes-svc");
        assert_eq!(info.version, "2.3");
        assert_eq!(info.path("/score"), "/api/v1/score");
        let plain = ServiceInfo::from_vars(|_| None);
        assert_eq!(plain, ServiceInfo::default());
        assert_eq!(plain.path("/"), "/");
        assert_eq!(normalise_prefix("/"), "");
    }
}
