//! Every bundled model, served over HTTP, answers what ONNX Runtime computed
//! when the model was made (`expected.json` beside each model), within 1e-4.

mod common;

use common::{assert_close, expected, start};

async fn check(model: &str) {
    let server = start(&[model]).await;
    let expected = expected(model);
    let cases = expected["cases"].as_array().unwrap();
    assert!(
        cases.len() >= 2,
        "{model} has cases for one row and for a batch"
    );
    for case in cases {
        let body = serde_json::json!({ "data": case["data"] }).to_string();
        let reply = server.post_json("/score", body).await;
        assert_eq!(
            reply.status,
            200,
            "{model}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let outputs = case["outputs"].as_object().unwrap();
        // One output is answered as its values; several as an object by name.
        let wanted = if outputs.len() == 1 {
            outputs.values().next().unwrap().clone()
        } else {
            case["outputs"].clone()
        };
        let at = format!("{model} batch {}", case["batch"]);
        assert_close(&reply.json(), &wanted, 1e-4, &at);
    }
    // The committed output sample is the answer to the input sample.
    let folder = common::registry()
        .model_path(&model.parse().unwrap())
        .unwrap();
    let read = |file: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(folder.join(file)).unwrap()).unwrap()
    };
    let reply = server
        .post_json(
            "/score",
            serde_json::json!({ "data": read("input_sample.json") }).to_string(),
        )
        .await;
    assert_close(
        &reply.json(),
        &read("output_sample.json"),
        1e-4,
        &format!("{model} sample"),
    );
    server.stop().await;
}

#[tokio::test]
async fn diabetes_ridge_matches_onnx_runtime() {
    check("diabetes-ridge").await;
}

#[tokio::test]
async fn digits_classifier_matches_onnx_runtime() {
    check("digits-classifier").await;
}

#[tokio::test]
async fn mlp_784_matches_onnx_runtime() {
    check("mlp-784").await;
}

#[tokio::test]
async fn cnn_mnist_matches_onnx_runtime() {
    check("cnn-mnist").await;
}

#[tokio::test]
async fn rgb_cnn_matches_onnx_runtime() {
    check("rgb-cnn").await;
}

#[tokio::test]
async fn onehot_4_matches_onnx_runtime() {
    check("onehot-4").await;
}

#[tokio::test]
async fn the_contract_example_scores() {
    let server = start(&["diabetes-ridge"]).await;
    let reply = server
        .post_json("/score", r#"{"data": [[10,9,8,7,6,5,4,3,2,1]]}"#)
        .await;
    assert_eq!(reply.status, 200);
    let expected = expected("diabetes-ridge");
    assert_eq!(
        expected["cases"][0]["data"],
        serde_json::json!([[10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]])
    );
    assert_close(
        &reply.json(),
        &expected["cases"][0]["outputs"]["predictions"],
        1e-4,
        "ridge",
    );
    server.stop().await;
}
