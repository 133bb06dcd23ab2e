//! One HTTP/1.1 keep-alive connection: write a prepared request, read one
//! response (Content-Length, chunked, or until close). It reconnects when
//! the server closes (the Azure ML server answers `Connection: close`).
//!
//! The load generator shares the machine with the server it measures, so
//! what it spends a request is taken from the server: a response's headers
//! are only looked at where they frame the body, and a connection keeps
//! one deadline timer for all its requests (moving a registered tokio timer
//! later takes no lock; a fresh one per request took two).

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// A response's status and body.
pub struct Response {
    pub status: u16,
    pub body: BytesMut,
}

pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: BytesMut,
    /// The running request's deadline; made at the first request.
    deadline: Option<Pin<Box<Sleep>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("malformed response: {0}")]
    Malformed(String),
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            stream: None,
            buf: BytesMut::with_capacity(16 * 1024),
            deadline: None,
        }
    }

    /// Sends `request` and reads the response, within `timeout`. On any
    /// error the connection is dropped, and the next call reconnects.
    pub async fn send(&mut self, request: &[u8], timeout: Duration) -> Result<Response, ConnError> {
        let until = Instant::now() + timeout;
        let mut deadline = match self.deadline.take() {
            Some(mut sleep) => {
                sleep.as_mut().reset(until);
                sleep
            }
            None => Box::pin(tokio::time::sleep_until(until)),
        };
        let result = tokio::select! {
            biased;
            result = self.exchange(request) => result,
            () = deadline.as_mut() => Err(ConnError::Timeout(timeout)),
        };
        self.deadline = Some(deadline);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange(&mut self, request: &[u8]) -> Result<Response, ConnError> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
            self.buf.clear();
        }
        let stream = self.stream.as_mut().expect("connected above");
        stream.write_all(request).await?;
        let (status, head_len, framing, close) = loop {
            if let Some(head) = parse_head(&self.buf)? {
                break head;
            }
            read_more(stream, &mut self.buf).await?;
        };
        self.buf.advance(head_len);
        let body = match framing {
            Framing::Length(n) => {
                while self.buf.len() < n {
                    read_more(stream, &mut self.buf).await?;
                }
                self.buf.split_to(n)
            }
            Framing::Chunked => read_chunked(stream, &mut self.buf).await?,
            Framing::UntilClose => {
                while stream.read_buf(&mut self.buf).await? > 0 {}
                self.stream = None;
                return Ok(Response {
                    status,
                    body: self.buf.split(),
                });
            }
        };
        if close {
            self.stream = None;
        }
        Ok(Response { status, body })
    }
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

async fn read_more(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<(), ConnError> {
    if stream.read_buf(buf).await? == 0 {
        return Err(ConnError::Malformed(
            "the server closed the connection mid-response".into(),
        ));
    }
    Ok(())
}

/// Status, head length, body framing and whether the server closes after
/// this response; `None` while the head is incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<(u16, usize, Framing, bool)>, ConnError> {
    // Uninitialised: the parser writes the ones it fills (2 KiB a response
    // otherwise zeroed for nothing).
    let mut headers = [const { std::mem::MaybeUninit::uninit() }; 64];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut headers,
    );
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ConnError::Malformed(e.to_string())),
    };
    let status = response.code.unwrap_or(0);
    let mut framing = Framing::UntilClose;
    let mut close = response.version == Some(0);
    for header in response.headers.iter() {
        // Names of other lengths are not read further.
        let name = match header.name.len() {
            10 | 14 | 17 => header.name,
            _ => continue,
        };
        let value = || header.value.trim_ascii();
        if name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(value())
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| {
                    let text = String::from_utf8_lossy(value());
                    ConnError::Malformed(format!("content-length '{text}'"))
                })?;
            framing = Framing::Length(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value().eq_ignore_ascii_case(b"chunked")
        {
            framing = Framing::Chunked;
        } else if name.eq_ignore_ascii_case("connection") {
            close = value().eq_ignore_ascii_case(b"close");
        }
    }
    if status == 204 || status == 304 || (100..200).contains(&status) {
        framing = Framing::Length(0);
    }
    Ok(Some((status, head_len, framing, close)))
}

async fn read_chunked(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<BytesMut, ConnError> {
    let mut body = BytesMut::new();
    loop {
        let line_end = loop {
            if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            read_more(stream, buf).await?;
        };
        let line = std::str::from_utf8(&buf[..line_end]).unwrap_or("");
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ConnError::Malformed(format!("chunk size '{size_text}'")))?;
        buf.advance(line_end + 2);
        while buf.len() < size + 2 {
            read_more(stream, buf).await?;
        }
        body.extend_from_slice(&buf[..size]);
        buf.advance(size + 2);
        if size == 0 {
            // No trailers are expected from the servers we load.
            return Ok(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_give_status_framing_and_close() {
        let (status, len, framing, close) =
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                .unwrap()
                .unwrap();
        assert_eq!((status, len, close), (200, 38, false));
        assert!(matches!(framing, Framing::Length(5)));
        let (_, _, framing, close) = parse_head(
            b"HTTP/1.1 503 X\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(matches!(framing, Framing::Chunked) && close);
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-")
                .unwrap()
                .is_none()
        );
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
        // Other headers, of the framing headers' lengths too, are skipped;
        // values are trimmed; a bad length is an error.
        let (_, _, framing, close) = parse_head(
            b"HTTP/1.1 200 OK\r\nx-request-id: 1\r\nContent-Encodin: x\r\nCONTENT-LENGTH:  7 \r\nconnection: Close\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(matches!(framing, Framing::Length(7)) && close);
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n").is_err());
    }
}
