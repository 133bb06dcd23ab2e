//! Reading a request body under a size limit. The declared length is checked
//! before reading anything, and the running total while reading, so a lying
//! or absent `Content-Length` cannot make the server buffer past the limit.
//! A request with both `Content-Length` and `Transfer-Encoding` is read as
//! chunked by hyper (RFC 9112 6.3: Transfer-Encoding overrides the length).

use std::future::Future;
use std::task::Poll;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::{ApiError, ServerOptions};

/// The whole body, within `options.max_body_bytes` and `options.body_read_timeout`
/// (a client that trickles its body cannot hold a connection forever).
pub async fn read_limited(
    headers: &http::HeaderMap,
    body: Incoming,
    options: &ServerOptions,
) -> Result<Bytes, ApiError> {
    let limit = options.max_body_bytes;
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::BodyTooLarge { limit });
    }
    let mut read = std::pin::pin!(Limited::new(body, limit).collect());
    // A small body has mostly arrived with its headers: one poll reads it
    // whole, and no timer need be set (arming and cancelling one takes the
    // timer wheel's lock twice).
    let read = match std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await {
        Poll::Ready(read) => read,
        Poll::Pending => match tokio::time::timeout(options.body_read_timeout, read).await {
            Ok(read) => read,
            Err(_) => return Err(ApiError::BodyTimeout(options.body_read_timeout)),
        },
    };
    match read {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::BodyTooLarge { limit })
        }
        Err(e) => Err(ApiError::BodyRead(e.to_string())),
    }
}
