//! Binary request bodies on the real server: images, `.npy` arrays, raw
//! elements and multipart forms, decoded by the inference config's declared
//! decoders, and labelled answers; each bad body refused with its status and
//! message, the server answering the next request.

mod common;

use std::path::{Path, PathBuf};

use common::{TestServer, assert_close, start_inference};
use hyper::Method;
use inferd_config::InferenceConfig;
use inferd_openapi::ServiceInfo;
use serde_json::{Value, json};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parity() -> Value {
    serde_json::from_slice(&read("tests/fixtures/media/parity.json")).unwrap()
}

fn case(name: &str) -> Value {
    parity()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no parity case {name}"))
        .clone()
}

fn config(entry: Value) -> InferenceConfig {
    let text = json!({"models": [entry]}).to_string();
    InferenceConfig::from_json(&text, "test", &repo().join("examples/inference")).unwrap()
}

async fn serve(entry: Value) -> TestServer {
    start_inference(config(entry), ServiceInfo::default()).await
}

/// cnn-mnist taking 28x28 gray images as pixel / 255.
fn mnist(extra: Value) -> Value {
    let mut entry = json!({
        "model": "cnn-mnist",
        "inputs": {"input": {"decoder": "image", "color": "gray", "scale": 0.00392156862745098}}
    });
    if let Value::Object(extra) = extra {
        entry.as_object_mut().unwrap().extend(extra);
    }
    entry
}

fn digits() -> Value {
    json!({"probabilities": {"labels": ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], "topK": 1}})
}

async fn post(server: &TestServer, content_type: &str, body: Vec<u8>) -> common::Reply {
    server
        .send(
            Method::POST,
            "/score",
            &[("content-type", content_type)],
            body,
        )
        .await
}

