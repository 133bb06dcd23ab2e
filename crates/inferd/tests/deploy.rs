//! `inferd deploy`, `inferd serve --model-path` (what the KServe runtime
//! runs) and `inferd health` (the image's health check), through the real
//! binary. The manifests' validity against the Kubernetes schemas is
//! checked by scripts/deploy-check.sh; here, what the command does with
//! its inputs.

mod support;

use std::path::Path;

use support::{http, inferd, repo_models, try_start};

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The README's `inferd deploy kubernetes` command.
fn readme_command() -> std::process::Output {
    let config = repo().join("examples/deployment/aks.json");
    let args = [
        "deploy",
        "kubernetes",
        "--deployment-config",
        config.to_str().unwrap(),
    ];
    let named = ["--name", "myservice", "--image", "inferd:0.2"];
    inferd(&repo_models(), &[&args[..], &named[..]].concat())
}

#[test]
fn the_readme_command_prints_manifests_and_reports_what_it_did_not_render() {
    let output = readme_command();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    for kind in [
        "kind: ConfigMap",
        "kind: Secret",
        "kind: Deployment",
        "kind: Service",
        "kind: HorizontalPodAutoscaler",
        "kind: PodDisruptionBudget",
    ] {
        assert!(stdout.contains(kind), "{kind} missing:\n{stdout}");
    }
    // aks turns auth on: two generated keys, 64 hex characters each, in
    // the Secret, and never on stderr.
    let keys_line = stdout
        .lines()
        .find(|l| l.contains("primaryKey"))
        .expect("the keys Secret");
    assert!(
        keys_line.matches(char::is_alphanumeric).count() > 128,
        "{keys_line}"
    );
    assert!(!stderr.contains(keys_line.trim()));
    assert!(
        stderr.contains("note: autoScaler.refreshPeriodInSeconds"),
        "{stderr}"
    );
    assert!(
        stderr.contains("keys generated into the Secret myservice-keys"),
        "{stderr}"
    );
    // Two runs generate different keys.
    let again = readme_command();
    assert_ne!(text(&again.stdout), stdout);
}

#[test]
fn bad_input_is_an_error_naming_the_field_or_flag() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"computeType": "aks", "autoScaler": {"minReplicas": 5, "maxReplicas": 2}}"#,
    )
    .unwrap();
    let cases: [(Vec<&str>, &str); 5] = [
        (
            vec![
                "--deployment-config",
                bad.to_str().unwrap(),
                "--name",
                "a",
                "--image",
                "i",
            ],
            "autoScaler.minReplicas: 5 is above maxReplicas 2",
        ),
        (
            vec!["--name", "My_Service", "--image", "i"],
            "--name: 'My_Service'",
        ),
        (
            vec!["--name", "a", "--image", "i", "--model", "no-such-model"],
            "no model named 'no-such-model'",
        ),
        (
            vec!["--name", "a", "--image", "in ferd"],
            "--image: 'in ferd'",
        ),
        (
            vec!["--name", "a", "--image", "i", "--namespace", "Prod"],
            "--namespace: 'Prod'",
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["deploy", "kubernetes"];
        all.extend(args);
        let output = inferd(&repo_models(), &all);
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "{all:?} succeeded");
        assert!(stderr.contains(message), "{all:?}: {stderr}");
        assert!(output.stdout.is_empty(), "nothing printed on failure");
    }
    let output = inferd(
        &repo_models(),
        &["deploy", "kserve", "--name", "a", "--image", "i"],
    );
    assert!(
        text(&output.stderr).contains("--storage-uri"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn output_writes_a_kustomize_base() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("base");
    let output = inferd(
        &repo_models(),
        &[
            "deploy",
            "kubernetes",
            "--name",
            "ridge",
            "--image",
            "inferd:0.2",
            "--model",
            "diabetes-ridge:1",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "configmap.yaml",
            "deployment.yaml",
            "hpa.yaml",
            "kustomization.yaml",
            "pdb.yaml",
            "service.yaml"
        ]
    );
    let kustomization = std::fs::read_to_string(out.join("kustomization.yaml")).unwrap();
    for file in files.iter().filter(|f| *f != "kustomization.yaml") {
        assert!(
            kustomization.contains(&format!("- {file}")),
            "{kustomization}"
        );
    }
    let deployment = std::fs::read_to_string(out.join("deployment.yaml")).unwrap();
    assert!(
        deployment.contains("value: \"diabetes-ridge:1\"")
            || deployment.contains("value: diabetes-ridge:1"),
        "{deployment}"
    );
}

/// A model outside any registry, as KServe mounts one at /mnt/models:
/// served read-only as version 1, by the name given or the file's.
#[test]
fn model_path_serves_a_plain_file_or_folder_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("mnt-models");
    std::fs::create_dir(&folder).unwrap();
    let source = repo_models().join("diabetes-ridge/1/files");
    for file in ["model.onnx", "expected.json"] {
        std::fs::copy(source.join(file), folder.join(file)).unwrap();
    }
    let empty = dir.path().join("no-registry");
    let body = std::fs::read_to_string(repo().join("examples/requests/ridge.json")).unwrap();
    let score = |port: u16, path: &str| {
        http(
            port,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    // KServe's way: the folder, named by --model.
    let server = try_start(
        &empty,
        &["--model-path", folder.to_str().unwrap(), "--model", "ridge"],
        &[],
    )
    .unwrap();
    let answer = score(server.port, "/models/ridge/score");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-ms-model-version: 1"),
        "{answer}"
    );
    let metadata = http(
        server.port,
        "GET /v2/models/ridge HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(metadata.contains(r#""versions":["1"]"#), "{metadata}");
    drop(server);
    // A file, named by its stem.
    let file = folder.join("model.onnx");
    let server = try_start(&empty, &["--model-path", file.to_str().unwrap()], &[]).unwrap();
    assert!(score(server.port, "/models/model/score").starts_with("HTTP/1.1 200"));
    drop(server);
    assert!(!empty.exists(), "no registry was made");
    let mut names: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["expected.json", "model.onnx"],
        "nothing written beside the model"
    );

    for (args, message) in [
        (
            vec!["--model-path", "/no/such/model.onnx"],
            "--model-path /no/such/model.onnx",
        ),
        (
            vec!["--model-path", file.to_str().unwrap(), "--model", "ridge:2"],
            "version 1 only",
        ),
        (
            vec!["--model-path", file.to_str().unwrap(), "--model", "a,b"],
            "serves one model, but 2 are named",
        ),
    ] {
        let error = try_start(&empty, &args, &[]).err().expect("start-up fails");
        assert!(error.contains(message), "{args:?}: {error}");
    }
}

#[test]
fn health_exits_0_only_when_ready() {
    let server = try_start(&repo_models(), &[], &[]).unwrap();
    let url = format!("http://127.0.0.1:{}", server.port);
    let ok = inferd(&repo_models(), &["health", "--url", &url]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    server.sigterm();
    // During the grace period /ready answers 503 and the check fails.
    let mut failed = None;
    for _ in 0..200 {
        let check = inferd(&repo_models(), &["health", "--url", &url]);
        if !check.status.success() {
            failed = Some(text(&check.stderr));
            break;
        }
    }
    let failed = failed.expect("health failed once the server was stopping");
    assert!(
        failed.contains("503") || failed.contains("no answer"),
        "{failed}"
    );
    let closed = inferd(&repo_models(), &["health", "--url", "http://127.0.0.1:1"]);
    assert!(!closed.status.success());
}
