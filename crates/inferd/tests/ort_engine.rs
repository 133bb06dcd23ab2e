//! The ONNX Runtime engine in the real binary (built with the `ort` feature):
//! chosen per model by the inference config, the same answers as recorded,
//! tract naming the operator it lacks, and every start-up refusal (no
//! library, not a library, CUDA asked of a CPU build, gpuCores 0) with the
//! CPU fallback the user may allow.
#![cfg(feature = "ort")]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Server, repo_models};

fn ort_library() -> PathBuf {
    inferd_conformance::engines::ort_library()
        .expect("no ONNX Runtime library: run scripts/onnxruntime.sh (scripts/test.sh does)")
}

fn serve(registry: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Result<Server, String> {
    let library = ort_library();
    let mut all: Vec<(&str, &str)> = vec![("ORT_DYLIB_PATH", library.to_str().unwrap())];
    all.extend(envs.iter().map(|(k, v)| (*k, v.to_str().unwrap())));
    support::try_start(registry, args, &all)
}

fn command(registry: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_inferd"));
    command
        .env("ORT_DYLIB_PATH", ort_library())
        .envs(envs.iter().map(|(k, v)| (*k, *v)))
        .args(["serve", "--port", "0", "--log-format", "json", "--registry"])
        .arg(registry)
        .args(args);
    command
}

/// `inferd serve` must exit 1 before serving, saying each of `says`.
fn assert_refused(registry: &Path, args: &[&str], envs: &[(&str, &Path)], says: &[&str]) {
    let output = command(registry, args, envs).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
    for text in says {
        assert!(
            stderr.contains(text),
            "{args:?} should say {text:?}: {stderr}"
        );
    }
}

fn post(port: u16, path: &str, body: &str) -> (u16, serde_json::Value) {
    let answer = support::http(
        port,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn expected(model: &str) -> serde_json::Value {
    let path = repo_models().join(model).join("1/files/expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every number in `got` within 1e-4 (relative) of `want`, same nesting.
fn assert_close(got: &serde_json::Value, want: &serde_json::Value) {
    match (got, want) {
        (serde_json::Value::Array(g), serde_json::Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{got} vs {want}");
            g.iter().zip(w).for_each(|(g, w)| assert_close(g, w));
        }
        (serde_json::Value::Number(g), serde_json::Value::Number(w)) => {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            assert!((g - w).abs() <= 1e-5 + 1e-4 * w.abs(), "{g} vs {w}");
        }
        _ => panic!("{got} vs {want}"),
    }
}

/// The `model loaded` log line of `name`.
fn loaded_line(logs: &str, name: &str) -> serde_json::Value {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "model loaded" && l["fields"]["model"] == name)
        .unwrap_or_else(|| panic!("no 'model loaded' line for {name}: {logs}"))
}

#[test]
fn each_model_runs_on_the_engine_its_entry_names() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "inferenceconfig.json",
        r#"{"models": [{"model": "diabetes-ridge", "runtime": "onnxruntime"},
                       {"model": "digits-classifier"}]}"#,
    );
    let server = serve(
        &repo_models(),
        &["--inference-config", config.to_str().unwrap()],
        &[],
    )
    .unwrap();
    for (model, path) in [
        ("diabetes-ridge", "/score"),
        ("digits-classifier", "/models/digits-classifier/score"),
    ] {
        let recorded = expected(model);
        let case = &recorded["cases"][1];
        let body = serde_json::json!({ "data": case["data"] }).to_string();
        let (status, answer) = post(server.port, path, &body);
        assert_eq!(status, 200, "{model}: {answer}");
        let outputs = case["outputs"].as_object().unwrap();
        if outputs.len() == 1 {
            assert_close(&answer, outputs.values().next().unwrap());
        } else {
            for (name, want) in outputs {
                assert_close(&answer[name], want);
            }
        }
    }
    let logs = server.stderr.lock().unwrap().clone();
    let ridge = loaded_line(&logs, "diabetes-ridge");
    assert_eq!(ridge["fields"]["engine"], "onnxruntime", "{ridge}");
    assert_eq!(ridge["fields"]["device"], "cpu", "{ridge}");
    assert_eq!(
        loaded_line(&logs, "digits-classifier")["fields"]["engine"],
        "tract"
    );
    assert!(logs.contains("ONNX Runtime loaded"), "{logs}");
}

