//! Waiting for an event itself, with a bound, instead of sleeping a guessed
//! time and hoping it happened: a loaded machine can stretch any guess.

use std::time::{Duration, Instant};

use super::TestServer;
use super::scrape::value;

/// How long a test waits for an event before it fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `done` every couple of milliseconds until it holds; panics, naming
/// `what`, after [`PATIENCE`].
pub async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "waited {PATIENCE:?} for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Scrapes `/metrics` until the series `name` with `labels` reads `want`;
/// panics after [`PATIENCE`] with the last value seen.
pub async fn metric(server: &TestServer, name: &str, labels: &[(&str, &str)], want: f64) {
    let start = Instant::now();
    loop {
        let reply = server.get("/metrics").await;
        assert_eq!(reply.status, 200);
        let text = String::from_utf8(reply.body.to_vec()).unwrap();
        let seen = value(&text, name, labels);
        if seen == want {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "waited {PATIENCE:?} for {name}{labels:?} to read {want}; it reads {seen}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