/// A multipart form of `(name, bytes)` parts.
fn form(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "inferd-test-boundary";
    let mut body = Vec::new();
    for (name, data) in parts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"x\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A `.npy` v1.0 file of float32 `values` in `shape`.
fn npy(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    out
}

fn tensor(case: &Value) -> Vec<f32> {
    case["tensor"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

#[tokio::test]
async fn a_png_body_answers_as_the_json_of_its_pixels_and_as_pillow_made_them() {
    let server = serve(mnist(json!({}))).await;
    let seven = case("I");
    let reply = post(&server, "image/png", read("examples/images/seven.png")).await;
    assert_eq!(reply.status, 200, "{}", reply.message());
    // The Python pipeline's tensor, through JSON, and ONNX Runtime's answer.
    let values = tensor(&seven);
    let nested: Vec<Vec<Vec<f32>>> = vec![values.chunks(28).map(<[f32]>::to_vec).collect()];
    let json_reply = server
        .post_json("/score", json!({"data": [nested]}).to_string())
        .await;
    assert_eq!(json_reply.status, 200);
    assert_close(&reply.json(), &json_reply.json(), 1e-6, "png vs json");
    assert_close(
        &reply.json(),
        &json!([seven["outputs"]["probabilities"]]),
        1e-4,
        "png vs onnxruntime",
    );
    server.stop().await;
    // The same tensor as a .npy body, where the input declares that.
    let server =
        serve(json!({"model": "cnn-mnist", "inputs": {"input": {"decoder": "npy"}}})).await;
    let npy_reply = post(&server, "application/x-npy", npy(&[1, 1, 28, 28], &values)).await;
    assert_eq!(npy_reply.status, 200, "{}", npy_reply.message());
    assert_eq!(npy_reply.json(), json_reply.json());
    server.stop().await;
}

#[tokio::test]
async fn labelled_answers_name_the_digit_for_one_image_and_list_rows_for_a_form() {
    let server = serve(mnist(json!({"postprocess": digits()}))).await;
    let reply = post(&server, "image/png", read("examples/images/seven.png")).await;
    assert_eq!(reply.status, 200, "{}", reply.message());
    let answer = reply.json();
    assert_eq!(answer[0]["label"], "7", "{answer}");
    assert!(answer[0]["score"].as_f64().unwrap() > 0.99, "{answer}");
    assert_eq!(answer.as_array().unwrap().len(), 1);
    // Two images under one part name: a batch of two rows.
    let (content_type, body) = form(&[
        ("input", &read("examples/images/seven.png")),
        ("input", &read("examples/images/three.png")),
    ]);
    let reply = post(&server, &content_type, body).await;
    assert_eq!(reply.status, 200, "{}", reply.message());
    let rows = reply.json();
    assert_eq!(rows[0][0]["label"], "7", "{rows}");
    assert_eq!(rows[1][0]["label"], "3", "{rows}");
    server.stop().await;
}

#[tokio::test]
async fn the_rgb_model_agrees_with_the_python_pipeline() {
    for case in parity()["cases"].as_array().unwrap() {
        if case["model"] != "rgb-cnn" {
            continue;
        }
        let name = case["name"].as_str().unwrap();
        let server = serve(json!({"model": "rgb-cnn", "inputs": {"input": case["decoder"]}})).await;
        let image = case["image"].as_str().unwrap();
        let reply = post(&server, "image/x-anything", read(image)).await;
        assert_eq!(reply.status, 200, "{name}: {}", reply.message());
        assert_close(&reply.json(), &json!([case["logits"]]), 1e-3, name);
        server.stop().await;
    }
}

#[tokio::test]
async fn raw_bodies_take_their_rows_from_the_length() {
    let server =
        serve(json!({"model": "diabetes-ridge", "inputs": {"input": {"decoder": "raw"}}})).await;
    let rows: Vec<f32> = (0..20).map(|v| v as f32 / 10.0).collect();
    let raw: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
    let reply = post(&server, "application/octet-stream", raw.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.message());
    let nested: Vec<Vec<f32>> = rows.chunks(10).map(<[f32]>::to_vec).collect();
    let json_reply = server
        .post_json("/score", json!({"data": nested}).to_string())
        .await;
    assert_eq!(reply.json(), json_reply.json());
    let reply = post(&server, "application/octet-stream", raw[..39].to_vec()).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.message(),
        "input 'input': 39 bytes is not a whole number of 4-byte float32 elements"
    );
    let reply = post(&server, "application/octet-stream", raw[..36].to_vec()).await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.message().contains("whole rows of shape [10]"),
        "{}",
        reply.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_bodies_are_refused_with_their_status_and_the_server_goes_on() {
    let server = serve(mnist(json!({"postprocess": digits()}))).await;
    let seven = read("examples/images/seven.png");
    let refusals: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "image/png",
            seven[..seven.len() / 2].to_vec(),
            400,
            "input 'input': ",
        ),
        (
            "image/png",
            read("tests/fixtures/media/claims-100000x100000.png"),
            413,
            "100000x100000",
        ),
        (
            "image/tiff",
            b"II*\x00\x08\x00\x00\x00".to_vec(),
            415,
            "input 'input': ",
        ),
        (
            "image/png",
            b"not an image at all".to_vec(),
            415,
            "input 'input': ",
        ),
        (
            "application/x-npy",
            npy(&[1, 1, 28, 28], &[0.5; 10]),
            415,
            "takes image/png",
        ),
        (
            "text/plain",
            b"7".to_vec(),
            415,
            "Expects Content-Type to be one of application/json, image/png",
        ),
        ("multipart/form-data", b"--x--".to_vec(), 400, "boundary"),
    ];
    for (content_type, body, status, message) in refusals {
        let reply = post(&server, content_type, body).await;
        assert_eq!(reply.status, status, "{content_type}: {}", reply.message());
        assert!(
            reply.message().contains(message),
            "{content_type}: {} lacks {message}",
            reply.message()
        );
    }
    let (content_type, body) = form(&[("photo", &seven)]);
    let reply = post(&server, &content_type, body).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.message(),
        "part 1 of the form is named 'photo', and the model's inputs are 'input'"
    );
    let (content_type, body) = form(&[("input", &seven)]);
    let cut = body.len() - 10;
    let reply = post(&server, &content_type, body[..cut].to_vec()).await;
    assert_eq!(reply.status, 400, "{}", reply.message());
    // Still serving.
    let reply = post(&server, "image/png", seven).await;
    assert_eq!(reply.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn npy_bodies_are_checked_against_the_input() {
    let server =
        serve(json!({"model": "cnn-mnist", "inputs": {"input": {"decoder": "npy"}}})).await;
    let values = vec![0.25f32; 784];
    let reply = post(&server, "application/x-npy", npy(&[1, 1, 28, 28], &values)).await;
    assert_eq!(reply.status, 200, "{}", reply.message());
    // A header that promises more than the body holds.
    let mut lie = npy(&[2, 1, 28, 28], &values);
    lie.truncate(lie.len() - 4);
    let reply = post(&server, "application/x-npy", lie).await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.message().starts_with("input 'input': "),
        "{}",
        reply.message()
    );
    let reply = post(&server, "application/x-npy", npy(&[1, 784], &values)).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.message(),
        "input 'input': the array's shape is [1, 784], and input 'input' takes [N, 1, 28, 28]"
    );
    // Two parts for one .npy input.
    let one = npy(&[1, 1, 28, 28], &values);
    let (content_type, body) = form(&[("input", &one), ("input", &one)]);
    let reply = post(&server, &content_type, body).await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.message().contains("two parts for input 'input'"),
        "{}",
        reply.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_model_without_declared_decoders_takes_json_only() {
    let server = serve(json!({"model": "cnn-mnist"})).await;
    let reply = post(&server, "image/png", read("examples/images/seven.png")).await;
    assert_eq!(reply.status, 415);
    assert_eq!(
        reply.message(),
        "Expects Content-Type to be application/json"
    );
    server.stop().await;
}

#[test]
fn declarations_that_do_not_fit_the_model_name_their_key() {
    let bad = |entry: Value| -> String {
        let config = config(entry);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let state = inferd_server::AppState::new(inferd_server::ServerOptions::default());
            let names = [config.models[0].model.as_str()];
            let models = common::load(
                &names,
                inferd_engine::ExecutorOptions::default(),
                common::generous_admission(),
            )
            .await;
            state
                .publish(models, &config.models)
                .unwrap_err()
                .to_string()
        })
    };
    let e = bad(
        json!({"model": "cnn-mnist", "inputs": {"input": {"decoder": "image", "resize": {"width": 32, "height": 32}, "color": "gray"}}}),
    );
    assert!(e.contains("inputs.input.resize"), "{e}");
    let e = bad(json!({"model": "cnn-mnist", "inputs": {"input": {"decoder": "image"}}}));
    assert!(e.contains("inputs.input.color"), "{e}");
    let e = bad(json!({"model": "cnn-mnist", "inputs": {"image": {"decoder": "npy"}}}));
    assert!(e.contains("inputs.image"), "{e}");
    let e = bad(
        json!({"model": "cnn-mnist", "postprocess": {"probabilities": {"labels": ["a", "b"]}}}),
    );
    assert!(e.contains("postprocess.probabilities"), "{e}");
}

