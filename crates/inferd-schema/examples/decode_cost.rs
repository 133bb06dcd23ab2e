//! What decoding one request body costs, through the schema's door (the
//! fast path, for such a body) against building its full JSON tree alone:
//! a body decoded N times each way, as float32 rows. By default the
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

use inferd_schema::{ModelSchema, SchemaError};
use inferd_tensor::{DType, Dim, Signature, Tensor, TensorSpec};

/// Not inlined, so that callgrind counts the decoding on its own.
#[inline(never)]
fn decode(body: &[u8], schema: &ModelSchema) -> Result<Vec<Tensor>, SchemaError> {
    schema.decode_body(body)
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
    let schema = ModelSchema::from_signature(Signature {
        inputs: vec![TensorSpec {
            name: "input".into(),
            dtype: DType::F32,
            shape: Some(vec![Dim::Free(None), Dim::Fixed(row)]),
        }],
        outputs: Vec::new(),
    });

    let start = Instant::now();
    for _ in 0..n {
        let tensors = decode(black_box(&body), &schema);
        assert!(black_box(tensors).is_ok(), "the sample decodes");
    }
    println!(
        "decode_body:      {:?} per body of {} bytes",
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
