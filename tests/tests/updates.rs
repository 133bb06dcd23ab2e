//! Model updates while serving (`inferd-lifecycle` behind the real server):
//! under steady concurrent load, new versions are registered (good ones, a
//! corrupt file, one whose answer has the wrong shape, one the engine
//! refuses), loaded and unloaded through the repository API, and the plan
//! replaced (as SIGHUP does). Every request gets a 200 from some served
//! version (its `x-ms-model-version` says which), none fails, the bad
//! versions never serve.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use inferd_auth::{Gate, KeySet, KeyStore};
use inferd_backend::TractEngine;
use inferd_engine::{Admission, AdmissionOptions, BatchPolicy, ExecutorOptions};
use inferd_lifecycle::{Lifecycle, Plan, Settings, State};
use inferd_registry::{ModelRef, Registration, Registry};
use inferd_server::{App, AppState, ServerOptions};
use tokio::task::JoinSet;

use common::scrape::value;
use common::wait::until;
use common::{TestServer, start_app};

const RIDGE_BODY: &str = r#"{"data": [[10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]}"#;
const ADMIN_KEY: &str = "admin-key-for-tests";

fn bundled(model: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(model)
        .join("1/files")
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn register(registry: &Registry, name: &str, source: &Path) -> u32 {
    registry
        .register(name, source, Registration::default())
        .unwrap()
        .version
}

/// A file that is not an ONNX model, named as one.
fn corrupt_file(dir: &Path) -> PathBuf {
    let path = dir.join("corrupt").join("model.onnx");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"this is not an ONNX model").unwrap();
    path
}

struct Updating {
    server: TestServer,
    state: Arc<AppState>,
    lifecycle: Arc<Lifecycle>,
}

/// The real server on `registry`, serving `plan` through a lifecycle that
/// polls the registry every 10 ms; the repository API behind [`ADMIN_KEY`].
async fn start_updating(registry: &Path, plan: Plan) -> Updating {
    let state = AppState::new(ServerOptions::default());
    let settings = Settings {
        registry: Registry::new(registry),
        engines: Arc::new(TractEngine),
        options: ExecutorOptions {
            workers: 1,
            ..ExecutorOptions::default()
        },
        batching: BatchPolicy::default(),
        admission: Admission::new(AdmissionOptions {
            max_concurrent: 4,
            max_queue_wait: Duration::from_secs(20),
            max_queue_length: 256,
        }),
        poll: Some(Duration::from_millis(10)),
        after_unload: None,
    };
    let publisher = state.publisher();
    let lifecycle =
        tokio::task::spawn_blocking(move || Lifecycle::start(settings, plan, publisher))
            .await
            .unwrap()
            .unwrap();
    state.set_lifecycle(lifecycle.clone());
    let keys = KeyStore::fixed(KeySet::new(Some(ADMIN_KEY), None).unwrap());
    let app = App::new(state.clone()).with_admin_gate(Gate::new(keys, Vec::new()));
    Updating {
        server: start_app(app).await,
        state,
        lifecycle,
    }
}

/// The status of one scoring request to the model served as `onehot`.
async fn onehot_status(server: &TestServer) -> u16 {
    server
        .post_json("/models/onehot/score", r#"{"data": [2]}"#)
        .await
        .status
}

/// A registry in a temporary folder holding the bundled ridge as `ridge`
/// version 1.
fn ridge_registry() -> (tempfile::TempDir, Registry) {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path().join("registry"));
    register(&registry, "ridge", &bundled("diabetes-ridge"));
    (dir, registry)
}

/// The bundled ridge's inference config entry (its samples), for `name`.
fn ridge_plan(name: &str) -> Plan {
    let mut config = common::inference_config("numpy");
    config.models[0].model = name.to_owned();
    Plan::new(&[ModelRef::latest(name)], &config.models).unwrap()
}

/// Clients scoring `path` in a loop until stopped; each answer's status and
/// version.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: JoinSet<Vec<(u16, String)>>,
}

impl Load {
    fn start(server: &TestServer, clients: usize, path: &'static str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = JoinSet::new();
        for _ in 0..clients {
            let (client, addr, stop) = (server.client.clone(), server.addr, stop.clone());
            tasks.spawn(async move {
                let server = common::TestServer::client_only(client, addr);
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let reply = server.post_json(path, RIDGE_BODY).await;
                    let version = reply.header("x-ms-model-version").unwrap_or("").to_owned();
                    if reply.status != 200 {
                        eprintln!("{}: {}", reply.status, String::from_utf8_lossy(&reply.body));
                    }
                    seen.push((reply.status, version));
                }
                seen
            });
        }
        Load { stop, tasks }
    }

    /// Stops the clients; every answer, by (status, version), counted.
    async fn finish(mut self) -> BTreeMap<(u16, String), usize> {
        self.stop.store(true, Ordering::Relaxed);
        let mut counts = BTreeMap::new();
        while let Some(seen) = self.tasks.join_next().await {
            for answer in seen.unwrap() {
                *counts.entry(answer).or_default() += 1;
            }
        }
        counts
    }
}

