//! What decoding one request body costs, the fast path against a full JSON
//! tree: a body decoded N times each way, as float32 rows. By default the
//! bundled mlp-784 sample (784 floats); with a body file, that body (its
//! rows' length read from its first row), such as the two-row ridge body
//! that `benches/peers/bodies.py DIR` writes as `DIR/ridge-aml.json`.
//!
//!   cargo run --release -p inferd-schema --example decode_cost [N] [BODY_FILE]
//!
//! Run from the repository root (it reads `models/mlp-784`). Timings on a
//! shared machine are noisy: compare the two lines of one run, or count
//! instructions with `valgrind --tool=callgrind` at two values of N.

use std::hint::black_box;
use std::time::Instant;

use inferd_schema::direct::tensor_from_body;
use inferd_tensor::{DType, Dim, Tensor, TensorSpec};

/// Not inlined, so that callgrind counts the fast path on its own.
#[inline(never)]
fn fast_path(body: &[u8], spec: &TensorSpec) -> Option<Tensor> {
    tensor_from_body(body, "data", spec)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args
        .next()
        .map_or(2000, |s| s.parse().expect("N is a count"));
    let body = match args.next() {
        Some(path) => std::fs::read(path).expect("the body file is readable"),
        None => {
            let expected = std::fs::read_to_string("models/mlp-784/1/files/expected.json")
                .expect("run from the repository root");
            let cases: serde_json::Value =
                serde_json::from_str(&expected).expect("expected.json is JSON");
            serde_json::to_vec(&serde_json::json!({"data": cases["cases"][0]["data"]}))
                .expect("a JSON value serializes")
        }
    };
    let tree: serde_json::Value = serde_json::from_slice(&body).expect("the body is JSON");
    let row = tree["data"][0].as_array().map_or(1, Vec::len);
    let spec = TensorSpec {
        name: "input".into(),
        dtype: DType::F32,
        shape: Some(vec![Dim::Free(None), Dim::Fixed(row)]),
    };

    let start = Instant::now();
    for _ in 0..n {
        let tensor = fast_path(black_box(&body), &spec);
        assert!(
            black_box(tensor).is_some(),
            "the sample takes the fast path"
        );
    }
    println!(
        "fast path:        {:?} per body of {} bytes",
        start.elapsed() / n,
        body.len()
    );
    let start = Instant::now();
    for _ in 0..n {
        let tree = serde_json::from_slice::<serde_json::Value>(black_box(&body));
        black_box(tree.expect("the sample is JSON"));
    }
    println!("serde_json Value: {:?} per body", start.elapsed() / n);
}
