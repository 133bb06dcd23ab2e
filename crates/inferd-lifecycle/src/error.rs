//! Why an update did not happen.

use inferd_registry::RegistryError;

/// Why a load, unload or re-plan was refused. The served set is unchanged
/// for the model named.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// Not in the registry, or no such version.
    #[error(transparent)]
    Registry(#[from] RegistryError),

    /// The version failed to load or its self-test, or the model cannot be
    /// served as asked; what was served serves on.
    #[error("model '{model}' was not updated: {reason}")]
    Refused { model: String, reason: String },

    /// Unloading the default model would leave `/score` nothing to serve.
    #[error("model '{0}' is the default model (/score); it cannot be unloaded, only updated")]
    DefaultModel(String),

    #[error("model '{0}' is not served")]
    NotServed(String),
}
