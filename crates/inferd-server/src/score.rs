//! The scoring handler: from a request to the model's outputs as JSON.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::request::Parts;
use http::{HeaderName, HeaderValue, Method, Response, StatusCode, header};
use hyper::body::Incoming;
use inferd_collect::Input;
use inferd_engine::{EngineError, Reservation, Scored};
use inferd_log::millis;
use inferd_media::{BodyKind, MediaInputs, Parsed};
use inferd_schema::{ModelSchema, SchemaError};
use inferd_tensor::Tensor;

use crate::body::read_limited;
use crate::record::RequestRecord;
use crate::response::{self, Body};
use crate::{ApiError, AppState, LiveModel};

const SCORE_METHODS: &str = "GET, POST, OPTIONS";
const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");
/// The scoring contract's: the run's milliseconds.
const RUN_FN_EXEC_MS: HeaderName = HeaderName::from_static("x-ms-run-fn-exec-ms");
/// The scoring contract's: `True` when the run failed or timed out.
const RUN_FUNCTION_FAILED: HeaderName = HeaderName::from_static("x-ms-run-function-failed");

pub fn check_method(method: &Method) -> Result<(), ApiError> {
    match *method {
        Method::GET | Method::POST | Method::OPTIONS => Ok(()),
        _ => Err(ApiError::MethodNotAllowed {
            allow: SCORE_METHODS,
        }),
    }
}

/// Payloads of at least this many bytes have their tensors reserved in the
/// body memory budget exactly, on the worker once decoded; smaller ones at
/// their most, up front (at most 576 KiB each, a few times a small
/// request's real need, and no worker-side touch of the shared count).
pub(crate) const EXACT_TENSORS_FROM: u64 = 64 * 1024;

/// The most bytes of tensors a JSON payload byte decodes to: each element
/// takes at least a digit and a separator (at most n/2 elements from n
/// bytes, as `inferd-schema`'s fast reader also counts), of at most 8 bytes
/// (f64, i64, u64), in buffers at most twice their length (the readers'
/// buffers grow by doubling).
pub(crate) const TENSOR_BYTES_PER_PAYLOAD_BYTE: u64 = 8;

/// The answer to a scoring route's preflight: the methods it takes.
pub fn options() -> Response<Body> {
    let mut response = response::empty(StatusCode::OK);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(SCORE_METHODS));
    response
}

/// A scored request's JSON body and its timing headers.
pub struct Answer {
    body: bytes::Bytes,
    run_fn_exec_ms: HeaderValue,
    server_timing: Option<HeaderValue>,
}

/// The response to a scoring request (the caller adds the request ids):
/// the answer, or its error, each with `x-ms-run-function-failed` as the
/// scoring contract has it.
pub fn respond(result: Result<Answer, ApiError>) -> Response<Body> {
    let (mut response, run_failed) = match result {
        Ok(answer) => {
            let mut response = response::json(StatusCode::OK, answer.body);
            let headers = response.headers_mut();
            headers.insert(RUN_FN_EXEC_MS, answer.run_fn_exec_ms);
            if let Some(value) = answer.server_timing {
                headers.insert(SERVER_TIMING, value);
            }
            (response, false)
        }
        Err(e) => (response::error(&e), e.run_failed()),
    };
    response.headers_mut().insert(
        RUN_FUNCTION_FAILED,
        HeaderValue::from_static(if run_failed { "True" } else { "False" }),
    );
    response
}

