//! Admission under load, on the real server over real HTTP: the concurrency
//! limit, the bounded queue and wait (503 with Retry-After), the scoring
//! timeout (504), abandoned requests, health during long calls, the drain.
//! Timing uses a test model that sleeps a known time (`common/sleeper.rs`).

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::sleeper::sleeper_set;
use common::{TestServer, start_state};
use inferd_engine::AdmissionOptions;
use inferd_server::{AppState, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn sleep_body(ms: u32) -> String {
    format!("{{\"data\": [{ms}]}}")
}

async fn sleeper_server(
    max_concurrent: usize,
    max_queue_wait_ms: u64,
    max_queue_length: usize,
    scoring_timeout_ms: u64,
) -> (TestServer, Arc<common::sleeper::Counters>) {
    let admission = AdmissionOptions {
        max_concurrent,
        max_queue_wait: Duration::from_millis(max_queue_wait_ms),
        max_queue_length,
    };
    let (models, counters) = sleeper_set(
        max_concurrent,
        Duration::from_millis(scoring_timeout_ms),
        admission,
    );
    let server = start_state(AppState::with_models(ServerOptions::default(), models)).await;
    (server, counters)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrency_never_exceeds_the_limit_under_100_clients() {
    let (server, counters) = sleeper_server(3, 30_000, 1024, 60_000).await;
    let server = Arc::new(server);
    let clients: Vec<_> = (0..100)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move { server.post_json("/score", sleep_body(10)).await.status })
        })
        .collect();
    for client in clients {
        assert_eq!(client.await.unwrap(), 200);
    }
    assert_eq!(counters.runs.load(Ordering::SeqCst), 100);
    assert_eq!(
        counters.most_at_once.load(Ordering::SeqCst),
        3,
        "never more, and the limit is used"
    );
    Arc::into_inner(server).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_that_cannot_start_in_time_gets_503_at_the_deadline() {
    let (server, counters) = sleeper_server(1, 200, 1024, 60_000).await;
    let server = Arc::new(server);
    let busy = {
        let server = server.clone();
        tokio::spawn(async move { server.post_json("/score", sleep_body(1500)).await.status })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let refused = server.post_json("/score", sleep_body(1)).await;
    let waited = started.elapsed();
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(
        refused.message(),
        "no scoring slot became free within 200 ms (maxQueueWaitMs); retry later"
    );
    assert!(
        waited >= Duration::from_millis(200),
        "not before the deadline: {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(600),
        "at the deadline, not later: {waited:?}"
    );
    assert_eq!(busy.await.unwrap(), 200);
    assert_eq!(
        counters.runs.load(Ordering::SeqCst),
        1,
        "the refused request never ran"
    );
    Arc::into_inner(server).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_queue_answers_503_at_once() {
    let (server, _) = sleeper_server(1, 5_000, 1, 60_000).await;
    let server = Arc::new(server);
    let spawn = |ms| {
        let server = server.clone();
        tokio::spawn(async move { server.post_json("/score", sleep_body(ms)).await.status })
    };
    let running = spawn(800);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let queued = spawn(1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let refused = server.post_json("/score", sleep_body(1)).await;
    assert_eq!(refused.status, 503);
    assert_eq!(
        refused.message(),
        "the queue is full (1 requests already waiting); retry later"
    );
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "at once: {:?}",
        started.elapsed()
    );
    assert_eq!((running.await.unwrap(), queued.await.unwrap()), (200, 200));
    Arc::into_inner(server).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queued_request_whose_client_left_never_runs() {
    let (server, counters) = sleeper_server(1, 5_000, 1024, 60_000).await;
    let server = Arc::new(server);
    let busy = {
        let server = server.clone();
        tokio::spawn(async move { server.post_json("/score", sleep_body(600)).await.status })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A client queues a request, then hangs up before its turn.
    let body = sleep_body(1);
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "POST /score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(stream);
    assert_eq!(busy.await.unwrap(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        counters.runs.load(Ordering::SeqCst),
        1,
        "only the first request ran"
    );
    // The slot is free again and the server goes on.
    assert_eq!(server.post_json("/score", sleep_body(1)).await.status, 200);
    Arc::into_inner(server).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scoring_call_past_the_timeout_gets_504_and_keeps_its_slot_until_it_ends() {
    let (server, counters) = sleeper_server(1, 100, 1024, 300).await;
    let started = Instant::now();
    let timed_out = server.post_json("/score", sleep_body(1200)).await;
    let elapsed = started.elapsed();
    assert_eq!(timed_out.status, 504);
    assert_eq!(timed_out.message(), "Scoring timeout after 300 ms");
    assert_eq!(timed_out.header("x-ms-run-function-failed"), Some("True"));
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(800),
        "{elapsed:?}"
    );

    // The computation still runs on its core: the slot is busy, so the next
    // request waits its 100 ms and is refused.
    let refused = server.post_json("/score", sleep_body(1)).await;
    assert_eq!(refused.status, 503);
    assert_eq!(counters.running.load(Ordering::SeqCst), 1);
    // Health answers at once meanwhile.
    let probe = Instant::now();
    assert_eq!(server.get("/").await.status, 200);
    assert_eq!(server.get("/ready").await.status, 200);
    assert!(
        probe.elapsed() < Duration::from_millis(200),
        "{:?}",
        probe.elapsed()
    );

    // Once it really ends, the slot is free.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(server.post_json("/score", sleep_body(1)).await.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_answers_at_once_during_a_long_scoring_call() {
    let (server, _) = sleeper_server(1, 5_000, 1024, 60_000).await;
    let server = Arc::new(server);
    let long = {
        let server = server.clone();
        tokio::spawn(async move { server.post_json("/score", sleep_body(1000)).await.status })
    };
    let queued = {
        let server = server.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            server.post_json("/score", sleep_body(1)).await.status
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    for path in ["/", "/ready", "/", "/ready"] {
        let started = Instant::now();
        assert_eq!(server.get(path).await.status, 200);
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "{path}: {:?}",
            started.elapsed()
        );
    }
    assert_eq!((long.await.unwrap(), queued.await.unwrap()), (200, 200));
    Arc::into_inner(server).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_drain_finishes_in_flight_work_with_no_failures() {
    let (mut server, counters) = sleeper_server(2, 5_000, 1024, 60_000).await;
    let addr = server.addr;
    let client = server.client.clone();
    let in_flight: Vec<_> = (0..6)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let body = sleep_body(300);
                let request = hyper::Request::post(format!("http://{addr}/score"))
                    .header("content-type", "application/json")
                    .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                    .unwrap();
                client.request(request).await.unwrap().status().as_u16()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let drain = server.begin_shutdown(Duration::from_millis(400));
    tokio::time::sleep(Duration::from_millis(50)).await;
    // During the grace period: not ready, but still serving.
    let ready = server.get("/ready").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.message(), "the server is shutting down");
    assert_eq!(server.post_json("/score", sleep_body(1)).await.status, 200);
    for request in in_flight {
        assert_eq!(request.await.unwrap(), 200);
    }
    assert!(drain.await.unwrap(), "drained in time");
    assert_eq!(counters.runs.load(Ordering::SeqCst), 7);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed after the drain"
    );
}

/// A server for one sleeping model (one slot), with `options`.
async fn sleeper_server_with(options: ServerOptions) -> TestServer {
    let admission = AdmissionOptions {
        max_concurrent: 1,
        max_queue_wait: Duration::from_millis(5_000),
        max_queue_length: 1024,
    };
    let (models, _) = sleeper_set(1, Duration::from_secs(60), admission);
    start_state(AppState::with_models(options, models)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scored_responses_carry_server_timing() {
    let server = sleeper_server_with(ServerOptions {
        server_timing: true,
        ..ServerOptions::default()
    })
    .await;
    let reply = server.post_json("/score", sleep_body(20)).await;
    assert_eq!(reply.status, 200);
    let timing = reply.header("server-timing").unwrap().to_owned();
    let parts: Vec<(&str, f64)> = timing
        .split(", ")
        .map(|part| {
            let (name, dur) = part.split_once(";dur=").unwrap();
            (name, dur.parse().unwrap())
        })
        .collect();
    let names: Vec<_> = parts.iter().map(|p| p.0).collect();
    assert_eq!(names, ["queue", "score", "total"], "{timing}");
    let (queue, score, total) = (parts[0].1, parts[1].1, parts[2].1);
    assert!(score >= 20.0 && total >= score + queue, "{timing}");
    let exec: f64 = reply
        .header("x-ms-run-fn-exec-ms")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(exec, score, "x-ms-run-fn-exec-ms is the score time");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scored_responses_have_no_server_timing_by_default() {
    let server = sleeper_server_with(ServerOptions::default()).await;
    let reply = server.post_json("/score", sleep_body(20)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("server-timing"), None);
    // The contract's headers do not depend on the option.
    let exec: f64 = reply
        .header("x-ms-run-fn-exec-ms")
        .unwrap()
        .parse()
        .unwrap();
    assert!(exec >= 20.0, "the sleep is in the score time: {exec}");
    assert_eq!(reply.header("x-ms-run-function-failed"), Some("False"));
    assert!(reply.header("x-ms-request-id").is_some());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_slower_than_the_read_timeout_gets_408() {
    let (models, _) = sleeper_set(1, Duration::from_secs(60), AdmissionOptions::default());
    let options = ServerOptions {
        body_read_timeout: Duration::from_millis(200),
        ..ServerOptions::default()
    };
    let server = start_state(AppState::with_models(options, models)).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST /score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"data\"")
        .await
        .unwrap();
    let mut answer = vec![0u8; 2048];
    let started = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.contains("the request body did not arrive within 200 ms"),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    server.stop().await;
}
