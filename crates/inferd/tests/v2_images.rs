//! Encoded images as the Open Inference Protocol's BYTES elements (issue
//! 35), through the real server: cnn-mnist with an `image` decoder on its
//! input takes a PNG as `BYTES [N]` (binary tensor extension, and base64
//! text in JSON) and answers what the same pixels give as JSON floats
//! (pixel / 255); its metadata says BYTES; corrupt images, bombs and BYTES
//! for an input without a decoder are refused with their own statuses.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use support::{Server, start};

/// cnn-mnist's input decoded from gray images at 1/255; diabetes-ridge
/// with no decoder, for BYTES sent where no image is taken.
const CONFIG: &str = r#"{"models": [
    {"model": "cnn-mnist", "inputs": {"input": {"decoder": "image", "color": "gray", "scale": 0.00392156862745098}}},
    {"model": "diabetes-ridge"}
]}"#;

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn seven_png() -> Vec<u8> {
    std::fs::read(repo_file("examples/images/seven.png")).unwrap()
}

fn three_png() -> Vec<u8> {
    std::fs::read(repo_file("examples/images/three.png")).unwrap()
}

/// seven.png's pixels / 255 as float32, as the committed parity fixture
/// (Pillow and NumPy, `models/image_reference.py`) gives them.
fn seven_pixels() -> Vec<f64> {
    let fixture: Value = serde_json::from_slice(
        &std::fs::read(repo_file("tests/fixtures/media/parity.json")).unwrap(),
    )
    .unwrap();
    let case = fixture["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["image"] == "examples/images/seven.png"
                && c["decoder"]["color"] == "gray"
                && c["decoder"].get("resize").is_none()
        })
        .expect("the parity fixture has seven.png as cnn-mnist reads it");
    let pixels: Vec<f64> = case["tensor"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(pixels.len(), 28 * 28);
    // The fixture is pixel / 255: every value a whole level.
    for p in &pixels {
        let level = p * 255.0;
        assert!(
            (level - level.round()).abs() < 1e-4,
            "{p} is not a level / 255"
        );
    }
    pixels
}

fn serve(dir: &Path) -> Server {
    let config = dir.join("inference.json");
    std::fs::write(&config, CONFIG).unwrap();
    start(&["--inference-config", config.to_str().unwrap()])
}

struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap().to_owned()
    }
}

/// One HTTP/1.1 exchange with a body of any bytes.
fn exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let status = std::str::from_utf8(&answer[9..12])
        .unwrap()
        .parse()
        .unwrap();
    Answer {
        status,
        body: answer[end + 4..].to_vec(),
    }
}

fn infer_json(port: u16, model: &str, request: &Value) -> Answer {
    exchange(
        port,
        "POST",
        &format!("/v2/models/{model}/infer"),
        &[("Content-Type", "application/json".to_owned())],
        request.to_string().as_bytes(),
    )
}

/// A binary-extension request: `images` as one BYTES input of shape [N].
fn infer_images(port: u16, model: &str, input: &str, images: &[&[u8]]) -> Answer {
    let mut framed = Vec::new();
    for image in images {
        framed.extend_from_slice(&(image.len() as u32).to_le_bytes());
        framed.extend_from_slice(image);
    }
    let header = json!({"inputs": [{
        "name": input, "shape": [images.len()], "datatype": "BYTES",
        "parameters": {"binary_data_size": framed.len()}
    }]})
    .to_string();
    let mut body = header.clone().into_bytes();
    body.extend_from_slice(&framed);
    exchange(
        port,
        "POST",
        &format!("/v2/models/{model}/infer"),
        &[
            ("Content-Type", "application/octet-stream".to_owned()),
            ("Inference-Header-Content-Length", header.len().to_string()),
        ],
        &body,
    )
}

