//! The body memory budget on the real server (issue 37): a request whose
//! body would pass it is refused at once, 503 with `Retry-After`, before
//! its body is read (the client here sends only the head); a body that
//! grows past it chunk by chunk is refused mid-stream; decoded tensors
//! count too; a body larger than the whole budget is a 413; and the bytes
//! in flight come back to 0 after every kind of ending.

mod common;

use std::time::{Duration, Instant};

use inferd_engine::ExecutorOptions;
use inferd_server::ServerOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::TestServer;

const MIB: u64 = 1 << 20;
const ROW: &str = "[10,9,8,7,6,5,4,3,2,1]";

/// diabetes-ridge behind a budget of `budget` bytes.
async fn server(budget: u64) -> TestServer {
    let options = ServerOptions {
        max_body_memory: budget,
        ..ServerOptions::default()
    };
    common::start_with(&["diabetes-ridge"], options, ExecutorOptions::default()).await
}

/// A scoring body of `rows` rows, padded with spaces to exactly `len`
/// bytes when `len` is given (JSON allows the whitespace).
fn body(rows: usize, len: Option<usize>) -> String {
    let mut text = format!(r#"{{"data": [{}]}}"#, vec![ROW; rows].join(","));
    if let Some(len) = len {
        assert!(text.len() <= len);
        text.insert_str(1, &" ".repeat(len - text.len()));
    }
    text
}

fn head(length: &str) -> String {
    format!(
        "POST /score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{length}\r\nConnection: close\r\n\r\n"
    )
}

/// A connection that has sent a head declaring `length` bytes and the
/// first `sent` bytes of `body`, and waits.
async fn partly_sent(server: &TestServer, body: &str, sent: usize) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = head(&format!("Content-Length: {}", body.len()));
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..sent]).await.unwrap();
    stream
}

/// Everything the server answers until it closes, within `limit`.
async fn answer_within(stream: &mut TcpStream, limit: Duration) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(read.is_ok(), "no whole answer within {limit:?}: {answer:?}");
    answer
}

fn status(answer: &str) -> u16 {
    answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = &answer[..answer.find("\r\n\r\n")?];
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn message(answer: &str) -> String {
    let body = &answer[answer.find("\r\n\r\n").expect("a head") + 4..];
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
    json["message"].as_str().unwrap().to_owned()
}

async fn metric(server: &TestServer, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = String::from_utf8(server.get("/metrics").await.body.to_vec()).unwrap();
    common::scrape::value(&text, name, labels)
}

async fn in_flight_reads(server: &TestServer, bytes: u64) {
    common::wait::metric(server, "inferd_body_bytes_in_flight", &[], bytes as f64).await;
}

/// A head whose declared body does not fit beside what others hold is
/// answered 503 with `Retry-After` at once: the client has sent no byte of
/// its body, so an answer at all shows the server did not wait to read it.
/// One that could never fit gets 413. Meanwhile the body being read fits,
/// scores, and gives its bytes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_past_the_budget_is_refused_before_it_is_read() {
    let server = server(MIB).await;
    assert_eq!(
        metric(&server, "inferd_body_bytes_budget", &[]).await,
        MIB as f64
    );
    let held = body(10, Some(700_000));
    let mut first = partly_sent(&server, &held, 1000).await;
    in_flight_reads(&server, 700_000).await;

    let mut refused = TcpStream::connect(server.addr).await.unwrap();
    let asked = Instant::now();
    refused
        .write_all(head("Content-Length: 400000").as_bytes())
        .await
        .unwrap();
    let answer = answer_within(&mut refused, Duration::from_secs(10)).await;
    let waited = asked.elapsed();
    assert_eq!(status(&answer), 503, "{answer}");
    assert_eq!(header(&answer, "retry-after"), Some("1"), "{answer}");
    let text = message(&answer);
    assert!(
        text.contains("body memory budget is full") && text.contains("maxBodyMemoryMB"),
        "{text}"
    );
    assert!(text.contains("needs 400000 more"), "{text}");
    // The body read timeout is 30 s: an answer well within it was not
    // waiting for a body.
    assert!(waited < Duration::from_secs(5), "answered after {waited:?}");

    // Larger than the whole budget: never fits, so no invitation to retry.
    let mut too_large = TcpStream::connect(server.addr).await.unwrap();
    too_large
        .write_all(head(&format!("Content-Length: {}", 2 * MIB)).as_bytes())
        .await
        .unwrap();
    let answer = answer_within(&mut too_large, Duration::from_secs(10)).await;
    assert_eq!(status(&answer), 413, "{answer}");
    assert_eq!(header(&answer, "retry-after"), None, "{answer}");
    assert!(
        message(&answer)
            .contains("more than the server's whole body memory budget of 1048576 bytes"),
        "{answer}"
    );

    // A small body (under 64 KiB) fits, but not with its tensors at their
    // most (eight bytes a byte), reserved up front: the same 503.
    let small = server.post_json("/score", body(10, Some(50_000))).await;
    assert_eq!(small.status, 503, "{}", small.message());
    assert!(
        small.message().contains("needs 400000 more"),
        "{}",
        small.message()
    );

    // The held body ends, scores, and its bytes come back.
    first.write_all(&held.as_bytes()[1000..]).await.unwrap();
    let answer = answer_within(&mut first, Duration::from_secs(30)).await;
    assert_eq!(status(&answer), 200, "{answer}");
    in_flight_reads(&server, 0).await;
    assert_eq!(
        metric(
            &server,
            "inferd_requests_total",
            &[("model", "diabetes-ridge"), ("outcome", "body_budget_full")]
        )
        .await,
        2.0
    );
    // With the budget free again, the same request fits.
    let reply = server.post_json("/score", body(1, Some(400_000))).await;
    assert_eq!(reply.status, 200);
    server.stop().await;
}

