//! Hostile input on the real server: each case gets a 4xx (or a closed
//! connection where HTTP says so), and the server answers the next request.
//! Raw TCP where the case is about the protocol itself.

mod common;

use std::time::Duration;

use inferd_engine::ExecutorOptions;
use inferd_server::ServerOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::TestServer;

const ROW: &str = "[10,9,8,7,6,5,4,3,2,1]";

async fn server() -> TestServer {
    let options = ServerOptions {
        body_read_timeout: Duration::from_millis(500),
        ..ServerOptions::default()
    };
    common::start_with(&["diabetes-ridge"], options, ExecutorOptions::default()).await
}

/// A server that takes bodies of at most `bytes`.
async fn server_with_body_limit(bytes: usize) -> TestServer {
    let options = ServerOptions {
        max_body_bytes: bytes,
        ..ServerOptions::default()
    };
    common::start_with(&["diabetes-ridge"], options, ExecutorOptions::default()).await
}

/// The server still scores after whatever came before.
async fn still_serves(server: &TestServer) {
    let reply = server
        .post_json("/score", format!(r#"{{"data": [{ROW}]}}"#))
        .await;
    assert_eq!(reply.status, 200, "the server still scores");
}

async fn assert_400(server: &TestServer, body: impl Into<bytes::Bytes>, message: &str) {
    let reply = server.post_json("/score", body).await;
    assert_eq!(
        reply.status,
        400,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(reply.message().contains(message), "{}", reply.message());
    still_serves(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_json_bodies_get_400() {
    let server = server().await;
    // 100k levels of nesting: the parser's depth limit, not the stack.
    let depth = 100_000;
    let nested = format!("{{\"data\": {}{}}}", "[".repeat(depth), "]".repeat(depth));
    assert_400(&server, nested, "recursion limit exceeded").await;
    // Unclosed nesting under an ignored field is skipped without recursion.
    let nested_objects = format!("{{\"a\": {}", "{\"a\":".repeat(depth));
    assert_400(&server, nested_objects, "EOF while parsing").await;
    let nested_data = format!("{{\"data\": {}", "{\"a\":".repeat(depth));
    assert_400(&server, nested_data, "recursion limit exceeded").await;
    // A number past f64, and one past float32.
    assert_400(
        &server,
        r#"{"data": [[1e400,9,8,7,6,5,4,3,2,1]]}"#,
        "number out of range",
    )
    .await;
    assert_400(
        &server,
        r#"{"data": [[1e39,9,8,7,6,5,4,3,2,1]]}"#,
        "data[0][0]",
    )
    .await;
    let digits = "9".repeat(100_000);
    assert_400(
        &server,
        format!(r#"{{"data": [[{digits},9,8,7,6,5,4,3,2,1]]}}"#),
        "number out of range",
    )
    .await;
    // A 16 MB string where a number belongs, and as a key.
    let long = "x".repeat(16 << 20);
    assert_400(
        &server,
        format!(r#"{{"data": [["{long}",9,8,7,6,5,4,3,2,1]]}}"#),
        "data[0][0]",
    )
    .await;
    assert_400(
        &server,
        format!(r#"{{"{long}": 1}}"#),
        "no value given for 'data'",
    )
    .await;
    // A million one-element rows.
    let rows = vec!["[0]"; 1_000_000].join(",");
    assert_400(&server, format!(r#"{{"data": [{rows}]}}"#), "expects shape").await;
    // Duplicate keys are ambiguous: refuse rather than pick one.
    assert_400(
        &server,
        format!(r#"{{"data": [{ROW}], "data": [[1,2,3,4,5,6,7,8,9,0]]}}"#),
        "duplicate",
    )
    .await;
    // Odd encodings.
    assert_400(&server, &b"{\"data\": [[\xff\xfe]]}"[..], "UTF-8").await;
    assert_400(&server, "\u{feff}{\"data\": [[1]]}", "JSON").await;
    assert_400(&server, r#"{"data": [[NaN,9,8,7,6,5,4,3,2,1]]}"#, "JSON").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_query_strings_get_400() {
    let server = server().await;
    for (query, message) in [
        ("data=%5B%5B1e400%5D%5D", "number out of range"),
        ("data=[[1]]&data=[[2]]", "duplicate"),
        ("data=%ZZ", "data"),
        ("data=%", "data"),
        ("data=%F0%9F", "data"),
    ] {
        let reply = server.get(&format!("/score?{query}")).await;
        assert_eq!(
            reply.status,
            400,
            "{query}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert!(
            reply.message().contains(message),
            "{query}: {}",
            reply.message()
        );
    }
    still_serves(&server).await;
}

/// Writes `request` on a fresh connection and reads until the server closes
/// it or `wait` passes.
async fn raw(server: &TestServer, request: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // The server may answer and close before all of a huge request is written.
    let _ = stream.write_all(request).await;
    read_for(&mut stream, wait).await
}

async fn read_for(stream: &mut TcpStream, wait: Duration) -> String {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_of(answer: &str) -> Option<u16> {
    answer.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_abuse_is_refused_or_closed() {
    let server = server().await;
    let wait = Duration::from_secs(5);

    // A request line of 1 MB: refused (431) or closed, never served.
    let long_line = format!(
        "GET /score?data={} HTTP/1.1\r\nHost: t\r\n\r\n",
        "1".repeat(1 << 20)
    );
    let answer = raw(&server, long_line.as_bytes(), wait).await;
    assert!(
        answer.is_empty() || status_of(&answer).is_some_and(|s| (400..500).contains(&s)),
        "{}",
        &answer[..answer.len().min(200)]
    );
    // A header past the limits, and too many headers.
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let answer = raw(&server, big_header.as_bytes(), wait).await;
    assert!(
        answer.is_empty() || status_of(&answer) == Some(431),
        "{answer}"
    );
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let answer = raw(
        &server,
        format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n").as_bytes(),
        wait,
    )
    .await;
    assert_eq!(status_of(&answer), Some(431), "{answer}");
    // Garbage instead of HTTP.
    let answer = raw(
        &server,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
        wait,
    )
    .await;
    assert!(
        answer.is_empty() || status_of(&answer) == Some(400),
        "{answer}"
    );
    still_serves(&server).await;
}

/// The HTTP layer's own refusals (heads hyper cannot parse), a chunked
/// body that breaks its framing, and an HTTP/1.1 request without `Host`:
/// each answered as the handlers answer, with a JSON message and request
/// ids, and counted in `inferd_http_responses_total`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_has_a_json_message_and_is_counted() {
    let server = server().await;
    let wait = Duration::from_secs(5);
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"GARBAGE\r\n\r\n".to_vec(), 400, "not valid HTTP/1.1"),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n".to_vec(),
            400,
            "not valid HTTP/1.1",
        ),
        (
            format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(70_000)).into_bytes(),
            414,
            "URI is longer",
        ),
        (
            format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n").into_bytes(),
            431,
            "at most 100 headers",
        ),
        (
            post("", "Transfer-Encoding: chunked\r\n")
                .replace("Content-Length: 0\r\n", "")
                .into_bytes()
                .into_iter()
                .chain(b"zz\r\nabc\r\n0\r\n\r\n".iter().copied())
                .collect(),
            400,
            "Invalid chunk size line",
        ),
        (
            b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec(),
            400,
            "exactly one Host header",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n".to_vec(),
            400,
            "exactly one Host header",
        ),
    ];
    let mut want = std::collections::HashMap::<u16, f64>::new();
    for (request, status, message) in &cases {
        let answer = raw(&server, request, wait).await;
        let shown = &answer[..answer.len().min(300)];
        assert_eq!(status_of(&answer), Some(*status), "{shown}");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let head = head.to_ascii_lowercase();
        assert!(head.contains("content-type: application/json"), "{shown}");
        assert!(head.contains("x-request-id: "), "{shown}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        let said = body["message"].as_str().unwrap();
        assert!(said.contains(message), "{said}");
        *want.entry(*status).or_default() += 1.0;
    }
    // HTTP/1.0 names no host, and need not.
    let answer = raw(&server, b"GET / HTTP/1.0\r\n\r\n", wait).await;
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    let metrics = server.get("/metrics").await;
    let text = String::from_utf8_lossy(&metrics.body);
    for (status, count) in want {
        let code = status.to_string();
        let counted =
            common::scrape::value(&text, "inferd_http_responses_total", &[("code", &code)]);
        assert_eq!(counted, count, "{code}");
    }
    still_serves(&server).await;
}

fn post(body: &str, extra: &str) -> String {
    format!(
        "POST /score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelining_and_half_closed_connections() {
    let server = server().await;
    let body = format!(r#"{{"data": [{ROW}]}}"#);
    // Three requests in one write: three answers, in order.
    let pipelined = format!(
        "{}GET / HTTP/1.1\r\nHost: t\r\n\r\n{}",
        post(&body, ""),
        post(&body, "Connection: close\r\n")
    );
    let answer = raw(&server, pipelined.as_bytes(), Duration::from_secs(10)).await;
    let statuses: Vec<&str> = answer.matches("HTTP/1.1 200 OK").collect();
    assert_eq!(statuses.len(), 3, "{answer}");
    assert!(answer.find("Healthy").unwrap() > answer.find("HTTP/1.1 200").unwrap());

    // The client sends its request and closes its sending side: the answer
    // still arrives (or the connection closes), and nothing hangs.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(post(&body, "").as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
    let answer = read_for(&mut stream, Duration::from_secs(10)).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    // Half a request, then the sending side closed: 400 or closed.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let partial = post(&body, "");
    stream
        .write_all(&partial.as_bytes()[..partial.len() - 5])
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    let answer = read_for(&mut stream, Duration::from_secs(10)).await;
    assert!(
        answer.is_empty() || status_of(&answer) == Some(400),
        "{answer}"
    );
    still_serves(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_and_slow_bodies() {
    let server = server().await;
    let body = format!(r#"{{"data": [{ROW}]}}"#);
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = post("", "Expect: 100-continue\r\n").replace(
        "Content-Length: 0",
        &format!("Content-Length: {}", body.len()),
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut interim = vec![0u8; 25];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut interim))
        .await
        .expect("100 Continue arrives")
        .unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 15];
    stream.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200 OK");

    // A body slower than the read timeout (500 ms here): 408.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = post("", "").replace("Content-Length: 0", "Content-Length: 100");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"{\"data\": ").await.unwrap();
    let answer = read_for(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(status_of(&answer), Some(408), "{answer}");
    still_serves(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_bodies_with_lying_sizes() {
    let server = server().await;
    let head = "POST /score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let body = format!(r#"{{"data": [{ROW}]}}"#);
    let honest = format!("{head}{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    assert_eq!(
        status_of(&raw(&server, honest.as_bytes(), Duration::from_secs(5)).await),
        Some(200)
    );
    let cases = [
        // Declares more than it sends, then ends: the body never completes.
        format!("{head}100\r\n{body}\r\n0\r\n\r\n"),
        // Declares less than it sends.
        format!("{head}5\r\n{body}\r\n0\r\n\r\n"),
        // Not hex, negative, absurdly large.
        format!("{head}zz\r\n{body}\r\n0\r\n\r\n"),
        format!("{head}-5\r\n{body}\r\n0\r\n\r\n"),
        format!("{head}ffffffffffffffffff\r\n{body}\r\n0\r\n\r\n"),
    ];
    for case in &cases {
        let answer = raw(&server, case.as_bytes(), Duration::from_secs(5)).await;
        let status = status_of(&answer);
        assert!(
            answer.is_empty() || status.is_some_and(|s| (400..500).contains(&s)),
            "{case:?}: {answer}"
        );
    }
    // A chunk that declares more than the body limit: 413 before reading it.
    let small = server_with_body_limit(1024).await;
    let huge = format!("{head}100000\r\n{}", "1".repeat(4096));
    let answer = raw(&small, huge.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(status_of(&answer), Some(413), "{answer}");
    still_serves(&server).await;
    still_serves(&small).await;
}

/// The answer's body: what follows the head.
fn body_of(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_arrive_in_pieces_score_as_whole_ones() {
    let server = server().await;
    let body = format!(r#"{{"data": [{ROW}, [1,2,3,4,5,6,7,8,9,10]]}}"#);
    let whole = server.post_json("/score", body.clone()).await;
    assert_eq!(whole.status, 200);
    let expected = String::from_utf8(whole.body.to_vec()).unwrap();
    let (first, rest) = body.split_at(7);
    let (second, third) = rest.split_at(20);

    // With a length, written in three pieces with pauses between them.
    let head = post("", "").replace(
        "Content-Length: 0",
        &format!("Content-Length: {}", body.len()),
    );
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    for piece in [first, second, third] {
        tokio::time::sleep(Duration::from_millis(30)).await;
        stream.write_all(piece.as_bytes()).await.unwrap();
    }
    let answer = read_answer(&mut stream).await;
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    assert_eq!(body_of(&answer), expected);

    // Chunked, one chunk per piece.
    let head = "POST /score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    for piece in [first, second, third] {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let chunk = format!("{:x}\r\n{piece}\r\n", piece.len());
        stream.write_all(chunk.as_bytes()).await.unwrap();
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    let answer = read_answer(&mut stream).await;
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    assert_eq!(body_of(&answer), expected);

    // Chunks each under the limit whose total is over it: 413.
    let small = server_with_body_limit(40).await;
    let mut stream = TcpStream::connect(small.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    for piece in [first, second, third] {
        let chunk = format!("{:x}\r\n{piece}\r\n", piece.len());
        let _ = stream.write_all(chunk.as_bytes()).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let answer = read_for(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(status_of(&answer), Some(413), "{answer}");
    still_serves(&server).await;
}

/// Reads one HTTP/1.1 answer with a `Content-Length` body off a kept-alive
/// connection.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("answered in time")
            .unwrap();
        assert!(n > 0, "closed before a whole answer: {answer:?}");
        answer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length: usize = text[..head_end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if answer.len() >= head_end + 4 + length {
                return text.into_owned();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_and_unfinished_heads_are_closed() {
    // Long enough that a loaded machine's stalls between the keep-alive
    // client's requests stay well under it.
    let limit = Duration::from_millis(600);
    let options = ServerOptions {
        idle_timeout: limit,
        ..ServerOptions::default()
    };
    let server = common::start_with(&["diabetes-ridge"], options, ExecutorOptions::default()).await;
    let started = std::time::Instant::now();
    // Half a head, then nothing: closed after one or two limits, unanswered.
    let mut unfinished = TcpStream::connect(server.addr).await.unwrap();
    unfinished
        .write_all(b"POST /score HTTP/1.1\r\nHost: t\r\nContent-Ty")
        .await
        .unwrap();
    // A keep-alive client that sends a request every sixth of the limit,
    // for four limits: never idle for a whole one, so never closed.
    let body = format!(r#"{{"data": [{ROW}]}}"#);
    let mut busy = TcpStream::connect(server.addr).await.unwrap();
    while started.elapsed() < limit * 4 {
        busy.write_all(post(&body, "").as_bytes()).await.unwrap();
        let answer = read_answer(&mut busy).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        tokio::time::sleep(limit / 6).await;
    }
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), unfinished.read_to_end(&mut rest))
        .await
        .expect("the unfinished head's connection is closed");
    assert!(closed.is_err() || rest.is_empty(), "{rest:?}");
    // Then left alone, the kept-alive one is closed too.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), busy.read_to_end(&mut rest))
        .await
        .expect("the idle connection is closed");
    assert!(closed.is_err() || rest.is_empty(), "{rest:?}");
    still_serves(&server).await;
    server.stop().await;
}
