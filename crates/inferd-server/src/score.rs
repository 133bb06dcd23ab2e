//! The scoring handler: from a request to the model's outputs as JSON.

use std::sync::Arc;
use std::time::Instant;

use http::request::Parts;
use http::{HeaderName, HeaderValue, Method, Response, StatusCode, header};
use hyper::body::Incoming;
use inferd_collect::Input;
use inferd_engine::{Arrival, EngineError, ServedModel};
use inferd_schema::{ModelSchema, SchemaError};
use inferd_tensor::Tensor;

use crate::access::{AccessNote, Ended};
use crate::body::read_limited;
use crate::request_id::RequestIds;
use crate::response::{self, Body};
use crate::scored_headers::{self, RUN_FUNCTION_FAILED};
use crate::telemetry::{InFlight, Seen};
use crate::{ApiError, AppState, millis};

const SCORE_METHODS: &str = "GET, POST, OPTIONS";
const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

pub fn check_method(method: &Method) -> Result<(), ApiError> {
    match *method {
        Method::GET | Method::POST | Method::OPTIONS => Ok(()),
        _ => Err(ApiError::MethodNotAllowed {
            allow: SCORE_METHODS,
        }),
    }
}

/// The answer to a scoring route's preflight: the methods it takes.
pub fn options() -> Response<Body> {
    let mut response = response::empty(StatusCode::OK);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(SCORE_METHODS));
    response
}

/// One scoring request's bookkeeping, from [`Scoring::begin`] (before its
/// body is read) to [`Scoring::finish`]: it counts as the model's caller
/// and in flight meanwhile, and tells the metrics and the access line what
/// happened at the end. Held by the caller around [`score`], so that the
/// only future nested in the connection's is the scoring itself.
pub struct Scoring<'a> {
    state: &'a AppState,
    model: Arc<ServedModel>,
    started: Instant,
    seen: Seen,
    /// The model's metrics (none when recording is off), counting the
    /// request in flight until it is finished or dropped.
    in_flight: Option<InFlight<'a>>,
    _arrival: Arrival,
}

