//! The tract engine on the bundled models: signatures as the files declare
//! them, outputs equal to ONNX Runtime's, and clear errors for bad files.

use std::path::{Path, PathBuf};

use inferd_backend::{BackendError, Engine, TractEngine};
use inferd_tensor::{DType, Dim, Tensor, TensorData};

fn model_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models")
        .join(name)
        .join("1/files")
}

fn expected(name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(model_dir(name).join("expected.json")).unwrap()).unwrap()
}

fn n() -> Dim {
    Dim::Free(Some("N".to_owned()))
}

/// Nested JSON numbers to a flat f32 tensor, shape from the nesting.
fn tensor_from(value: &serde_json::Value) -> Tensor {
    fn walk(value: &serde_json::Value, depth: usize, shape: &mut Vec<usize>, out: &mut Vec<f32>) {
        match value {
            serde_json::Value::Array(items) => {
                if shape.len() == depth {
                    shape.push(items.len());
                }
                items
                    .iter()
                    .for_each(|item| walk(item, depth + 1, shape, out));
            }
            number => out.push(number.as_f64().unwrap() as f32),
        }
    }
    let (mut shape, mut data) = (Vec::new(), Vec::new());
    walk(value, 0, &mut shape, &mut data);
    Tensor::new(shape, TensorData::F32(data)).unwrap()
}

fn as_f64(tensor: &Tensor) -> Vec<f64> {
    match tensor.data() {
        TensorData::F32(v) => v.iter().map(|x| f64::from(*x)).collect(),
        TensorData::I64(v) => v.iter().map(|x| *x as f64).collect(),
        other => panic!("unexpected output type {:?}", other.dtype()),
    }
}

fn flatten(value: &serde_json::Value, out: &mut Vec<f64>) {
    match value {
        serde_json::Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        number => out.push(number.as_f64().unwrap()),
    }
}

#[test]
fn signatures_are_read_from_the_files() {
    let engine = TractEngine;
    let ridge = engine
        .load(&model_dir("diabetes-ridge").join("model.onnx"))
        .unwrap();
    let sig = ridge.signature();
    assert_eq!(sig.inputs.len(), 1);
    assert_eq!(sig.inputs[0].name, "input");
    assert_eq!(sig.inputs[0].dtype, DType::F32);
    assert_eq!(sig.inputs[0].shape, Some(vec![n(), Dim::Fixed(10)]));
    assert_eq!(sig.outputs[0].name, "predictions");
    assert_eq!(sig.outputs[0].shape, Some(vec![n()]));

    let digits = engine
        .load(&model_dir("digits-classifier").join("model.onnx"))
        .unwrap();
    let outputs: Vec<_> = digits
        .signature()
        .outputs
        .iter()
        .map(|o| (o.name.as_str(), o.dtype))
        .collect();
    assert_eq!(
        outputs,
        [("label", DType::I64), ("probabilities", DType::F32)]
    );

    let cnn = engine
        .load(&model_dir("cnn-mnist").join("model.onnx"))
        .unwrap();
    assert_eq!(
        cnn.signature().inputs[0].shape,
        Some(vec![n(), Dim::Fixed(1), Dim::Fixed(28), Dim::Fixed(28)])
    );
}

#[test]
fn every_model_matches_onnx_runtime_at_every_batch_size() {
    let engine = TractEngine;
    for name in [
        "diabetes-ridge",
        "digits-classifier",
        "mlp-784",
        "cnn-mnist",
    ] {
        let model = engine.load(&model_dir(name).join("model.onnx")).unwrap();
        let mut session = model.new_session().unwrap();
        let expected = expected(name);
        for case in expected["cases"].as_array().unwrap() {
            let outputs = session.run(vec![tensor_from(&case["data"])]).unwrap();
            assert_eq!(outputs.len(), model.signature().outputs.len());
            for (output, spec) in outputs.iter().zip(&model.signature().outputs) {
                assert_eq!(output.dtype(), spec.dtype, "{name}.{}", spec.name);
                assert_eq!(
                    output.shape()[0],
                    case["batch"].as_u64().unwrap() as usize,
                    "{name}: batch stays dynamic"
                );
                let mut want = Vec::new();
                flatten(&case["outputs"][&spec.name], &mut want);
                let got = as_f64(output);
                assert_eq!(got.len(), want.len(), "{name}.{}", spec.name);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() <= 1e-4,
                        "{name}.{}[{i}]: {g} vs {w}",
                        spec.name
                    );
                }
            }
        }
    }
}

#[test]
fn files_that_are_not_models_fail_to_load_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"this is not a protobuf").unwrap();
    let err = TractEngine.load(&garbage).err().unwrap();
    assert!(matches!(err, BackendError::Load { .. }), "{err}");
    assert!(err.to_string().contains("garbage.onnx"), "{err}");

    let missing = TractEngine
        .load(&dir.path().join("missing.onnx"))
        .err()
        .unwrap();
    assert!(
        missing.to_string().contains("not a readable ONNX file"),
        "{missing}"
    );
}

#[test]
fn an_index_past_onehots_depth_is_the_inputs_fault_not_a_panic() {
    let model = TractEngine
        .load(&model_dir("onehot-4").join("model.onnx"))
        .unwrap();
    let mut session = model.new_session().unwrap();
    let indices =
        |values: Vec<i64>| Tensor::new(vec![values.len()], TensorData::I64(values)).unwrap();
    let err = session.run(vec![indices(vec![1, 7])]).unwrap_err();
    assert!(matches!(err, BackendError::Input { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "input 'indices': index 7 at [1] is out of the range the model accepts, -4 to 3 (one-hot depth 4)"
    );
    // Cut to 32 bits, as tract's OneHot cuts indices, 2^32 + 1 would be row 1.
    let wraps = session.run(vec![indices(vec![(1 << 32) + 1])]).unwrap_err();
    assert!(matches!(wraps, BackendError::Input { .. }), "{wraps:?}");
    // The same session goes on; both ends of the range answer.
    let rows = session.run(vec![indices(vec![3, -4])]).unwrap();
    assert_eq!(as_f64(&rows[0]), [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
}
