//! Every rendered case against its golden file in `tests/golden/`: the
//! contract's aci, aks and local examples and the edge cases (fixed
//! replicas, GPU, TLS with data collection, inline inference config, KEDA
//! scaling, KServe, a batch Job and its merge). `scripts/deploy-check.sh` validates the same golden
//! files against the Kubernetes API schemas, so a golden file that
//! matches is also one a cluster accepts. After an intended change:
//! `UPDATE_GOLDEN=1 cargo test -p inferd-deploy --test golden`.

use std::path::{Path, PathBuf};

use inferd_deploy::batch_job::BatchJob;
use inferd_deploy::{Paths, Request, ScaleOn, Sources, Target, render};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Case {
    name: &'static str,
    target: Target,
    deployment: Option<&'static str>,
    inference: Option<&'static str>,
    scale_on: ScaleOn,
    models: &'static [&'static str],
    /// A batch Job case: `Some(merge)`, the scoring Job or the merge Job.
    batch: Option<bool>,
}

const CASES: &[Case] = &[
    Case {
        name: "aks",
        target: Target::Kubernetes,
        deployment: Some("examples/deployment/aks.json"),
        inference: None,
        scale_on: ScaleOn::Cpu,
        models: &["diabetes-ridge"],
        batch: None,
    },
    Case {
        name: "aci",
        target: Target::Kubernetes,
        deployment: Some("examples/deployment/aci.json"),
        inference: None,
        scale_on: ScaleOn::Cpu,
        models: &[],
        batch: None,
    },
    Case {
        name: "local",
        target: Target::Kubernetes,
        deployment: Some("examples/deployment/local.json"),
        inference: None,
        scale_on: ScaleOn::Cpu,
        models: &[],
        batch: None,
    },
    Case {
        name: "no-config",
        target: Target::Kubernetes,
        deployment: None,
        inference: Some("examples/inference/standard.json"),
        scale_on: ScaleOn::Cpu,
        models: &[],
        batch: None,
    },
    Case {
        name: "replicas",
        target: Target::Kubernetes,
        deployment: Some("crates/inferd-deploy/tests/cases/replicas.json"),
        inference: None,
        scale_on: ScaleOn::Cpu,
        models: &["mlp-784:1", "diabetes-ridge"],
        batch: None,
    },
    Case {
        name: "gpu",
        target: Target::Kubernetes,
        deployment: Some("crates/inferd-deploy/tests/cases/gpu.json"),
        inference: Some("crates/inferd-deploy/tests/cases/gpu-inference.json"),
        scale_on: ScaleOn::Cpu,
        models: &[],
        batch: None,
    },
    Case {
        name: "tls",
        target: Target::Kubernetes,
        deployment: Some("crates/inferd-deploy/tests/cases/tls.json"),
        inference: None,
        scale_on: ScaleOn::Cpu,
        models: &[],
        batch: None,
    },
    Case {
        name: "queue-wait",
        target: Target::Kubernetes,
        deployment: Some("examples/deployment/aks.json"),
        inference: None,
        scale_on: ScaleOn::QueueWait { target_s: 0.05 },
        models: &[],
        batch: None,
    },
    Case {
        name: "kserve",
        target: Target::Kserve,
        deployment: Some("examples/deployment/aks.json"),
        inference: None,
        scale_on: ScaleOn::Cpu,
        models: &[],
        batch: None,
    },
    Case {
        name: "batch-job",
        target: Target::BatchJob,
        deployment: Some("examples/deployment/aks.json"),
        inference: Some("examples/inference/pandas.json"),
        scale_on: ScaleOn::Cpu,
        models: &[],
        batch: Some(false),
    },
    Case {
        name: "batch-merge",
        target: Target::BatchJob,
        deployment: None,
        inference: None,
        scale_on: ScaleOn::Cpu,
        models: &[],
        batch: Some(true),
    },
];

/// The batch job of the batch cases: the example rows (8, one bad) in
/// chunks of 2 over 3 shards, so every shard has rows to score.
fn batch_job(merge: bool) -> BatchJob {
    BatchJob {
        model: "diabetes-ridge".into(),
        inputs: vec!["/data/in/rows.csv".into()],
        output: "/data/out/preds.csv".into(),
        shards: 3,
        parallelism: 2,
        claim: "batch-data".into(),
        flags: ["--id-column", "id", "--batch-size", "2"]
            .map(String::from)
            .to_vec(),
        merge,
    }
}

