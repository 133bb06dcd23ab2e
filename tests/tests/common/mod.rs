//! Starting the real server on an ephemeral loopback port with the bundled
//! models, and a small HTTP client to talk to it.
#![allow(dead_code)]

pub mod faulty;
pub mod scrape;
pub mod sleeper;
pub mod wait;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use inferd_backend::TractEngine;
use inferd_engine::{Admission, AdmissionOptions, ExecutorOptions, ModelSet, load_models};
use inferd_registry::{ModelRef, Registry};
use inferd_server::{App, AppState, ServerOptions, serve};
use tokio::sync::oneshot;

/// The repository's own registry, with the bundled models.
pub fn registry() -> Registry {
    Registry::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models"))
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub client: Client<HttpConnector, Full<Bytes>>,
    stop: Option<oneshot::Sender<Duration>>,
    task: Option<tokio::task::JoinHandle<bool>>,
}

/// The server with `models` (the first is the default), default options.
pub async fn start(models: &[&str]) -> TestServer {
    start_with(models, ServerOptions::default(), ExecutorOptions::default()).await
}

pub async fn start_with(
    models: &[&str],
    options: ServerOptions,
    executor: ExecutorOptions,
) -> TestServer {
    start_admitted(models, options, executor, generous_admission()).await
}

/// Admission roomy enough that tests of other things are not limited by it.
pub fn generous_admission() -> AdmissionOptions {
    AdmissionOptions {
        max_concurrent: 4,
        max_queue_wait: Duration::from_secs(10),
        max_queue_length: 1024,
    }
}

pub async fn start_admitted(
    models: &[&str],
    options: ServerOptions,
    executor: ExecutorOptions,
    admission: AdmissionOptions,
) -> TestServer {
    let models = load(models, executor, admission).await;
    start_state(AppState::with_models(options, models)).await
}

/// `models` (the first is the default) from the bundled registry on tract,
/// behind one admission gate; loaded off the async threads.
pub async fn load(
    models: &[&str],
    executor: ExecutorOptions,
    admission: AdmissionOptions,
) -> ModelSet {
    let refs: Vec<ModelRef> = models.iter().map(|m| m.parse().unwrap()).collect();
    let admission = Admission::new(admission);
    tokio::task::spawn_blocking(move || {
        load_models(&registry(), &refs, &TractEngine, executor, admission).unwrap()
    })
    .await
    .unwrap()
}

/// The repository's example inference config `examples/inference/{name}.json`.
pub fn inference_config(name: &str) -> inferd_config::InferenceConfig {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/inference")
        .join(format!("{name}.json"));
    inferd_config::InferenceConfig::from_path(&path).unwrap()
}

/// The server for an inference config: its models, their contracts and
/// documents, as `inferd serve --inference-config` builds them.
pub async fn start_inference(
    config: inferd_config::InferenceConfig,
    info: inferd_openapi::ServiceInfo,
) -> TestServer {
    let names: Vec<&str> = config.models.iter().map(|m| m.model.as_str()).collect();
    let admission = AdmissionOptions {
        max_concurrent: 2,
        max_queue_wait: Duration::from_secs(10),
        max_queue_length: 64,
    };
    let executor = ExecutorOptions {
        workers: 1,
        ..ExecutorOptions::default()
    };
    let models = load(&names, executor, admission).await;
    let state = AppState::new(ServerOptions::default());
    state.set_service_info(info);
    state.publish(models, &config.models).unwrap();
    start_state(state).await
}

/// The server over a given state (for a server whose models are not loaded yet).
pub async fn start_state(state: std::sync::Arc<AppState>) -> TestServer {
    start_app(App::new(state)).await
}

/// The server running `app`.
pub async fn start_app(app: App) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<Duration>();
    let shutdown = async move { stopped.await.unwrap_or(Duration::ZERO) };
    let task = tokio::spawn(serve(listener, app, shutdown, Duration::from_secs(5)));
    TestServer {
        addr,
        client: Client::builder(TokioExecutor::new()).build_http(),
        stop: Some(stop),
        task: Some(task),
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message in {:?}", String::from_utf8_lossy(&self.body)))
            .to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

impl TestServer {
    /// A handle that only sends (for tasks beside the test's own handle).
    pub fn client_only(client: Client<HttpConnector, Full<Bytes>>, addr: SocketAddr) -> TestServer {
        TestServer {
            addr,
            client,
            stop: None,
            task: None,
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{}", self.addr, path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body.into())).unwrap();
        let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(request))
            .await
            .expect("the server answers within 30 s")
            .expect("the request reaches the server");
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], Bytes::new()).await
    }

    /// POST with `Content-Type: application/json`.
    pub async fn post_json(&self, path: &str, body: impl Into<Bytes>) -> Reply {
        self.send(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            body,
        )
        .await
    }

    /// Stops accepting, drains, and says whether the drain finished in time.
    pub async fn stop(self) -> bool {
        self.stop_after(Duration::ZERO).await
    }

    /// Starts the shutdown with a grace period; the returned handle ends with the drain.
    pub fn begin_shutdown(&mut self, grace: Duration) -> tokio::task::JoinHandle<bool> {
        let _ = self.stop.take().unwrap().send(grace);
        self.task.take().unwrap()
    }

    pub async fn stop_after(mut self, grace: Duration) -> bool {
        self.begin_shutdown(grace).await.unwrap()
    }
}

/// The committed expected outputs of a bundled model.
pub fn expected(model: &str) -> serde_json::Value {
    let path = registry()
        .model_path(&model.parse().unwrap())
        .unwrap()
        .join("expected.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Asserts two JSON values are equal, numbers within `tolerance`.
pub fn assert_close(
    actual: &serde_json::Value,
    expected: &serde_json::Value,
    tolerance: f64,
    at: &str,
) {
    use serde_json::Value;
    match (actual, expected) {
        (Value::Number(a), Value::Number(e)) => {
            let (a, e) = (a.as_f64().unwrap(), e.as_f64().unwrap());
            assert!(
                (a - e).abs() <= tolerance,
                "{at}: {a} differs from the expected {e}"
            );
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "{at}: length");
            for (i, (a, e)) in a.iter().zip(e).enumerate() {
                assert_close(a, e, tolerance, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(a), Value::Object(e)) => {
            let keys = |m: &serde_json::Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(a), keys(e), "{at}: keys");
            for (k, e) in e {
                assert_close(&a[k], e, tolerance, &format!("{at}.{k}"));
            }
        }
        _ => panic!("{at}: {actual} is not like the expected {expected}"),
    }
}
