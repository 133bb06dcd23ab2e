//! The real binary: the registry commands, and `serve` from start to a
//! scored request to a clean exit on SIGTERM.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::{http, inferd, repo_models};

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn register_list_show_delete() {
    let root = tempfile::tempdir().unwrap();
    let registry = root.path().join("registry");
    let model = repo_models().join("diabetes-ridge/1/files/model.onnx");
    let model = model.to_str().unwrap();

    let first = inferd(
        &registry,
        &[
            "model",
            "register",
            "-n",
            "ridge",
            "-p",
            model,
            "--tag",
            "team=ml",
            "--description",
            "first",
        ],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).starts_with("registered ridge:1 "),
        "{}",
        stdout(&first)
    );
    let second = inferd(
        &registry,
        &["model", "register", "-n", "ridge", "-p", model],
    );
    assert!(stdout(&second).starts_with("registered ridge:2 "));

    let list = inferd(&registry, &["model", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);

    let show = inferd(&registry, &["model", "show", "ridge:1"]);
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["version"], 1);
    assert_eq!(shown["tags"]["team"], "ml");
    assert_eq!(shown["description"], "first");
    assert_eq!(shown["files"][0]["path"], "model.onnx");
    assert!(
        Path::new(shown["path"].as_str().unwrap()).is_file(),
        "get_model_path answers the file"
    );

    let latest = inferd(&registry, &["model", "show", "ridge"]);
    let latest: serde_json::Value = serde_json::from_slice(&latest.stdout).unwrap();
    assert_eq!(latest["version"], 2);
    assert_eq!(latest["sha256"], shown["sha256"], "same file, same hash");

    let table = inferd(&registry, &["model", "list"]);
    assert!(stdout(&table).contains("ridge"), "{}", stdout(&table));

    let deleted = inferd(&registry, &["model", "delete", "ridge:1"]);
    assert!(deleted.status.success());
    let gone = inferd(&registry, &["model", "show", "ridge:1"]);
    assert!(!gone.status.success());
    assert!(
        stderr(&gone).contains("model 'ridge' has no version 1 (versions: 2)"),
        "{}",
        stderr(&gone)
    );
    assert!(
        inferd(&registry, &["model", "delete", "ridge"])
            .status
            .success()
    );
    assert!(stdout(&inferd(&registry, &["model", "list"])).contains("no models registered"));
}

