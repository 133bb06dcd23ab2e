//! `POST /v2/models/{m}[/versions/{v}]/infer`: a v2 request scored by the
//! same path as `/score`'s. The body is read under the size limit and the
//! body memory budget (`crate::body`), a place taken in the admission
//! queue, and the model's worker inflates (gzip, deflate) and decodes it
//! with `inferd-v2` when its turn comes, so a request refused under load
//! costs no decoding; the run is the model's own (dynamic batching merges
//! v2 and `/score` requests alike); the outputs are encoded here as JSON
//! `data` or raw bytes, as the request asked.
//!
//! An input with a declared image decoder also takes encoded images as
//! BYTES elements (`inferd_v2::EncodedImages`, here [`Images`]): decoded
//! on the worker with the rest, by the model's `MediaInputs`, each input's
//! tensor reserved in the body budget at its most before its images are
//! decoded (a small image may become a large tensor, so the body's size
//! bounds nothing), and a decoder's refusal keeps its own status (400,
//! 413, 415).
//!
//! The reserved `timeout` parameter bounds the request from its arrival;
//! the container's scoring timeout still bounds the run. Reading the
//! parameter takes the decoding, which happens on the worker: the handler
//! waits for the request's decoded particulars only when its header may
//! hold a timeout at all (see [`may_have_timeout`]), so a request without
//! one costs no extra wake-up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderName, HeaderValue, Response, StatusCode, header};
use hyper::body::Incoming;
use inferd_collect::Input;
use inferd_engine::{EngineError, Reservation, Scored};
use inferd_media::MediaInputs;
use inferd_tensor::Tensor;
use inferd_v2::{EncodedImages, OutputPlan, V2Error};
use tokio::sync::oneshot;

use super::catalog::Entry;
use super::compression::{self, Coding};
use crate::body::read_limited;
use crate::record::RequestRecord;
use crate::response::{self, Body, ErrorShape};
use crate::score::{self, EXACT_TENSORS_FROM, TENSOR_BYTES_PER_PAYLOAD_BYTE};
use crate::{ApiError, AppState, LiveModel};

/// The binary tensor extension's header: the JSON part's length.
pub const HEADER_LENGTH: HeaderName = HeaderName::from_static("inference-header-content-length");
const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// A scored v2 request's answer.
pub struct Answer {
    body: Bytes,
    /// The JSON part's length, when binary outputs follow it.
    header_length: Option<usize>,
    coding: Option<Coding>,
    server_timing: Option<HeaderValue>,
}

/// What the worker learns from decoding that the handler needs back.
struct Particulars {
    id: Option<String>,
    plan: OutputPlan,
    timeout: Option<Duration>,
    /// The request as data collection records it (JSON), when it is on.
    collected: Option<Input>,
}

/// The response to an infer request (the caller adds the request ids).
pub fn respond(result: Result<Answer, ApiError>) -> Response<Body> {
    let answer = match result {
        Ok(answer) => answer,
        Err(e) => return response::error_in(&e, ErrorShape::V2),
    };
    let mut response = match answer.header_length {
        Some(length) => {
            let mut response = response::octets(StatusCode::OK, answer.body);
            response
                .headers_mut()
                .insert(HEADER_LENGTH, HeaderValue::from(length));
            response
        }
        None => response::json(StatusCode::OK, answer.body),
    };
    let headers = response.headers_mut();
    if let Some(coding) = answer.coding {
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(coding.name()),
        );
    }
    if let Some(value) = answer.server_timing {
        headers.insert(SERVER_TIMING, value);
    }
    response
}

