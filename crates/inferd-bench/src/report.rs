//! What a run shows: a progress bar while a step runs, a table line per
//! step, and the JSON report.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::protocol::{BodyFormat, Protocol};
use crate::stats::Step;

/// A whole run, as written to `--json` (and read back by `--with`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub label: String,
    pub url: String,
    pub mode: String,
    /// What the requests spoke, so tables of several runs tell them apart.
    /// Reports from before v2 have neither: `score`, `json`.
    #[serde(default)]
    pub protocol: Protocol,
    #[serde(default)]
    pub body_format: BodyFormat,
    pub body_bytes: usize,
    pub steps: Vec<Step>,
}

pub fn header() -> String {
    format!(
        "{:>6} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}  statuses",
        "conc", "rate", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    )
}

pub fn row(step: &Step) -> String {
    let rate = step.rate.map_or("-".to_owned(), |r| format!("{r:.0}"));
    let statuses: Vec<String> = step
        .statuses
        .iter()
        .map(|(s, share)| format!("{s}:{:.1}%", share * 100.0))
        .collect();
    format!(
        "{:>6} {:>9} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>9.3}  {}",
        step.concurrency,
        rate,
        step.throughput,
        step.p50_ms,
        step.p90_ms,
        step.p99_ms,
        step.max_ms,
        statuses.join(" ")
    )
}

/// Draws `[#####.....] 3.1/10.0 s  12345 req` on stderr until dropped; only
/// on a terminal, so logs and pipes stay clean.
pub struct ProgressBar {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ProgressBar {
    pub fn start(label: String, total: Duration, done: Arc<AtomicU64>) -> ProgressBar {
        if !std::io::stderr().is_terminal() {
            return ProgressBar { stop: None };
        }
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let began = Instant::now();
        tokio::spawn(async move {
            loop {
                let elapsed = began.elapsed().min(total);
                let filled =
                    (30.0 * elapsed.as_secs_f64() / total.as_secs_f64().max(1e-9)) as usize;
                eprint!(
                    "\r{label} [{}{}] {:.1}/{:.1} s {:>9} req",
                    "#".repeat(filled.min(30)),
                    ".".repeat(30 - filled.min(30)),
                    elapsed.as_secs_f64(),
                    total.as_secs_f64(),
                    done.load(Ordering::Relaxed)
                );
                let _ = std::io::stderr().flush();
                tokio::select! {
                    _ = &mut stopped => break,
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
            eprint!("\r\x1b[2K");
        });
        ProgressBar { stop: Some(stop) }
    }
}

impl Drop for ProgressBar {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
