//! [`ApiError`]: every way a request can fail, and the one place that
//! classifies each: its HTTP status, its metrics outcome, and whether the
//! scoring run itself failed (`x-ms-run-function-failed`). `response::error`
//! turns one into a `{"message": ...}` response.
//!
//! An engine's error arrives already sorted by the engine crate (see
//! [`EngineError::is_input`]): the request's values refused is a 400 that
//! says why; any other engine failure is a 500 that says only that the
//! model failed and the request id to quote. A failure's own text (a panic
//! message, a library's internals) goes to the log, never to the client.

use std::borrow::Cow;
use std::time::Duration;

use http::{HeaderValue, StatusCode};

use inferd_engine::{BudgetRefusal, EngineError};
use inferd_lifecycle::UpdateError;
use inferd_media::{MediaError, Refusal};
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
        /// The versions served, as `2` or `2, 3`.
        served: String,
    },

    #[error(transparent)]
    SwaggerVersion(#[from] inferd_openapi::UnknownVersion),

    #[error("The method is not allowed for the requested URL.")]
    MethodNotAllowed { allow: &'static str },

    #[error("Expects Content-Type to be application/json")]
    UnsupportedMediaType,

    /// A model that takes binary bodies too, sent a type it does not take:
    /// the message lists those it does.
    #[error("{0}")]
    MediaTypes(String),

    /// A binary body refused before the model's worker saw it (its form,
    /// its type); on the worker, the same error arrives as an
    /// [`EngineError::Input`].
    #[error(transparent)]
    Media(#[from] MediaError),

    #[error(
        "the request's Content-Encoding '{0}' is not one the server reads (gzip, deflate or identity, one of them)"
    )]
    ContentEncoding(String),

    #[error("the model name or version in the URL, '{0}', is not valid percent-encoded UTF-8")]
    BadModelName(String),

    /// An Open Inference Protocol request the codec refused before any
    /// model ran (its headers; its body is refused on the worker, as an
    /// [`EngineError::Input`]).
    #[error(transparent)]
    V2(#[from] inferd_v2::V2Error),

    #[error("the repository index request is not valid: {0}")]
    IndexRequest(String),

    /// A repository load or unload with a body that is not what it takes.
    #[error("the repository request is not valid: {0}")]
    RepositoryRequest(String),

    /// The repository API needs keys, and the server was given none.
    #[error(
        "model load and unload need a key, and this server has none: start it with --primary-key, --keys-file or the deployment config's keys"
    )]
    AdminOff,

    /// The server was started without model updates.
    #[error("model updates are not on in this server")]
    UpdatesOff,

    /// A load or unload refused; the served set is as it was.
    #[error(transparent)]
    Update(#[from] inferd_lifecycle::UpdateError),

    /// A load still running when the answer's wait ran out; it goes on,
    /// and the index tells how it ends.
    #[error("the update is still running after {} s; POST /v2/repository/index tells when it ends", .0.as_secs())]
    UpdateTimeout(Duration),

    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },

    #[error("cannot read the request body: {0}")]
    BodyRead(String),

    #[error("{0}")]
    HeaderTooLarge(&'static str),

    #[error("an HTTP/1.1 request must carry exactly one Host header (RFC 9112, section 3.2)")]
    HostRequired,

    /// A request head hyper refused before any handler ran, with the
    /// status it chose (see `crate::head_errors`).
    #[error("{}", head_refused_text(*.0))]
    HeadRefused(StatusCode),

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

    /// Any engine error but a failure (see [`ApiError::scoring`]); a
    /// failure that arrives here anyway is told without its text.
    #[error("{}", engine_text(.0))]
    Engine(#[from] EngineError),

    /// The engine failed for a reason not traceable to the request.
    #[error("the model failed while scoring; the server logged it (request id {request_id})")]
    ModelFailed {
        request_id: String,
        #[source]
        source: EngineError,
    },
}

fn head_refused_text(status: StatusCode) -> &'static str {
    match status {
        StatusCode::URI_TOO_LONG => {
            "the request's URI is longer than the server reads (65,534 bytes)"
        }
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            "the request's head is larger than the server reads (at most 100 headers, about 408 KiB in all)"
        }
        _ => {
            "the request's head is not valid HTTP/1.1: its request line or one of its headers could not be parsed"
        }
    }
}

/// A refused binary body's status, by the kind of refusal.
fn media_status(e: &MediaError) -> StatusCode {
    match e.refusal {
        Refusal::BadRequest => StatusCode::BAD_REQUEST,
        Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Refusal::Unsupported => StatusCode::UNSUPPORTED_MEDIA_TYPE,
    }
}

/// What a client is told of an engine error: a failure's text stays in the log.
fn engine_text(e: &EngineError) -> Cow<'static, str> {
    if e.is_engine_failure() {
        Cow::Borrowed("the model failed while scoring; the server logged it")
    } else {
        Cow::Owned(e.to_string())
    }
}