/// Scores one infer request with `entry`'s model; what happened goes into
/// `record`, `request_id` into data collection and a failure's log.
pub async fn infer(
    state: &AppState,
    entry: &Arc<LiveModel>,
    parts: &Parts,
    body: Incoming,
    request_id: &HeaderValue,
    record: &mut RequestRecord<'_>,
) -> Result<Answer, ApiError> {
    let model = &entry.served;
    let header_length = parts
        .headers
        .get(HEADER_LENGTH)
        .map(|v| inferd_v2::parse_header_length(v.as_bytes()))
        .transpose()?;
    let coding = compression::request_coding(&parts.headers)?;
    let answer_coding = compression::response_coding(&parts.headers);
    let (body, reservation) =
        read_limited(&parts.headers, body, &state.options, &state.budget).await?;
    // Reserved in the budget as `/score` reserves (raw bytes decode to
    // themselves, within its JSON bound); a compressed body's size says
    // nothing of its tensors': reserved exactly, once inflated and decoded.
    let exact = body.len() as u64 >= EXACT_TENSORS_FROM || coding.is_some();
    if !exact {
        reservation
            .grow(body.len() as u64 * TENSOR_BYTES_PER_PAYLOAD_BYTE)
            .map_err(EngineError::from)?;
    }
    record.read(body.len() as u64);
    let wait_for_particulars = coding.is_some() || may_have_timeout(&body, header_length);
    let collecting = state.telemetry.collector().is_some();
    let ticket = model.enter()?;
    let (particulars_sender, mut particulars) = oneshot::channel();
    let decoder = entry.clone();
    let limit = state.options.max_body_bytes;
    let budget = reservation.clone();
    // The engine times this closure (inflating and decoding) itself.
    let prepare = Box::new(move || {
        let inflated;
        let payload: &[u8] = match coding {
            None => &body,
            Some(coding) => {
                inflated = compression::inflate(coding, &body, limit).map_err(input_error)?;
                if exact {
                    budget.grow(inflated.len() as u64)?;
                }
                &inflated
            }
        };
        let mut images = Images {
            media: decoder.schema.media.as_deref(),
            reservation: &budget,
            exact,
            decoded_bytes: 0,
        };
        let request = decoder
            .v2
            .codec
            .decode_request_with(payload, header_length, &mut images)
            .map_err(|Refused(e)| e)?;
        // The tensors live until the run ends: past the budget, the run
        // never starts (503, as for the body). Images' were reserved
        // before they were decoded.
        if exact {
            let bytes: u64 = request.inputs.iter().map(|t| t.heap_bytes() as u64).sum();
            budget.grow(bytes.saturating_sub(images.decoded_bytes))?;
        }
        let collected = collecting.then(|| match (coding, header_length) {
            // Already JSON: the body's bytes, shared.
            (None, None | Some(0)) => Input::Json(body.clone()),
            _ => Input::Json(Bytes::from(json_request(&decoder.v2, &request.inputs))),
        });
        let _ = particulars_sender.send(Particulars {
            id: request.id,
            plan: request.outputs,
            timeout: request.timeout,
            collected,
        });
        Ok(request.inputs)
    });
    let run = model.run_prepared(prepare, ticket);
    let (scored, particulars) = if wait_for_particulars {
        // Boxed: its timer and second wait would otherwise sit in every
        // request's future (`/score`'s too: the connection's future holds
        // the largest handler's), for a path few requests take.
        Box::pin(within_timeout(run, &mut particulars, record.arrived())).await
    } else {
        (run.await, particulars.try_recv().ok())
    };
    let scored = scored.map_err(|e| ApiError::scoring(e, &model.name, request_id))?;
    let Some(mut particulars) = particulars else {
        tracing::error!(model = %model.name, "a scored v2 request without its particulars");
        return Err(ApiError::Internal);
    };
    let encoded = entry
        .v2
        .codec
        .encode_response(
            &particulars.plan,
            particulars.id.as_deref(),
            &scored.outputs,
        )
        .map_err(|reason| {
            tracing::error!(model = %model.name, %reason, "outputs do not fit the v2 response");
            ApiError::Internal
        })?;
    let header_length = encoded.header_length;
    let plain = Bytes::from(encoded.body);
    // Encoding starts when the answer is seen; its end is the total's too.
    let encoded_at = Instant::now();
    record.scored(&scored, encoded_at);
    if let Some(input) = particulars.collected.take() {
        let output = match header_length {
            None => plain.clone(),
            Some(_) => json_response(&entry.v2, &particulars, &scored),
        };
        state
            .telemetry
            .collect(entry, Some(request_id), input, &output);
    }
    let body = match answer_coding {
        Some(coding) => Bytes::from(compression::deflate(coding, &plain)),
        None => plain,
    };
    let server_timing = state
        .options
        .server_timing
        .then(|| score::server_timing(&scored, encoded_at, record.arrived()));
    drop(reservation);
    Ok(Answer {
        body,
        header_length,
        coding: answer_coding,
        server_timing,
    })
}

/// Waits for the run; once the worker has decoded the request, for no
/// longer than its `timeout` from `arrived` (a 504, as the container's
/// scoring timeout gives; the run, if started, finishes on its worker and
/// its answer is dropped, as for a client that went away).
async fn within_timeout(
    run: impl Future<Output = Result<Scored, EngineError>>,
    particulars: &mut oneshot::Receiver<Particulars>,
    arrived: Instant,
) -> (Result<Scored, EngineError>, Option<Particulars>) {
    tokio::pin!(run);
    let got = tokio::select! {
        biased;
        scored = &mut run => return (scored, particulars.try_recv().ok()),
        got = &mut *particulars => got.ok(),
    };
    let Some(got) = got else {
        // Decoding failed (the sender was dropped): the run answers why.
        return (run.await, None);
    };
    let Some(timeout) = got.timeout else {
        return (run.await, Some(got));
    };
    match tokio::time::timeout_at((arrived + timeout).into(), run).await {
        Ok(scored) => (scored, Some(got)),
        Err(_) => (Err(EngineError::Timeout(timeout)), Some(got)),
    }
}

