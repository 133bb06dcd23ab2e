//! The Open Inference Protocol (KServe v2) on the real server: every
//! bundled model answers the same numbers over v2 JSON, v2 binary and
//! `/score`; the documents say what the models are; errors are
//! `{"error": ...}` with the right statuses; bodies compress both ways; the
//! `timeout` parameter holds; v2 and `/score` requests share batches; and
//! the counters `/metrics` and the statistics extension read agree.
//!
//! Request bodies here are written by hand (JSON, and raw little-endian
//! bytes after it), not by the server's own codec, so a mistake shared by
//! encoder and decoder cannot pass unseen.

mod common;

use std::io::{Read, Write};

use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::scrape::value;
use common::sleeper::sleeper_set;
use common::{Reply, TestServer, expected, generous_admission, start, start_state};
use hyper::Method;
use inferd_engine::{Admission, BatchOptions, ExecutorOptions, ModelSet};
use inferd_server::{AppState, ServerOptions};
use serde_json::{Value, json};

const MODELS: [&str; 6] = [
    "diabetes-ridge",
    "mlp-784",
    "digits-classifier",
    "onehot-4",
    "cnn-mnist",
    "rgb-cnn",
];

async fn post(server: &TestServer, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
    server.send(Method::POST, path, headers, body).await
}

/// The error text of a v2 error body.
fn error_of(reply: &Reply) -> String {
    reply.json()["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {:?}", String::from_utf8_lossy(&reply.body)))
        .to_owned()
}

/// The model's one input: name, v2 datatype, shape for `batch` rows of
/// `data` (nested JSON as `/score` takes it), and its values flat.
struct Input {
    name: String,
    datatype: String,
    shape: Vec<usize>,
    flat: Vec<f64>,
}

fn input_of(metadata: &Value, data: &Value) -> Input {
    let spec = &metadata["inputs"][0];
    let mut shape = vec![];
    let mut at = data;
    while let Value::Array(items) = at {
        shape.push(items.len());
        at = items.first().unwrap_or(&Value::Null);
    }
    let mut flat = vec![];
    fn walk(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            v => out.push(v.as_f64().unwrap()),
        }
    }
    walk(data, &mut flat);
    Input {
        name: spec["name"].as_str().unwrap().to_owned(),
        datatype: spec["datatype"].as_str().unwrap().to_owned(),
        shape,
        flat,
    }
}

fn raw_bytes(input: &Input) -> Vec<u8> {
    let mut out = vec![];
    for &x in &input.flat {
        match input.datatype.as_str() {
            "FP32" => out.extend_from_slice(&(x as f32).to_le_bytes()),
            "INT64" => out.extend_from_slice(&(x as i64).to_le_bytes()),
            other => panic!("no test encoding for {other}"),
        }
    }
    out
}

/// A binary body: the JSON header, then the input's raw bytes; and the
/// header's length.
fn binary_body(input: &Input, outputs: Value) -> (Vec<u8>, usize) {
    let raw = raw_bytes(input);
    let mut header = json!({
        "id": "binary-1",
        "inputs": [{
            "name": input.name, "shape": input.shape, "datatype": input.datatype,
            "parameters": {"binary_data_size": raw.len()}
        }],
    });
    // `null`: no outputs named (the protocol refuses `"outputs": null`).
    if !outputs.is_null() {
        header["outputs"] = outputs;
    }
    let header = header.to_string();
    let mut body = header.clone().into_bytes();
    body.extend_from_slice(&raw);
    (body, header.len())
}

fn json_body(input: &Input) -> Vec<u8> {
    json!({
        "id": "json-1",
        "inputs": [{"name": input.name, "shape": input.shape, "datatype": input.datatype, "data": input.flat}]
    })
    .to_string()
    .into_bytes()
}

