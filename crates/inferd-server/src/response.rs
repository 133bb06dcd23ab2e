//! Small builders for the responses the server sends.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use crate::ApiError;

pub type Body = Full<Bytes>;

pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    with_type(status, "application/json", body)
}

/// Raw bytes (the v2 binary tensor extension's responses).
pub fn octets(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    with_type(status, "application/octet-stream", body)
}

pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    with_type(status, "text/plain; charset=utf-8", body)
}

/// The Prometheus text exposition.
pub fn metrics(text: String) -> Response<Body> {
    with_type(
        StatusCode::OK,
        inferd_metrics::Metrics::content_type(),
        text,
    )
}

pub fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = status;
    response
}

fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Which convention a route's error bodies follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"message": "..."}`: the scoring contract's routes and the probes.
    Message,
    /// `{"error": "..."}`: the Open Inference Protocol's routes (`/v2...`).
    V2,
}

/// `{"message": "..."}` for `err`.
pub fn error_body(err: &ApiError) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "message": err.to_string() }))
        .expect("a JSON value serialises")
}

/// [`error_in`] the scoring contract's shape.
pub fn error(err: &ApiError) -> Response<Body> {
    error_in(err, ErrorShape::Message)
}

/// `err`'s body in `shape`, with the error's status and, where it applies,
/// `Retry-After`, `Allow` and `WWW-Authenticate`.
pub fn error_in(err: &ApiError, shape: ErrorShape) -> Response<Body> {
    let body = match shape {
        ErrorShape::Message => error_body(err),
        ErrorShape::V2 => inferd_v2::error_body(&err.to_string()),
    };
    let mut response = json(err.status(), body);
    let headers = response.headers_mut();
    if let Some(seconds) = err.retry_after() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if let ApiError::MethodNotAllowed { allow } = err {
        headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    if let ApiError::Unauthorized(refused) = err {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(refused.challenge()),
        );
    }
    response
}
