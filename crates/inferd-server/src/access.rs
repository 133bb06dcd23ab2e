//! The access line: one per request, target `inferd::access`, with the
//! request id, method, path, status, model and version (scoring), queue,
//! score and total milliseconds, and bytes in and out. The query string is
//! left out (a `GET /score?data=...` carries the request's data there), and
//! so is every header but the request id: nothing secret reaches the log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, Request, Response, Uri};
use hyper::body::Body as _;
use inferd_engine::ServedModel;

use crate::request_id::X_REQUEST_ID;
use crate::response::Body;

/// What the scoring handler knows and the access line states; carried to
/// [`log`] in the response's extensions.
#[derive(Clone)]
pub struct AccessNote {
    pub model: Arc<ServedModel>,
    pub queue: Option<Duration>,
    pub score: Option<Duration>,
    pub bytes_in: u64,
}

/// Taken when a request arrives (only when the access log is on).
pub struct Arrival {
    at: Instant,
    method: Method,
    uri: Uri,
    bytes_in: u64,
}

impl Arrival {
    pub fn new<B>(request: &Request<B>) -> Arrival {
        let bytes_in = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0);
        Arrival {
            at: Instant::now(),
            method: request.method().clone(),
            uri: request.uri().clone(),
            bytes_in,
        }
    }
}

fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Logs the access line of `response`, which carries its request id.
pub fn log(arrival: Arrival, response: &Response<Body>) {
    let request_id = response
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let status = response.status().as_u16();
    let bytes_out = response.body().size_hint().exact().unwrap_or(0);
    let total_ms = ms(arrival.at.elapsed());
    let method = arrival.method.as_str();
    let path = arrival.uri.path();
    match response.extensions().get::<AccessNote>() {
        Some(note) => tracing::info!(
            target: "inferd::access",
            request_id,
            method,
            path,
            status,
            model = note.model.name.as_str(),
            version = note.model.version,
            queue_ms = note.queue.map(ms),
            score_ms = note.score.map(ms),
            total_ms,
            bytes_in = note.bytes_in,
            bytes_out,
            "access"
        ),
        None => tracing::info!(
            target: "inferd::access",
            request_id,
            method,
            path,
            status,
            total_ms,
            bytes_in = arrival.bytes_in,
            bytes_out,
            "access"
        ),
    }
}
