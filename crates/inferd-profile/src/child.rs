//! The server under measurement: this same binary's `serve`, a child
//! process (in its own cgroup when there is one), so that its CPU time and
//! memory are its own; and what `/proc` says about it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use inferd_metrics::process;

use crate::ProfileError;
use crate::cgroup::Cgroup;

/// The longest a server may take to turn ready.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The last of its log kept, for a message when it fails.
const LOG_TAIL_BYTES: usize = 4096;

/// What a server is started with. The inference config names the model
/// (`serve` takes the models from one place only).
#[derive(Debug, Clone)]
pub struct Launch {
    pub exe: PathBuf,
    pub registry: PathBuf,
    pub inference_config: PathBuf,
    pub deployment_config: PathBuf,
}

/// A running server, killed (and its cgroup removed) when dropped.
#[derive(Debug)]
pub struct Served {
    child: Child,
    pub pid: u32,
    pub port: u16,
    /// From the spawn to the `ready` log line, as this side saw it.
    pub start_to_ready: Duration,
    /// The server's own `ready` time (`elapsed_ms` of its log line).
    pub ready_ms: Option<u64>,
    /// Engine workers and HTTP threads, from its `threads` log line.
    pub threads: Option<(u64, u64)>,
    logs: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
    cgroup: Option<Cgroup>,
}

/// One log line's news, for the start-up wait.
enum Event {
    Listening(u16),
    Threads(u64, u64),
    Ready(Option<u64>),
}

impl Served {
    /// Starts `launch` (inside `cgroup` when given) and waits for it to be ready.
    pub fn start(launch: &Launch, cgroup: Option<Cgroup>) -> Result<Served, ProfileError> {
        let mut command = match &cgroup {
            Some(cgroup) => cgroup.command(&launch.exe),
            None => Command::new(&launch.exe),
        };
        // The user's INFERD_* settings would change what is measured.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("INFERD_") {
                command.env_remove(name);
            }
        }
        command
            .arg("--registry")
            .arg(&launch.registry)
            .args(["serve", "--host", "127.0.0.1", "--port", "0"])
            .args(["--log-format", "json", "--registry-poll-ms", "0"])
            .args(["--shutdown-grace-s", "0"])
            .arg("--inference-config")
            .arg(&launch.inference_config)
            .arg("--deployment-config")
            .arg(&launch.deployment_config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let spawned = Instant::now();
        let mut child = command.spawn().map_err(|e| ProfileError::Start {
            why: format!("cannot run {}: {e}", launch.exe.display()),
            logs: String::new(),
        })?;
        let pid = child.id();
        let logs = Arc::new(Mutex::new(String::new()));
        let (events, news) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr is piped");
        let reader = {
            let logs = logs.clone();
            std::thread::spawn(move || read_logs(stderr, &logs, &events))
        };
        let mut served = Served {
            child,
            pid,
            port: 0,
            start_to_ready: Duration::ZERO,
            ready_ms: None,
            threads: None,
            logs,
            reader: Some(reader),
            cgroup,
        };
        let deadline = spawned + READY_WITHIN;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match news.recv_timeout(left) {
                Ok(Event::Listening(port)) => served.port = port,
                Ok(Event::Threads(engine, http)) => served.threads = Some((engine, http)),
                Ok(Event::Ready(ms)) => {
                    served.start_to_ready = spawned.elapsed();
                    served.ready_ms = ms;
                    break;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(
                        served.failed(format!("not ready within {} s", READY_WITHIN.as_secs()))
                    );
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = served.child.wait().ok();
                    return Err(served.failed(format!(
                        "the server exited before it was ready ({})",
                        status.map_or("?".to_owned(), |s| s.to_string())
                    )));
                }
            }
        }
        if served.port == 0 {
            return Err(served.failed("the server never said where it listens".to_owned()));
        }
        Ok(served)
    }

    fn failed(&mut self, why: String) -> ProfileError {
        self.stop();
        ProfileError::Start {
            why,
            logs: self.logs.lock().map(|l| l.clone()).unwrap_or_default(),
        }
    }

    /// The server's CPU time so far (all its threads), in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        process::cpu_seconds_of(self.pid)
    }

    /// Resident memory now, in bytes.
    pub fn rss(&self) -> Option<u64> {
        process::status_bytes(self.pid, "VmRSS:")
    }

    /// The most resident memory since the start or the last [`Self::reset_peak`], in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        process::status_bytes(self.pid, "VmHWM:")
    }

    /// Starts the peak over from now (`clear_refs` 5); false when the kernel refused.
    pub fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok()
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            // The pipe closed with the process: the reader ends.
            let _ = reader.join();
        }
        // Only now is the cgroup empty and removable.
        self.cgroup.take();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}

fn read_logs(stderr: impl std::io::Read, logs: &Mutex<String>, events: &mpsc::Sender<Event>) {
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if let Ok(mut logs) = logs.lock() {
            logs.push_str(&line);
            logs.push('\n');
            if logs.len() > 2 * LOG_TAIL_BYTES {
                let cut = logs.len() - LOG_TAIL_BYTES;
                let cut = (cut..logs.len())
                    .find(|&i| logs.is_char_boundary(i))
                    .unwrap_or(cut);
                logs.drain(..cut);
            }
        }
        if let Some(event) = event_of(&line) {
            // The start-up wait may be over; later news has no reader.
            let _ = events.send(event);
        }
    }
}

fn event_of(line: &str) -> Option<Event> {
    let log: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = &log["fields"];
    match fields["message"].as_str()? {
        "listening" => {
            let address = fields["address"].as_str()?;
            Some(Event::Listening(address.rsplit(':').next()?.parse().ok()?))
        }
        "threads" => Some(Event::Threads(
            fields["engine_workers"].as_u64()?,
            fields["http_threads"].as_u64()?,
        )),
        "ready" => Some(Event::Ready(fields["elapsed_ms"].as_u64())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_become_events() {
        let listening = r#"{"fields":{"message":"listening","address":"127.0.0.1:4711"}}"#;
        assert!(matches!(event_of(listening), Some(Event::Listening(4711))));
        let ready = r#"{"fields":{"message":"ready","elapsed_ms":12}}"#;
        assert!(matches!(event_of(ready), Some(Event::Ready(Some(12)))));
        let threads = r#"{"fields":{"message":"threads","engine_workers":1,"http_threads":2}}"#;
        assert!(matches!(event_of(threads), Some(Event::Threads(1, 2))));
        assert!(event_of("not json").is_none());
    }
}
