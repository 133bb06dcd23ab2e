//! [`ApiError`]: every way a request can fail, and the one place that
//! classifies each: its HTTP status, its metrics outcome, and whether the
//! scoring run itself failed (`x-ms-run-function-failed`). `response::error`
//! turns one into a `{"message": ...}` response.

use std::time::Duration;

use http::StatusCode;

use inferd_engine::EngineError;
use inferd_metrics::Outcome;
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

    #[error("an HTTP/1.1 request must carry exactly one Host header (RFC 9112, section 3.2)")]
    HostRequired,

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
            ApiError::BodyRead(_) | ApiError::Schema(_) | ApiError::HostRequired => {
                StatusCode::BAD_REQUEST
            }
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

    /// The `outcome` label of `inferd_requests_total` for a scoring request
    /// that failed so (a refused key is counted by the key check).
    pub fn outcome(&self) -> Outcome {
        match self {
            ApiError::Engine(e) => match e {
                EngineError::QueueFull { .. } => Outcome::QueueFull,
                EngineError::QueueTimeout { .. } => Outcome::QueueTimeout,
                EngineError::Timeout(_) => Outcome::ScoringTimeout,
                EngineError::Input(_) => Outcome::BadRequest,
                EngineError::Stopped | EngineError::Backend(_) => Outcome::Error,
            },
            ApiError::Unauthorized(_) => Outcome::Unauthorized,
            e if e.status().is_client_error() => Outcome::BadRequest,
            _ => Outcome::Error,
        }
    }

    /// Whether the model's run itself failed or ran out of time, as the
    /// scoring contract's `x-ms-run-function-failed: True` says; a request
    /// refused before it ran is `False`.
    pub fn run_failed(&self) -> bool {
        matches!(
            self,
            ApiError::Engine(EngineError::Backend(_) | EngineError::Timeout(_))
        )
    }

    /// Seconds a client should wait before retrying, for the statuses that
    /// invite a retry.
    pub fn retry_after(&self) -> Option<u32> {
        (self.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(1)
    }
}