impl ApiError {
    /// A scoring call's error, for the request `request_id` to `model`: an
    /// engine failure is logged here, whole, with the id the client is
    /// given to quote.
    pub fn scoring(e: EngineError, model: &str, request_id: &HeaderValue) -> ApiError {
        if !e.is_engine_failure() {
            return ApiError::Engine(e);
        }
        let request_id = String::from_utf8_lossy(request_id.as_bytes()).into_owned();
        tracing::error!(%model, %request_id, error = %e, "the model failed while scoring");
        ApiError::ModelFailed {
            request_id,
            source: e,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::RouteNotFound
            | ApiError::ModelNotFound(_)
            | ApiError::VersionNotServed { .. }
            | ApiError::SwaggerVersion(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType
            | ApiError::MediaTypes(_)
            | ApiError::ContentEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Media(e) => media_status(e),
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyRead(_)
            | ApiError::Schema(_)
            | ApiError::HostRequired
            | ApiError::BadModelName(_)
            | ApiError::V2(_)
            | ApiError::IndexRequest(_)
            | ApiError::RepositoryRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::AdminOff => StatusCode::FORBIDDEN,
            ApiError::UpdatesOff => StatusCode::NOT_IMPLEMENTED,
            ApiError::UpdateTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Update(e) => match e {
                UpdateError::Registry(_) | UpdateError::NotServed(_) => StatusCode::NOT_FOUND,
                UpdateError::Refused { .. } => StatusCode::BAD_REQUEST,
                UpdateError::DefaultModel(_) => StatusCode::CONFLICT,
            },
            ApiError::HeaderTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::HeadRefused(status) => *status,
            ApiError::NotReady | ApiError::Draining => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Internal | ApiError::ModelFailed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Engine(e) => match e {
                EngineError::QueueFull { .. }
                | EngineError::QueueTimeout { .. }
                | EngineError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
                EngineError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
                EngineError::Input(input) => input
                    .downcast_ref::<MediaError>()
                    .map_or(StatusCode::BAD_REQUEST, media_status),
                EngineError::Backend(_) if e.is_input() => StatusCode::BAD_REQUEST,
                EngineError::Backend(_) => StatusCode::INTERNAL_SERVER_ERROR,
                // Full now, fits later: retry. Larger than the whole budget:
                // no retry ever fits, so not a 503 that invites one.
                EngineError::MemoryBudget(BudgetRefusal::Full { .. }) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                EngineError::MemoryBudget(BudgetRefusal::TooLarge { .. }) => {
                    StatusCode::PAYLOAD_TOO_LARGE
                }
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
                EngineError::Backend(_) if e.is_input() => Outcome::BadRequest,
                EngineError::MemoryBudget(BudgetRefusal::Full { .. }) => Outcome::BodyBudgetFull,
                EngineError::MemoryBudget(BudgetRefusal::TooLarge { .. }) => Outcome::BadRequest,
                EngineError::Stopped | EngineError::Backend(_) => Outcome::Error,
            },
            ApiError::Unauthorized(_) => Outcome::Unauthorized,
            e if e.status().is_client_error() => Outcome::BadRequest,
            _ => Outcome::Error,
        }
    }

    /// Whether the model's run itself failed or ran out of time, as the
    /// scoring contract's `x-ms-run-function-failed: True` says; a request
    /// refused before it ran is `False`, and so is one whose values the
    /// engine refused: like a decoding error, that is the input's fault,
    /// whichever engine noticed it and however far it had run.
    pub fn run_failed(&self) -> bool {
        match self {
            ApiError::ModelFailed { .. } | ApiError::Engine(EngineError::Timeout(_)) => true,
            ApiError::Engine(e) => e.is_engine_failure(),
            _ => false,
        }
    }

    /// Seconds a client should wait before retrying, for the statuses that
    /// invite a retry.
    pub fn retry_after(&self) -> Option<u32> {
        (self.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(1)
    }
}

#[cfg(test)]
mod tests {
    use inferd_backend::BackendError;

    use super::*;

    fn refused() -> EngineError {
        EngineError::Backend(BackendError::Input {
            inputs: vec!["indices".to_owned()],
            reason: "index 7 at [0] is out of the range the model accepts, -4 to 3".to_owned(),
        })
    }

    fn panicked() -> EngineError {
        EngineError::Backend(BackendError::Panicked(
            "ndarray: index out of bounds".to_owned(),
        ))
    }

    #[test]
    fn the_engine_refusing_the_values_is_the_clients_400() {
        let e = ApiError::scoring(refused(), "onehot-4", &HeaderValue::from_static("r-1"));
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.outcome(), Outcome::BadRequest);
        assert!(!e.run_failed());
        assert_eq!(
            e.to_string(),
            "input 'indices': index 7 at [0] is out of the range the model accepts, -4 to 3"
        );
    }

    #[test]
    fn an_engine_failure_is_a_500_with_the_request_id_and_none_of_its_text() {
        for failure in [
            panicked(),
            EngineError::Backend(BackendError::Run("tract: x".into())),
        ] {
            let e = ApiError::scoring(failure, "m", &HeaderValue::from_static("r-2"));
            assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(e.outcome(), Outcome::Error);
            assert!(e.run_failed());
            assert_eq!(
                e.to_string(),
                "the model failed while scoring; the server logged it (request id r-2)"
            );
        }
        // Not through `scoring`: still no text of its own.
        let e = ApiError::from(panicked());
        assert_eq!(
            (e.status(), e.outcome()),
            (StatusCode::INTERNAL_SERVER_ERROR, Outcome::Error)
        );
        assert_eq!(
            e.to_string(),
            "the model failed while scoring; the server logged it"
        );
    }

    #[test]
    fn other_engine_errors_pass_through_scoring_unchanged() {
        let e = ApiError::scoring(
            EngineError::Timeout(Duration::from_millis(5)),
            "m",
            &HeaderValue::from_static("r-3"),
        );
        assert_eq!(e.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(e.to_string(), "Scoring timeout after 5 ms");
    }
}