/// Each output of a v2 response, by name: its shape and its values as
/// numbers, whether they came as JSON `data` or as raw bytes.
fn outputs_of(reply: &Reply) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    let header_length = reply
        .header("inference-header-content-length")
        .map(|v| v.parse::<usize>().unwrap());
    let header_end = header_length.unwrap_or(reply.body.len());
    let header: Value = serde_json::from_slice(&reply.body[..header_end]).unwrap();
    let mut raw = &reply.body[header_end..];
    let mut out = vec![];
    for output in header["outputs"].as_array().unwrap() {
        let shape: Vec<usize> = output["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        let datatype = output["datatype"].as_str().unwrap();
        let values = match output["parameters"]["binary_data_size"].as_u64() {
            Some(size) => {
                let (mine, rest) = raw.split_at(size as usize);
                raw = rest;
                match datatype {
                    "FP32" => mine
                        .chunks(4)
                        .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
                        .collect(),
                    "INT64" => mine
                        .chunks(8)
                        .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                        .collect(),
                    other => panic!("no test decoding for {other}"),
                }
            }
            None => output["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect(),
        };
        out.push((output["name"].as_str().unwrap().to_owned(), shape, values));
    }
    assert!(raw.is_empty(), "no bytes past the last output");
    out
}

/// `/score`'s answer as `(name, values flat)`, in the order of `names`.
fn flatten(value: &Value) -> Vec<f64> {
    let mut out = vec![];
    fn walk(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            v => out.push(v.as_f64().unwrap()),
        }
    }
    walk(value, &mut out);
    out
}