/// A chunked body (no length) is reserved as it grows: past what is left
/// it is refused mid-stream (503), past the whole budget for good (413);
/// either way before its last chunk was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_is_refused_as_it_grows_past_the_budget() {
    let server = server(MIB).await;
    // 20 chunks of 64 KiB: 1.25 MiB, more than the whole budget.
    let answer = chunked(&server, 20).await;
    assert_eq!(status(&answer), 413, "{answer}");
    assert!(
        message(&answer).contains("whole body memory budget"),
        "{answer}"
    );
    in_flight_reads(&server, 0).await;

    // With 700 kB held by a body being read, 8 chunks (512 KiB) do not fit.
    let held = body(10, Some(700_000));
    let mut first = partly_sent(&server, &held, 1000).await;
    in_flight_reads(&server, 700_000).await;
    let answer = chunked(&server, 8).await;
    assert_eq!(status(&answer), 503, "{answer}");
    assert_eq!(header(&answer, "retry-after"), Some("1"), "{answer}");
    assert!(
        message(&answer).contains("body memory budget is full"),
        "{answer}"
    );
    let _ = first.shutdown().await;
    drop(first);
    in_flight_reads(&server, 0).await;
    server.stop().await;
}

/// A chunked body of `chunks` chunks of 64 KiB, never ended: any answer
/// is one made while the body was being read.
async fn chunked(server: &TestServer, chunks: usize) -> String {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(head("Transfer-Encoding: chunked").as_bytes())
        .await
        .unwrap();
    let piece = " ".repeat(64 * 1024);
    for _ in 0..chunks {
        let chunk = format!("{:x}\r\n{piece}\r\n", piece.len());
        // The server may answer and close before the last chunks.
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    answer_within(&mut stream, Duration::from_secs(10)).await
}

/// The decoded tensors are reserved too, on the model's worker (for a body
/// of 64 KiB and more; a smaller one's at their most, up front): a body
/// that fits alone with its tensors is scored; beside another body being
/// read, its tensors do not fit and it gets the same 503, from the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoded_tensors_count_against_the_budget() {
    let server = server(MIB).await;
    // 13,000 rows of ten float32s: 299 kB of JSON, 520 kB of tensors.
    let rows = 13_000;
    let scored = body(rows, None);
    assert_eq!(scored.len(), 299_011);
    let reply = server.post_json("/score", scored.clone()).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    in_flight_reads(&server, 0).await;

    // 300 kB held: body and tensors (over 819 kB) no longer fit beside
    // it (budget 1,048,576), the body alone does.
    let held = body(10, Some(300_000));
    let mut first = partly_sent(&server, &held, 1000).await;
    in_flight_reads(&server, 300_000).await;
    let reply = server.post_json("/score", scored).await;
    assert_eq!(
        reply.status,
        503,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.header("retry-after"), Some("1"));
    // The tensors' buffer: at least their 520,000 bytes (its capacity,
    // grown by doubling, may be more).
    let text = reply.message();
    let needs: usize = text
        .split("needs ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(text.contains("body memory budget is full"), "{text}");
    assert!(
        (rows * 10 * 4..2 * rows * 10 * 4).contains(&needs),
        "{text}"
    );
    let _ = first.shutdown().await;
    drop(first);
    in_flight_reads(&server, 0).await;
    server.stop().await;
}

/// Every way a request can end gives its bytes back: scored, a bad body, a
/// bad content type, too large, refused, and a client that leaves
/// mid-body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bytes_in_flight_come_back_to_zero_after_every_ending() {
    let server = server(MIB).await;
    let ok = server.post_json("/score", body(3, None)).await;
    assert_eq!(ok.status, 200);
    let bad = server.post_json("/score", r#"{"data": [[1,2]]}"#).await;
    assert_eq!(bad.status, 400);
    let bad_json = server.post_json("/score", "{\"data\": [[").await;
    assert_eq!(bad_json.status, 400);
    let wrong_type = server
        .send(
            hyper::Method::POST,
            "/score",
            &[("content-type", "text/plain")],
            "x",
        )
        .await;
    assert_eq!(wrong_type.status, 415);
    // A body (460 kB) that fits, with tensors (800 kB and more) that
    // together with it never fit: 413 from the worker.
    let too_large = server.post_json("/score", body(20_000, None)).await;
    assert_eq!(too_large.status, 413, "{}", too_large.message());
    assert!(
        too_large.message().contains("whole body memory budget"),
        "{}",
        too_large.message()
    );
    let get = server.get(&format!("/score?data=[{ROW}]")).await;
    assert_eq!(get.status, 200);
    // A client that sends half its body and leaves.
    let half = body(10, Some(500_000));
    let mut leaving = partly_sent(&server, &half, 250_000).await;
    in_flight_reads(&server, 500_000).await;
    leaving.shutdown().await.unwrap();
    drop(leaving);
    in_flight_reads(&server, 0).await;
    server.stop().await;
}
