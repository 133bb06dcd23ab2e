//! Spawning `inferd serve` for process-level tests: a free port, wait for
//! `ready`, keep what it wrote to stderr, kill it when dropped; and a bare
//! HTTP/1.1 exchange with it.
#![allow(dead_code)]

pub mod batch;
pub mod images;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Server {
    /// Sends SIGTERM (the orchestrator's stop).
    pub fn sigterm(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits for the server to exit and for the last of its stderr; its
    /// exit status and everything it logged.
    pub fn wait(&mut self) -> (ExitStatus, String) {
        let status = self.child.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        (status, self.stderr.lock().unwrap().clone())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn repo_models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

/// `inferd --registry REGISTRY ARGS...`, run to its end.
pub fn inferd(registry: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_inferd"))
        .arg("--registry")
        .arg(registry)
        .args(args)
        .output()
        .unwrap()
}

/// `inferd serve` on a free port with the bundled models and `args`.
pub fn start(args: &[&str]) -> Server {
    start_with_env(args, &[])
}

/// [`start`], with extra environment variables for the server process.
pub fn start_with_env(args: &[&str], envs: &[(&str, &str)]) -> Server {
    try_start(&repo_models(), args, envs).unwrap_or_else(|logs| panic!("{logs}"))
}

/// `inferd serve` on a free port with the registry `registry`, waiting for
/// `ready`; `Err` holds its exit status and logs when it exited instead.
pub fn try_start(registry: &Path, args: &[&str], envs: &[(&str, &str)]) -> Result<Server, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_inferd"))
        .envs(envs.iter().copied())
        .args(["serve", "--port", "0", "--log-format", "json"])
        .arg("--registry")
        .arg(registry)
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut port, mut ready) = (0, false);
    for line in lines.by_ref().map_while(Result::ok) {
        stderr.lock().unwrap().push_str(&format!("{line}\n"));
        let Ok(log) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let fields = &log["fields"];
        if fields["message"] == "listening" {
            let address = fields["address"].as_str().unwrap();
            port = address.rsplit(':').next().unwrap().parse().unwrap();
        }
        if fields["message"] == "ready" {
            ready = true;
            break;
        }
    }
    if !ready || port == 0 {
        let status = child.wait().unwrap();
        let logs = stderr.lock().unwrap().clone();
        return Err(format!("exit {:?}\n{logs}", status.code()));
    }
    // Keep reading, so the server never blocks on a full pipe.
    let keep = stderr.clone();
    let reader = std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            keep.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    Ok(Server {
        child,
        port,
        stderr,
        reader: Some(reader),
    })
}

/// One HTTP/1.1 exchange on a fresh connection (the request should say
/// `Connection: close`): everything the server answered.
pub fn http(port: u16, request: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}