#[test]
fn config_keys_are_checked_when_the_config_is_read() {
    let bad = |entry: Value| -> String {
        let text = json!({"models": [entry]}).to_string();
        InferenceConfig::from_json(&text, "test.json", Path::new("."))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        bad(json!({"model": "m", "inputs": {"x": {"decoder": "image", "mean": [0.5]}}})),
        "inference config test.json: models[0].inputs.x.mean: 1 values given, and color rgb has 3 channels"
    );
    assert_eq!(
        bad(
            json!({"model": "m", "inputs": {"x": {"decoder": "npy", "resize": {"width": 2, "height": 2}}}})
        ),
        "inference config test.json: models[0].inputs.x.resize: is an image decoder's key; the npy decoder takes the input's type and shape from the model"
    );
    assert_eq!(
        bad(json!({"model": "m", "inputs": {"x": {"decoder": "image", "resize": {"width": 2}}}})),
        "inference config test.json: models[0].inputs.x.resize.height: give both width and height, or shorterSide"
    );
    assert_eq!(
        bad(json!({"model": "m", "inputs": {"x": {"decoder": "image", "std": [1, 0, 1]}}})),
        "inference config test.json: models[0].inputs.x.std[1]: 0: a divisor must not be zero"
    );
    assert_eq!(
        bad(json!({"model": "m", "postprocess": {"y": {"labels": "missing.txt"}}}))
            .split(':')
            .take(3)
            .collect::<Vec<_>>()
            .join(":"),
        "inference config test.json: models[0].postprocess.y.labels: cannot read ./missing.txt"
    );
}
