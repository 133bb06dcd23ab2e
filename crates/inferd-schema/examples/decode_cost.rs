//! What decoding one request body costs, the fast path against a full JSON
//! tree: the bundled mlp-784 sample (784 floats) decoded N times each way.
//!
//!   cargo run --release -p inferd-schema --example decode_cost [N]
//!
//! Run from the repository root (it reads `models/mlp-784`). Timings on a
//! shared machine are noisy: compare the two lines of one run, or count
//! instructions with `valgrind --tool=callgrind`.

use std::hint::black_box;
use std::time::Instant;

use inferd_schema::direct::tensor_from_body;
use inferd_tensor::{DType, Dim, TensorSpec};

fn main() {
    let expected = std::fs::read_to_string("models/mlp-784/1/files/expected.json")
        .expect("run from the repository root");
    let cases: serde_json::Value = serde_json::from_str(&expected).expect("expected.json is JSON");
    let body = serde_json::to_vec(&serde_json::json!({"data": cases["cases"][0]["data"]}))
        .expect("a JSON value serializes");
    let spec = TensorSpec {
        name: "input".into(),
        dtype: DType::F32,
        shape: Some(vec![Dim::Free(None), Dim::Fixed(784)]),
    };
    let n: u32 = std::env::args()
        .nth(1)
        .map_or(2000, |s| s.parse().expect("N is a count"));

    let start = Instant::now();
    for _ in 0..n {
        let tensor = tensor_from_body(black_box(&body), "data", &spec);
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
