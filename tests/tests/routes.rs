//! Every route of the contract, on the real server over real HTTP.

mod common;

use bytes::Bytes;
use common::{start, start_state};
use hyper::Method;
use inferd_server::{AppState, ServerOptions};

const RIDGE_TWO_ROWS: &str = r#"{"data": [[1,2,3,4,5,6,7,8,9,10],[10,9,8,7,6,5,4,3,2,1]]}"#;

#[tokio::test]
async fn liveness_and_readiness() {
    let server = start(&["diabetes-ridge"]).await;
    let live = server.get("/").await;
    assert_eq!((live.status, &live.body[..]), (200, &b"Healthy"[..]));
    let head = server.send(Method::HEAD, "/", &[], Bytes::new()).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let ready = server.get("/ready").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "ready");

    let post = server.post_json("/", "{}").await;
    assert_eq!(post.status, 405);
    assert_eq!(
        post.message(),
        "The method is not allowed for the requested URL."
    );
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert!(server.stop().await);
}

#[tokio::test]
async fn a_server_whose_models_are_loading_is_live_but_not_ready() {
    let server = start_state(AppState::new(ServerOptions::default())).await;
    assert_eq!(server.get("/").await.status, 200);
    let ready = server.get("/ready").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.header("retry-after"), Some("1"));
    let score = server.post_json("/score", RIDGE_TWO_ROWS).await;
    assert_eq!(score.status, 503);
    assert_eq!(score.message(), "models are still loading; retry shortly");
    server.stop().await;
}

#[tokio::test]
async fn score_by_post_get_and_options() {
    let server = start(&["diabetes-ridge"]).await;
    let post = server.post_json("/score", RIDGE_TWO_ROWS).await;
    assert_eq!(post.status, 200, "{:?}", post.body);
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert_eq!(post.header("x-ms-run-function-failed"), Some("False"));
    let exec_ms: f64 = post.header("x-ms-run-fn-exec-ms").unwrap().parse().unwrap();
    assert!(exec_ms >= 0.0);
    let rows = post.json();
    assert_eq!(
        rows.as_array().unwrap().len(),
        2,
        "one number per row: {rows}"
    );

    let get = server
        .get("/score?data=%5B%5B1,2,3,4,5,6,7,8,9,10%5D%5D")
        .await;
    assert_eq!(get.status, 200);
    assert_eq!(get.json()[0], rows[0], "GET and POST give the same answer");

    let options = server
        .send(Method::OPTIONS, "/score", &[], Bytes::new())
        .await;
    assert_eq!(options.status, 200);
    assert!(options.body.is_empty());
    assert_eq!(options.header("allow"), Some("GET, POST, OPTIONS"));

    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let reply = server
            .send(
                method.clone(),
                "/score",
                &[("content-type", "application/json")],
                RIDGE_TWO_ROWS,
            )
            .await;
        assert_eq!(reply.status, 405, "{method}");
        assert_eq!(
            reply.message(),
            "The method is not allowed for the requested URL."
        );
    }
    let missing = server.get("/score").await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.message(),
        "no value given for 'data'; send {\"data\": [[...]]}"
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_routes_are_404() {
    let server = start(&["diabetes-ridge"]).await;
    for path in [
        "/score/",
        "/health",
        "/metrics2",
        "/score/x",
        "/models",
        "/models/diabetes-ridge",
        "/v20/health/ready",
    ] {
        let reply = server.post_json(path, RIDGE_TWO_ROWS).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(
            reply.message(),
            "The requested URL was not found on the server.",
            "{path}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn several_models_each_have_their_path() {
    let server = start(&["diabetes-ridge", "digits-classifier"]).await;
    let default = server.post_json("/score", RIDGE_TWO_ROWS).await;
    let named = server
        .post_json("/models/diabetes-ridge/score", RIDGE_TWO_ROWS)
        .await;
    let versioned = server
        .post_json("/models/diabetes-ridge/versions/1/score", RIDGE_TWO_ROWS)
        .await;
    assert_eq!(
        (default.status, named.status, versioned.status),
        (200, 200, 200)
    );
    assert_eq!(default.json(), named.json());
    assert_eq!(default.json(), versioned.json());

    let digits = common::expected("digits-classifier");
    let body = serde_json::json!({ "data": digits["cases"][0]["data"] }).to_string();
    let reply = server
        .post_json("/models/digits-classifier/score", body)
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.json()["label"].is_array() && reply.json()["probabilities"].is_array());

    let unknown = server.post_json("/models/nope/score", RIDGE_TWO_ROWS).await;
    assert_eq!(
        (unknown.status, unknown.message()),
        (404, "no model named 'nope' is served here".to_owned())
    );
    let other_version = server
        .post_json("/models/diabetes-ridge/versions/2/score", RIDGE_TWO_ROWS)
        .await;
    assert_eq!(other_version.status, 404);
    assert_eq!(
        other_version.message(),
        "model 'diabetes-ridge' is served at version 1, not 2"
    );
    let bad_version = server
        .post_json("/models/diabetes-ridge/versions/x/score", RIDGE_TWO_ROWS)
        .await;
    assert_eq!(bad_version.status, 404);
    let wrong_method = server
        .send(Method::PUT, "/models/nope/score", &[], Bytes::new())
        .await;
    assert_eq!(wrong_method.status, 405);
    server.stop().await;
}

#[tokio::test]
async fn request_ids_are_answered_on_every_response() {
    let server = start(&["diabetes-ridge"]).await;
    let fresh = server.post_json("/score", RIDGE_TWO_ROWS).await;
    let id = fresh.header("x-request-id").unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(fresh.header("x-ms-request-id"), Some(id));

    let echoed = server
        .send(
            Method::POST,
            "/score",
            &[
                ("content-type", "application/json"),
                ("x-request-id", "my-req-1"),
                ("TraceId", "t-1"),
            ],
            RIDGE_TWO_ROWS,
        )
        .await;
    assert_eq!(echoed.header("x-request-id"), Some("my-req-1"));
    assert_eq!(echoed.header("x-ms-request-id"), Some("my-req-1"));
    assert_eq!(echoed.header("traceid"), Some("t-1"));

    let client = server
        .send(
            Method::GET,
            "/nowhere",
            &[("x-ms-client-request-id", "client-42")],
            Bytes::new(),
        )
        .await;
    assert_eq!(client.status, 404);
    assert_eq!(client.header("x-ms-request-id"), Some("client-42"));
    assert_eq!(client.header("x-ms-client-request-id"), Some("client-42"));
    assert_ne!(client.header("x-request-id"), Some("client-42"));

    let long = "a".repeat(101);
    let refused = server
        .send(
            Method::POST,
            "/score",
            &[
                ("content-type", "application/json"),
                ("x-request-id", &long),
            ],
            RIDGE_TWO_ROWS,
        )
        .await;
    assert_eq!(refused.status, 431);
    assert_eq!(
        refused.message(),
        "x-request-id must not exceed 100 characters"
    );
    assert!(
        refused
            .header("x-request-id")
            .is_some_and(|id| id.len() == 36)
    );
    let refused = server
        .send(
            Method::GET,
            "/",
            &[("x-ms-client-request-id", &long)],
            Bytes::new(),
        )
        .await;
    assert_eq!(refused.status, 431);
    assert_eq!(
        refused.message(),
        "x-ms-request-id and x-ms-client-request-id must not exceed 100 characters"
    );
    server.stop().await;
}
