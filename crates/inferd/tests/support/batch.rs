//! Running `inferd batch` in tests: the binary with the repository's
//! models, its summary line, its JSON Lines files, and rows of
//! diabetes-ridge's inputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use super::repo_models;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn batch(args: &[&str]) -> Output {
    batch_env(args, &[])
}

pub fn batch_env(args: &[&str], envs: &[(&str, &str)]) -> Output {
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