/// The render as the command prints it, its notes first as comments.
fn rendered(case: &Case) -> String {
    let paths = Paths {
        deployment: case.deployment.map(|p| root().join(p)),
        inference: case.inference.map(|p| root().join(p)),
    };
    // Generated keys, made deterministic for the golden files.
    let mut made = 0;
    let mut new_key = || {
        made += 1;
        Ok(format!("generated-key-for-golden-files-{made:02}"))
    };
    let (sources, _) = Sources::read(&paths, &mut new_key).expect("the case's configs read");
    let request = Request {
        name: "myservice".into(),
        image: "inferd:0.2".into(),
        namespace: None,
        models: case.models.iter().map(|m| m.to_string()).collect(),
        scale_on: case.scale_on,
        prometheus_url: "http://prometheus-server.monitoring.svc:9090".into(),
        pre_stop_s: 5,
        shutdown_grace_s: 5,
        storage_uri: Some("pvc://models/diabetes-ridge/1/files/model.onnx".into()),
        batch: case.batch.map(batch_job),
    };
    let rendered = render(case.target, &request, &sources).expect("the case renders");
    let mut text: String = rendered
        .notes
        .iter()
        .map(|n| format!("# note: {n}\n"))
        .collect();
    text.push_str(&rendered.to_stream());
    text
}

#[test]
fn every_case_matches_its_golden_file() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut differ = Vec::new();
    for case in CASES {
        let text = rendered(case);
        let path = root().join(format!(
            "crates/inferd-deploy/tests/golden/{}.yaml",
            case.name
        ));
        if update {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let golden = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
        if golden != text {
            differ.push(case.name);
            eprintln!("--- {} differs; rendered now:\n{text}", path.display());
        }
    }
    assert!(differ.is_empty(), "golden files differ: {differ:?}");
}

#[test]
fn a_bad_config_names_the_field() {
    let paths = Paths {
        deployment: Some(root().join("crates/inferd-deploy/tests/cases/bad-cpu.json")),
        inference: None,
    };
    let error = Sources::read(&paths, &mut || Ok(String::new()))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("containerResourceRequirements.cpu"),
        "{error}"
    );

    let (sources, _) = Sources::read(&Paths::default(), &mut || Ok(String::new())).unwrap();
    let mut request = Request {
        name: "Bad_Name".into(),
        image: "inferd:0.2".into(),
        namespace: None,
        models: Vec::new(),
        scale_on: ScaleOn::Cpu,
        prometheus_url: String::new(),
        pre_stop_s: 5,
        shutdown_grace_s: 5,
        storage_uri: None,
        batch: None,
    };
    let error = render(Target::Kubernetes, &request, &sources)
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("--name: 'Bad_Name'"), "{error}");
    request.name = "ok".into();
    let error = render(Target::Kserve, &request, &sources)
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("--storage-uri:"), "{error}");
    request.namespace = Some("-x".into());
    let error = render(Target::Kubernetes, &request, &sources)
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("--namespace:"), "{error}");
}

#[test]
fn short_keys_and_missing_tls_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let short = write(
        "short.json",
        r#"{"authEnabled": true, "keys": {"primaryKey": "short"}}"#,
    );
    let error = Sources::read(
        &Paths {
            deployment: Some(short),
            inference: None,
        },
        &mut || Ok("generated-key-long-enough-0001".into()),
    )
    .unwrap_err()
    .to_string();
    assert!(error.starts_with("keys:"), "{error}");
    let tls = write(
        "tls.json",
        r#"{"sslEnabled": true, "sslCertificate": "missing.pem", "sslKey": "missing.key"}"#,
    );
    let error = Sources::read(
        &Paths {
            deployment: Some(tls),
            inference: None,
        },
        &mut || Ok(String::new()),
    )
    .unwrap_err()
    .to_string();
    assert!(error.starts_with("sslCertificate: cannot read"), "{error}");
}
