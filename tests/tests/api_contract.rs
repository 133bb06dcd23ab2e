//! The contract that the inference config declares, on the real server:
//! the documents at `/swagger.json`, and each rejection of a request that
//! does not fit the schema, with its message.

mod common;

use common::{TestServer, inference_config, start_inference};
use hyper::Method;
use inferd_openapi::ServiceInfo;
use serde_json::{Value, json};

async fn server(name: &str) -> TestServer {
    start_inference(inference_config(name), ServiceInfo::default()).await
}

fn row(values: &[(&str, Value)]) -> Value {
    Value::Object(
        values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

fn diabetes_record() -> Vec<(&'static str, Value)> {
    vec![
        ("age", json!(59)),
        ("sex", json!(2)),
        ("bmi", json!(32.1)),
        ("bp", json!(101.0)),
        ("s1", json!(157)),
        ("s2", json!(93.2)),
        ("s3", json!(38.0)),
        ("s4", json!(4.0)),
        ("s5", json!(4.8598)),
        ("s6", json!(87)),
    ]
}

#[tokio::test]
async fn documents_are_served_in_three_versions() {
    let server = server("numpy").await;
    let v2 = server.get("/swagger.json").await;
    assert_eq!(v2.status, 200);
    assert_eq!(v2.header("content-type"), Some("application/json"));
    assert_eq!(v2.json()["swagger"], "2.0");
    assert_eq!(server.get("/swagger.json?version=2.0").await.body, v2.body);
    let v3 = server.get("/swagger.json?version=3").await.json();
    assert_eq!(v3["openapi"], "3.0.3");
    let input = &v3["components"]["schemas"]["ServiceInput"];
    assert_eq!(input["required"], json!(["data"]));
    assert_eq!(
        input["example"],
        json!({"data": [[10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]})
    );
    let data = &input["properties"]["data"];
    assert_eq!(data["format"], "numpy.ndarray");
    assert_eq!(data["minItems"], 1);
    assert_eq!(data["items"]["minItems"], 10);
    assert_eq!(data["items"]["maxItems"], 10);
    assert_eq!(data["items"]["items"]["type"], "number");
    assert_eq!(data["items"]["items"]["format"], "float");
    assert_eq!(
        server.get("/swagger.json?version=3.1").await.json()["openapi"],
        "3.1.0"
    );
    for bad in ["4", "abc", ""] {
        let reply = server.get(&format!("/swagger.json?version={bad}")).await;
        assert_eq!(reply.status, 404, "{bad}");
        assert_eq!(
            reply.message(),
            format!("Swagger version [{bad}] is not valid. Supported versions: [2, 3, 3.1].")
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn the_path_prefix_moves_every_route() {
    let info = ServiceInfo {
        path_prefix: "/api/v1".into(),
        title: "diabetes-svc".into(),
        ..ServiceInfo::default()
    };
    let server = start_inference(inference_config("numpy"), info).await;
    let doc = server.get("/api/v1/swagger.json").await.json();
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    let (v2, contract): (Vec<&String>, Vec<&String>) =
        paths.into_iter().partition(|p| p.starts_with("/api/v1/v2"));
    assert_eq!(
        contract,
        ["/api/v1/", "/api/v1/score", "/api/v1/swagger.json"]
    );
    assert!(v2.iter().any(|p| p.ends_with("/infer")), "{v2:?}");
    let model = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .find_map(|p| p.strip_prefix("/api/v1/v2/models/")?.strip_suffix("/infer"))
        .unwrap()
        .to_owned();
    let metadata = server.get(&format!("/api/v1/v2/models/{model}")).await;
    assert_eq!(metadata.status, 200, "{:?}", metadata.body);
    assert_eq!(doc["info"]["title"], "diabetes-svc");
    let reply = server
        .post_json("/api/v1/score", r#"{"data": [[1,2,3,4,5,6,7,8,9,10]]}"#)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(server.get("/api/v1/").await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn pandas_records_score_like_the_same_rows() {
    let server = server("pandas").await;
    let records = json!({"data": [row(&diabetes_record())]});
    let by_records = server.post_json("/score", records.to_string()).await;
    assert_eq!(by_records.status, 200, "{:?}", by_records.body);
    let values: Vec<Value> = diabetes_record().into_iter().map(|(_, v)| v).collect();
    // The same row as a plain array, to the same model without a config.
    let plain = common::start(&["diabetes-ridge"]).await;
    let by_rows = plain
        .post_json("/score", json!({"data": [values]}).to_string())
        .await;
    assert_eq!(by_records.json(), by_rows.json());
    plain.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn pandas_rejections_name_the_place() {
    let server = server("pandas").await;
    let with = |key: &str, value: Value| {
        let mut record = diabetes_record();
        record.iter_mut().find(|(k, _)| *k == key).unwrap().1 = value;
        record
    };
    let mut missing = diabetes_record();
    missing.retain(|(k, _)| *k != "bmi");
    let mut extra = diabetes_record();
    extra.push(("children", json!(2)));
    let cases: Vec<(Value, &str)> = vec![
        (
            json!([row(&diabetes_record()), row(&with("age", json!(2.7)))]),
            "data[1].age: column 'age' expects an integer, received 2.7, which is not an integer",
        ),
        (
            json!([row(&with("bmi", json!("32.1")))]),
            "data[0].bmi: column 'bmi' expects a number, received a string",
        ),
        (
            json!([row(&with("s6", json!(null)))]),
            "data[0].s6: column 's6' expects an integer, received null",
        ),
        (
            json!([row(&missing)]),
            "data[0]: missing column 'bmi'; the columns are 'age', 'sex', 'bmi', 'bp', 's1', 's2', 's3', 's4', 's5', 's6'",
        ),
        (
            json!([row(&extra)]),
            "data[0]: unknown column 'children'; the columns are 'age', 'sex', 'bmi', 'bp', 's1', 's2', 's3', 's4', 's5', 's6'",
        ),
        (
            json!([[59, 2, 32.1, 101.0, 157, 93.2, 38.0, 4.0, 4.8598, 87]]),
            "data[0]: expected a record (an object keyed by column), received a list",
        ),
        (
            json!([]),
            "data: expected a list of records, received an empty list",
        ),
    ];
    for (data, message) in cases {
        let reply = server
            .post_json("/score", json!({"data": data}).to_string())
            .await;
        assert_eq!(reply.status, 400, "{data}");
        assert_eq!(reply.message(), message);
    }
    server.stop().await;
}

#[tokio::test]
async fn standard_entry_with_data_field_and_records() {
    let server = server("standard").await;
    let doc = server.get("/swagger.json?version=3").await.json();
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert!(
        paths.contains(&&"/models/onehot-4/score".to_owned()),
        "{paths:?}"
    );
    assert_eq!(
        doc["components"]["schemas"]["ServiceInput_onehot-4"]["required"],
        json!(["indices"])
    );

    // onehot-4 takes its data under "indices", int64 only.
    let reply = server
        .post_json("/models/onehot-4/score", r#"{"indices": [2, 0]}"#)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!([[0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    );
    let reply = server
        .post_json("/models/onehot-4/score", r#"{"data": [2, 0]}"#)
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.message(),
        "no value given for 'indices'; send {\"indices\": [[...]]}"
    );
    let reply = server
        .post_json("/models/onehot-4/score", r#"{"indices": [2, 1.5]}"#)
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.message(),
        "indices[1]: input 'indices' expects int64, received 1.5, which is not an integer"
    );
    let reply = server
        .post_json("/models/onehot-4/score", r#"{"indices": [2, "1"]}"#)
        .await;
    assert_eq!(
        reply.message(),
        "indices[1]: input 'indices' expects int64, received a string"
    );

    // digits-classifier answers one record per row.
    let row: Vec<f64> = (0..64).map(|i| f64::from(i % 16)).collect();
    let reply = server
        .post_json("/score", json!({"data": [row, row]}).to_string())
        .await;
    assert_eq!(reply.status, 200);
    let records = reply.json();
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 2);
    assert!(records[0]["label"].is_i64());
    assert_eq!(records[0]["probabilities"].as_array().unwrap().len(), 10);
    let ragged = json!({"data": [row, [1.0, 2.0]]});
    let reply = server.post_json("/score", ragged.to_string()).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.message(),
        "data[1]: rows differ in length (ragged); expected a list of 64, received a list of 2"
    );
    server.stop().await;
}

#[tokio::test]
async fn every_documented_method_is_served_and_allow_lists_exactly_them() {
    let server = server("numpy").await;
    for version in ["2", "3", "3.1"] {
        let doc = server
            .get(&format!("/swagger.json?version={version}"))
            .await
            .json();
        for (path, item) in doc["paths"].as_object().unwrap() {
            let mut documented: Vec<String> = item
                .as_object()
                .unwrap()
                .keys()
                .map(|m| m.to_uppercase())
                .collect();
            documented.sort();
            // A method not documented is refused, and Allow names the documented ones.
            let path = path.replace("{model_version}", "1");
            let refused = server.send(Method::DELETE, &path, &[], "").await;
            assert_eq!(refused.status, 405, "DELETE {path}");
            let mut allow: Vec<String> = refused
                .header("allow")
                .unwrap()
                .split(", ")
                .map(str::to_owned)
                .collect();
            allow.sort();
            assert_eq!(allow, documented, "v{version} {path}");
        }
    }
    // Each added method answers as its document says.
    let head = server.send(Method::HEAD, "/", &[], "").await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    let head = server
        .send(Method::HEAD, "/swagger.json?version=3", &[], "")
        .await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    let options = server.send(Method::OPTIONS, "/score", &[], "").await;
    assert_eq!(options.status, 200);
    assert_eq!(options.header("allow"), Some("GET, POST, OPTIONS"));
    let by_query = server
        .get("/score?data=%5B%5B10%2C+9%2C+8%2C+7%2C+6%2C+5%2C+4%2C+3%2C+2%2C+1e%2B0%5D%5D")
        .await;
    assert_eq!(by_query.status, 200, "{:?}", by_query.body);
    let by_body = server
        .post_json("/score", r#"{"data": [[10,9,8,7,6,5,4,3,2,1]]}"#)
        .await;
    assert_eq!(by_query.json(), by_body.json());
    let v3 = server.get("/swagger.json?version=3").await.json();
    let get = &v3["paths"]["/score"]["get"];
    assert_eq!(get["operationId"], "RunMLServiceQuery");
    assert_eq!(get["parameters"][0]["name"], "data");
    assert_eq!(get["parameters"][0]["in"], "query");
    assert_eq!(
        get["parameters"][0]["content"]["application/json"]["schema"],
        v3["components"]["schemas"]["ServiceInput"]["properties"]["data"]
    );
    server.stop().await;
}

#[tokio::test]
async fn float32_inputs_refuse_an_integer_one_past_their_bound() {
    let server = server("numpy").await;
    const AT: &str = "340282346638528859811704183484516925440";
    const BEYOND: &str = "340282346638528859811704183484516925441";
    let body = |x: &str| format!(r#"{{"data": [[{x},9,8,7,6,5,4,3,2,1]]}}"#);
    let reply = server
        .post_json("/score", body(&format!("-{BEYOND}")))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.message(),
        format!(
            "data[0][0]: input 'input' expects float32, received -{BEYOND}, which is out of range for float32"
        )
    );
    let reply = server
        .get(&format!("/score?data=[[1,2,3,4,5,6,7,8,9,{BEYOND}]]"))
        .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.message().starts_with("data[0][9]: "),
        "{}",
        reply.message()
    );
    // The bound itself is in range, whatever the model makes of it.
    let reply = server.post_json("/score", body(&format!("-{AT}"))).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    server.stop().await;
}
