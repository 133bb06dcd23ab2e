//! inferd's pre-processing against the Python pipeline's
//! (`models/image_reference.py`: Pillow and NumPy): every case of
//! `tests/fixtures/media/parity.json` decoded through the crate's door
//! gives the Python tensor, shape and values, within 1e-5.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use inferd_config::InputDecoder;
use inferd_media::{BodyKind, MediaInputs};
use inferd_tensor::{DType, Dim, Signature, TensorData, TensorSpec};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_case_matches_the_python_pipeline_within_1e_5() {
    let fixture: Value = serde_json::from_slice(
        &std::fs::read(repo().join("tests/fixtures/media/parity.json")).unwrap(),
    )
    .unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 8, "the fixture has its cases");
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let shape: Vec<usize> = serde_json::from_value(case["shape"].clone()).unwrap();
        let decoder: InputDecoder = serde_json::from_value(case["decoder"].clone()).unwrap();
        // The model's input: a free batch, the case's other dimensions.
        let mut dims = vec![Dim::Free(None)];
        dims.extend(shape[1..].iter().map(|&n| Dim::Fixed(n)));
        let signature = Signature {
            inputs: vec![TensorSpec {
                name: "input".into(),
                dtype: DType::F32,
                shape: Some(dims),
            }],
            outputs: Vec::new(),
        };
        let declared = BTreeMap::from([("input".to_owned(), decoder)]);
        let media = MediaInputs::build(&declared, &signature)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap();
        let image = std::fs::read(repo().join(case["image"].as_str().unwrap())).unwrap();
        let parsed = media.parse(&BodyKind::Image, Bytes::from(image)).unwrap();
        let decoded = media
            .decode(parsed)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let tensor = &decoded.tensors[0];
        assert_eq!(tensor.shape(), shape.as_slice(), "{name}");
        let TensorData::F32(values) = tensor.data() else {
            panic!("{name}: not float32")
        };
        let expected: Vec<f64> = serde_json::from_value(case["tensor"].clone()).unwrap();
        assert_eq!(values.len(), expected.len(), "{name}");
        let worst = values
            .iter()
            .zip(&expected)
            .map(|(&got, &want)| (f64::from(got) - want).abs())
            .fold(0.0, f64::max);
        assert!(worst <= 1e-5, "{name}: differs from Python by {worst}");
    }
}
