//! Running `inferd batch` in tests: the binary with the repository's
//! models, its summary line, its JSON Lines files, and rows of
//! diabetes-ridge's inputs.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::repo_models;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn batch<S: AsRef<OsStr>>(args: &[S]) -> Output {
    batch_env(args, &[])
}

pub fn batch_env<S: AsRef<OsStr>>(args: &[S], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inferd"))
        .arg("--registry")
        .arg(repo_models())
        .arg("batch")
        .args(["--progress", "quiet"])
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

pub fn ok(output: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().expect("a summary line")).unwrap()
}

/// A 10-column row of diabetes-ridge's inputs, from `seed`.
pub fn ridge_row(seed: u64) -> Vec<f64> {
    (0..10)
        .map(|j| ((seed * 31 + j * 17) % 2000) as f64 / 1000.0 - 1.0)
        .collect()
}

pub fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Starts `inferd batch ARGS` and kills it once it has saved its first
/// checkpoint (`OUTPUT.checkpoint`, a second into the job): the event a
/// resumed job's test waits for. The job must still be running then.
pub fn kill_at_first_checkpoint<S: AsRef<OsStr>>(args: &[S], output: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_inferd"))
        .arg("--registry")
        .arg(repo_models())
        .args(["batch", "--progress", "quiet"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut name = output.file_name().unwrap().to_os_string();
    name.push(".checkpoint");
    let checkpoint = output.with_file_name(name);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !checkpoint.exists() {
        assert!(Instant::now() < deadline, "no checkpoint within 120 s");
        assert!(child.try_wait().unwrap().is_none(), "the job ended first");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!output.exists(), "a killed job has no output yet");
}

/// A diabetes-ridge job's arguments: `--input INPUT --output OUTPUT`
/// then `extra`.
pub fn ridge_job(input: &Path, output: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["--model", "diabetes-ridge", "--input"]
        .map(str::to_owned)
        .to_vec();
    args.push(input.to_str().unwrap().to_owned());
    args.push("--output".into());
    args.push(output.to_str().unwrap().to_owned());
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}
