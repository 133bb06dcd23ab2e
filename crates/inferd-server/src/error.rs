//! [`ApiError`]: every way a request can fail, and the one place that turns
//! each into an HTTP status and a `{"message": ...}` body.

use std::time::Duration;

use http::StatusCode;

use inferd_engine::EngineError;
use inferd_schema::SchemaError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("The requested URL was not found on the server.")]
    RouteNotFound,

    #[error("no model named '{0}' is served here")]
    ModelNotFound(String),

    #[error("model '{name}' is served at version {served}, not {asked}")]
    VersionNotServed {
        name: String,
        asked: String,
        served: u32,
    },

    #[error(transparent)]
    SwaggerVersion(#[from] inferd_openapi::UnknownVersion),

    #[error("The method is not allowed for the requested URL.")]
    MethodNotAllowed { allow: &'static str },

    #[error("Expects Content-Type to be application/json")]
    UnsupportedMediaType,

    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },

    #[error("cannot read the request body: {0}")]
    BodyRead(String),

    #[error("{0}")]
    HeaderTooLarge(&'static str),

    #[error("models are still loading; retry shortly")]
    NotReady,

    #[error("the server is shutting down")]
    Draining,

    #[error("the request body did not arrive within {} ms", .0.as_millis())]
    BodyTimeout(Duration),

    #[error(transparent)]
    Unauthorized(#[from] inferd_auth::AuthError),

    #[error("an internal error occurred; the server logged it")]
    Internal,

    #[error(transparent)]
    Schema(#[from] SchemaError),

    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::RouteNotFound
            | ApiError::ModelNotFound(_)
            | ApiError::VersionNotServed { .. }
            | ApiError::SwaggerVersion(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyRead(_) | ApiError::Schema(_) => StatusCode::BAD_REQUEST,
            ApiError::HeaderTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::NotReady | ApiError::Draining => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Engine(e) => match e {
                EngineError::QueueFull { .. }
                | EngineError::QueueTimeout { .. }
                | EngineError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
                EngineError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
                EngineError::Backend(_) => StatusCode::INTERNAL_SERVER_ERROR,
                EngineError::Input(_) => StatusCode::BAD_REQUEST,
            },
        }
    }

    /// Seconds a client should wait before retrying, for the statuses that
    /// invite a retry.
    pub fn retry_after(&self) -> Option<u32> {
        (self.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(1)
    }
}
