//! Metrics and data collection on the real server over real HTTP: after a
//! known sequence of requests (successes and every error the server can
//! be driven to), the scraped counters and histogram counts equal what was
//! sent; collected records equal the scored requests, a slow writer drops
//! and counts instead of blocking, and the drain leaves nothing unwritten.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::scrape::value;
use common::sleeper::sleeper_set;
use common::{TestServer, start_state, wait};
use hyper::Method;
use inferd_collect::{CollectOptions, Collector};
use inferd_engine::{AdmissionOptions, ExecutorOptions};
use inferd_server::{AppState, ServerOptions};

const RIDGE_ROW: &str = r#"{"data": [[10,9,8,7,6,5,4,3,2,1]]}"#;

fn sleep_body(ms: u32) -> String {
    format!("{{\"data\": [{ms}]}}")
}

async fn scrape(server: &TestServer) -> String {
    let reply = server.get("/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    String::from_utf8(reply.body.to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scraped_counters_and_histograms_equal_what_was_sent() {
    // One slot, 1 s of queueing, one waiting place, 300 ms to score.
    let admission = AdmissionOptions {
        max_concurrent: 1,
        max_queue_wait: Duration::from_millis(1000),
        max_queue_length: 1,
    };
    let (models, counters) = sleeper_set(1, Duration::from_millis(300), admission);
    let options = ServerOptions {
        max_body_bytes: 1024,
        ..ServerOptions::default()
    };
    let state = AppState::with_models(options, models);
    let server = Arc::new(start_state(state.clone()).await);
    let sleeper = state.models().unwrap().default_model().clone();
    let gate = sleeper.admission.clone();
    let post = |body: String| {
        let server = server.clone();
        async move { server.post_json("/score", body).await.status }
    };

    for _ in 0..3 {
        assert_eq!(post(sleep_body(1)).await, 200);
    }
    assert_eq!(post("{".into()).await, 400, "not JSON");
    assert_eq!(post(r#"{"data": [1, 2]}"#.into()).await, 400, "wrong shape");
    let typed = server
        .send(
            Method::POST,
            "/score",
            &[("content-type", "text/plain")],
            sleep_body(1),
        )
        .await;
    assert_eq!(typed.status, 415);
    let big = format!("{{\"data\": [1], \"pad\": \"{}\"}}", "x".repeat(2000));
    assert_eq!(post(big).await, 413);
    assert_eq!(
        server
            .post_json("/models/nope/score", sleep_body(1))
            .await
            .status,
        404
    );
    // The auth layer's entry point: one refused request for this model.
    let live = state.live();
    let live = live.as_ref().unwrap().default_model();
    state.telemetry.count_unauthorized(Some(live));

    // A 2500 ms run: its caller gets 504 at 300 ms, its slot stays busy to
    // 2500, past the next request's 1 s in the queue. Each step waits for
    // the one before (checked in process, so no scrape is added to the
    // counts below).
    let long = tokio::spawn(post(sleep_body(2500)));
    wait::until("the long run to start", || {
        counters.running.load(Ordering::SeqCst) == 1
    })
    .await;
    let waiting = tokio::spawn(post(sleep_body(1)));
    wait::until("a request in the queue", || gate.waiting() == 1).await;
    assert_eq!(
        post(sleep_body(1)).await,
        503,
        "the one waiting place is taken"
    );
    let during = scrape(&server).await;
    assert_eq!(value(&during, "inferd_queue_depth", &[]), 1.0);
    assert_eq!(value(&during, "inferd_concurrency_slots_busy", &[]), 1.0);
    let labels = [("model", "sleeper"), ("version", "1")];
    assert_eq!(value(&during, "inferd_requests_in_flight", &labels), 2.0);
    assert_eq!(waiting.await.unwrap(), 503, "no slot within 1 s");
    assert_eq!(long.await.unwrap(), 504);
    let after_timeout = scrape(&server).await;
    assert_eq!(
        value(&after_timeout, "inferd_concurrency_slots_busy", &[]),
        1.0,
        "the timed-out run still holds its slot"
    );
    wait::until("the timed-out run to free its slot", || gate.busy() == 0).await;

    let text = scrape(&server).await;
    let count = |outcome: &str| {
        value(
            &text,
            "inferd_requests_total",
            &[("model", "sleeper"), ("version", "1"), ("outcome", outcome)],
        )
    };
    assert_eq!(count("success"), 3.0);
    assert_eq!(count("bad_request"), 4.0, "400, 400, 415, 413");
    assert_eq!(count("unauthorized"), 1.0);
    assert_eq!(count("queue_full"), 1.0);
    assert_eq!(count("queue_timeout"), 1.0);
    assert_eq!(count("scoring_timeout"), 1.0);
    assert_eq!(count("error"), 0.0);
    assert_eq!(value(&text, "inferd_rows_scored_total", &labels), 3.0);
    assert_eq!(
        value(&text, "inferd_request_duration_seconds_count", &labels),
        10.0
    );
    for stage in ["queue_wait", "decode", "scoring", "encode"] {
        let name = format!("inferd_{stage}_seconds_count");
        assert_eq!(value(&text, &name, &labels), 3.0, "{name}");
    }
    let sleeps = value(&text, "inferd_scoring_seconds_sum", &labels);
    assert!((0.003..0.1).contains(&sleeps), "three 1 ms runs: {sleeps}");
    let within = |le: &str| {
        value(
            &text,
            "inferd_request_duration_seconds_bucket",
            &[("model", "sleeper"), ("le", le)],
        )
    };
    assert!(
        within("0.1") <= 8.0,
        "the 503 at 1 s and the 504 at 300 ms are slower"
    );
    assert!(
        within("0.25") <= 8.0,
        "the 503 at 1 s and the 504 at 300 ms are slower"
    );
    assert_eq!((within("60"), within("+Inf")), (10.0, 10.0));
    assert_eq!(value(&text, "inferd_batch_size_count", &labels), 0.0);
    assert_eq!(value(&text, "inferd_requests_in_flight", &labels), 0.0);
    assert_eq!(value(&text, "inferd_concurrency_slots_busy", &[]), 0.0);
    assert_eq!(value(&text, "inferd_concurrency_slots", &[]), 1.0);
    let code = |c: &str| value(&text, "inferd_http_responses_total", &[("code", c)]);
    assert_eq!(
        code("200"),
        3.0 + 2.0,
        "three scores and the two scrapes before this one"
    );
    assert_eq!(code("400"), 2.0);
    assert_eq!((code("404"), code("413"), code("415")), (1.0, 1.0, 1.0));
    assert_eq!((code("503"), code("504")), (2.0, 1.0));
    assert!(value(&text, "inferd_process_resident_memory_bytes", &[]) > 1e6);
    Arc::into_inner(server).unwrap().stop().await;
}

/// Every collected line in `dir`, oldest file first.
fn collected(dir: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<serde_json::Value>>()
        })
        .collect()
}

async fn ridge_with_collector(options: CollectOptions) -> (TestServer, Arc<Collector>) {
    let collector = Arc::new(Collector::start(options).unwrap());
    let models = common::load(
        &["diabetes-ridge"],
        ExecutorOptions::default(),
        AdmissionOptions::default(),
    )
    .await;
    let state = AppState::with_models(ServerOptions::default(), models);
    state.telemetry.set_collector(collector.clone());
    (start_state(state).await, collector)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn collected_records_equal_the_scored_requests_and_the_drain_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let (server, collector) = ridge_with_collector(CollectOptions::new(dir.path().into())).await;
    let mut answers = Vec::new();
    for n in 0..20 {
        let id = format!("collect-{n}");
        let body = format!(r#"{{"data": [[{n},9,8,7,6,5,4,3,2,1]]}}"#);
        let reply = server
            .send(
                Method::POST,
                "/score",
                &[("content-type", "application/json"), ("x-request-id", &id)],
                body,
            )
            .await;
        assert_eq!(reply.status, 200);
        answers.push((id, reply.json()));
    }
    let query = server
        .send(
            Method::GET,
            "/score?data=[[1,2,3,4,5,6,7,8,9,10]]",
            &[("x-request-id", "collect-get")],
            "",
        )
        .await;
    assert_eq!(query.status, 200);
    // Refused requests are not collected.
    assert_eq!(server.post_json("/score", "{").await.status, 400);
    assert_eq!(
        server
            .post_json("/score", r#"{"data": [[1]]}"#)
            .await
            .status,
        400
    );
    let metrics = scrape(&server).await;
    let load = value(
        &metrics,
        "inferd_model_load_duration_seconds",
        &[("model", "diabetes-ridge"), ("version", "1")],
    );
    assert!(load > 0.0 && load < 60.0, "{load}");
    assert!(server.stop().await, "drained");
    assert!(collector.close(Duration::from_secs(10)));

    let records = collected(dir.path());
    assert_eq!(records.len(), 21);
    for (record, (id, answer)) in records.iter().zip(&answers) {
        assert_eq!(record["request_id"], id.as_str());
        assert_eq!(record["model"], "diabetes-ridge");
        assert_eq!(record["version"], 1);
        assert_eq!(&record["output"], answer);
        let first = &record["input"]["data"][0][0];
        assert_eq!(format!("collect-{first}"), *id);
    }
    let last = &records[20];
    assert_eq!(last["request_id"], "collect-get");
    assert_eq!(last["input_query"], "data=[[1,2,3,4,5,6,7,8,9,10]]");
    assert_eq!(last["output"], query.json());
    assert_eq!(collector.dropped(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_collection_writer_drops_and_counts_and_never_slows_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let slow = CollectOptions {
        queue: 2,
        write_delay: Duration::from_millis(300),
        ..CollectOptions::new(dir.path().into())
    };
    let (server, collector) = ridge_with_collector(slow).await;
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(server.post_json("/score", RIDGE_ROW).await.status, 200);
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "20 requests did not wait for a 300 ms-per-record writer: {took:?}"
    );
    let text = scrape(&server).await;
    let dropped = value(&text, "inferd_data_collection_dropped_total", &[]);
    assert!(dropped >= 15.0, "{dropped}");
    assert_eq!(dropped as u64, collector.dropped());
    assert_eq!(collector.accepted() + collector.dropped(), 20);
    server.stop().await;
    assert!(collector.close(Duration::from_secs(10)));
    assert_eq!(collected(dir.path()).len() as u64, collector.accepted());
}
