//! What can stop a render: a value that Kubernetes would refuse, or
//! settings that contradict each other. Each names the field or flag.

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },

    #[error(transparent)]
    Deployment(#[from] inferd_config::ConfigError),

    #[error(transparent)]
    Inference(#[from] inferd_config::InferenceConfigError),
}

impl DeployError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> DeployError {
        DeployError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
