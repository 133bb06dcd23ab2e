//! `inferd profile` end to end: the real binary profiles diabetes-ridge
//! (`--quick`: a few candidates, short steps), each candidate served by a
//! real child server under load; its recommendation is written, read back
//! by the server's own parsers, and served again for the verification.
//! Also: what it says when it cannot profile (no such model, a sample the
//! model refuses, a target no candidate can hold).

mod support;

use std::path::Path;
use std::sync::Mutex;

use inferd_config::{DeploymentConfig, InferenceConfig};

/// Generous: this runs in a debug build on a shared machine, and the
/// profile's logic (not this machine's speed) is what is under test.
const P99_MS: &str = "50";

/// A profile loads both cores of this machine: two at once would measure
/// each other (a verification once missed its target so), so the tests
/// take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn profile(out: &Path, extra: &[&str]) -> std::process::Output {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut args = vec!["profile", "--model", "diabetes-ridge", "--quick", "--out"];
    args.push(out.to_str().unwrap());
    args.extend_from_slice(extra);
    support::inferd(&support::repo_models(), &args)
}

fn cgroups_left() -> Vec<String> {
    let mut left = Vec::new();
    for hierarchy in ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup"] {
        if let Ok(entries) = std::fs::read_dir(hierarchy) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(&format!("inferd-profile-{}", std::process::id())) {
                    left.push(name);
                }
            }
        }
    }
    left
}