/// The `probabilities` rows of a 200 answer.
fn probabilities(answer: &Answer) -> Vec<Vec<f64>> {
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let json = answer.json();
    let output = &json["outputs"][0];
    assert_eq!(output["name"], "probabilities");
    let shape: Vec<usize> = serde_json::from_value(output["shape"].clone()).unwrap();
    let data: Vec<f64> = output["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(shape.len(), 2);
    data.chunks(shape[1]).map(<[f64]>::to_vec).collect()
}

fn argmax(row: &[f64]) -> usize {
    (0..row.len())
        .max_by(|&a, &b| row[a].total_cmp(&row[b]))
        .unwrap()
}

fn assert_same(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    let diff = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        diff <= 1e-6,
        "{what}: max |diff| {diff}\n got  {got:?}\n want {want:?}"
    );
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn a_png_as_bytes_scores_as_its_pixels_do() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let port = server.port;

    // The decoded tensor sent directly: still taken.
    let floats = infer_json(
        port,
        "cnn-mnist",
        &json!({"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": seven_pixels()}]}),
    );
    let want = probabilities(&floats);
    assert_eq!(argmax(&want[0]), 7);

    // The PNG itself, as tritonclient sends BYTES (binary_data=True).
    let seven = seven_png();
    let binary = probabilities(&infer_images(port, "cnn-mnist", "input", &[&seven]));
    assert_eq!(binary.len(), 1);
    assert_same(
        &binary[0],
        &want[0],
        "PNG as binary BYTES vs pixels / 255 as JSON",
    );

    // In JSON: base64 text.
    let json_bytes = probabilities(&infer_json(
        port,
        "cnn-mnist",
        &json!({"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "data": [base64(&seven)]}]}),
    ));
    assert_eq!(json_bytes, binary, "base64 in JSON vs binary BYTES");

    // Two images, two rows, in order.
    let three = three_png();
    let rows = probabilities(&infer_images(port, "cnn-mnist", "input", &[&three, &seven]));
    assert_eq!(rows.len(), 2);
    assert_eq!(argmax(&rows[0]), 3);
    assert_same(&rows[1], &want[0], "the second of two images");
}

#[test]
fn metadata_says_bytes_for_the_image_input() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let metadata = exchange(server.port, "GET", "/v2/models/cnn-mnist", &[], b"");
    assert_eq!(metadata.status, 200);
    let metadata = metadata.json();
    assert_eq!(
        metadata["inputs"],
        json!([{"name": "input", "datatype": "BYTES", "shape": [-1]}])
    );
    assert_eq!(
        metadata["outputs"],
        json!([{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}])
    );
    // A model without a decoder: its tensor, as before.
    let ridge = exchange(server.port, "GET", "/v2/models/diabetes-ridge", &[], b"").json();
    assert_eq!(
        ridge["inputs"],
        json!([{"name": "input", "datatype": "FP32", "shape": [-1, 10]}])
    );
}

#[test]
fn bad_images_are_refused_with_their_own_status() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let port = server.port;
    let seven = seven_png();

    // A corrupt image (cut short), second of two: 400 naming the input
    // and the image.
    let cut = &seven[..seven.len() / 2];
    let answer = infer_images(port, "cnn-mnist", "input", &[&seven, cut]);
    assert_eq!(answer.status, 400, "{}", answer.error());
    let message = answer.error();
    assert!(
        message.contains("input 'input'") && message.contains("image 2"),
        "{message}"
    );

    // A header claiming 100000 x 100000 pixels: 413, before any pixel.
    let answer = infer_images(
        port,
        "cnn-mnist",
        "input",
        &[&support::images::png_claiming(100_000, 100_000)],
    );
    assert_eq!(answer.status, 413, "{}", answer.error());
    assert!(
        answer.error().contains("100000x100000"),
        "{}",
        answer.error()
    );

    // Not an image at all: 415, the formats named.
    let answer = infer_images(port, "cnn-mnist", "input", &[b"hello"]);
    assert_eq!(answer.status, 415, "{}", answer.error());

    // Not base64, in JSON: 400 saying how to send an image.
    let answer = infer_json(
        port,
        "cnn-mnist",
        &json!({"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "data": ["not base64!"]}]}),
    );
    assert_eq!(answer.status, 400);
    assert!(
        answer.error().contains("binary_data=True"),
        "{}",
        answer.error()
    );

    // A shape that is not one image per element.
    let answer = infer_json(
        port,
        "cnn-mnist",
        &json!({"inputs": [{"name": "input", "shape": [1, 1], "datatype": "BYTES", "data": [base64(&seven)]}]}),
    );
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.error(),
        "input 'input' expects shape [-1] (BYTES, one encoded image per element), received shape [1, 1]"
    );

    // BYTES for an input without an image decoder: refused as before.
    let answer = infer_images(port, "diabetes-ridge", "input", &[&seven]);
    assert_eq!(answer.status, 400);
    assert!(
        answer.error().contains("hold no strings"),
        "{}",
        answer.error()
    );

    // The server still answers: nothing above cost it its worker.
    let again = probabilities(&infer_images(port, "cnn-mnist", "input", &[&seven]));
    assert_eq!(argmax(&again[0]), 7);
}