/// Scores one request with `model`: reads its data (the query string of a
/// GET, else the JSON body), has the model's worker decode and run it, and
/// encodes the outputs; what happened goes into `record`. `request_id`
/// goes to data collection, and into an engine failure's message and log.
pub async fn score(
    state: &AppState,
    live: &Arc<LiveModel>,
    parts: &Parts,
    body: Incoming,
    request_id: &HeaderValue,
    record: &mut RequestRecord<'_>,
) -> Result<Answer, ApiError> {
    // Read (network I/O) and take a place in the queue (a full queue refuses
    // at once). Decoding happens on the model's worker once the request has a
    // slot: requests refused under overload cost no decoding, and the CPU
    // that decoding takes is inside the concurrency limit.
    //
    // The payload's bytes, and then its tensors', are held in the server's
    // body memory budget until this returns: `reservation` (and, for a
    // large payload, the decoding closure's clone of it, which outlives a
    // request whose caller has gone) gives them back on every path.
    let (payload, reservation) = if parts.method == Method::GET {
        // The query string came with the head, within hyper's head limit.
        let query = parts.uri.query().unwrap_or("").to_owned();
        let reservation = state.budget.reserve(query.len() as u64);
        (
            Payload::Json(JsonData::Query(query)),
            reservation.map_err(EngineError::from)?,
        )
    } else {
        // The type is judged before the body is read: a type the model
        // does not take costs no reading.
        let media = media_kind(&parts.headers, &live.schema)?;
        let (body, reservation) =
            read_limited(&parts.headers, body, &state.options, &state.budget).await?;
        let payload = match media {
            None => Payload::Json(JsonData::Body(body)),
            Some((media, kind)) => Payload::Media(media, kind, body),
        };
        (payload, reservation)
    };
    record.read(payload.len());
    let collected = state
        .telemetry
        .collector()
        .map(|_| payload.to_input(&parts.headers));
    let model = &live.served;
    let schema = live.schema.clone();
    let single_image = matches!(payload, Payload::Media(_, BodyKind::Image, _));
    let job = match payload {
        // A binary body is split into its inputs' items here (cheap: a
        // form's parts, no decoding), which says how many bytes its
        // tensors take at most: those are reserved now, before any image
        // is decoded on the worker.
        Payload::Media(media, kind, body) => {
            let parsed = media.parse(&kind, body)?;
            reservation
                .grow(parsed.tensor_bytes())
                .map_err(EngineError::from)?;
            Job::Media(media, parsed)
        }
        Payload::Json(json) => {
            // A small payload's tensors are reserved now, at their most, so
            // the model's worker never touches the budget for it (the
            // count's cache line stays with the HTTP thread); a large one's
            // exactly, once decoded.
            let exact = json.len() >= EXACT_TENSORS_FROM;
            if !exact {
                reservation
                    .grow(json.len() * TENSOR_BYTES_PER_PAYLOAD_BYTE)
                    .map_err(EngineError::from)?;
            }
            Job::Json(json, exact.then(|| reservation.clone()))
        }
    };
    let ticket = model.enter()?;
    let contract = schema.clone();
    // The engine times this closure (the request's decoding) itself.
    let prepare = Box::new(move || match job {
        Job::Media(media, parsed) => media
            .decode(parsed)
            .map(|decoded| decoded.tensors)
            .map_err(|e| EngineError::Input(Box::new(e))),
        Job::Json(json, tensors) => {
            let inputs = json
                .decode(&contract)
                .map_err(|e| EngineError::Input(Box::new(e)))?;
            // The tensors live until the run ends: past the budget, the run
            // never starts (503, as for the body).
            if let Some(reservation) = tensors {
                let bytes: usize = inputs.iter().map(Tensor::heap_bytes).sum();
                reservation.grow(bytes as u64)?;
            }
            Ok(inputs)
        }
    });
    let scored = model
        .run_prepared(prepare, ticket)
        .await
        .map_err(|e| ApiError::scoring(e, &model.name, request_id))?;
    let body = schema
        .encode_answer(&scored.outputs, single_image)
        .map_err(|reason| {
            tracing::error!(model = %model.name, %reason, "outputs do not fit the output layout");
            ApiError::Internal
        })?;
    let body = bytes::Bytes::from(body);
    // Encoding starts when the answer is seen; its end is the total's too.
    let encoded = Instant::now();
    record.scored(&scored, encoded);
    if let Some(input) = collected {
        state
            .telemetry
            .collect(live, Some(request_id), input, &body);
    }
    let server_timing = state
        .options
        .server_timing
        .then(|| server_timing(&scored, encoded, record.arrived()));
    // Body and tensors are gone (or, with data collection, handed to its
    // bounded queue): their bytes go back to the budget here.
    drop(reservation);
    Ok(Answer {
        body,
        run_fn_exec_ms: milliseconds_header(&[("", scored.score)]),
        server_timing,
    })
}

