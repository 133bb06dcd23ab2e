//! Registry errors: each says what was wrong and with which name or path.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid model name '{name}': {reason}")]
    InvalidName { name: String, reason: &'static str },

    #[error(
        "invalid model reference '{0}': expected NAME or NAME:VERSION with VERSION a positive integer"
    )]
    InvalidReference(String),

    #[error("invalid tag '{0}': expected KEY=VALUE")]
    InvalidTag(String),

    #[error("no model named '{0}' in the registry")]
    ModelNotFound(String),

    #[error("model '{name}' has no version {version} (versions: {available})")]
    VersionNotFound {
        name: String,
        version: u32,
        available: String,
    },

    #[error("cannot register {path}: {reason}")]
    BadSource { path: PathBuf, reason: String },

    #[error("registry entry {path} is damaged: {reason}")]
    Corrupt { path: PathBuf, reason: String },

    #[error(
        "'{name}' is served from {path} as it lies, not from a registry: register it (inferd model register) to add or delete versions"
    )]
    Plain { path: PathBuf, name: String },

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RegistryError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> RegistryError {
        let path = path.into();
        move |source| RegistryError::Io {
            action,
            path,
            source,
        }
    }
}
