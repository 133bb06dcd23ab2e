//! A real engine panic (tract's OneHot on an index out of range) is a 500 for
//! that request alone; the same worker keeps serving. Integer inputs refuse
//! what is not an integer.

mod common;

use common::start_with;
use inferd_engine::ExecutorOptions;
use inferd_server::ServerOptions;

#[tokio::test]
async fn an_engine_panic_is_one_500_and_the_server_goes_on() {
    // One worker, so the request after the panic runs on the very thread that panicked.
    let executor = ExecutorOptions {
        workers: 1,
        ..ExecutorOptions::default()
    };
    let server = start_with(&["onehot-4"], ServerOptions::default(), executor).await;
    let panicked = server.post_json("/score", r#"{"data": [7]}"#).await;
    assert_eq!(panicked.status, 500);
    assert!(
        panicked
            .message()
            .starts_with("the engine panicked while scoring: "),
        "{}",
        panicked.message()
    );
    assert_eq!(panicked.header("x-ms-run-function-failed"), Some("True"));

    for _ in 0..3 {
        let ok = server.post_json("/score", r#"{"data": [2, 0]}"#).await;
        assert_eq!(ok.status, 200);
        assert_eq!(
            ok.json(),
            serde_json::json!([[0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
        );
    }
    assert_eq!(server.get("/ready").await.status, 200);
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
