//! The access line: one per request, target `inferd::access`, with the
//! request id, method, path, status, model and version (scoring), queue,
//! score and total milliseconds, and bytes in and out. The query string is
//! left out (a `GET /score?data=...` carries the request's data there), and
//! so is every header but the request id: nothing secret reaches the log.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::request::Parts;
use http::{Method, Response, Uri};
use hyper::body::Body as _;
use inferd_engine::ServedModel;

use crate::response::Body;

/// What the scoring handler knows and the access line states; handed back
/// to [`log`] through the handler's arguments (a response extension would
/// cost two allocations a request).
pub struct AccessNote {
    pub model: Arc<ServedModel>,
    pub queue: Option<Duration>,
    pub score: Option<Duration>,
    pub bytes_in: u64,
    /// When the response was ready, and how long after the request's
    /// arrival: worked out once for the metrics and this line.
    pub ended: Ended,
}

/// When a request ended, and its total: the time from its arrival.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    pub at: Instant,
    pub total: Duration,
}

impl Ended {
    /// A request that arrived at `arrived` and ended `at`.
    pub fn since(arrived: Instant, at: Instant) -> Ended {
        Ended {
            at,
            total: at.saturating_duration_since(arrived),
        }
    }
}

/// Taken when a request arrives (only when the access log is on).
pub struct Arrival {
    at: Instant,
    method: Method,
    path: Cow<'static, str>,
    bytes_in: u64,
}

impl Arrival {
    /// A request that arrived `at` (the caller's clock reading).
    pub fn new<B: hyper::body::Body>(head: &Parts, body: &B, at: Instant) -> Arrival {
        Arrival {
            at,
            method: head.method.clone(),
            path: path_of(&head.uri),
            // The declared length, as hyper read it (no header lookup).
            bytes_in: body.size_hint().exact().unwrap_or(0),
        }
    }
}

/// The request's path; the fixed routes' borrowed rather than copied. The
/// `Uri` itself is not kept: cloning hyper's bytes allocates (and the drop
/// frees), about 700 instructions a request under callgrind.
fn path_of(uri: &Uri) -> Cow<'static, str> {
    const FIXED: [&str; 5] = ["/score", "/", "/ready", "/metrics", "/swagger.json"];
    let path = uri.path();
    match FIXED.iter().find(|fixed| **fixed == path) {
        Some(fixed) => Cow::Borrowed(fixed),
        None => Cow::Owned(path.to_owned()),
    }
}

fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The facts of one access line, for an [`AccessSink`].
pub struct AccessLine<'a> {
    /// The client's, or one the server made up: any byte a header value
    /// may hold (obs-text included), so not necessarily UTF-8. Kept as
    /// bytes: checking them is for whoever writes the line, off the request.
    pub request_id: &'a [u8],
    /// An HTTP token (hyper refuses any other method), so never a byte
    /// that JSON must escape.
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    /// Name and version of the model, for scoring requests. The registry
    /// admits only ASCII letters, digits, `-`, `_` and `.` in names.
    pub model: Option<(&'a str, u32)>,
    pub queue: Option<Duration>,
    pub score: Option<Duration>,
    pub total: Duration,
    /// When the request ended (`total` after it arrived).
    pub ended: Instant,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Where access lines go instead of a `tracing` event: the binary writes
/// them itself in its JSON log format, at a fraction of the generic
/// formatter's cost (this line is written once per request).
pub trait AccessSink: Send + Sync {
    fn write(&self, line: &AccessLine<'_>);
}

/// Logs the access line of `response` to `sink` when one is set (whoever
/// set it decided that lines are wanted), else as a `tracing` event (target
/// `inferd::access`) when that target is enabled.
pub fn log(
    arrival: Arrival,
    response: &Response<Body>,
    request_id: &[u8],
    note: Option<&AccessNote>,
    sink: Option<&dyn AccessSink>,
) {
    if sink.is_none() && !tracing::enabled!(target: "inferd::access", tracing::Level::INFO) {
        return;
    }
    let ended = note.map_or_else(|| Ended::since(arrival.at, Instant::now()), |n| n.ended);
    let line = AccessLine {
        request_id,
        method: arrival.method.as_str(),
        path: &arrival.path,
        status: response.status().as_u16(),
        model: note.map(|n| (n.model.name.as_str(), n.model.version)),
        queue: note.and_then(|n| n.queue),
        score: note.and_then(|n| n.score),
        total: ended.total,
        ended: ended.at,
        bytes_in: note.map_or(arrival.bytes_in, |n| n.bytes_in),
        bytes_out: response.body().size_hint().exact().unwrap_or(0),
    };
    match sink {
        Some(sink) => sink.write(&line),
        None => event(&line),
    }
}

fn event(line: &AccessLine<'_>) {
    let AccessLine {
        request_id,
        method,
        path,
        status,
        model,
        queue,
        score,
        total,
        bytes_in,
        bytes_out,
        ended: _,
    } = *line;
    let (queue_ms, score_ms, total_ms) = (queue.map(ms), score.map(ms), ms(total));
    let request_id = &*String::from_utf8_lossy(request_id);
    match model {
        Some((model, version)) => tracing::info!(
            target: "inferd::access",
            request_id,
            method,
            path,
            status,
            model,
            version,
            queue_ms,
            score_ms,
            total_ms,
            bytes_in,
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
            bytes_in,
            bytes_out,
            "access"
        ),
    }
}