#[test]
fn a_short_profile_of_diabetes_ridge_is_verified_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("profile");
    let run = profile(&out, &["--p99-ms", P99_MS, "--target-rps", "100", "--json"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    // --json: stdout is one JSON document and nothing else.
    let profile: serde_json::Value = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&run.stdout)));
    assert_eq!(profile["model"], "diabetes-ridge");
    assert_eq!(profile["verified"], true, "{profile:#}");

    let candidates = profile["candidates"].as_array().unwrap();
    assert!(candidates.len() >= 2, "{profile:#}");
    let measured: Vec<_> = candidates.iter().filter(|c| c["note"].is_null()).collect();
    assert!(measured.len() >= 2, "{profile:#}");
    for candidate in &measured {
        let ladder = candidate["load"]["ladder"].as_array().unwrap();
        assert!(!ladder.is_empty(), "{candidate:#}");
        assert!(
            ladder[0]["ok_throughput"].as_f64().unwrap() > 0.0,
            "{candidate:#}"
        );
        let sustained = &candidate["load"]["sustained"];
        assert!(sustained["rate"].as_f64().unwrap() > 0.0, "{candidate:#}");
        assert!(
            sustained["p99_ms"].as_f64().unwrap() <= 50.0,
            "{candidate:#}"
        );
        assert!(
            sustained["cpu_us_per_request"].as_f64().unwrap() > 0.0,
            "{candidate:#}"
        );
        assert!(
            candidate["peak_rss_mb"].as_f64().unwrap() > 1.0,
            "{candidate:#}"
        );
    }
    // Batching was among the candidates.
    assert!(
        measured
            .iter()
            .any(|c| !c["settings"]["batching"].is_null()),
        "{profile:#}"
    );
    // Root on a machine with a cpu controller: every server ran under a quota.
    if profile["machine"]["cpu_limit"]
        .as_str()
        .unwrap()
        .starts_with("cgroup")
    {
        assert!(
            measured.iter().all(|c| c["cpu_quota"] == true),
            "{profile:#}"
        );
    }
    assert!(cgroups_left().is_empty(), "{:?}", cgroups_left());
    let start = &profile["start"];
    assert!(start["cold_start_ms"].as_f64().unwrap() > 0.0, "{start}");
    assert!(start["idle_rss_mb"].as_f64().unwrap() > 1.0, "{start}");

    // The recommendation: one of the candidates that held, sized.
    let recommendation = &profile["recommendation"];
    let chosen = recommendation["candidate"].as_u64().unwrap() as usize;
    assert!(!candidates[chosen]["load"]["sustained"].is_null());
    let replicas = &recommendation["replicas"];
    assert!(
        replicas["count"].as_u64().unwrap() >= 1,
        "{recommendation:#}"
    );
    assert_eq!(replicas["min_replicas"], replicas["count"]);

    // The files, read by the server's own parsers.
    let deployment = DeploymentConfig::from_path(&out.join("deploymentconfig.json")).unwrap();
    let cpu = deployment.container_resource_requirements.cpu.unwrap();
    assert_eq!(
        serde_json::json!(cpu),
        candidates[chosen]["settings"]["cpu"]
    );
    let memory = deployment
        .container_resource_requirements
        .memory_in_gb
        .unwrap();
    assert!(memory >= 0.1, "{memory}");
    assert_eq!(
        deployment.max_queue_wait_ms,
        Some(100),
        "twice the p99 target"
    );
    let scaler = deployment.auto_scaler.as_ref().unwrap();
    assert_eq!(
        Some(scaler.min_replicas()),
        replicas["min_replicas"].as_u64().map(|n| n as u32)
    );
    assert!(deployment.num_replicas.is_none());
    let inference = InferenceConfig::from_path(&out.join("inferenceconfig.json")).unwrap();
    assert_eq!(inference.models.len(), 1);
    assert_eq!(inference.models[0].model, "diabetes-ridge");
    let batching = &candidates[chosen]["settings"]["batching"];
    assert_eq!(
        inference.models[0]
            .batching
            .as_ref()
            .map(|b| b.max_batch_size),
        batching["max_batch_size"].as_u64().map(|n| n as u32)
    );

    // The proof ran the written files at the planned rate.
    let verifications = profile["verifications"].as_array().unwrap();
    let verification = verifications.last().unwrap();
    assert_eq!(verification["held"], true);
    assert_eq!(verification["candidate"], recommendation["candidate"]);
    assert_eq!(verification["rate"], recommendation["replica_rate"]);
    assert!(verification["step"]["requests"].as_u64().unwrap() > 0);

    // The report for people, with the plot of every candidate.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.starts_with("# Profile of diabetes-ridge: verified"),
        "{report}"
    );
    for candidate in candidates {
        assert!(
            report.contains(candidate["name"].as_str().unwrap()),
            "{report}"
        );
    }
    let svg = std::fs::read_to_string(out.join("tradeoff.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("(chosen)"), "{svg}");
    assert!(svg.contains("p99 target 50 ms"), "{svg}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("profile.json")).unwrap()).unwrap();
    assert_eq!(saved, profile);
    assert!(
        !out.join(".candidates").exists(),
        "the candidates' scratch files are removed"
    );
}

#[test]
fn the_table_is_printed_without_json() {
    let dir = tempfile::tempdir().unwrap();
    let run = profile(
        &dir.path().join("p"),
        &[
            "--p99-ms",
            P99_MS,
            "--engine",
            "tract",
            "--verify-seconds",
            "0.5",
        ],
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.starts_with("#  candidate"), "{stdout}");
    assert!(stdout.contains("tract cpu "), "{stdout}");
    assert!(stdout.contains("Recommended: "), "{stdout}");
    assert!(stdout.contains("\nverified: tract cpu "), "{stdout}");
}

#[test]
fn a_model_not_registered_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let run = support::inferd(
        &support::repo_models(),
        &[
            "profile",
            "--model",
            "no-such-model",
            "--quick",
            "--out",
            dir.path().to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("no-such-model"), "{stderr}");
}

#[test]
fn a_sample_the_model_refuses_stops_the_profile_before_any_load() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p");
    let run = profile(&out, &["--sample", "[[1, 2]]"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("answered the sample"), "{stderr}");
    assert!(stderr.contains("400"), "{stderr}");
    assert!(!out.join("deploymentconfig.json").exists());
    assert!(cgroups_left().is_empty(), "{:?}", cgroups_left());
    assert!(
        !out.join(".candidates").exists(),
        "scratch removed on an early stop"
    );
}

#[test]
fn a_target_no_candidate_can_hold_writes_no_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p");
    let run = profile(&out, &["--p99-ms", "0.001", "--engine", "tract"]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stdout}");
    assert!(
        stderr.contains("no candidate held the p99 target"),
        "{stderr}"
    );
    assert!(
        stdout.contains("No candidate held p99 <= 0.001 ms"),
        "{stdout}"
    );
    assert!(stdout.contains("One request alone takes"), "{stdout}");
    assert!(!out.join("deploymentconfig.json").exists());
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.starts_with("# Profile of diabetes-ridge: no recommendation"),
        "{report}"
    );
}