/// The lifecycle re-planned to serve `model` alone (as SIGHUP does).
async fn replan(lifecycle: &Arc<Lifecycle>, model: &str) -> inferd_lifecycle::Outcome {
    let (lifecycle, model) = (lifecycle.clone(), model.parse::<ModelRef>().unwrap());
    tokio::task::spawn_blocking(move || lifecycle.replan(Plan::new(&[model], &[]).unwrap(), None))
        .await
        .unwrap()
        .unwrap()
}

/// A repository API call: POST `path` with `key` (none: no Authorization).
async fn repository(
    server: &TestServer,
    path: &str,
    key: Option<&str>,
    body: &'static str,
) -> common::Reply {
    let auth = key.map(|k| format!("Bearer {k}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("authorization", auth.as_str()));
    }
    server.send(Method::POST, path, &headers, body).await
}

/// Waits until `/score` answers from `version`.
async fn until_serving(server: &TestServer, path: &str, version: u32) {
    let want = version.to_string();
    let start = std::time::Instant::now();
    loop {
        let reply = server.post_json(path, RIDGE_BODY).await;
        if reply.header("x-ms-model-version") == Some(want.as_str()) {
            return;
        }
        assert!(
            start.elapsed() < common::wait::PATIENCE,
            "version {version} never served"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn until_state(lifecycle: &Lifecycle, name: &str, version: u32, state: State) {
    until(&format!("{name}:{version} {state:?}"), || {
        lifecycle
            .states()
            .get(name, version)
            .is_some_and(|s| s.state == state)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registered_versions_go_live_under_load_and_bad_ones_never_serve() {
    let (dir, registry) = ridge_registry();
    let up = start_updating(registry.root(), ridge_plan("ridge")).await;
    let server = &up.server;
    let load = Load::start(server, 8, "/score");

    // A good version: live, and the old one drained and gone.
    assert_eq!(register(&registry, "ridge", &bundled("diabetes-ridge")), 2);
    until_serving(server, "/score", 2).await;
    until("version 1 gone", || {
        up.lifecycle.states().get("ridge", 1).is_none()
    })
    .await;

    // Three bad ones: each refused, version 2 serving on.
    let corrupt = register(&registry, "ridge", &corrupt_file(dir.path()));
    until_state(&up.lifecycle, "ridge", corrupt, State::Failed).await;
    let wide = register(&registry, "ridge", &fixture("wide-ridge.onnx"));
    until_state(&up.lifecycle, "ridge", wide, State::Failed).await;
    let refused = register(&registry, "ridge", &fixture("det-2x2.onnx"));
    until_state(&up.lifecycle, "ridge", refused, State::Failed).await;
    let reasons: Vec<String> = [corrupt, wide, refused]
        .iter()
        .map(|v| {
            up.lifecycle
                .states()
                .get("ridge", *v)
                .unwrap()
                .reason
                .unwrap()
        })
        .collect();
    assert!(reasons[1].contains("outputSample"), "{}", reasons[1]);
    assert!(reasons[2].contains("Det"), "{}", reasons[2]);

    // And a good one after them.
    let last = register(&registry, "ridge", &bundled("diabetes-ridge"));
    until_serving(server, "/score", last).await;
    let counts = load.finish().await;

    let failed: Vec<_> = counts.keys().filter(|(status, _)| *status != 200).collect();
    assert!(failed.is_empty(), "every request answered 200: {counts:?}");
    let served: Vec<&str> = counts.keys().map(|(_, v)| v.as_str()).collect();
    let last = last.to_string();
    assert!(
        served.iter().all(|v| ["1", "2", last.as_str()].contains(v)),
        "only good versions served: {counts:?}"
    );
    let total: usize = counts.values().sum();
    assert!(total > 100, "the load ran through the updates: {counts:?}");

    // The states and the counts, in the model's metadata and /metrics.
    let metadata = server.get("/v2/models/ridge").await.json();
    let states = metadata["inferd_states"].as_array().unwrap();
    assert!(
        states
            .iter()
            .any(|s| s["state"] == "failed" && s["version"].as_str() == Some(&*wide.to_string())),
        "{metadata}"
    );
    let metrics = String::from_utf8(server.get("/metrics").await.body.to_vec()).unwrap();
    let updates = |result| {
        value(
            &metrics,
            "inferd_model_updates_total",
            &[("model", "ridge"), ("result", result)],
        )
    };
    assert_eq!(updates("failed"), 3.0);
    assert_eq!(updates("live"), 2.0);
    assert_eq!(
        value(
            &metrics,
            "inferd_model_state",
            &[("model", "ridge"), ("version", &last), ("state", "live")]
        ),
        1.0
    );
    let index = server
        .send(Method::POST, "/v2/repository/index", &[], Bytes::new())
        .await
        .json();
    let unavailable = index
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["state"] == "UNAVAILABLE")
        .count();
    assert_eq!(unavailable, 3, "{index}");
    drop(up.state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_repository_api_loads_and_unloads_behind_the_admin_key() {
    let (_dir, registry) = ridge_registry();
    register(&registry, "ridge", &bundled("diabetes-ridge"));
    register(&registry, "onehot", &bundled("onehot-4"));
    let up = start_updating(registry.root(), ridge_plan("ridge")).await;
    let server = &up.server;
    let admin =
        |path: &'static str, body: &'static str| repository(server, path, Some(ADMIN_KEY), body);
    let load = Load::start(server, 4, "/score");

    // No key, a wrong key: refused, and nothing changes.
    let bare = repository(server, "/v2/repository/models/ridge/load", None, "").await;
    assert_eq!(bare.status, 401);
    let wrong = repository(server, "/v2/repository/models/ridge/load", Some("nope"), "").await;
    assert_eq!(wrong.status, 401);

    // service.update(): version 1 alone, then the latest again.
    let pinned = admin(
        "/v2/repository/models/ridge/load",
        r#"{"parameters":{"version":"1"}}"#,
    )
    .await;
    assert_eq!(pinned.status, 200, "{:?}", pinned.body);
    assert_eq!(pinned.json()["live"][0]["version"], "1");
    let answered = server.post_json("/score", RIDGE_BODY).await;
    assert_eq!(answered.header("x-ms-model-version"), Some("1"));
    let latest = admin("/v2/repository/models/ridge/load", "").await;
    assert_eq!(latest.status, 200);
    assert_eq!(
        server
            .post_json("/score", RIDGE_BODY)
            .await
            .header("x-ms-model-version"),
        Some("2")
    );

    // A second model, added and taken away; the default stays.
    let added = admin("/v2/repository/models/onehot/load", "").await;
    assert_eq!(added.status, 200, "{:?}", added.body);
    assert_eq!(onehot_status(server).await, 200);
    let removed = admin("/v2/repository/models/onehot/unload", "").await;
    assert_eq!(removed.status, 200);
    assert_eq!(onehot_status(server).await, 404);
    let default = admin("/v2/repository/models/ridge/unload", "").await;
    assert_eq!(default.status, 409);
    assert!(
        default.json()["error"]
            .as_str()
            .unwrap()
            .contains("default model")
    );
    let unknown = admin("/v2/repository/models/nobody/load", "").await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["error"].as_str().unwrap().contains("nobody"));
    let missing = admin(
        "/v2/repository/models/ridge/load",
        r#"{"parameters":{"version":"9"}}"#,
    )
    .await;
    assert_eq!(missing.status, 404, "{:?}", missing.body);
    let triton = admin(
        "/v2/repository/models/ridge/load",
        r#"{"parameters":{"config":"{}"}}"#,
    )
    .await;
    assert_eq!(triton.status, 400);

    // Loads and unloads of one model at once: each a clear answer.
    let mut racing = JoinSet::new();
    for i in 0..8 {
        let (client, addr) = (server.client.clone(), server.addr);
        racing.spawn(async move {
            let server = common::TestServer::client_only(client, addr);
            let path = if i % 2 == 0 {
                "/v2/repository/models/onehot/load"
            } else {
                "/v2/repository/models/onehot/unload"
            };
            repository(&server, path, Some(ADMIN_KEY), "").await.status
        });
    }
    while let Some(status) = racing.join_next().await {
        let status = status.unwrap();
        assert!(status == 200 || status == 404, "{status}");
    }

    let counts = load.finish().await;
    assert!(
        counts.keys().all(|(status, _)| *status == 200),
        "every scoring request answered 200: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_admin_keys_the_repository_api_is_refused() {
    let models = common::load(
        &["diabetes-ridge"],
        ExecutorOptions::default(),
        common::generous_admission(),
    )
    .await;
    let server = common::start_state(AppState::with_models(ServerOptions::default(), models)).await;
    let reply = repository(
        &server,
        "/v2/repository/models/diabetes-ridge/load",
        None,
        "",
    )
    .await;
    assert_eq!(reply.status, 403);
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap()
            .contains("need a key")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canary_split_holds_its_weights_and_versions_are_reachable() {
    let (_dir, registry) = ridge_registry();
    register(&registry, "ridge", &bundled("diabetes-ridge"));
    let mut config = common::inference_config("numpy");
    config.models[0].model = "ridge".into();
    config.models[0].versions = Some(inferd_config::VersionPolicy::All);
    config.models[0].traffic = Some([("1".to_owned(), 90), ("2".to_owned(), 10)].into());
    let plan = Plan::new(&[ModelRef::latest("ridge")], &config.models).unwrap();
    let up = start_updating(registry.root(), plan).await;
    let server = &up.server;
    let mut by_version = BTreeMap::<String, usize>::new();
    for _ in 0..1000 {
        let reply = server.post_json("/score", RIDGE_BODY).await;
        assert_eq!(reply.status, 200);
        *by_version
            .entry(reply.header("x-ms-model-version").unwrap().to_owned())
            .or_default() += 1;
    }
    let canary = by_version.get("2").copied().unwrap_or(0);
    assert!(
        (70..=130).contains(&canary),
        "10% within a few: {by_version:?}"
    );
    for version in ["1", "2"] {
        let path = format!("/models/ridge/versions/{version}/score");
        let reply = server.post_json(&path, RIDGE_BODY).await;
        assert_eq!(reply.header("x-ms-model-version"), Some(version));
        let v2 = server
            .post_json(
                &format!("/v2/models/ridge/versions/{version}/infer"),
                r#"{"inputs":[{"name":"input","shape":[1,10],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9,10]}]}"#,
            )
            .await;
        assert_eq!(v2.status, 200, "{:?}", v2.body);
        assert_eq!(v2.json()["model_version"], version);
    }
    let absent = server
        .post_json("/models/ridge/versions/3/score", RIDGE_BODY)
        .await;
    assert_eq!(absent.status, 404);
    assert!(absent.message().contains("1, 2"), "{}", absent.message());
    let metrics = String::from_utf8(server.get("/metrics").await.body.to_vec()).unwrap();
    let requests = |version| {
        value(
            &metrics,
            "inferd_requests_total",
            &[
                ("model", "ridge"),
                ("version", version),
                ("outcome", "success"),
            ],
        )
    };
    assert!(requests("2") >= canary as f64 && requests("1") > requests("2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_plan_adds_removes_and_changes_models_under_load() {
    let (_dir, registry) = ridge_registry();
    register(&registry, "onehot", &bundled("onehot-4"));
    let plan = Plan::new(
        &[ModelRef::latest("ridge"), ModelRef::latest("onehot")],
        &ridge_plan("ridge").entries(),
    )
    .unwrap();
    let up = start_updating(registry.root(), plan).await;
    let server = &up.server;
    let load = Load::start(server, 4, "/score");
    register(&registry, "ridge", &bundled("diabetes-ridge"));
    // SIGHUP's re-read config: onehot gone, ridge pinned at 1.
    let outcome = replan(&up.lifecycle, "ridge:1").await;
    assert!(outcome.refused.is_empty(), "{outcome:?}");
    until_serving(server, "/score", 1).await;
    assert_eq!(onehot_status(server).await, 404);
    // A plan naming a version that is not registered: refused, and the
    // model serves what it served.
    let refused = replan(&up.lifecycle, "ridge:7").await;
    assert_eq!(refused.refused.len(), 1, "{refused:?}");
    assert!(refused.refused[0].1.contains("no version 7"), "{refused:?}");
    let counts = load.finish().await;
    assert!(
        counts.keys().all(|(status, _)| *status == 200),
        "every request answered 200: {counts:?}"
    );
    assert_eq!(
        server
            .post_json("/score", RIDGE_BODY)
            .await
            .header("x-ms-model-version"),
        Some("1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_version_folder_written_by_hand_mid_read_is_refused_and_serving_goes_on() {
    let (_dir, registry) = ridge_registry();
    let up = start_updating(registry.root(), ridge_plan("ridge")).await;
    // A version folder copied by hand, caught half-way: its metadata is
    // there, its model file not yet.
    let half = registry.root().join("ridge").join("2");
    std::fs::create_dir_all(half.join("files")).unwrap();
    let metadata = std::fs::read_to_string(registry.root().join("ridge/1/model.json")).unwrap();
    std::fs::write(
        half.join("model.json"),
        metadata.replace("\"version\": 1", "\"version\": 2"),
    )
    .unwrap();
    until_state(&up.lifecycle, "ridge", 2, State::Failed).await;
    let reason = up
        .lifecycle
        .states()
        .get("ridge", 2)
        .unwrap()
        .reason
        .unwrap();
    assert!(reason.contains("damaged"), "{reason}");
    let reply = up.server.post_json("/score", RIDGE_BODY).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-ms-model-version"), Some("1"));
    // Registered properly, the next version serves.
    let next = register(&registry, "ridge", &bundled("diabetes-ridge"));
    until_serving(&up.server, "/score", next).await;
}