/// Whether the request's JSON header may hold the reserved `timeout`
/// parameter: a byte search of the header alone (a body sent in the
/// binary form carries its tensors after it). A key spelled with `\u`
/// escapes is not found; such a request is bounded by the container's
/// limits alone.
fn may_have_timeout(body: &[u8], header_length: Option<usize>) -> bool {
    let header = match header_length {
        Some(length) if length > 0 => &body[..length.min(body.len())],
        _ => body,
    };
    header.windows(9).any(|w| w == b"\"timeout\"")
}

fn input_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> EngineError {
    EngineError::Input(Box::new(e))
}

/// Why the worker refused to run a request while decoding it: the
/// engine's error, as the run reports it (a codec refusal is a 400).
struct Refused(EngineError);

impl From<V2Error> for Refused {
    fn from(e: V2Error) -> Refused {
        Refused(input_error(e))
    }
}

/// A request's encoded images, for the codec: the inputs with a declared
/// image decoder (the model's `MediaInputs`), decoded within the request's
/// body reservation.
struct Images<'r> {
    media: Option<&'r MediaInputs>,
    reservation: &'r Reservation,
    /// Whether the request's tensors are reserved exactly, once decoded
    /// (see `infer`), rather than at their most up front.
    exact: bool,
    /// The decoded images' tensor bytes (already reserved at their most).
    decoded_bytes: u64,
}

impl EncodedImages for Images<'_> {
    type Error = Refused;

    fn takes_encoded_images(&self, input: &str) -> bool {
        self.media.is_some_and(|m| m.takes_encoded_images(input))
    }

    fn reserve_copies(&mut self, bytes: u64) -> Result<(), Refused> {
        // A small body's copies fit what was reserved for it up front
        // (TENSOR_BYTES_PER_PAYLOAD_BYTE per byte); a large one's are
        // counted now, before they are made.
        if self.exact {
            self.reservation
                .grow(bytes)
                .map_err(|e| Refused(e.into()))?;
        }
        Ok(())
    }

    fn decode_images(&mut self, input: &str, images: &[&[u8]]) -> Result<Tensor, Refused> {
        // The codec asks only for inputs `takes_encoded_images` took, so
        // this is a guard: BYTES refused as for any other input.
        let no_decoder = || {
            Refused::from(V2Error::UnsupportedDatatype {
                input: input.to_owned(),
                received: "BYTES".to_owned(),
                expected: "its tensor".to_owned(),
                reason: "no image decoder is declared for it".to_owned(),
            })
        };
        let Some(media) = self.media else {
            return Err(no_decoder());
        };
        // A small image can become a large tensor: reserved at its most,
        // whatever the body's size, before any image is decoded.
        self.reservation
            .grow(media.image_bytes(input, images.len()))
            .map_err(|e| Refused(e.into()))?;
        match media.decode_images(input, images) {
            Some(Ok(tensor)) => {
                self.decoded_bytes += tensor.heap_bytes() as u64;
                Ok(tensor)
            }
            // Boxed as itself: the error mapping reads its refusal (400,
            // 413 for a bomb, 415 for a format the input does not take).
            Some(Err(e)) => Err(Refused(input_error(e))),
            None => Err(no_decoder()),
        }
    }
}

/// The request's inputs as a JSON v2 request, for data collection.
fn json_request(entry: &Entry, inputs: &[Tensor]) -> Vec<u8> {
    let named: Vec<(&str, &Tensor)> = entry
        .codec
        .signature()
        .inputs
        .iter()
        .map(|spec| spec.name.as_str())
        .zip(inputs)
        .collect();
    inferd_v2::encode_request(&named, false, false).body
}

/// The response as JSON, for data collection when the client got raw bytes.
fn json_response(entry: &Entry, particulars: &Particulars, scored: &Scored) -> Bytes {
    let plan = particulars.plan.as_json();
    match entry
        .codec
        .encode_response(&plan, particulars.id.as_deref(), &scored.outputs)
    {
        Ok(encoded) => Bytes::from(encoded.body),
        Err(_) => Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_is_looked_for_in_the_header_alone() {
        let json = br#"{"parameters":{"timeout":5},"inputs":[]}"#;
        assert!(may_have_timeout(json, None));
        assert!(may_have_timeout(json, Some(0)));
        assert!(!may_have_timeout(br#"{"inputs":[]}"#, None));
        let mut binary = br#"{"inputs":[]}"#.to_vec();
        let length = binary.len();
        binary.extend_from_slice(b"\"timeout\"");
        assert!(!may_have_timeout(&binary, Some(length)));
        // A length past the body is the decoder's to refuse, not a panic here.
        assert!(!may_have_timeout(b"{}", Some(100)));
    }
}
