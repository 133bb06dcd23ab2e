//! Every bad input of the contract gets its status and a message that says
//! what was wrong and where; the server keeps serving afterwards.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{start, start_with};
use hyper::Method;
use inferd_engine::ExecutorOptions;
use inferd_server::ServerOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GOOD: &str = r#"{"data": [[1,2,3,4,5,6,7,8,9,10]]}"#;

/// (body, expected status, expected message)
const BAD_BODIES: &[(&str, u16, &str)] = &[
    (
        "",
        400,
        "request body is empty; expected a JSON object such as {\"data\": [[...]]}",
    ),
    (
        "{\"data\": [[1,2,3,4,5,6,7,8,9,",
        400,
        "request body is not valid JSON: EOF while parsing a value at line 1 column 29",
    ),
    (
        "{\"data\": [[1,2,3,4,5,6,7,8,9,NaN]]}",
        400,
        "request body is not valid JSON: expected value at line 1 column 30",
    ),
    (
        "{\"data\": [[1,2,3,4,5,6,7,8,9,1e400]]}",
        400,
        "request body is not valid JSON: number out of range at line 1 column 34",
    ),
    (
        "[[1,2,3,4,5,6,7,8,9,10]]",
        400,
        "request body must be a JSON object with the input under \"data\"; received a list",
    ),
    (
        "\"text\"",
        400,
        "request body must be a JSON object with the input under \"data\"; received a string",
    ),
    (
        "{\"rows\": [[1,2,3,4,5,6,7,8,9,10]]}",
        400,
        "no value given for 'data'; send {\"data\": [[...]]}",
    ),
    (
        "{\"data\": [[1,2,3,4,5,6,7,8,9]]}",
        400,
        "data: input 'input' expects shape [N, 10] (float32), received shape [1, 9]",
    ),
    (
        "{\"data\": [1,2,3,4,5,6,7,8,9,10]}",
        400,
        "data: input 'input' expects shape [N, 10] (float32), received shape [10]",
    ),
    (
        "{\"data\": [[[1,2,3,4,5,6,7,8,9,10]]]}",
        400,
        "data: input 'input' expects shape [N, 10] (float32), received shape [1, 1, 10]",
    ),
    (
        "{\"data\": [[1,2,3,4,5,6,7,8,9,10],[1,2]]}",
        400,
        "data[1]: rows differ in length (ragged); expected a list of 10, received a list of 2",
    ),
    (
        "{\"data\": [[1,2,3,4,5,6,7,8,9,\"10\"]]}",
        400,
        "data[0][9]: input 'input' expects float32, received a string",
    ),
    (
        "{\"data\": [[1,2,3,4,null,6,7,8,9,10]]}",
        400,
        "data[0][4]: input 'input' expects float32, received null",
    ),
    (
        "{\"data\": [[1,2,3,4,5,6,7,8,9,true]]}",
        400,
        "data[0][9]: input 'input' expects float32, received a boolean",
    ),
    (
        "{\"data\": [[1,2,3,4,5,6,7,8,9,1e39]]}",
        400,
        "data[0][9]: input 'input' expects float32, received 1e+39, which is out of range for float32",
    ),
    (
        "{\"data\": []}",
        400,
        "data: input 'input' expects shape [N, 10] (float32), received an empty list",
    ),
    (
        "{\"data\": null}",
        400,
        "data: input 'input' expects shape [N, 10] (float32), received shape []",
    ),
    (
        "{\"data\": \"1,2,3\"}",
        400,
        "data: input 'input' expects shape [N, 10] (float32), received shape []",
    ),
    (
        "{\"data\": {\"input\": 1}}",
        400,
        "data: input 'input' expects shape [N, 10] (float32), received shape []",
    ),
];

#[tokio::test]
async fn each_bad_body_gets_its_status_and_message() {
    let server = start(&["diabetes-ridge"]).await;
    for (body, status, message) in BAD_BODIES {
        let reply = server.post_json("/score", *body).await;
        assert_eq!(reply.status, *status, "{body}");
        assert_eq!(reply.message(), *message, "{body}");
        assert_eq!(
            reply.header("x-ms-run-function-failed"),
            Some("False"),
            "{body}"
        );
    }
    assert_eq!(
        server.post_json("/score", GOOD).await.status,
        200,
        "still serving"
    );
    server.stop().await;
}

#[tokio::test]
async fn invalid_utf8_is_a_400() {
    let server = start(&["diabetes-ridge"]).await;
    let body = Bytes::from_static(b"{\"data\": [[1,2,3,4,5,6,7,8,9,10]], \"x\": \"\xff\xfe\"}");
    let reply = server.post_json("/score", body).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.message(),
        "request body is not valid UTF-8 (invalid byte at offset 41)"
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_query_strings_are_400() {
    let server = start(&["diabetes-ridge"]).await;
    let reply = server.get("/score?data=%5B%5B1,2").await;
    assert_eq!(reply.status, 400);
    assert!(
        reply
            .message()
            .starts_with("query parameter 'data' is not valid JSON"),
        "{}",
        reply.message()
    );
    let reply = server.get("/score?data=%5B%5B1,2%5D%5D").await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.message(),
        "data: input 'input' expects shape [N, 10] (float32), received shape [1, 2]"
    );
    server.stop().await;
}

#[tokio::test]
async fn only_json_content_types_are_accepted() {
    let server = start(&["diabetes-ridge"]).await;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/octet-stream"),
    ] {
        let headers: Vec<(&str, &str)> = content_type
            .map(|t| ("content-type", t))
            .into_iter()
            .collect();
        let reply = server.send(Method::POST, "/score", &headers, GOOD).await;
        assert_eq!(reply.status, 415, "{content_type:?}");
        assert_eq!(
            reply.message(),
            "Expects Content-Type to be application/json"
        );
    }
    for content_type in [
        "application/json; charset=utf-8",
        "application/problem+json",
    ] {
        let reply = server
            .send(
                Method::POST,
                "/score",
                &[("content-type", content_type)],
                GOOD,
            )
            .await;
        assert_eq!(reply.status, 200, "{content_type}");
    }
    server.stop().await;
}

async fn small_limit_server() -> common::TestServer {
    let options = ServerOptions {
        max_body_bytes: 1024,
        ..ServerOptions::default()
    };
    start_with(&["diabetes-ridge"], options, ExecutorOptions::default()).await
}

#[tokio::test]
async fn a_body_past_the_limit_is_413() {
    let server = small_limit_server().await;
    let rows = vec!["[1,2,3,4,5,6,7,8,9,10]"; 100].join(",");
    let reply = server
        .post_json("/score", format!("{{\"data\": [{rows}]}}"))
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(
        reply.message(),
        "request body exceeds the limit of 1024 bytes"
    );
    assert_eq!(server.post_json("/score", GOOD).await.status, 200);
    server.stop().await;
}

/// A chunked body declares no length: the limit must hold while reading.
#[tokio::test]
async fn a_chunked_body_past_the_limit_is_413_while_reading() {
    let server = small_limit_server().await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = "POST /score HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("200\r\n{}\r\n", " ".repeat(0x200));
    // Three chunks pass the limit; the server answers without waiting for the end.
    for _ in 0..3 {
        stream.write_all(chunk.as_bytes()).await.unwrap();
    }
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("answered before the body ended")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(
        text.contains("request body exceeds the limit of 1024 bytes"),
        "{text}"
    );
    server.stop().await;
}
