//! Keys and TLS on the real server: every route refuses a missing or wrong
//! key and takes either key; keys rotated through a file while traffic runs
//! fail no request; HTTPS with a real client (reqwest over rustls) on a
//! certificate made here, over HTTP/1.1 and HTTP/2, TLS 1.2 and 1.3; plain
//! HTTP on the TLS port is closed and the server keeps serving.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use inferd_auth::{DEFAULT_OPEN_ROUTES, Gate, KeySet, KeyStore};
use inferd_engine::ExecutorOptions;
use inferd_server::{App, AppState, ServerOptions, serve_tls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

const PRIMARY: &str = "primary-key-0123456789";
const SECONDARY: &str = "secondary-key-0123456789";
const ROW: &str = r#"{"data": [[10,9,8,7,6,5,4,3,2,1]]}"#;

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<Duration>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(Duration::ZERO);
        }
    }
}

async fn start(keys: Option<Arc<KeyStore>>, tls: Option<Arc<inferd_tls::ServerConfig>>) -> Server {
    let models = common::load(
        &["diabetes-ridge"],
        ExecutorOptions::default(),
        common::generous_admission(),
    )
    .await;
    let mut app = App::new(AppState::with_models(ServerOptions::default(), models));
    if let Some(keys) = keys {
        let open = DEFAULT_OPEN_ROUTES.iter().map(|s| s.to_string()).collect();
        app = app.with_gate(Gate::new(keys, open));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<Duration>();
    let shutdown = async move { stopped.await.unwrap_or(Duration::ZERO) };
    tokio::spawn(serve_tls(
        listener,
        app,
        shutdown,
        Duration::from_secs(5),
        tls,
    ));
    Server {
        addr,
        stop: Some(stop),
    }
}

fn fixed_keys() -> Arc<KeyStore> {
    KeyStore::fixed(KeySet::new(Some(PRIMARY), Some(SECONDARY)).unwrap())
}

fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Method, path, body, and the status a valid key gets.
const ROUTES: &[(&str, &str, &str, u16)] = &[
    ("POST", "/score", ROW, 200),
    ("GET", "/score?data=[[10,9,8,7,6,5,4,3,2,1]]", "", 200),
    ("POST", "/models/diabetes-ridge/score", ROW, 200),
    ("POST", "/models/diabetes-ridge/versions/1/score", ROW, 200),
    ("POST", "/models/nope/score", ROW, 404),
    ("GET", "/no-such-route", "", 404),
    ("DELETE", "/score", "", 405),
    ("POST", "/v2/models/diabetes-ridge/infer", V2_ROW, 200),
    ("GET", "/v2/models/diabetes-ridge", "", 200),
    ("GET", "/v2", "", 200),
];

const V2_ROW: &str = r#"{"inputs": [{"name": "input", "shape": [1, 10], "datatype": "FP32", "data": [10,9,8,7,6,5,4,3,2,1]}]}"#;

async fn call(
    client: &reqwest::Client,
    base: &str,
    (method, path, body): (&str, &str, &str),
    authorization: Option<&str>,
) -> reqwest::Response {
    let mut request = client
        .request(method.parse().unwrap(), format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_the_open_ones_needs_a_key() {
    let server = start(Some(fixed_keys()), None).await;
    let client = plain_client();
    let base = format!("http://{}", server.addr);
    for &(method, path, body, ok) in ROUTES {
        let at = format!("{method} {path}");
        let route = (method, path, body);
        let missing = call(&client, &base, route, None).await;
        assert_eq!(missing.status(), 401, "{at}: no key");
        assert_eq!(missing.headers()["www-authenticate"], "Bearer", "{at}");
        let message: serde_json::Value =
            serde_json::from_slice(&missing.bytes().await.unwrap()).unwrap();
        // Each protocol's error shape: v2 routes say {"error": ...}.
        let field = if path.starts_with("/v2") {
            "error"
        } else {
            "message"
        };
        assert!(
            message[field]
                .as_str()
                .unwrap()
                .contains("Authorization: Bearer"),
            "{at}: {message}"
        );
        let wrong = call(&client, &base, route, Some("Bearer primary-key-0123456788")).await;
        assert_eq!(wrong.status(), 401, "{at}: wrong key");
        assert_eq!(
            wrong.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\"",
            "{at}"
        );
        assert!(wrong.headers().contains_key("x-request-id"), "{at}");
        let basic = call(&client, &base, route, Some(&format!("Basic {PRIMARY}"))).await;
        assert_eq!(basic.status(), 401, "{at}: another scheme");
        let bare = call(&client, &base, route, Some(PRIMARY)).await;
        assert_eq!(bare.status(), 401, "{at}: no scheme");
        for key in [PRIMARY, SECONDARY] {
            let good = call(&client, &base, route, Some(&format!("Bearer {key}"))).await;
            assert_eq!(good.status(), ok, "{at} with a valid key");
        }
    }
    for open in ["/", "/ready", "/v2/health/live", "/v2/health/ready"] {
        let reply = call(&client, &base, ("GET", open, ""), None).await;
        assert_eq!(reply.status(), 200, "{open} stays open");
    }
    // A CORS preflight never carries credentials.
    let preflight = call(&client, &base, ("OPTIONS", "/score", ""), None).await;
    assert_eq!(preflight.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auth_no_key_is_asked() {
    let server = start(None, None).await;
    let reply = call(
        &plain_client(),
        &format!("http://{}", server.addr),
        ("POST", "/score", ROW),
        None,
    )
    .await;
    assert_eq!(reply.status(), 200);
}

/// Replaces the file the way a Secret update does: a new file renamed over it.
fn write_keys(path: &Path, primary: &str, secondary: &str) {
    let staged = path.with_extension("new");
    std::fs::write(
        &staged,
        format!(r#"{{"primaryKey": "{primary}", "secondaryKey": "{secondary}"}}"#),
    )
    .unwrap();
    std::fs::rename(staged, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotated_through_the_file_fail_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let (a, b, c, d) = (
        "key-a-0123456789abcdef",
        "key-b-0123456789abcdef",
        "key-c-0123456789abcdef",
        "key-d-0123456789abcdef",
    );
    write_keys(&path, a, b);
    let store = KeyStore::watch_file(&path, Duration::from_millis(20)).unwrap();
    let server = start(Some(store), None).await;
    let base = format!("http://{}", server.addr);

    // Clients use the key they were last told; it stays valid throughout,
    // since one key changes at a time.
    let key = Arc::new(std::sync::Mutex::new(b.to_owned()));
    let running = Arc::new(AtomicBool::new(true));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    // Each client's answered requests: one answered after a moment means
    // the request it had out then is done, and the next reads the key anew.
    let answered: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
    let mut traffic = Vec::new();
    for client in 0..4 {
        let (key, running, sent, failed, answered) = (
            key.clone(),
            running.clone(),
            sent.clone(),
            failed.clone(),
            answered.clone(),
        );
        let base = base.clone();
        traffic.push(tokio::spawn(async move {
            let http = plain_client();
            while running.load(Ordering::Relaxed) {
                let value = format!("Bearer {}", key.lock().unwrap());
                let reply = call(&http, &base, ("POST", "/score", ROW), Some(&value)).await;
                sent.fetch_add(1, Ordering::Relaxed);
                if reply.status() != 200 {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                answered[client].fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Waits until every client has had `n` more requests answered: traffic
    // ran with the keys in force now, and no request still carries a key a
    // client was told before.
    let each_answered = |n: u64| {
        let answered = answered.clone();
        async move {
            let from: Vec<u64> = answered.iter().map(|a| a.load(Ordering::Relaxed)).collect();
            let started = std::time::Instant::now();
            while answered
                .iter()
                .zip(&from)
                .any(|(a, from)| a.load(Ordering::Relaxed) < from + n)
            {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "the clients' traffic stalled"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let client = plain_client();
    let status = |k: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            call(
                &client,
                &base,
                ("POST", "/score", ROW),
                Some(&format!("Bearer {k}")),
            )
            .await
            .status()
            .as_u16()
        }
    };
    let eventually = |k: &'static str, want: u16| async move {
        for _ in 0..500 {
            if status(k).await == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{k} never answered {want}");
    };
    each_answered(3).await;
    // Step 1: the primary key is replaced; the secondary carries traffic.
    write_keys(&path, c, b);
    eventually(a, 401).await;
    assert_eq!(status(c).await, 200);
    *key.lock().unwrap() = c.to_owned();
    // Every client has moved to the new primary (its requests with the
    // secondary are answered), and sent more with it.
    each_answered(3).await;
    // Step 2: the secondary is replaced; traffic has moved to the new primary.
    write_keys(&path, c, d);
    eventually(b, 401).await;
    assert_eq!(status(d).await, 200);
    each_answered(3).await;
    running.store(false, Ordering::Relaxed);
    for task in traffic {
        task.await.unwrap();
    }
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(
        sent > 20,
        "traffic ran during the rotation ({sent} requests)"
    );
    assert_eq!(
        failed, 0,
        "{failed} of {sent} requests failed during the rotation"
    );
}

struct Certificate {
    _dir: tempfile::TempDir,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    der: Vec<u8>,
}

fn certificate() -> Certificate {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    Certificate {
        _dir: dir,
        cert: cert_path,
        key: key_path,
        der: cert.der().to_vec(),
    }
}

fn tls_client(
    cert: &Certificate,
    addr: SocketAddr,
    configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> reqwest::Client {
    let root = reqwest::Certificate::from_der(&cert.der).unwrap();
    configure(
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(root)
            .resolve("localhost", addr)
            .timeout(Duration::from_secs(30)),
    )
    .build()
    .unwrap()
}

/// How a case sets up its client.
type Configure = fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_real_client_over_both_protocols_and_versions() {
    let cert = certificate();
    let loaded = inferd_tls::load(&cert.cert, &cert.key).unwrap();
    let server = start(Some(fixed_keys()), Some(loaded.config)).await;
    let base = format!("https://localhost:{}", server.addr.port());
    let bearer = format!("Bearer {PRIMARY}");
    let cases: [(&str, Configure, reqwest::Version); 3] = [
        ("ALPN default", |b| b, reqwest::Version::HTTP_2),
        (
            "HTTP/1.1 only",
            |b| b.http1_only(),
            reqwest::Version::HTTP_11,
        ),
        (
            "TLS 1.2",
            |b| b.max_tls_version(reqwest::tls::Version::TLS_1_2),
            reqwest::Version::HTTP_2,
        ),
    ];
    for (name, configure, version) in cases {
        let client = tls_client(&cert, server.addr, configure);
        let reply = call(&client, &base, ("POST", "/score", ROW), Some(&bearer)).await;
        assert_eq!(reply.status(), 200, "{name}");
        assert_eq!(reply.version(), version, "{name}");
        let value: serde_json::Value =
            serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap();
        assert_eq!(value.as_array().unwrap().len(), 1, "{name}: {value}");
        let refused = call(&client, &base, ("POST", "/score", ROW), None).await;
        assert_eq!(refused.status(), 401, "{name}: keys still apply over TLS");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_on_the_tls_port_is_closed_and_the_server_keeps_serving() {
    let cert = certificate();
    let loaded = inferd_tls::load(&cert.cert, &cert.key).unwrap();
    let server = start(None, Some(loaded.config)).await;
    for _ in 0..3 {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .expect("the server closes the connection at once");
        // Closed, or reset after a TLS alert: never an HTTP answer.
        if read.is_ok() {
            assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
            assert!(answer.len() < 64, "at most a TLS alert: {answer:?}");
        }
    }
    // A client that trusts nothing fails its handshake; the server is unaffected.
    let untrusting = reqwest::Client::builder()
        .use_rustls_tls()
        .resolve("localhost", server.addr)
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", server.addr.port());
    assert!(untrusting.get(format!("{base}/")).send().await.is_err());
    let client = tls_client(&cert, server.addr, |b| b);
    let reply = call(&client, &base, ("POST", "/score", ROW), None).await;
    assert_eq!(reply.status(), 200);
}
