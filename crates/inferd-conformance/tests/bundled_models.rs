//! The engine suite, written once and run against every engine built in:
//! each bundled model's outputs at batch sizes 1, 7 and 64 equal the ones
//! recorded when it was made, for every element type the models use
//! (float32 and int64 in, float32 and int64 out).

use inferd_conformance::bundled::{self, BATCH_SIZES};
use inferd_conformance::engines;

#[test]
fn every_engine_gives_the_recorded_outputs_at_every_batch_size() {
    let models = bundled::models(&engines::repo_root().join("models")).unwrap();
    assert!(models.len() >= 5, "the bundled models are missing");
    let engines = engines::all().unwrap();
    let mut failures = Vec::new();
    for named in &engines {
        for model in &models {
            if let Err(e) = bundled::check(named.engine.as_ref(), model, &BATCH_SIZES) {
                failures.push(format!("{} on {}: {e}", model.name, named.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_wrong_answer_is_caught() {
    // The suite must be able to fail: compare a model's outputs with another
    // model's expectations.
    let root = engines::repo_root().join("models");
    let mut models = bundled::models(&root).unwrap();
    let ridge = models
        .iter()
        .position(|m| m.name == "diabetes-ridge")
        .unwrap();
    let mut ridge = models.remove(ridge);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        ridge.files.join("model.onnx"),
        tmp.path().join("model.onnx"),
    )
    .unwrap();
    let mut expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ridge.files.join("expected.json")).unwrap())
            .unwrap();
    for case in expected["cases"].as_array_mut().unwrap() {
        let first = &mut case["outputs"]["predictions"][0];
        *first = serde_json::json!(first.as_f64().unwrap() + 1.0);
    }
    std::fs::write(tmp.path().join("expected.json"), expected.to_string()).unwrap();
    ridge.files = tmp.path().to_owned();
    for named in engines::all().unwrap() {
        let err = bundled::check(named.engine.as_ref(), &ridge, &[1, 7]).unwrap_err();
        assert!(
            err.contains("output 'predictions'"),
            "{}: {err}",
            named.name
        );
    }
}
