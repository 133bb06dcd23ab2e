//! Admission under load, on the real server over real HTTP: the concurrency
//! limit, the bounded queue and wait (503 with Retry-After), the scoring
//! timeout (504), abandoned requests, health during long calls, the drain.
//! Timing uses a test model that sleeps a known time (`common/sleeper.rs`).

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::sleeper::{Counters, sleeper_set};
use common::{TestServer, start_state, wait};
use inferd_engine::{Admission, AdmissionOptions};
use inferd_server::{AppState, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn sleep_body(ms: u32) -> String {
    format!("{{\"data\": [{ms}]}}")
}

/// The server for one sleeping model, its runs' counters, and the
/// admission gate in front of it (to wait for a request to be running or
/// queued rather than sleep and hope).
async fn sleeper_server(
    max_concurrent: usize,
    max_queue_wait_ms: u64,
    max_queue_length: usize,
    scoring_timeout_ms: u64,
) -> (TestServer, Arc<Counters>, Arc<Admission>) {
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
    let admission = models.default_model().admission.clone();
    let server = start_state(AppState::with_models(ServerOptions::default(), models)).await;
    (server, counters, admission)
}

/// Waits until `n` runs of the sleeper are under way at once.
async fn running(counters: &Counters, n: usize) {
    wait::until(&format!("{n} sleeper runs under way"), || {
        counters.running.load(Ordering::SeqCst) == n
    })
    .await;
}

/// Waits until `n` requests hold a place in the queue.
async fn queued(admission: &Admission, n: usize) {
    wait::until(&format!("{n} requests queued"), || admission.waiting() == n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrency_never_exceeds_the_limit_under_100_clients() {
    let (server, counters, _) = sleeper_server(3, 30_000, 1024, 60_000).await;
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
    let (server, counters, _) = sleeper_server(1, 200, 1024, 60_000).await;
    let server = Arc::new(server);
    let busy = {
        let server = server.clone();
        tokio::spawn(async move { server.post_json("/score", sleep_body(1500)).await.status })
    };
    // The slot is taken before the next request comes.
    running(&counters, 1).await;
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
    // Waiting for the slot would take until the busy run's end (1500 ms).
    assert!(
        waited < Duration::from_millis(1000),
        "at the deadline, not when the slot frees: {waited:?}"
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
    let (server, counters, admission) = sleeper_server(1, 5_000, 1, 60_000).await;
    let server = Arc::new(server);
    let spawn = |ms| {
        let server = server.clone();
        tokio::spawn(async move { server.post_json("/score", sleep_body(ms)).await.status })
    };
    let long = spawn(3000);
    running(&counters, 1).await;
    let waiting = spawn(1);
    queued(&admission, 1).await;
    let started = Instant::now();
    let refused = server.post_json("/score", sleep_body(1)).await;
    assert_eq!(refused.status, 503);
    assert_eq!(
        refused.message(),
        "the queue is full (1 requests already waiting); retry later"
    );
    // Waiting in the queue instead would take until the 3000 ms run ends.
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "at once: {:?}",
        started.elapsed()
    );
    assert_eq!(
        (counters.running.load(Ordering::SeqCst), admission.waiting()),
        (1, 1),
        "refused while one ran and one waited"
    );
    assert_eq!((long.await.unwrap(), waiting.await.unwrap()), (200, 200));
    Arc::into_inner(server).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queued_request_whose_client_left_never_runs() {
    let (server, counters, admission) = sleeper_server(1, 5_000, 1024, 60_000).await;
    let server = Arc::new(server);
    let busy = {
        let server = server.clone();
        tokio::spawn(async move { server.post_json("/score", sleep_body(1500)).await.status })
    };
    running(&counters, 1).await;
    // A client queues a request, then hangs up before its turn.
    let body = sleep_body(1);
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "POST /score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    queued(&admission, 1).await;
    drop(stream);
    // The server has seen the client leave: only the busy request is left
    // in flight, while it still runs.
    let labels = [("model", "sleeper"), ("version", "1")];
    wait::metric(&server, "inferd_requests_in_flight", &labels, 1.0).await;
    assert_eq!(
        counters.running.load(Ordering::SeqCst),
        1,
        "the client left before its turn"
    );
    assert_eq!(busy.await.unwrap(), 200);
    // The worker took the abandoned job off the queue after the busy run.
    queued(&admission, 0).await;
    assert_eq!(
        counters.runs.load(Ordering::SeqCst),
        1,
        "only the first request ran"
    );
    // The slot is free again and the server goes on. The one worker takes
    // jobs in order, so by this answer the abandoned one is long settled.
    assert_eq!(server.post_json("/score", sleep_body(1)).await.status, 200);
    assert_eq!(
        counters.runs.load(Ordering::SeqCst),
        2,
        "the abandoned request never ran"
    );
    Arc::into_inner(server).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scoring_call_past_the_timeout_gets_504_and_keeps_its_slot_until_it_ends() {
    let (server, counters, admission) = sleeper_server(1, 100, 1024, 300).await;
    let started = Instant::now();
    let timed_out = server.post_json("/score", sleep_body(2500)).await;
    let elapsed = started.elapsed();
    assert_eq!(timed_out.status, 504);
    assert_eq!(timed_out.message(), "Scoring timeout after 300 ms");
    assert_eq!(timed_out.header("x-ms-run-function-failed"), Some("True"));
    // Not before the timeout, and not when the 2500 ms run ends.
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(1500),
        "{elapsed:?}"
    );

    // The computation still runs on its core: the slot is busy, so the next
    // request waits its 100 ms and is refused.
    let refused = server.post_json("/score", sleep_body(1)).await;
    assert_eq!(refused.status, 503);
    assert_eq!(counters.running.load(Ordering::SeqCst), 1);
    // Health answers at once meanwhile: while the run still goes on.
    let probe = Instant::now();
    assert_eq!(server.get("/").await.status, 200);
    assert_eq!(server.get("/ready").await.status, 200);
    assert!(
        probe.elapsed() < Duration::from_millis(1000),
        "{:?}",
        probe.elapsed()
    );
    assert_eq!(
        counters.running.load(Ordering::SeqCst),
        1,
        "health did not wait for the run"
    );

    // Once it really ends, the slot is free.
    wait::until("the timed-out run to free its slot", || {
        admission.busy() == 0
    })
    .await;
    assert_eq!(
        counters.runs.load(Ordering::SeqCst),
        1,
        "the refused request never ran"
    );
    assert_eq!(server.post_json("/score", sleep_body(1)).await.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_answers_at_once_during_a_long_scoring_call() {
    let (server, counters, admission) = sleeper_server(1, 5_000, 1024, 60_000).await;
    let server = Arc::new(server);
    let long = {
        let server = server.clone();
        tokio::spawn(async move { server.post_json("/score", sleep_body(2000)).await.status })
    };
    running(&counters, 1).await;
    let waiting = {
        let server = server.clone();
        tokio::spawn(async move { server.post_json("/score", sleep_body(1)).await.status })
    };
    queued(&admission, 1).await;
    for path in ["/", "/ready", "/", "/ready"] {
        let started = Instant::now();
        assert_eq!(server.get(path).await.status, 200);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{path}: {:?}",
            started.elapsed()
        );
    }
    // All of them answered during the long call, with one request queued.
    assert_eq!(
        (counters.running.load(Ordering::SeqCst), admission.waiting()),
        (1, 1),
        "health did not wait for the scoring slot"
    );
    assert_eq!((long.await.unwrap(), waiting.await.unwrap()), (200, 200));
    Arc::into_inner(server).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_drain_finishes_in_flight_work_with_no_failures() {
    let (mut server, counters, admission) = sleeper_server(2, 5_000, 1024, 60_000).await;
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
    // All six are in the server (each queued, or started) before it stops.
    wait::until("all six requests in the server", || {
        counters.runs.load(Ordering::SeqCst) + admission.waiting() >= 6
    })
    .await;
    let drain = server.begin_shutdown(Duration::from_millis(1000));
    // During the grace period: not ready, but still serving.
    let started = Instant::now();
    let ready = loop {
        let ready = server.get("/ready").await;
        if ready.status != 200 {
            break ready;
        }
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "/ready still 200 after the grace period began"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
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
