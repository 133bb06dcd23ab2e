//! One request's record, from its arrival to its response: when it
//! arrived, what it asked (method, path, bytes in), the model that scored
//! it and where the time went, and how it ended. [`RequestRecord::finish`]
//! turns it into the request's metrics and its access line, in one place,
//! once the response is known.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Response;
use http::request::Parts;
use hyper::body::Body as _;
use inferd_engine::Scored;
use inferd_log::AccessLine;
use inferd_metrics::{Outcome, Protocol, Stages};

use crate::response::Body;
use crate::telemetry::Telemetry;
use crate::{ApiError, LiveModel};

/// What the server notes about one request. Borrows the request's head,
/// which the connection's future holds for the request's whole life.
pub struct RequestRecord<'a> {
    telemetry: &'a Telemetry,
    head: &'a Parts,
    arrived: Instant,
    /// The body's declared length, until the scoring handler has read it.
    bytes_in: u64,
    scoring: Option<ScoringRecord>,
}

/// What a scoring request adds to its record.
struct ScoringRecord {
    model: Arc<LiveModel>,
    protocol: Protocol,
    /// Counted in the model's in-flight gauge (recording was on), until
    /// finished or dropped (a request given up on, such as one whose
    /// client went away).
    in_flight: bool,
    scored: Option<ScoredStages>,
    outcome: Option<Outcome>,
}

/// Where a scored request's time went.
#[derive(Clone, Copy)]
struct ScoredStages {
    /// For the model's metrics.
    stages: Stages,
    /// The run on the worker from its start to its answer (the access
    /// line's `score_ms`): decoding included, except with batching, which
    /// decodes before the start.
    run: Duration,
    /// When the answer was encoded: the request's end.
    encoded: Instant,
}

impl<'a> RequestRecord<'a> {
    /// A request that arrived just now, with `head` and `body`.
    pub fn arrive<B: hyper::body::Body>(
        telemetry: &'a Telemetry,
        head: &'a Parts,
        body: &B,
    ) -> RequestRecord<'a> {
        RequestRecord {
            telemetry,
            head,
            arrived: Instant::now(),
            // The declared length, as hyper read it (no header lookup).
            bytes_in: body.size_hint().exact().unwrap_or(0),
            scoring: None,
        }
    }

    /// From now on, a request for `model` in `protocol`, in its in-flight
    /// count until finished; its bytes in are those its body turns out to have.
    pub fn score_with(&mut self, model: &Arc<LiveModel>, protocol: Protocol) {
        let in_flight = match self.telemetry.model(model) {
            Some(handles) => {
                handles.metrics.began();
                true
            }
            None => false,
        };
        self.bytes_in = 0;
        self.scoring = Some(ScoringRecord {
            model: model.clone(),
            protocol,
            in_flight,
            scored: None,
            outcome: None,
        });
    }

    /// The body as read: its length.
    pub fn read(&mut self, bytes_in: u64) {
        self.bytes_in = bytes_in;
    }

    /// The model answered (`scored`), and its answer was encoded by `encoded`.
    pub fn scored(&mut self, scored: &Scored, encoded: Instant) {
        if let Some(scoring) = &mut self.scoring {
            let stages = Stages {
                rows: scored
                    .outputs
                    .first()
                    .and_then(|t| t.shape().first())
                    .map_or(1, |n| *n as u64),
                queue_wait: scored.queue,
                decode: scored.prepare,
                scoring: scored.score.saturating_sub(scored.prepare),
                encode: encoded.saturating_duration_since(scored.answered),
            };
            scoring.scored = Some(ScoredStages {
                stages,
                run: scored.score,
                encoded,
            });
        }
    }

    /// How the scoring ended (see [`ApiError::outcome`]).
    pub fn scoring_ended<T>(&mut self, result: &Result<T, ApiError>) {
        if let Some(scoring) = &mut self.scoring {
            scoring.outcome = Some(
                result
                    .as_ref()
                    .map_or_else(ApiError::outcome, |_| Outcome::Success),
            );
        }
    }

    /// The request is answered with `response` (its ids written): counts
    /// the response, records a scoring request's metrics, and writes the
    /// access line when that is on.
    pub fn finish(self, response: &Response<Body>, request_id: &[u8]) {
        let telemetry = self.telemetry;
        telemetry.responded(response.status());
        let access_log = telemetry.access_log();
        let mut scoring = self.scoring;
        let in_flight = scoring.as_ref().is_some_and(|s| s.in_flight);
        if !access_log && !in_flight {
            return;
        }
        // A scored request ended when its answer was encoded.
        let scored = scoring.as_ref().and_then(|s| s.scored);
        let ended = scored.map_or_else(Instant::now, |s| s.encoded);
        let total = ended.saturating_duration_since(self.arrived);
        if let Some(scoring) = &mut scoring
            && scoring.in_flight
        {
            let outcome = scoring.outcome.unwrap_or(Outcome::Error);
            let stages = scored
                .filter(|_| outcome == Outcome::Success)
                .map(|s| s.stages);
            // One pass over the thread's counters: finished, and no
            // longer in flight.
            scoring.model.handles.metrics.finished(
                outcome,
                total,
                stages.as_ref(),
                scoring.protocol,
            );
            scoring.in_flight = false;
        }
        let model = scoring.as_ref().map(|s| &s.model.served);
        if access_log {
            inferd_log::access(&AccessLine {
                request_id,
                method: self.head.method.as_str(),
                path: self.head.uri.path(),
                status: response.status().as_u16(),
                model: model.as_ref().map(|m| (m.name.as_str(), m.version)),
                queue: scored.map(|s| s.stages.queue_wait),
                score: scored.map(|s| s.run),
                total,
                bytes_in: self.bytes_in,
                bytes_out: response.body().size_hint().exact().unwrap_or(0),
            });
        }
    }

    /// The bytes the request moved: its body and `response`'s.
    pub fn bytes_moved(&self, response: &Response<Body>) -> u64 {
        self.bytes_in + response.body().size_hint().exact().unwrap_or(0)
    }

    /// When the request arrived.
    pub fn arrived(&self) -> Instant {
        self.arrived
    }
}

impl Drop for ScoringRecord {
    /// A request given up on leaves the in-flight gauge too.
    fn drop(&mut self) {
        if self.in_flight {
            self.model.handles.metrics.ended();
        }
    }
}