fn assert_values(got: &[f64], want: &[f64], at: &str) {
    assert_eq!(got.len(), want.len(), "{at}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-4, "{at}[{i}]: {g} against {w}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bundled_model_answers_the_same_over_v2_json_v2_binary_and_score() {
    let server = start(&MODELS).await;
    for model in MODELS {
        let metadata = server.get(&format!("/v2/models/{model}")).await;
        assert_eq!(metadata.status, 200, "{model}");
        let metadata = metadata.json();
        assert_eq!(metadata["name"], model);
        assert_eq!(metadata["versions"], json!(["1"]));
        let output_names: Vec<String> = metadata["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect();
        for case in expected(model)["cases"].as_array().unwrap() {
            let at = format!("{model} batch {}", case["batch"]);
            let input = input_of(&metadata, &case["data"]);
            let path = format!("/v2/models/{model}/infer");

            let by_json = post(&server, &path, &[], json_body(&input)).await;
            assert_eq!(by_json.status, 200, "{at}: {:?}", by_json.body);
            assert_eq!(by_json.header("content-type"), Some("application/json"));
            assert_eq!(by_json.json()["id"], "json-1");
            assert_eq!(by_json.json()["model_name"], model);
            assert_eq!(by_json.json()["model_version"], "1");

            let (body, length) = binary_body(&input, json!(null));
            let length = length.to_string();
            let headers = [("inference-header-content-length", length.as_str())];
            let by_binary = post(&server, &path, &headers, body).await;
            assert_eq!(by_binary.status, 200, "{at}: {:?}", by_binary.body);
            // Raw bytes came in; JSON goes out unless binary outputs are asked for.
            assert_eq!(by_binary.header("inference-header-content-length"), None);

            let wanted: Vec<Value> = output_names
                .iter()
                .map(|name| json!({"name": name, "parameters": {"binary_data": true}}))
                .collect();
            let (body, length) = binary_body(&input, Value::Array(wanted));
            let length = length.to_string();
            let headers = [("inference-header-content-length", length.as_str())];
            let binary_out = post(&server, &path, &headers, body).await;
            assert_eq!(binary_out.status, 200, "{at}: {:?}", binary_out.body);
            assert_eq!(
                binary_out.header("content-type"),
                Some("application/octet-stream")
            );

            let score = server
                .post_json(
                    &format!("/models/{model}/score"),
                    json!({"data": case["data"]}).to_string(),
                )
                .await;
            assert_eq!(score.status, 200, "{at}");
            let score = score.json();
            for reply in [&by_json, &by_binary, &binary_out] {
                let outputs = outputs_of(reply);
                assert_eq!(outputs.len(), output_names.len(), "{at}");
                for (name, shape, values) in outputs {
                    let want = &case["outputs"][&name];
                    assert_eq!(shape[0], case["batch"].as_u64().unwrap() as usize, "{at}");
                    assert_values(&values, &flatten(want), &format!("{at} {name}"));
                    // The same numbers as /score's, one output or several.
                    let from_score = if output_names.len() == 1 {
                        flatten(&score)
                    } else {
                        flatten(&score[&name])
                    };
                    assert_values(&values, &from_score, &format!("{at} {name} /score"));
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documents_describe_the_served_models() {
    let server = start(&["mlp-784", "onehot-4"]).await;
    let meta = server.get("/v2").await;
    assert_eq!(meta.status, 200);
    let meta = meta.json();
    assert_eq!(meta["name"], "inferd");
    for extension in ["binary_tensor_data", "model_configuration", "statistics"] {
        assert!(
            meta["extensions"]
                .as_array()
                .unwrap()
                .contains(&json!(extension)),
            "{meta}"
        );
    }
    for path in [
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/mlp-784/ready",
        "/v2/models/mlp-784/versions/1/ready",
    ] {
        let reply = server.get(path).await;
        assert_eq!((reply.status, reply.body.len()), (200, 0), "{path}");
    }
    let metadata = server.get("/v2/models/mlp-784/versions/1").await.json();
    assert_eq!(
        metadata["inputs"],
        json!([{"name": "input", "datatype": "FP32", "shape": [-1, 784]}])
    );
    assert_eq!(metadata["outputs"][0]["name"], "label");
    assert_eq!(metadata["outputs"][0]["datatype"], "INT64");
    assert_eq!(metadata["outputs"][1]["shape"], json!([-1, 10]));
    assert_eq!(
        server.get("/v2/models/onehot-4").await.json()["inputs"][0]["datatype"],
        "INT64"
    );

    let config = server.get("/v2/models/mlp-784/config").await;
    assert_eq!(config.status, 200);
    let config = config.json();
    assert_eq!(config["name"], "mlp-784");
    assert_eq!(config["max_batch_size"], 0);
    assert_eq!(config["input"][0]["data_type"], "TYPE_FP32");
    assert_eq!(config["input"][0]["dims"], json!([-1, 784]));

    for bad in [&b"[null, null]"[..], b"{\"ready\": 1}", b"{"] {
        let reply = post(&server, "/v2/repository/index", &[], bad.to_vec()).await;
        assert_eq!(reply.status, 400, "{:?}", String::from_utf8_lossy(bad));
        assert!(error_of(&reply).contains("repository index"));
    }
    let ready = post(
        &server,
        "/v2/repository/index",
        &[],
        b"{\"ready\": true}".to_vec(),
    )
    .await;
    assert_eq!(ready.status, 200);
    let index = post(&server, "/v2/repository/index", &[], vec![]).await;
    assert_eq!(index.status, 200);
    assert_eq!(
        index.json(),
        json!([
            {"name": "mlp-784", "version": "1", "state": "READY"},
            {"name": "onehot-4", "version": "1", "state": "READY"}
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_and_metrics_count_v2_requests_from_the_same_cells() {
    let server = start(&["diabetes-ridge"]).await;
    let path = "/v2/models/diabetes-ridge/infer";
    let body = json!({"inputs": [{"name": "input", "shape": [2, 10], "datatype": "FP32", "data": vec![0.5; 20]}]})
        .to_string();
    for _ in 0..3 {
        let reply = post(&server, path, &[], body.clone().into_bytes()).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    let wrong = json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]});
    let refused = post(&server, path, &[], wrong.to_string().into_bytes()).await;
    assert_eq!(refused.status, 400);
    let score = server
        .post_json("/score", json!({"data": [vec![0.5; 10]]}).to_string())
        .await;
    assert_eq!(score.status, 200);

    let stats = server.get("/v2/models/diabetes-ridge/stats").await;
    assert_eq!(stats.status, 200);
    let stats = &stats.json()["model_stats"][0];
    assert_eq!(stats["name"], "diabetes-ridge");
    assert_eq!(stats["version"], "1");
    let inference = &stats["inference_stats"];
    // Every request to the model, /score's too.
    assert_eq!(inference["success"]["count"], 4);
    assert!(inference["success"]["ns"].as_u64().unwrap() > 0);
    assert_eq!(inference["fail"]["count"], 1);
    for stage in ["queue", "compute_input", "compute_infer", "compute_output"] {
        assert_eq!(inference[stage]["count"], 4, "{stage}");
    }
    assert!(inference["compute_infer"]["ns"].as_u64().unwrap() > 0);
    assert_eq!(stats["inference_count"], 7, "rows");
    assert_eq!(stats["execution_count"], 4);
    assert!(stats["last_inference"].as_u64().unwrap() > 1_700_000_000_000);
    let all = server.get("/v2/models/stats").await.json();
    assert_eq!(&all["model_stats"][0], stats);

    let text = String::from_utf8(server.get("/metrics").await.body.to_vec()).unwrap();
    let labels = |outcome| {
        [
            ("model", "diabetes-ridge"),
            ("version", "1"),
            ("outcome", outcome),
        ]
    };
    assert_eq!(
        value(&text, "inferd_v2_requests_total", &labels("success")),
        3.0
    );
    assert_eq!(
        value(&text, "inferd_v2_requests_total", &labels("bad_request")),
        1.0
    );
    assert_eq!(
        value(&text, "inferd_requests_total", &labels("success")),
        4.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_v2_errors_with_their_statuses() {
    let server = start(&["diabetes-ridge", "mlp-784"]).await;
    let path = "/v2/models/diabetes-ridge/infer";
    let input = |shape: Value, datatype: &str, data: Value| json!({"inputs": [{"name": "input", "shape": shape, "datatype": datatype, "data": data}]});
    let cases: Vec<(&str, Value, &[&str])> = vec![
        (
            "datatype disagrees with the model",
            input(json!([1, 10]), "INT32", json!(vec![0; 10])),
            &["input", "FP32", "INT32"],
        ),
        (
            "shape disagrees with the model",
            input(json!([1, 9]), "FP32", json!(vec![0; 9])),
            &["input", "10", "9"],
        ),
        (
            "data shorter than the shape",
            input(json!([2, 10]), "FP32", json!(vec![0; 10])),
            &["input"],
        ),
        (
            "data nested deeper than the shape",
            input(
                json!([1, 10]),
                "FP32",
                json!([[[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]]),
            ),
            &["input"],
        ),
        (
            "a negative dimension",
            input(json!([-1, 10]), "FP32", json!(vec![0; 10])),
            &["input", "-1"],
        ),
        (
            "a huge shape",
            input(
                json!([4_000_000_000_000u64, 10]),
                "FP32",
                json!(vec![0; 10]),
            ),
            &["input"],
        ),
        ("a missing input", json!({"inputs": []}), &["input"]),
        (
            "an input named twice",
            json!({"inputs": [
                {"name": "input", "shape": [1, 10], "datatype": "FP32", "data": vec![0; 10]},
                {"name": "input", "shape": [1, 10], "datatype": "FP32", "data": vec![0; 10]}
            ]}),
            &["input", "more than once"],
        ),
        (
            "an unknown output requested",
            json!({"inputs": [{"name": "input", "shape": [1, 10], "datatype": "FP32", "data": vec![0; 10]}],
                   "outputs": [{"name": "nope"}]}),
            &["nope"],
        ),
    ];
    for (what, body, words) in cases {
        let reply = post(&server, path, &[], body.to_string().into_bytes()).await;
        assert_eq!(reply.status, 400, "{what}: {:?}", reply.body);
        let error = error_of(&reply);
        for word in words {
            assert!(error.contains(word), "{what}: {error:?} names {word:?}");
        }
    }

    // Binary framing.
    let header = r#"{"inputs":[{"name":"input","shape":[1,10],"datatype":"FP32","parameters":{"binary_data_size":40}}]}"#;
    let mut body = header.as_bytes().to_vec();
    body.extend_from_slice(&[0; 40]);
    let ok_length = header.len().to_string();
    let ok = post(
        &server,
        path,
        &[("inference-header-content-length", &ok_length)],
        body.clone(),
    )
    .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    for (what, length, body) in [
        ("header length past the body", "100000", body.clone()),
        (
            "binary sizes sum past the body",
            ok_length.as_str(),
            body[..body.len() - 4].to_vec(),
        ),
        (
            "bytes left over",
            ok_length.as_str(),
            [&body[..], &[0; 4]].concat(),
        ),
        ("a header length that is no number", "ten", body.clone()),
        ("a negative header length", "-5", body.clone()),
    ] {
        let reply = post(
            &server,
            path,
            &[("inference-header-content-length", length)],
            body,
        )
        .await;
        assert_eq!(reply.status, 400, "{what}: {:?}", reply.body);
        assert!(!error_of(&reply).is_empty(), "{what}");
    }
    let not_json = post(&server, path, &[], b"{\"inputs\": [".to_vec()).await;
    assert_eq!(not_json.status, 400);

    // Routes, methods, names.
    let unknown = server.get("/v2/models/nope").await;
    assert_eq!(unknown.status, 404);
    assert!(error_of(&unknown).contains("nope"));
    let version = server
        .get("/v2/models/diabetes-ridge/versions/7/ready")
        .await;
    assert_eq!(version.status, 404);
    assert!(error_of(&version).contains('7'));
    let infer_unknown = post(&server, "/v2/models/nope/infer", &[], b"{}".to_vec()).await;
    assert_eq!(infer_unknown.status, 404);
    let get_infer = server.get(path).await;
    assert_eq!(get_infer.status, 405);
    assert_eq!(get_infer.header("allow"), Some("POST"));
    let bad_name = server.get("/v2/models/%FF").await;
    assert_eq!(bad_name.status, 400);
    let no_route = server.get("/v2/nothing").await;
    assert_eq!(no_route.status, 404);
    assert!(!error_of(&no_route).is_empty());
    let coding = post(&server, path, &[("content-encoding", "br")], b"{}".to_vec()).await;
    assert_eq!(coding.status, 415);
    assert!(error_of(&coding).contains("br"));

    // The server is alive and well after all of it.
    let alive = server.get("/v2/health/live").await;
    assert_eq!(alive.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requested_outputs_alone_are_returned_in_the_order_asked() {
    let server = start(&["mlp-784"]).await;
    let rows = &expected("mlp-784")["cases"][0]["data"];
    let data = flatten(rows);
    let body = |outputs: Value| {
        json!({"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32", "data": data}],
               "outputs": outputs})
        .to_string()
        .into_bytes()
    };
    let path = "/v2/models/mlp-784/infer";
    let one = post(&server, path, &[], body(json!([{"name": "probabilities"}]))).await;
    assert_eq!(one.status, 200, "{:?}", one.body);
    let names: Vec<String> = outputs_of(&one).into_iter().map(|o| o.0).collect();
    assert_eq!(names, ["probabilities"]);
    let both = post(
        &server,
        path,
        &[],
        body(json!([{"name": "probabilities"}, {"name": "label", "parameters": {"binary_data": true}}])),
    )
    .await;
    assert_eq!(both.status, 200);
    let outputs = outputs_of(&both);
    assert_eq!(outputs[0].0, "probabilities");
    assert_eq!(outputs[1].0, "label");
    assert!(both.header("inference-header-content-length").is_some());
    // binary_data_output: every output as raw bytes.
    let all_binary = json!({"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32", "data": data}],
                            "parameters": {"binary_data_output": true}});
    let reply = post(&server, path, &[], all_binary.to_string().into_bytes()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(outputs_of(&reply).len(), 2);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_compress_both_ways() {
    let server = start(&["diabetes-ridge"]).await;
    let path = "/v2/models/diabetes-ridge/infer";
    let body = json!({"inputs": [{"name": "input", "shape": [1, 10], "datatype": "FP32", "data": vec![0.5; 10]}]})
        .to_string();
    let plain = post(&server, path, &[], body.clone().into_bytes()).await;
    assert_eq!(plain.status, 200);
    let want = outputs_of(&plain);
    for (coding, packed) in [
        ("gzip", gzip(body.as_bytes())),
        ("deflate", zlib(body.as_bytes())),
    ] {
        let reply = post(&server, path, &[("content-encoding", coding)], packed).await;
        assert_eq!(reply.status, 200, "{coding}: {:?}", reply.body);
        assert_eq!(outputs_of(&reply), want, "{coding}");
    }
    let reply = post(
        &server,
        path,
        &[("accept-encoding", "gzip")],
        body.clone().into_bytes(),
    )
    .await;
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    let mut inflated = vec![];
    flate2::read::GzDecoder::new(&reply.body[..])
        .read_to_end(&mut inflated)
        .unwrap();
    assert_eq!(inflated, plain.body);
    let corrupt = post(
        &server,
        path,
        &[("content-encoding", "gzip")],
        b"not gzip".to_vec(),
    )
    .await;
    assert_eq!(corrupt.status, 400);
    assert!(
        error_of(&corrupt).contains("gzip"),
        "{}",
        error_of(&corrupt)
    );
    // A small body that inflates past the body limit is refused, not held.
    let options = ServerOptions {
        max_body_bytes: 4096,
        ..ServerOptions::default()
    };
    let small = common::start_with(&["diabetes-ridge"], options, ExecutorOptions::default()).await;
    let bomb = gzip(&vec![b' '; 1 << 20]);
    assert!(bomb.len() < 4096);
    let reply = post(&small, path, &[("content-encoding", "gzip")], bomb).await;
    assert_eq!(reply.status, 400, "{:?}", reply.body);
    assert!(error_of(&reply).contains("4096"), "{}", error_of(&reply));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_parameter_bounds_the_request() {
    let (models, counters) = sleeper_set(1, Duration::from_secs(30), generous_admission());
    let server = start_state(AppState::with_models(ServerOptions::default(), models)).await;
    let path = "/v2/models/sleeper/infer";
    let body = |ms: u32, timeout_us: u64| {
        json!({"parameters": {"timeout": timeout_us},
               "inputs": [{"name": "ms", "shape": [1], "datatype": "FP32", "data": [ms]}]})
        .to_string()
        .into_bytes()
    };
    let late = post(&server, path, &[], body(2_000, 100_000)).await;
    assert_eq!(late.status, 504, "{:?}", late.body);
    assert!(error_of(&late).contains("100 ms"), "{}", error_of(&late));
    let in_time = post(&server, path, &[], body(1, 10_000_000)).await;
    assert_eq!(in_time.status, 200, "{:?}", in_time.body);
    assert_eq!(counters.runs.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_and_score_requests_share_a_batch() {
    let refs = vec!["diabetes-ridge".parse().unwrap()];
    let admission = Admission::new(generous_admission());
    let executor = ExecutorOptions {
        workers: 1,
        ..ExecutorOptions::default()
    };
    // A batch of two runs at once; alone, the first would wait 10 s for company.
    let policy = inferd_engine::BatchPolicy {
        all: Some(BatchOptions {
            max_batch_size: 2,
            max_delay: Duration::from_secs(10),
            preferred_sizes: vec![2],
        }),
        ..Default::default()
    };
    let models: ModelSet = tokio::task::spawn_blocking(move || {
        inferd_engine::load_models_batched(
            &common::registry(),
            &refs,
            &inferd_backend::TractEngine,
            executor,
            &policy,
            admission,
        )
        .unwrap()
    })
    .await
    .unwrap();
    let server =
        Arc::new(start_state(AppState::with_models(ServerOptions::default(), models)).await);
    let row = [0.5f32; 10];
    let labels = [("model", "diabetes-ridge"), ("version", "1")];
    // The v2 request's head first: from then on it is one of the model's
    // callers, so the batch the /score request starts waits for it.
    let body =
        json!({"inputs": [{"name": "input", "shape": [1, 10], "datatype": "FP32", "data": row}]})
            .to_string();
    let mut v2 = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /v2/models/diabetes-ridge/infer HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    v2.write_all(head.as_bytes()).await.unwrap();
    common::wait::metric(&server, "inferd_requests_in_flight", &labels, 1.0).await;
    let score = {
        let server = server.clone();
        tokio::spawn(async move {
            server
                .post_json("/score", json!({"data": [row]}).to_string())
                .await
        })
    };
    common::wait::metric(&server, "inferd_requests_in_flight", &labels, 2.0).await;
    v2.write_all(body.as_bytes()).await.unwrap();
    let mut answer = vec![];
    v2.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, v2_body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{answer}");
    let score = score.await.unwrap();
    assert_eq!(score.status, 200);
    let v2_values = flatten(&serde_json::from_str::<Value>(v2_body).unwrap()["outputs"][0]["data"]);
    assert_values(&v2_values, &flatten(&score.json()), "shared batch");
    let text = String::from_utf8(server.get("/metrics").await.body.to_vec()).unwrap();
    assert_eq!(
        value(&text, "inferd_batch_size_count", &labels),
        1.0,
        "one run"
    );
    assert_eq!(
        value(&text, "inferd_batch_size_sum", &labels),
        2.0,
        "of both"
    );
    let config = server.get("/v2/models/diabetes-ridge/config").await.json();
    assert_eq!(config["max_batch_size"], 2);
    assert_eq!(config["input"][0]["dims"], json!([10]));
    assert_eq!(
        config["dynamic_batching"]["preferred_batch_size"],
        json!([2])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_bodies_keep_each_protocols_shape() {
    let server = start(&["diabetes-ridge"]).await;
    // The /score routes keep {"message"}; the v2 ones say {"error"}.
    let score = server.get("/models/nope/score").await;
    assert_eq!(score.status, 404);
    assert!(score.json().get("message").is_some());
    let v2 = server.get("/v2/models/nope").await;
    assert!(v2.json().get("error").is_some());
}
