//! Many clients at once, several models at once: every answer is the right
//! one for its own request.

mod common;

use std::sync::Arc;

use common::{assert_close, expected, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_clients_each_get_their_own_answer() {
    let server = Arc::new(start(&["diabetes-ridge", "digits-classifier", "mlp-784"]).await);
    let mut cases = Vec::new();
    for model in ["diabetes-ridge", "digits-classifier", "mlp-784"] {
        let expected = expected(model);
        let case = expected["cases"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        let rows = case["data"].as_array().unwrap().clone();
        let outputs = case["outputs"].as_object().unwrap().clone();
        for (row_index, row) in rows.into_iter().enumerate() {
            // The expected answer for this row alone: row `row_index` of every output.
            let mut answer = serde_json::Map::new();
            for (name, values) in &outputs {
                answer.insert(name.clone(), serde_json::json!([values[row_index].clone()]));
            }
            let answer = if answer.len() == 1 {
                answer.into_iter().next().unwrap().1
            } else {
                serde_json::Value::Object(answer)
            };
            cases.push((
                model,
                serde_json::json!({ "data": [row] }).to_string(),
                answer,
            ));
        }
    }
    let cases = Arc::new(cases);
    let clients = 32;
    let requests_per_client = 12;
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (server, cases) = (server.clone(), cases.clone());
            tokio::spawn(async move {
                for i in 0..requests_per_client {
                    let (model, body, answer) = &cases[(client * 7 + i * 3) % cases.len()];
                    let reply = server
                        .post_json(&format!("/models/{model}/score"), body.clone())
                        .await;
                    assert_eq!(reply.status, 200, "{model}");
                    assert_close(
                        &reply.json(),
                        answer,
                        1e-4,
                        &format!("client {client} request {i} {model}"),
                    );
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    Arc::into_inner(server).unwrap().stop().await;
}
