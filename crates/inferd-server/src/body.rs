//! Reading a request body under a size limit. The declared length is checked
//! before reading anything, and the running total while reading, so a lying
//! or absent `Content-Length` cannot make the server buffer past the limit.
//! A request with both `Content-Length` and `Transfer-Encoding` is read as
//! chunked by hyper (RFC 9112 6.3: Transfer-Encoding overrides the length).
//!
//! The body's bytes are reserved in the server's body memory budget
//! ([`inferd_engine::budget`]) before they are read: the declared length at
//! once, before the first byte (a full budget answers 503 while the client
//! has sent nothing but its head), and a body without one frame by frame,
//! before each frame is kept. A body with a declared length that arrives in
//! several frames is gathered into room for that length, allocated once, so
//! it holds what was reserved; a body without one grows by doubling, so it
//! may hold up to twice what was reserved while it is read.
//!
//! A body that arrives as one frame (a small one, sent with its length, as
//! nearly every scoring request is) is kept as hyper read it: no copy, no
//! list of frames, no poll after the last byte.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use hyper::body::{Body as _, Incoming};
use inferd_engine::{BodyBudget, EngineError, Reservation};

use crate::{ApiError, ServerOptions};

/// The whole body, within `options.max_body_bytes` and `options.body_read_timeout`
/// (a client that trickles its body cannot hold a connection forever), and
/// its reservation in `budget`, which the caller holds until the request is
/// answered.
pub async fn read_limited(
    headers: &http::HeaderMap,
    body: Incoming,
    options: &ServerOptions,
    budget: &Arc<BodyBudget>,
) -> Result<(Bytes, Reservation), ApiError> {
    let limit = options.max_body_bytes;
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::BodyTooLarge { limit });
    }
    let reservation = budget
        .reserve(declared.unwrap_or(0))
        .map_err(EngineError::from)?;
    let mut reading = Reading {
        body,
        limit,
        declared: declared.map(|n| n as usize),
        reservation,
        got: Got::Nothing,
    };
    // A small body has mostly arrived with its headers: one poll reads it
    // whole, and no timer need be set (arming and cancelling one takes the
    // timer wheel's lock twice).
    let read = match std::future::poll_fn(|cx| Poll::Ready(reading.poll(cx))).await {
        Poll::Ready(read) => read,
        // Boxed: the timer is kilobytes' worth of future only a slow body
        // needs, and every request's future would carry (and copy) it.
        Poll::Pending => {
            let rest = std::future::poll_fn(|cx| reading.poll(cx));
            match Box::pin(tokio::time::timeout(options.body_read_timeout, rest)).await {
                Ok(read) => read,
                Err(_) => Err(ApiError::BodyTimeout(options.body_read_timeout)),
            }
        }
    };
    Ok((read?, reading.reservation))
}

/// An error and what caused it, as one line: hyper's own says only "error
/// reading a body from connection"; its cause says what was wrong (an
/// invalid chunk size line, the connection closed before the end).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        line.push_str(": ");
        line.push_str(&next.to_string());
        cause = next.source();
    }
    line
}

/// A body being read.
struct Reading {
    body: Incoming,
    limit: usize,
    /// `Content-Length`, when the client sent one (within `limit`).
    declared: Option<usize>,
    /// The body's bytes in the budget.
    reservation: Reservation,
    got: Got,
}

/// The data frames read so far.
enum Got {
    Nothing,
    /// One frame, as hyper gave it.
    One(Bytes),
    /// Copied together once a second frame came.
    Many(BytesMut),
}

impl Reading {
    /// Reads what has arrived; the whole body once it has all come.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Bytes, ApiError>> {
        loop {
            if self.body.is_end_stream() {
                return Poll::Ready(Ok(self.take()));
            }
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(Ok(self.take())),
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Err(ApiError::BodyRead(with_causes(&e))));
                }
                // Trailers carry nothing a scoring request uses.
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data()
                        && let Err(e) = self.add(data)
                    {
                        return Poll::Ready(Err(e));
                    }
                }
            }
        }
    }

    fn add(&mut self, data: Bytes) -> Result<(), ApiError> {
        let total = self.len() + data.len();
        if total > self.limit {
            return Err(ApiError::BodyTooLarge { limit: self.limit });
        }
        // Past what was reserved (only a body without a declared length
        // gets here): reserve the frame before keeping it.
        let reserved = self.reservation.bytes();
        if total as u64 > reserved {
            self.reservation
                .grow(total as u64 - reserved)
                .map_err(EngineError::from)?;
        }
        self.got = match std::mem::replace(&mut self.got, Got::Nothing) {
            Got::Nothing => Got::One(data),
            Got::One(first) => {
                // Room for the whole declared body at once: no regrowth,
                // and no more than was reserved.
                let room = self.declared.map_or(total, |declared| declared.max(total));
                let mut all = BytesMut::with_capacity(room);
                all.extend_from_slice(&first);
                all.extend_from_slice(&data);
                Got::Many(all)
            }
            Got::Many(mut all) => {
                all.extend_from_slice(&data);
                Got::Many(all)
            }
        };
        Ok(())
    }

    fn len(&self) -> usize {
        match &self.got {
            Got::Nothing => 0,
            Got::One(data) => data.len(),
            Got::Many(all) => all.len(),
        }
    }

    fn take(&mut self) -> Bytes {
        match std::mem::replace(&mut self.got, Got::Nothing) {
            Got::Nothing => Bytes::new(),
            Got::One(data) => data,
            Got::Many(all) => all.freeze(),
        }
    }
}
