//! How an engine's failures reach a client. An index the model cannot take
//! (onehot-4 is depth 4; tract would panic on 7) is the client's 400,
//! naming the input and the range; an engine that fails on its own (a
//! panic, an error) is a 500 that tells only the request id, never the
//! engine's text, for that request alone: the same worker keeps serving.
//! The two are counted apart. Integer inputs refuse what is not an integer.

mod common;

use common::faulty::{ERROR_TEXT, PANIC_TEXT, faulty_set};
use common::scrape::value;
use common::{TestServer, generous_admission, start_state, start_with};
use hyper::Method;
use inferd_engine::ExecutorOptions;
use inferd_server::{AppState, ServerOptions};

/// Words of an engine's own report that must never reach a client.
const INTERNALS: [&str; 6] = [
    "panicked",
    "ndarray",
    "tract",
    "onnxruntime",
    "index out of bounds",
    "the len is",
];

fn assert_no_internals(message: &str) {
    for word in INTERNALS {
        assert!(!message.contains(word), "{word:?} in {message:?}");
    }
}

async fn requests_total(server: &TestServer, model: &str, outcome: &str) -> f64 {
    let text = String::from_utf8(server.get("/metrics").await.body.to_vec()).unwrap();
    value(
        &text,
        "inferd_requests_total",
        &[("model", model), ("outcome", outcome)],
    )
}

#[tokio::test]
async fn an_index_out_of_range_is_the_clients_400_naming_the_input() {
    // One worker, so the requests after a refusal run on the very same thread.
    let executor = ExecutorOptions {
        workers: 1,
        ..ExecutorOptions::default()
    };
    let server = start_with(&["onehot-4"], ServerOptions::default(), executor).await;
    let cases = [
        (
            r#"{"data": [7]}"#,
            "input 'indices': index 7 at [0] is out of the range the model accepts, -4 to 3 (one-hot depth 4)",
        ),
        (
            r#"{"data": [2, -5]}"#,
            "input 'indices': index -5 at [1] is out of the range the model accepts, -4 to 3 (one-hot depth 4)",
        ),
        // 2^32 + 1: 1 once cut to 32 bits, as tract's OneHot cuts it; refused, not row 1.
        (
            r#"{"data": [4294967297]}"#,
            "input 'indices': index 4294967297 at [0] is out of the range the model accepts, -4 to 3 (one-hot depth 4)",
        ),
    ];
    for (body, message) in cases {
        let refused = server.post_json("/score", body).await;
        assert_eq!(refused.status, 400, "{body}");
        assert_eq!(refused.message(), message, "{body}");
        assert_no_internals(&refused.message());
        assert_eq!(
            refused.header("x-ms-run-function-failed"),
            Some("False"),
            "the input's fault, as a decoding error is"
        );
    }

    for _ in 0..3 {
        let ok = server.post_json("/score", r#"{"data": [2, 0, -1]}"#).await;
        assert_eq!(ok.status, 200);
        assert_eq!(
            ok.json(),
            serde_json::json!([
                [0.0, 0.0, 1.0, 0.0],
                [1.0, 0.0, 0.0, 0.0],
                [0.0, 0.0, 0.0, 1.0]
            ])
        );
    }
    assert_eq!(
        requests_total(&server, "onehot-4", "bad_request").await,
        3.0
    );
    assert_eq!(requests_total(&server, "onehot-4", "error").await, 0.0);
    assert_eq!(requests_total(&server, "onehot-4", "success").await, 3.0);
    assert!(server.stop().await);
}

#[tokio::test]
async fn an_engine_failure_is_one_500_that_tells_only_the_request_id() {
    let state = AppState::with_models(ServerOptions::default(), faulty_set(generous_admission()));
    let server = start_state(state).await;
    let post = |body: &'static str, headers: &'static [(&'static str, &'static str)]| {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        let server = &server;
        async move { server.send(Method::POST, "/score", &all, body).await }
    };

    // A panic, with the client's own request id.
    let panicked = post(r#"{"data": [-1]}"#, &[("x-request-id", "failing-run-1")]).await;
    assert_eq!(panicked.status, 500);
    assert_eq!(
        panicked.message(),
        "the model failed while scoring; the server logged it (request id failing-run-1)"
    );
    assert_eq!(panicked.header("x-request-id"), Some("failing-run-1"));
    assert_eq!(panicked.header("x-ms-run-function-failed"), Some("True"));

    // An error the engine returned, with the id the server made up.
    let failed = post(r#"{"data": [0]}"#, &[]).await;
    assert_eq!(failed.status, 500);
    let id = failed
        .header("x-request-id")
        .expect("every answer has an id");
    assert_eq!(
        failed.message(),
        format!("the model failed while scoring; the server logged it (request id {id})")
    );
    assert_eq!(failed.header("x-ms-run-function-failed"), Some("True"));

    for reply in [&panicked, &failed] {
        let body = String::from_utf8_lossy(&reply.body);
        assert_no_internals(&body);
        assert!(
            !body.contains(PANIC_TEXT) && !body.contains(ERROR_TEXT),
            "{body}"
        );
    }

    // The worker that panicked goes on serving.
    for _ in 0..3 {
        let ok = post(r#"{"data": [2.5]}"#, &[]).await;
        assert_eq!(ok.status, 200);
        assert_eq!(ok.json(), serde_json::json!([2.5]));
    }
    assert_eq!(server.get("/ready").await.status, 200);
    assert_eq!(requests_total(&server, "faulty", "error").await, 2.0);
    assert_eq!(requests_total(&server, "faulty", "bad_request").await, 0.0);
    assert!(server.stop().await, "drains cleanly after a panic");
}

#[tokio::test]
async fn integer_inputs_take_integers_only() {
    let server = start_with(
        &["onehot-4"],
        ServerOptions::default(),
        ExecutorOptions::default(),
    )
    .await;
    let cases = [
        (
            r#"{"data": [1.9]}"#,
            "data[0]: input 'indices' expects int64, received 1.9, which is not an integer",
        ),
        (
            r#"{"data": ["1"]}"#,
            "data[0]: input 'indices' expects int64, received a string",
        ),
        (
            r#"{"data": [9223372036854775808]}"#,
            "data[0]: input 'indices' expects int64, received 9223372036854775808, which is out of range for int64",
        ),
        (
            r#"{"data": [[1]]}"#,
            "data: input 'indices' expects shape [N] (int64), received shape [1, 1]",
        ),
    ];
    for (body, message) in cases {
        let reply = server.post_json("/score", body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.message(), message, "{body}");
    }
    let whole = server.post_json("/score", r#"{"data": [3.0]}"#).await;
    assert_eq!(whole.status, 200, "an integral float is an integer");
    server.stop().await;
}
