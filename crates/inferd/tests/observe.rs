//! The real binary's logs, metrics and data collection: JSON access lines
//! that carry their fields, start-up lines, no key or request data in any
//! log line, `/metrics` with build info, and collected records written out
//! on SIGTERM.

mod support;

const PRIMARY_KEY: &str = "pk-5f3e1c9a7b2d4e6f8a0b1c2d3e4f5a6b";
const SECONDARY_KEY: &str = "sk-0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d";
/// A value that appears only in the request body.
const BODY_MARK: &str = "9876.54321";

/// One HTTP/1.1 exchange; the head and the body.
fn http(port: u16, request: &str) -> (String, String) {
    let answer = support::http(port, request);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

fn post(port: u16, path: &str, headers: &str, body: &str) -> (String, String) {
    http(
        port,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn logs_metrics_and_collection_of_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("deploymentconfig.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"computeType": "aci", "authEnabled": false, "appInsightsEnabled": true,
                "keys": {{"primaryKey": "{PRIMARY_KEY}", "secondaryKey": "{SECONDARY_KEY}"}},
                "dataCollection": {{"storageEnabled": true}}}}"#
        ),
    )
    .unwrap();
    let collected = dir.path().join("collected");
    let mut server = support::start_with_env(
        &[
            "--deployment-config",
            config.to_str().unwrap(),
            "--data-collection-dir",
            collected.to_str().unwrap(),
        ],
        &[("RUST_LOG", "debug")],
    );
    let port = server.port;

    let body = format!(r#"{{"data": [[{BODY_MARK},9,8,7,6,5,4,3,2,1]]}}"#);
    let auth = format!("Authorization: Bearer {PRIMARY_KEY}\r\nx-request-id: access-1\r\n");
    let (head, answer) = post(port, "/score", &auth, &body);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (head, _) = post(
        port,
        "/models/nope/score",
        "x-request-id: access-2\r\n",
        "{}",
    );
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    // A head hyper refuses before any handler: answered and logged too.
    let (head, _) = http(port, "GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    let refused_id = head
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap()
        .to_owned();
    let (head, metrics) = http(
        port,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        metrics.contains(&format!(
            "inferd_build_info{{engine=\"{}\",features=\"{}\",version=\"{}\"}} 1",
            if cfg!(feature = "ort") {
                "tract,onnxruntime"
            } else {
                "tract"
            },
            if cfg!(feature = "ort") { "ort" } else { "" },
            env!("CARGO_PKG_VERSION")
        )),
        "{metrics}"
    );
    assert!(metrics.contains(
        r#"inferd_requests_total{model="diabetes-ridge",outcome="success",version="1"} 1"#
    ));

    server.sigterm();
    let (status, log_text) = server.wait();
    assert_eq!(status.code(), Some(0));
    let logged: Vec<&str> = log_text.lines().collect();

    for line in &logged {
        assert!(!line.contains(PRIMARY_KEY), "a key in the log: {line}");
        assert!(!line.contains(SECONDARY_KEY), "a key in the log: {line}");
        assert!(
            !line.contains("Bearer"),
            "an Authorization header in the log: {line}"
        );
        assert!(!line.contains(BODY_MARK), "request data in the log: {line}");
    }
    let parsed: Vec<serde_json::Value> = logged
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |message: &str| {
        parsed
            .iter()
            .find(|l| l["fields"]["message"] == message)
            .unwrap_or_else(|| panic!("no '{message}' line in {logged:#?}"))
    };
    let settings = &find("settings")["fields"];
    assert_eq!(settings["models"], "diabetes-ridge");
    assert_eq!(settings["host"], "127.0.0.1");
    let model = &find("model loaded")["fields"];
    assert_eq!(model["sha256"].as_str().unwrap().len(), 64);
    assert!(model["inputs"].as_str().unwrap().contains("float32"));
    assert_eq!(find("telemetry")["fields"]["data_collection"], true);

    let access = |id: &str| {
        parsed
            .iter()
            .find(|l| l["target"] == "inferd::access" && l["fields"]["request_id"] == id)
            .unwrap_or_else(|| panic!("no access line for {id}"))["fields"]
            .clone()
    };
    let scored = access("access-1");
    assert_eq!(scored["message"], "access");
    assert_eq!(scored["method"], "POST");
    assert_eq!(scored["path"], "/score");
    assert_eq!(scored["status"], 200);
    assert_eq!(scored["model"], "diabetes-ridge");
    assert_eq!(scored["version"], 1);
    assert_eq!(scored["bytes_in"], body.len());
    assert_eq!(scored["bytes_out"], answer.len());
    for field in ["queue_ms", "score_ms", "total_ms"] {
        let ms = scored[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field}: {scored}"));
        assert!((0.0..10_000.0).contains(&ms), "{field}: {ms}");
    }
    let missing = access("access-2");
    assert_eq!(missing["status"], 404);
    assert_eq!(missing["path"], "/models/nope/score");
    assert!(missing.get("model").is_none());
    let refused = access(&refused_id);
    assert_eq!(refused["status"], 400);
    assert_eq!(refused["method"], "-");
    assert!(refused["bytes_out"].as_u64().unwrap() > 0);

    // SIGTERM drained, then the collector wrote out what it had.
    assert_eq!(find("data collection closed")["fields"]["flushed"], true);
    let files: Vec<_> = std::fs::read_dir(&collected).unwrap().collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["request_id"], "access-1");
    assert_eq!(
        records[0]["input"]["data"][0][0],
        BODY_MARK.parse::<f64>().unwrap()
    );
    assert_eq!(
        records[0]["output"],
        serde_json::from_str::<serde_json::Value>(&answer).unwrap()
    );
}
