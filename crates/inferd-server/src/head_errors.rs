//! The answers hyper makes itself, made the server's own. A request head
//! hyper cannot parse (a malformed request line or header: 400; a URI
//! past 65,534 bytes: 414; more than 100 headers or a head past ~408 KiB:
//! 431) is answered by hyper before any handler runs, with an empty body,
//! and nothing counts it. [`OwnAnswers`] sits between hyper and the
//! connection's stream: it recognises that answer as hyper writes it and
//! writes in its place the server's: a JSON `{"message": ...}`, request
//! ids, counted in `inferd_http_responses_total`, with an access line.
//!
//! hyper's answer is recognised by its form, which no handler's answer
//! has: a 4xx status whose first headers are `connection: close` and
//! `content-length: 0` (every error a handler makes has a JSON body and
//! starts with its `content-type`). hyper writes it only between
//! requests, when everything before it has been written, so it starts a
//! write. A write costs one comparison of ten bytes more; a read, one
//! flag.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::request_id::RequestIds;
use crate::{ApiError, AppState, response};

/// How every answer of hyper's own starts.
const HYPER_ANSWER: &[u8] = b"HTTP/1.1 4";
/// Its first headers, after the status line.
const HYPER_HEADERS: &[u8] = b"connection: close\r\ncontent-length: 0\r\n";

/// A connection's stream, with hyper's own answers replaced by the server's.
pub struct OwnAnswers<S> {
    inner: S,
    state: Arc<AppState>,
    /// The server's answer being written in place of hyper's.
    replacing: Option<Replacing>,
    /// When the bytes of the request being read began to arrive: set at
    /// the first read after a write.
    head_began: Option<Instant>,
    wrote: bool,
}

/// An answer of ours, partly written, for a write of hyper's of `owed` bytes.
struct Replacing {
    answer: Bytes,
    written: usize,
    owed: usize,
}

impl<S> OwnAnswers<S> {
    pub fn new(inner: S, state: Arc<AppState>) -> OwnAnswers<S> {
        OwnAnswers {
            inner,
            state,
            replacing: None,
            head_began: None,
            wrote: true,
        }
    }

    /// Our answer for hyper's `written` (its status), counted and logged.
    fn replace(&mut self, status: StatusCode, written: &[u8]) -> Bytes {
        let body = response::error_body(&ApiError::HeadRefused(status));
        let ids = RequestIds::fresh();
        let request_id = ids.request_id.clone();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        ids.write_to(&mut headers);
        let mut answer = BytesMut::with_capacity(256 + body.len());
        answer.put_slice(status_line(written));
        for (name, value) in &headers {
            answer.put_slice(name.as_str().as_bytes());
            answer.put_slice(b": ");
            answer.put_slice(value.as_bytes());
            answer.put_slice(b"\r\n");
        }
        answer.put_slice(b"content-length: ");
        answer.put_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        answer.put_slice(b"\r\n");
        // hyper's own `date` and any other header after its first two.
        let head_end = find(written, b"\r\n\r\n").map_or(written.len(), |at| at + 2);
        let rest = status_line(written).len() + HYPER_HEADERS.len();
        answer.put_slice(written.get(rest..head_end).unwrap_or_default());
        answer.put_slice(b"\r\n");
        answer.put_slice(&body);

        let telemetry = &self.state.telemetry;
        telemetry.responded(status);
        if telemetry.access_log() {
            inferd_log::access(&inferd_log::AccessLine {
                request_id: request_id.as_bytes(),
                method: "-",
                path: "-",
                status: status.as_u16(),
                model: None,
                queue: None,
                score: None,
                total: self.head_began.map(|t| t.elapsed()).unwrap_or_default(),
                bytes_in: 0,
                bytes_out: body.len() as u64,
            });
        }
        tracing::debug!(%status, "a request head hyper could not parse; answered");
        answer.freeze()
    }
}

/// The status hyper answered with, when `written` is an answer of its own.
fn hyper_status(written: &[u8]) -> Option<StatusCode> {
    if !written.starts_with(HYPER_ANSWER) {
        return None;
    }
    let line = status_line(written);
    if !written[line.len()..].starts_with(HYPER_HEADERS) {
        return None;
    }
    let code = StatusCode::from_bytes(written.get(9..12)?).ok()?;
    code.is_client_error().then_some(code)
}

/// The status line, `\r\n` included (all of `written` when it has none).
fn status_line(written: &[u8]) -> &[u8] {
    find(written, b"\r\n").map_or(written, |at| &written[..at + 2])
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl<S: AsyncRead + Unpin> AsyncRead for OwnAnswers<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.wrote && buf.filled().len() > before {
            this.wrote = false;
            this.head_began = Some(Instant::now());
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for OwnAnswers<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.wrote = true;
        if this.replacing.is_none() {
            match hyper_status(buf) {
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
                Some(status) => {
                    let answer = this.replace(status, buf);
                    this.replacing = Some(Replacing {
                        answer,
                        written: 0,
                        owed: buf.len(),
                    });
                }
            }
        }
        // hyper writes the same bytes again after a `Pending`: what it is
        // owed is the length of its own answer, once ours is all written.
        let replacing = this.replacing.as_mut().expect("set above");
        while replacing.written < replacing.answer.len() {
            let rest = &replacing.answer[replacing.written..];
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            replacing.written += n;
        }
        let owed = replacing.owed;
        this.replacing = None;
        Poll::Ready(Ok(owed))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // HTTP/1 is written one buffer at a time (`writev(false)`), its
        // answers above; this is HTTP/2's frames.
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_answers_are_told_from_ours() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Sun, 06 Dec 2026 22:28:42 GMT\r\n\r\n";
        assert_eq!(
            hyper_status(hyper),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        for ours in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 80\r\n\r\n{}"[..],
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 4",
            b"{\"data\": 1}",
            b"",
        ] {
            assert_eq!(hyper_status(ours), None, "{}", String::from_utf8_lossy(ours));
        }
    }
}
