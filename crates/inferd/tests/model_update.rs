//! The issue's "done means", with the real binary: `inferd serve --model
//! diabetes-ridge` under load; `inferd model register` in another process,
//! and the next requests are answered by version 2, not one failing;
//! `inferd service update` pins a version through the repository API;
//! SIGHUP re-reads the inference config.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::{http, inferd, repo_models, try_start};

const BODY: &str = r#"{"data": [[10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]}"#;
const KEY: &str = "update-test-key-0123456789";

/// `inferd service update` against the server on `port`.
fn service_update(
    registry: &Path,
    port: u16,
    model: &str,
    key: Option<&str>,
) -> std::process::Output {
    let url = format!("http://127.0.0.1:{port}");
    let mut args = vec!["service", "update", "--url", &url, "--model", model];
    if let Some(key) = key {
        args.extend(["--key", key]);
    }
    inferd(registry, &args)
}

fn register(registry: &Path, name: &str) {
    let model = repo_models().join("diabetes-ridge/1/files/model.onnx");
    let out = inferd(
        registry,
        &[
            "model",
            "register",
            "-n",
            name,
            "-p",
            model.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One scoring request's status and `x-ms-model-version`.
fn score(port: u16) -> (u16, String) {
    let answer = http(
        port,
        &format!(
            "POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
            BODY.len()
        ),
    );
    let status = answer[9..12].parse().unwrap();
    let version = answer
        .lines()
        .find_map(|l| l.strip_prefix("x-ms-model-version: "))
        .unwrap_or("")
        .trim()
        .to_owned();
    (status, version)
}

fn until_version(port: u16, version: &str) {
    let start = Instant::now();
    while score(port).1 != version {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "version {version} never served"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_registration_an_update_and_a_sighup_while_serving_lose_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry");
    register(&registry, "diabetes-ridge");
    let mut server = try_start(
        &registry,
        &[
            "--model",
            "diabetes-ridge",
            "--registry-poll-ms",
            "20",
            "--shutdown-grace-s",
            "0",
        ],
        &[("INFERD_PRIMARY_KEY", KEY)],
    )
    .unwrap_or_else(|logs| panic!("{logs}"));
    let port = server.port;

    // Steady load from two clients for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    answers.push(score(port));
                }
                answers
            })
        })
        .collect();

    // Registered in another process: the next requests are version 2.
    register(&registry, "diabetes-ridge");
    until_version(port, "2");

    // service.update(): version 1 again, through the repository API.
    let update = service_update(&registry, port, "diabetes-ridge:1", Some(KEY));
    assert!(
        update.status.success(),
        "{}",
        String::from_utf8_lossy(&update.stderr)
    );
    assert!(String::from_utf8_lossy(&update.stdout).contains(r#""version":"1""#));
    assert_eq!(score(port).1, "1");
    // Without the key: refused, with the server's reason.
    let refused = service_update(&registry, port, "diabetes-ridge:2", None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"));

    // SIGHUP: the served set made to match the models again (the latest).
    let sent = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    until_version(port, "2");

    stop.store(true, Ordering::Relaxed);
    let answers: Vec<(u16, String)> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "every request answered 200"
    );
    assert!(answers.iter().any(|(_, v)| v == "1") && answers.iter().any(|(_, v)| v == "2"));
    server.sigterm();
    let (status, logs) = server.wait();
    assert!(status.success(), "{logs}");
    assert!(logs.contains("SIGHUP: served set reconciled"), "{logs}");
}

fn post(port: u16, path: &str, body: &str) -> u16 {
    let answer = http(
        port,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    answer[9..12].parse().unwrap()
}

fn hang_up(server: &support::Server) {
    let sent = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[test]
fn sighup_serves_the_changed_inference_config_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry");
    register(&registry, "diabetes-ridge");
    let onehot = repo_models().join("onehot-4/1/files");
    let out = inferd(
        &registry,
        &[
            "model",
            "register",
            "-n",
            "onehot-4",
            "-p",
            onehot.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    let config = dir.path().join("inference.json");
    std::fs::write(&config, r#"{"models": [{"model": "diabetes-ridge"}]}"#).unwrap();
    let mut server = try_start(
        &registry,
        &[
            "--inference-config",
            config.to_str().unwrap(),
            "--shutdown-grace-s",
            "0",
        ],
        &[],
    )
    .unwrap_or_else(|logs| panic!("{logs}"));
    let port = server.port;
    assert_eq!(
        post(port, "/models/onehot-4/score", r#"{"data": [2]}"#),
        404
    );

    // A model added: served after the hang-up.
    std::fs::write(
        &config,
        r#"{"models": [{"model": "diabetes-ridge"}, {"model": "onehot-4"}]}"#,
    )
    .unwrap();
    hang_up(&server);
    let start = Instant::now();
    while post(port, "/models/onehot-4/score", r#"{"data": [2]}"#) != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "onehot-4 never served"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // Batching turned on for the served model: loaded again, batching.
    std::fs::write(
        &config,
        r#"{"models": [{"model": "diabetes-ridge", "batching": {"maxBatchSize": 8}}, {"model": "onehot-4"}]}"#,
    )
    .unwrap();
    hang_up(&server);
    let start = Instant::now();
    let get_config =
        "GET /v2/models/diabetes-ridge/config HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    while !http(port, get_config).contains(r#""max_batch_size":8"#) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "batching never took effect"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // A config whose sample does not fit: refused, both models serve on.
    std::fs::write(
        &config,
        r#"{"models": [{"model": "diabetes-ridge", "inputSample": {"kind": "numpy", "value": [[1, 2, 3]]}}, {"model": "onehot-4"}]}"#,
    )
    .unwrap();
    hang_up(&server);
    let start = Instant::now();
    loop {
        let logs = server.stderr.lock().unwrap().clone();
        if logs.matches("SIGHUP").count() >= 3 {
            assert!(logs.contains("inputSample"), "{logs}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no second SIGHUP line: {logs}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(post(port, "/score", BODY), 200);
    assert_eq!(
        post(port, "/models/onehot-4/score", r#"{"data": [2]}"#),
        200
    );
    // The version that serves on is live, not the refused reload's failure.
    let index = http(
        port,
        "POST /v2/repository/index HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(!index.contains("UNAVAILABLE"), "{index}");
    server.sigterm();
    let (status, logs) = server.wait();
    assert!(status.success(), "{logs}");
}