#[test]
fn tract_names_the_operator_it_lacks_and_onnxruntime_runs_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/det-2x2.onnx");
    let registered = Command::new(env!("CARGO_BIN_EXE_inferd"))
        .arg("--registry")
        .arg(&registry)
        .args(["model", "register", "-n", "det", "-p"])
        .arg(&fixture)
        .output()
        .unwrap();
    assert!(registered.status.success(), "{registered:?}");

    assert_refused(
        &registry,
        &["--model", "det"],
        &[],
        &[
            "with tract",
            "does not implement the operator(s) Det",
            "onnxruntime",
        ],
    );

    let config = write(
        dir.path(),
        "inferenceconfig.json",
        r#"{"models": [{"model": "det", "runtime": "onnxruntime"}]}"#,
    );
    let server = serve(
        &registry,
        &["--inference-config", config.to_str().unwrap()],
        &[],
    )
    .unwrap();
    let (status, answer) = post(
        server.port,
        "/score",
        r#"{"data": [[[1, 2], [3, 4]], [[2, 0], [0, 3]]]}"#,
    );
    assert_eq!(status, 200, "{answer}");
    assert_close(&answer, &serde_json::json!([-2.0, 6.0]));
}

#[test]
fn a_missing_or_foreign_library_stops_start_up_saying_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "inferenceconfig.json",
        r#"{"runtime": "onnxruntime", "models": [{"model": "diabetes-ridge"}]}"#,
    );
    let config = config.to_str().unwrap();
    let missing = dir.path().join("libonnxruntime.so.1.32.0");
    assert_refused(
        &repo_models(),
        &["--inference-config", config],
        &[("ORT_DYLIB_PATH", &missing)],
        &[
            "does not exist",
            "libonnxruntime.so.1.32.0",
            "scripts/onnxruntime.sh",
        ],
    );
    let not_a_library = write(dir.path(), "libonnxruntime.so", "not a shared library");
    assert_refused(
        &repo_models(),
        &["--inference-config", config],
        &[("ORT_DYLIB_PATH", &not_a_library)],
        &["cannot load the ONNX Runtime library", "1.31 or newer"],
    );
    // A model served by tract needs no library at all.
    let server = serve(&repo_models(), &[], &[("ORT_DYLIB_PATH", &missing)]).unwrap();
    assert_eq!(
        post(
            server.port,
            "/score",
            r#"{"data": [[0,0,0,0,0,0,0,0,0,0]]}"#
        )
        .0,
        200
    );
}

#[test]
fn cuda_asked_of_a_cpu_build_stops_start_up_unless_cpu_fallback_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "inferenceconfig.json",
        r#"{"enableGpu": true, "models": [{"model": "diabetes-ridge"}]}"#,
    );
    let config = config.to_str().unwrap();
    assert_refused(
        &repo_models(),
        &["--inference-config", config],
        &[],
        &[
            "no CUDA execution provider",
            "onnxruntime-gpu",
            "--gpu-fallback-cpu",
        ],
    );

    let server = serve(
        &repo_models(),
        &["--inference-config", config, "--gpu-fallback-cpu"],
        &[],
    )
    .unwrap();
    let recorded = expected("diabetes-ridge");
    let case = &recorded["cases"][0];
    let body = serde_json::json!({ "data": case["data"] }).to_string();
    let (status, answer) = post(server.port, "/score", &body);
    assert_eq!(status, 200, "{answer}");
    assert_close(&answer, &case["outputs"]["predictions"]);
    let logs = server.stderr.lock().unwrap().clone();
    let line = loaded_line(&logs, "diabetes-ridge");
    assert_eq!(line["fields"]["engine"], "onnxruntime", "{line}");
    assert!(
        line["fields"]["device"]
            .as_str()
            .unwrap()
            .contains("CPU fallback"),
        "{line}"
    );

    let deployment = write(dir.path(), "deploymentconfig.json", r#"{"gpuCores": 0}"#);
    assert_refused(
        &repo_models(),
        &[
            "--inference-config",
            config,
            "--deployment-config",
            deployment.to_str().unwrap(),
        ],
        &[],
        &["gpuCores 0"],
    );
}
