//! The grace period tells clients to go: an HTTP/1.1 answer carries
//! `Connection: close` (and the server closes that connection after it),
//! and an HTTP/2 connection is sent a GOAWAY at once. The process-level
//! test that no request is lost through a SIGTERM is
//! `crates/inferd/tests/drain.rs`.

mod common;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GRACE: Duration = Duration::from_secs(30);

/// One keep-alive request on `stream`: its answer, read whole (head and
/// body; `/ready`'s answers are short).
async fn keep_alive_request(stream: &mut tokio::net::TcpStream) -> String {
    stream
        .write_all(b"GET /ready HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("answered")
            .unwrap();
        assert_ne!(n, 0, "closed without an answer");
        answer.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some(end) = text.find("\r\n\r\n")
            && let Some(length) = text[..end].lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(str::to_owned)
            })
            && answer.len() >= end + 4 + length.parse::<usize>().unwrap()
        {
            return text.to_ascii_lowercase();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_answers_in_the_grace_period_say_connection_close() {
    let mut server = common::start(&["diabetes-ridge"]).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /ready HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let first = keep_alive_request(&mut stream).await;
    assert!(first.starts_with("http/1.1 200"), "{first}");
    assert!(!first.contains("connection: close"), "{first}");
    let drain = server.begin_shutdown(GRACE);
    // The same keep-alive connection, once the grace period has begun
    // (`/ready` turns 503 then).
    let answer = loop {
        let answer = keep_alive_request(&mut stream).await;
        if answer.starts_with("http/1.1 503") {
            break answer;
        }
        assert!(!answer.contains("connection: close"), "{answer}");
    };
    assert!(answer.contains("connection: close"), "{answer}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
    assert!(
        matches!(closed, Ok(Ok(0))),
        "the server closes the connection after that answer"
    );
    drain.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_connection_is_sent_a_goaway_when_the_grace_period_begins() {
    let mut server = common::start(&["diabetes-ridge"]).await;
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let addr = server.addr;
    let request = |path: &str| {
        hyper::Request::get(format!("http://{addr}{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let answer = sender.send_request(request("/")).await.unwrap();
    assert_eq!(answer.status(), 200);
    answer.into_body().collect().await.unwrap();
    let drain = server.begin_shutdown(GRACE);
    // The GOAWAY ends the client's connection (it has no stream open) long
    // before the grace period does.
    tokio::time::timeout(GRACE / 3, connection)
        .await
        .expect("the connection ends within the grace period: a GOAWAY")
        .unwrap()
        .unwrap();
    assert!(sender.send_request(request("/")).await.is_err());
    // The listener is still open: the client's next connection is served.
    let reply = server.get("/ready").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("connection"), Some("close"));
    drain.abort();
}