impl<'a> Scoring<'a> {
    /// A request for `model` that arrived at `started`.
    pub fn begin(state: &'a AppState, model: Arc<ServedModel>, started: Instant) -> Scoring<'a> {
        let arrival = model.arrive(started);
        let entry = state.telemetry.model(&model);
        Scoring {
            state,
            started,
            seen: Seen::default(),
            in_flight: entry.map(InFlight::new),
            _arrival: arrival,
            model,
        }
    }

    /// The response to send, with `ids`: `result`'s, or its error's;
    /// counted and timed, and described in `note` for the access line
    /// (when that is on).
    pub fn finish(
        self,
        result: Result<Answer, ApiError>,
        ids: RequestIds,
        note: &mut Option<AccessNote>,
    ) -> Response<Body> {
        let access_log = self.state.telemetry.access_log();
        // One reading of the end, one total, for the metrics and the access line.
        let ended = (self.in_flight.is_some() || access_log)
            .then(|| Ended::since(self.started, self.seen.encoded.unwrap_or_else(Instant::now)));
        if let (Some(in_flight), Some(ended)) = (self.in_flight, ended) {
            in_flight.finished(&result, ended.total, &self.seen.stages);
        }
        let response = match result {
            Ok(answer) => answer.into_response(ids),
            Err(e) => {
                let failed = matches!(
                    e,
                    ApiError::Engine(EngineError::Backend(_) | EngineError::Timeout(_))
                );
                let mut response = response::error(&e);
                let headers = response.headers_mut();
                headers.insert(
                    RUN_FUNCTION_FAILED,
                    HeaderValue::from_static(if failed { "True" } else { "False" }),
                );
                ids.write_to(headers);
                response
            }
        };
        if let Some(ended) = ended.filter(|_| access_log) {
            *note = Some(self.seen.note(self.model, ended));
        }
        response
    }
}

/// A scored request's JSON body and its timing headers' values.
pub struct Answer {
    body: bytes::Bytes,
    run_fn_exec_ms: HeaderValue,
    server_timing: Option<HeaderValue>,
}

impl Answer {
    fn into_response(self, ids: RequestIds) -> Response<Body> {
        let mut response = Response::new(Body::new(self.body));
        *response.headers_mut() = scored_headers::scored(self.run_fn_exec_ms, ids);
        if let Some(value) = self.server_timing {
            response.headers_mut().insert(SERVER_TIMING, value);
        }
        response
    }
}

/// Scores one request with `scoring`'s model: reads its data (the query
/// string of a GET, else the JSON body), has the model's worker decode and
/// run it, and encodes the outputs. `request_id` goes to data collection.
pub async fn score(
    scoring: &mut Scoring<'_>,
    parts: &Parts,
    body: Incoming,
    request_id: &HeaderValue,
) -> Result<Answer, ApiError> {
    let (state, model) = (scoring.state, &scoring.model);
    // Read (network I/O) and take a place in the queue (a full queue refuses
    // at once). Decoding happens on the model's worker once the request has a
    // slot: requests refused under overload cost no decoding, and the CPU
    // that decoding takes is inside the concurrency limit.
    let payload = if parts.method == Method::GET {
        Payload::Query(parts.uri.query().unwrap_or("").to_owned())
    } else {
        if !is_json(&parts.headers) {
            return Err(ApiError::UnsupportedMediaType);
        }
        Payload::Body(read_limited(&parts.headers, body, &state.options).await?)
    };
    scoring.seen.bytes_in = payload.len();
    let collected = state.telemetry.collector().map(|_| payload.to_input());
    // Made once per model, with the API or the models; every served model has one.
    let schema = state
        .schema(&model.name)
        .ok_or_else(|| {
            tracing::error!(model = %model.name, "no contract for a served model");
            ApiError::Internal
        })?
        .clone();
    let ticket = model.enter()?;
    let contract = schema.clone();
    // The engine times this closure (the request's decoding) itself.
    let prepare =
        Box::new(move || decode(payload, &contract).map_err(|e| EngineError::Input(Box::new(e))));
    let scored = model.run_prepared(prepare, ticket).await?;
    let mut buffer = schema.encode(&scored.outputs).map_err(|reason| {
        tracing::error!(model = %model.name, %reason, "outputs do not fit the output layout");
        ApiError::Internal
    })?;
    // Encoding starts when the answer is seen; its end is the total's too.
    let encoded = Instant::now();
    scoring.seen.observe(&scored, encoded);
    // The timing headers' values follow the body in its buffer: one shared
    // allocation for all, where each apart took two.
    let body_end = buffer.len();
    let server_timing = state.options.server_timing;
    buffer.reserve(if server_timing { 96 } else { 24 });
    let score_micros = millis::micros(scored.score);
    millis::push(&mut buffer, score_micros);
    let exec_ms_end = buffer.len();
    if server_timing {
        for (name, micros) in [
            (&b"queue;dur="[..], millis::micros(scored.queue)),
            (b", score;dur=", score_micros),
            (b", total;dur=", millis::micros(encoded - scoring.started)),
        ] {
            buffer.extend_from_slice(name);
            millis::push(&mut buffer, micros);
        }
    }
    let buffer = bytes::Bytes::from(buffer);
    let body = buffer.slice(..body_end);
    if let Some(input) = collected {
        state
            .telemetry
            .collect(model, Some(request_id), input, &body);
    }
    // Slices of one buffer: valid header values, as digits and ASCII text.
    let value = |bytes| HeaderValue::from_maybe_shared(bytes).map_err(|_| ApiError::Internal);
    Ok(Answer {
        body,
        run_fn_exec_ms: value(buffer.slice(body_end..exec_ms_end))?,
        server_timing: match server_timing {
            true => Some(value(buffer.slice(exec_ms_end..))?),
            false => None,
        },
    })
}

/// Where a request's data is: the query string (GET) or the body (POST).
enum Payload {
    Query(String),
    Body(bytes::Bytes),
}

impl Payload {
    fn len(&self) -> u64 {
        match self {
            Payload::Query(query) => query.len() as u64,
            Payload::Body(body) => body.len() as u64,
        }
    }

    /// A copy for data collection (the body's bytes are shared, not copied).
    fn to_input(&self) -> Input {
        match self {
            Payload::Query(query) => Input::Query(query.clone()),
            Payload::Body(body) => Input::Json(body.clone()),
        }
    }
}

fn decode(payload: Payload, schema: &ModelSchema) -> Result<Vec<Tensor>, SchemaError> {
    match payload {
        Payload::Query(query) => schema.decode_query(&query),
        Payload::Body(body) => schema.decode_body(&body),
    }
}

/// `application/json`, or any `+json` type, with any parameters; any case.
fn is_json(headers: &http::HeaderMap) -> bool {
    // Visible ASCII, as `to_str` would check (a header value holds no
    // control byte but tab), without its byte-by-byte loop.
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes)
        .filter(|v| v.is_ascii())
    else {
        return false;
    };
    let essence = match value.iter().position(|&b| b == b';') {
        Some(end) => &value[..end],
        None => value,
    }
    .trim_ascii();
    let starts = |prefix: &[u8]| {
        essence
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    let ends = |suffix: &[u8]| {
        essence
            .len()
            .checked_sub(suffix.len())
            .is_some_and(|at| essence[at..].eq_ignore_ascii_case(suffix))
    };
    essence.eq_ignore_ascii_case(b"application/json") || (starts(b"application/") && ends(b"+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_type(value: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn json_content_types_are_recognised() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.api+json",
            " application/json ;x=y",
            "APPLICATION/LD+JSON",
        ] {
            assert!(is_json(&with_type(ok)), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/octet-stream",
            "json",
            "text/json",
            "application/jsonx",
            "application+json",
            "",
        ] {
            assert!(!is_json(&with_type(bad)), "{bad}");
        }
        assert!(!is_json(&http::HeaderMap::new()));
    }
}