#[test]
fn bad_registry_input_fails_clearly() {
    let root = tempfile::tempdir().unwrap();
    let registry = root.path();
    let model = repo_models().join("diabetes-ridge/1/files/model.onnx");
    let model = model.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["model", "register", "-n", "a/b", "-p", model],
            "invalid model name 'a/b'",
        ),
        (
            &["model", "register", "-n", "..", "-p", model],
            "invalid model name '..'",
        ),
        (
            &["model", "register", "-n", "m", "-p", "/no/such/file.onnx"],
            "cannot register /no/such/file.onnx",
        ),
        (
            &[
                "model", "register", "-n", "m", "-p", model, "--tag", "novalue",
            ],
            "invalid tag 'novalue'",
        ),
        (&["model", "show", "missing"], "no model named 'missing'"),
        (
            &["model", "delete", "missing:3"],
            "no model named 'missing'",
        ),
        (
            &["model", "show", "m:zero"],
            "invalid model reference 'm:zero'",
        ),
    ];
    for (args, message) in cases {
        let output = inferd(registry, args);
        assert!(!output.status.success(), "{args:?} should fail");
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn serve_fails_at_start_for_an_unknown_model() {
    let registry = repo_models();
    let registry = registry.to_str().unwrap();
    assert_start_fails(
        &["--model", "no-such-model", "--registry", registry],
        "no model named 'no-such-model'",
    );
}

/// `inferd serve` with `args` must exit 1 at start, saying `message`.
fn assert_start_fails(args: &[&str], message: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_inferd"))
        .args(["serve", "--port", "0", "--log-format", "json"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{args:?}");
    assert!(
        stderr(&output).contains(message),
        "{args:?}: {}",
        stderr(&output)
    );
}

#[test]
fn serve_scores_the_default_model_and_exits_0_on_sigterm() {
    let mut server = support::start(&["--shutdown-grace-s", "0"]);
    let port = server.port;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http(
        port,
        "GET /ready HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .starts_with("HTTP/1.1 200")
    {
        assert!(Instant::now() < deadline, "ready within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let answer = score_once(port);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (head, json) = answer.split_once("\r\n\r\n").unwrap();
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(value.as_array().unwrap().len(), 1, "{json}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("\r\nx-ms-run-fn-exec-ms: "), "{head}");
    assert!(!head.contains("server-timing"), "off by default: {head}");

    server.sigterm();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "exits within 30 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

/// One `POST /score` of a row for the default model: the whole answer.
fn score_once(port: u16) -> String {
    let body = r#"{"data": [[10,9,8,7,6,5,4,3,2,1]]}"#;
    http(
        port,
        &format!(
            "POST /score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn server_timing_is_sent_when_the_flag_or_the_environment_asks() {
    let by_flag = support::start(&["--server-timing"]);
    let by_env = support::start_with_env(&[], &[("INFERD_SERVER_TIMING", "true")]);
    for server in [by_flag, by_env] {
        let answer = score_once(server.port);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let head = answer
            .split("\r\n\r\n")
            .next()
            .unwrap()
            .to_ascii_lowercase();
        assert!(head.contains("\r\nserver-timing: queue;dur="), "{head}");
        assert!(head.contains("\r\nx-ms-run-fn-exec-ms: "), "{head}");
    }
}

fn config_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("deploymentconfig.json");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_bad_deployment_config_stops_start_up_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            r#"{"computeType": "aks", "maxQueueWait": 10}"#,
            "maxQueueWait: unknown field `maxQueueWait`",
        ),
        (
            r#"{"scoringTimeoutMs": -5}"#,
            "scoringTimeoutMs: invalid value: integer `-5`",
        ),
        (
            r#"{"maxQueueWaitMs": -1}"#,
            "maxQueueWaitMs: invalid value: integer `-1`",
        ),
        (
            r#"{"livenessProbeRequirements": {"failureThreshold": 0}}"#,
            "livenessProbeRequirements.failureThreshold: must be at least 1, got 0",
        ),
        (
            r#"{"namespace": "ml_prod"}"#,
            "namespace: 'ml_prod' holds '_'",
        ),
        (r#"{"computeType": "aci""#, "deploymentconfig.json"),
        (
            r#"{"computeType": "aks", "keys": {"primaryKey": "short"}}"#,
            "the deployment config's keys: primaryKey is shorter than 16 characters",
        ),
        (
            r#"{"sslEnabled": true, "sslCertificate": "c.pem", "sslKey": "k.pem"}"#,
            "c.pem: cannot read it",
        ),
    ];
    for (text, message) in cases {
        let path = config_file(dir.path(), text);
        assert_start_fails(&["--deployment-config", path.to_str().unwrap()], message);
    }
}

#[test]
fn config_show_says_where_each_limit_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(
        dir.path(),
        r#"{"computeType": "aks", "maxQueueWaitMs": 50, "scoringTimeoutMs": 700, "numReplicas": 3, "namespace": "ml-prod"}"#,
    );
    let output = Command::new(env!("CARGO_BIN_EXE_inferd"))
        .args([
            "config",
            "show",
            "--max-concurrent-requests",
            "2",
            "--deployment-config",
        ])
        .arg(&path)
        .env("INFERD_SCORING_TIMEOUT_MS", "900")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        line("maxConcurrentRequestsPerContainer"),
        "maxConcurrentRequestsPerContainer 2 (flag)"
    );
    assert_eq!(line("scoringTimeoutMs"), "scoringTimeoutMs 900 (env)");
    assert_eq!(line("maxQueueWaitMs"), "maxQueueWaitMs 50 (file)");
    assert_eq!(line("maxQueueLength"), "maxQueueLength 1024 (default)");
    assert_eq!(
        line("authEnabled"),
        "authEnabled true (file or compute type)"
    );
    assert!(
        text.contains("cluster only, not acted on here: numReplicas=3"),
        "{text}"
    );
    assert!(
        text.contains("cluster only, not acted on here: namespace=ml-prod"),
        "{text}"
    );
}

#[test]
fn the_body_memory_budget_is_reported_with_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(
        dir.path(),
        r#"{"containerResourceRequirements": {"memoryInGB": 2}}"#,
    );
    let show = |args: &[&str], envs: &[(&str, &str)]| {
        let output = Command::new(env!("CARGO_BIN_EXE_inferd"))
            .args(["config", "show", "--deployment-config"])
            .arg(&path)
            .args(args)
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let text = stdout(&output);
        text.lines()
            .find(|l| l.starts_with("maxBodyMemoryMB"))
            .unwrap_or_else(|| panic!("no maxBodyMemoryMB in {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        show(
            &["--max-body-memory-mb", "300"],
            &[("INFERD_MAX_BODY_MEMORY_MB", "200")]
        ),
        "maxBodyMemoryMB 300 (flag)"
    );
    assert_eq!(
        show(&[], &[("INFERD_MAX_BODY_MEMORY_MB", "200")]),
        "maxBodyMemoryMB 200 (env)"
    );
    // Half of 2 GB (10^9) in MiB, unless this machine's cgroup sets a
    // memory limit, which comes first.
    let derived = show(&[], &[]);
    assert!(
        derived == "maxBodyMemoryMB 953 (file)" || derived.ends_with("(cgroup)"),
        "{derived}"
    );
}

#[test]
fn config_schema_describes_the_file() {
    let output = Command::new(env!("CARGO_BIN_EXE_inferd"))
        .args(["config", "schema"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(schema["title"], "DeploymentConfig");
    assert!(schema["properties"]["maxConcurrentRequestsPerContainer"].is_object());
    assert_eq!(schema["additionalProperties"], false);
}

#[test]
fn sigterm_turns_ready_off_during_the_grace_period_then_exits_0() {
    // Two seconds of grace: room for a loaded machine to see it begin.
    let mut server = support::start(&["--shutdown-grace-s", "2"]);
    let port = server.port;
    let ready = "GET /ready HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    assert!(http(port, ready).starts_with("HTTP/1.1 200"));
    let signalled = Instant::now();
    server.sigterm();
    // Ready until the signal is handled, then 503 for the grace period.
    let during = loop {
        let during = http(port, ready);
        if !during.starts_with("HTTP/1.1 200") {
            break during;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(2),
            "/ready still 200 after the grace period"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(during.starts_with("HTTP/1.1 503"), "{during}");
    assert!(
        http(
            port,
            "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        .starts_with("HTTP/1.1 200")
    );
    let (status, _) = server.wait();
    assert_eq!(status.code(), Some(0));
    assert!(
        signalled.elapsed() >= Duration::from_secs(2),
        "kept the grace period"
    );
}
