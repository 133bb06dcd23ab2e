//! `inferd bench` against the real server on loopback: closed and open
//! loop, status shares, the JSON report and the plot.

mod common;

use std::path::PathBuf;

use common::start;
use inferd_bench::{BenchArgs, args::run_async};

fn args(url: String, dir: &std::path::Path, body: Option<PathBuf>) -> BenchArgs {
    BenchArgs {
        url,
        body,
        headers: vec![],
        concurrency: vec![1, 4],
        rate: vec![],
        duration: 0.4,
        warmup: 0.1,
        timeout: 5.0,
        label: "test".into(),
        json: Some(dir.join("report.json")),
        svg: Some(dir.join("plot.svg")),
        with: vec![],
        plot_only: false,
        wire: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_steps_report_throughput_latency_and_statuses() {
    let server = start(&["diabetes-ridge"]).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let body = dir.join("body.json");
    std::fs::write(
        &body,
        r#"{"data": [[1,2,3,4,5,6,7,8,9,10],[1,2,3,4,5,6,7,8,9,10]]}"#,
    )
    .unwrap();
    let url = format!("http://{}/score", server.addr);
    let report = run_async(args(url, &dir, Some(body))).await.unwrap();
    assert_eq!(report.steps.len(), 2);
    for step in &report.steps {
        assert!(step.requests > 10, "{step:?}");
        assert_eq!(step.statuses.get("200"), Some(&1.0), "{step:?}");
        assert!(step.p50_ms > 0.0 && step.p50_ms <= step.p99_ms && step.p99_ms <= step.max_ms);
        assert!((step.throughput - step.requests as f64 / 0.4).abs() < 1e-6);
    }
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(written["steps"][1]["concurrency"], 4);
    let svg = std::fs::read_to_string(dir.join("plot.svg")).unwrap();
    assert_eq!(svg.matches("<polyline").count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_sends_at_the_rate_and_counts_every_status() {
    let server = start(&["diabetes-ridge"]).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let body = dir.join("body.json");
    // Wrong width: every answer is a 400, and the report says so.
    std::fs::write(&body, r#"{"data": [[1, 2]]}"#).unwrap();
    let url = format!("http://{}/score", server.addr);
    let mut open = args(url, &dir, Some(body));
    open.rate = vec![200.0];
    open.svg = None;
    let report = run_async(open).await.unwrap();
    let step = &report.steps[0];
    assert_eq!(step.rate, Some(200.0));
    assert_eq!(
        step.concurrency, 4,
        "the largest --concurrency serves the rate"
    );
    // 0.4 s at 200/s: 80 requests due in the counted window.
    assert!((75..=85).contains(&step.requests), "{step:?}");
    assert_eq!(step.statuses.get("400"), Some(&1.0), "{step:?}");
    assert_eq!(step.ok_throughput, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_body_it_asks_swagger_and_refuses_other_hosts() {
    let server = start(&["diabetes-ridge"]).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let url = format!("http://{}/score", server.addr);
    match run_async(args(url, &dir, None)).await {
        // With a /swagger.json route (the Swagger issue), its example is the body.
        Ok(report) => assert_eq!(report.steps[0].statuses.get("200"), Some(&1.0)),
        Err(e) => assert!(e.to_string().contains("/swagger.json"), "{e}"),
    }
    let far = args("http://192.0.2.1:80/score".into(), &dir, None);
    let err = run_async(far).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "refusing to send load to 192.0.2.1: loopback targets only"
    );
}