/// `Server-Timing` for a request that arrived at `arrived` and whose
/// answer was encoded at `encoded`: queue, score and total.
pub(crate) fn server_timing(scored: &Scored, encoded: Instant, arrived: Instant) -> HeaderValue {
    milliseconds_header(&[
        ("queue;dur=", scored.queue),
        (", score;dur=", scored.score),
        (", total;dur=", encoded - arrived),
    ])
}

/// A header value of durations in milliseconds, each after its label.
fn milliseconds_header(parts: &[(&str, Duration)]) -> HeaderValue {
    let mut value = Vec::with_capacity(16 * parts.len());
    for (label, duration) in parts {
        value.extend_from_slice(label.as_bytes());
        millis::push(&mut value, *duration);
    }
    HeaderValue::from_maybe_shared(bytes::Bytes::from(value))
        .expect("digits, points and ASCII labels are a valid header value")
}

/// Where a request's data is: JSON (the query string of a GET, or the
/// body), or a binary body the model's declared decoders read.
enum Payload {
    Json(JsonData),
    Media(Arc<MediaInputs>, BodyKind, bytes::Bytes),
}

/// A request's JSON data: the query string (GET) or the body (POST).
enum JsonData {
    Query(String),
    Body(bytes::Bytes),
}

impl Payload {
    fn len(&self) -> u64 {
        match self {
            Payload::Json(json) => json.len(),
            Payload::Media(_, _, body) => body.len() as u64,
        }
    }

    /// A copy for data collection (the body's bytes are shared, not copied).
    fn to_input(&self, headers: &http::HeaderMap) -> Input {
        match self {
            Payload::Json(JsonData::Query(query)) => Input::Query(query.clone()),
            Payload::Json(JsonData::Body(body)) => Input::Json(body.clone()),
            Payload::Media(_, _, body) => Input::Binary {
                content_type: headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
                body: body.clone(),
            },
        }
    }
}

impl JsonData {
    fn len(&self) -> u64 {
        match self {
            JsonData::Query(query) => query.len() as u64,
            JsonData::Body(body) => body.len() as u64,
        }
    }

    fn decode(self, schema: &ModelSchema) -> Result<Vec<Tensor>, SchemaError> {
        match self {
            JsonData::Query(query) => schema.decode_query(&query),
            JsonData::Body(body) => schema.decode_body(&body),
        }
    }
}

/// What the model's worker decodes: JSON data (with the reservation its
/// tensors grow, when reserved exactly), or a parsed binary body.
enum Job {
    Json(JsonData, Option<Reservation>),
    Media(Arc<MediaInputs>, Parsed),
}

/// The binary body kind a POST's `Content-Type` announces, with the
/// model's decoders that take it; `None` for JSON. A type the model does not take is a 415
/// that lists those it does (JSON's own message when it takes only JSON).
fn media_kind(
    headers: &http::HeaderMap,
    schema: &ModelSchema,
) -> Result<Option<(Arc<MediaInputs>, BodyKind)>, ApiError> {
    if is_json(headers) {
        return Ok(None);
    }
    let Some(media) = &schema.media else {
        return Err(ApiError::UnsupportedMediaType);
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match BodyKind::from_content_type(content_type) {
        Some(kind) => Ok(Some((media.clone(), kind?))),
        None => {
            let mut types = vec!["application/json"];
            types.extend(media.content_types());
            Err(ApiError::MediaTypes(format!(
                "Expects Content-Type to be one of {}; got '{content_type}'",
                types.join(", ")
            )))
        }
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
