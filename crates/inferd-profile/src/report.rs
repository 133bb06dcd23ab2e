//! What a profile found, as data (`--json`, `profile.json`) and for people:
//! the terminal table and the Markdown report.

use std::fmt::Write;

use inferd_bench::Step;
use serde::Serialize;

use crate::args::Engine;
use crate::configs::Replicas;
use crate::grid::Settings;
use crate::measure::{Load, Timing};

/// A whole profile.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub model: String,
    pub p99_target_ms: f64,
    pub target_rps: Option<f64>,
    pub machine: Machine,
    /// Where the request body came from, and its size.
    pub sample: String,
    pub sample_bytes: usize,
    pub start: Start,
    pub timing: Timing,
    pub candidates: Vec<Candidate>,
    /// The last candidate verified: the one that held, else the last tried.
    pub recommendation: Option<Recommendation>,
    /// Each candidate's files served and loaded, best first, until one held.
    pub verifications: Vec<Verification>,
    /// True only when the recommended config was served and held the
    /// target under open-loop load.
    pub verified: bool,
    pub elapsed_s: f64,
    /// The files written, relative to the working directory.
    pub files: Vec<String>,
}

/// Where the profile ran.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    /// How a candidate's CPU limit is enforced.
    pub cpu_limit: String,
    pub engines: Vec<Engine>,
    /// What could not be tried, and other caveats.
    pub notes: Vec<String>,
}

/// Start-up cost, over every server the profile started.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Start {
    /// Median time from the process start to ready, as the profile saw it.
    pub cold_start_ms: f64,
    /// Median of the server's own `ready` time.
    pub ready_ms: f64,
    /// Peak resident memory by the time the model was loaded and self-tested.
    pub load_peak_mb: Option<f64>,
    /// Resident memory of an idle server after start.
    pub idle_rss_mb: Option<f64>,
}

/// One candidate and what it did.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub name: String,
    pub settings: Settings,
    /// True when a cgroup quota held the server to its CPU.
    pub cpu_quota: bool,
    /// Engine workers and HTTP threads the server started.
    pub threads: Option<(u64, u64)>,
    pub load: Load,
    /// Peak resident memory under load.
    pub peak_rss_mb: Option<f64>,
    /// Why it was not measured, or what went wrong.
    pub note: Option<String>,
}

impl Candidate {
    pub fn held(&self) -> bool {
        self.load.sustained.is_some()
    }

    fn knee(&self) -> Option<&Step> {
        self.load.knee.map(|k| &self.load.ladder[k])
    }
}

/// The chosen deployment.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    /// Index into the candidates.
    pub candidate: usize,
    pub name: String,
    pub why: String,
    pub settings: Settings,
    pub memory_in_gb: f64,
    pub max_queue_wait_ms: u64,
    /// The rate one replica is planned to carry (the verification's rate).
    pub replica_rate: f64,
    pub target_utilization: u32,
    pub replicas: Option<Replicas>,
    pub deployment_config: serde_json::Value,
    pub inference_config: serde_json::Value,
}

/// A candidate's written files served and loaded at the planned rate.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Index into the candidates.
    pub candidate: usize,
    pub name: String,
    pub rate: f64,
    pub seconds: f64,
    pub step: Step,
    pub cpu_cores: f64,
    pub held: bool,
    /// What failed, when it did not hold.
    pub failure: Option<String>,
}

/// Bytes as MB (10^6) for the report.
pub fn to_mb(bytes: Option<u64>) -> Option<f64> {
    bytes.map(|b| b as f64 / 1e6)
}

fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or("-".to_owned(), |v| format!("{v:.digits$}"))
}

/// One row per candidate: the knee, the open-loop rate it held and what
/// that cost.
fn rows(profile: &Profile) -> Vec<[String; 11]> {
    profile
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let sustained = c.load.sustained.as_ref();
            let chosen = profile
                .recommendation
                .as_ref()
                .is_some_and(|r| r.candidate == i);
            let held = match (&c.note, c.held(), chosen) {
                (Some(note), false, _) => note.clone(),
                (_, true, true) => "chosen".to_owned(),
                (_, true, false) => "yes".to_owned(),
                (_, false, _) => "no".to_owned(),
            };
            [
                (i + 1).to_string(),
                c.name.clone(),
                c.knee()
                    .map_or("-".to_owned(), |k| k.concurrency.to_string()),
                opt(c.knee().map(|k| k.ok_throughput), 0),
                opt(sustained.map(|s| s.rate), 0),
                opt(sustained.map(|s| s.p50_ms), 2),
                opt(sustained.map(|s| s.p99_ms), 2),
                opt(sustained.map(|s| s.cpu_us_per_request), 0),
                opt(sustained.map(|s| s.rate / c.settings.cpu), 0),
                opt(c.peak_rss_mb, 1),
                held,
            ]
        })
        .collect()
}

const HEADINGS: [&str; 11] = [
    "#",
    "candidate",
    "knee conns",
    "knee req/s",
    "held req/s",
    "p50 ms",
    "p99 ms",
    "CPU µs/req",
    "req/s per CPU",
    "peak RSS MB",
    "held p99",
];

/// The candidates as an aligned text table.
pub fn table(profile: &Profile) -> String {
    let rows = rows(profile);
    let mut widths = HEADINGS.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            // Text left, numbers right.
            if i == 1 || i == HEADINGS.len() - 1 {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            }
            out.push_str("  ");
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(&HEADINGS.map(str::to_owned));
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

/// The recommendation and verification in a few lines.
pub fn summary(profile: &Profile) -> String {
    let mut out = String::new();
    let Some(r) = &profile.recommendation else {
        let _ = writeln!(
            out,
            "No candidate held p99 <= {} ms with at most 0.1% of answers other than 2xx: no deployment config written.",
            profile.p99_target_ms
        );
        if let Some(p50) = profile
            .candidates
            .iter()
            .filter_map(|c| c.load.ladder.first())
            .map(|s| s.p50_ms)
            .reduce(f64::min)
        {
            let _ = writeln!(
                out,
                "One request alone takes {p50:.2} ms at p50: ask for a larger --p99-ms, or a faster engine."
            );
        }
        return out;
    };
    let _ = writeln!(out, "Recommended: {}. Why: {}.", r.name, r.why);
    let _ = writeln!(
        out,
        "  cpu {}, memoryInGB {}, maxConcurrentRequestsPerContainer {}, maxQueueWaitMs {}{}",
        r.settings.cpu,
        r.memory_in_gb,
        r.settings.max_concurrent_requests,
        r.max_queue_wait_ms,
        r.settings.batching.map_or(String::new(), |b| format!(
            ", batching maxBatchSize {} maxBatchDelayMs {}",
            b.max_batch_size, b.max_batch_delay_ms
        ))
    );
    let _ = writeln!(
        out,
        "  one replica: {:.0} req/s planned ({}% of the {:.0} it sustained)",
        r.replica_rate,
        r.target_utilization,
        profile.candidates[r.candidate]
            .load
            .sustained
            .as_ref()
            .map_or(0.0, |s| s.rate)
    );
    if let (Some(replicas), Some(target)) = (&r.replicas, profile.target_rps) {
        let _ = writeln!(
            out,
            "  for {target} req/s: {} replica{}; autoscaler min {}, max {}, CPU target {}%",
            replicas.count,
            if replicas.count == 1 { "" } else { "s" },
            replicas.min_replicas,
            replicas.max_replicas,
            replicas.target_utilization
        );
    }
    for v in &profile.verifications {
        let _ = writeln!(out, "{}", verdict(v, profile.p99_target_ms));
    }
    out
}

/// One verification in a line.
pub fn verdict(v: &Verification, p99_target_ms: f64) -> String {
    format!(
        "{}: {} served open loop at {:.0} req/s for {} s: p50 {:.2} ms, p99 {:.2} ms (target {p99_target_ms} ms), {:.2}% 2xx{}",
        if v.held { "verified" } else { "NOT verified" },
        v.name,
        v.rate,
        v.seconds,
        v.step.p50_ms,
        v.step.p99_ms,
        100.0 * ok_share(&v.step),
        v.failure
            .as_ref()
            .map_or(String::new(), |f| format!(": {f}"))
    )
}

/// The share of a step's answers that were 2xx.
fn ok_share(step: &Step) -> f64 {
    1.0 - crate::measure::error_share(step)
}

/// The report for people: the question, the machine, the table, the
/// choice and why, the verification, the files.
pub fn markdown(profile: &Profile, plot: Option<&str>) -> String {
    let mut out = String::new();
    let verdict = match profile.verifications.last() {
        Some(v) if v.held => "verified",
        Some(_) => "NOT verified",
        None => "no recommendation",
    };
    let _ = writeln!(out, "# Profile of {}: {verdict}\n", profile.model);
    let _ = writeln!(
        out,
        "Target: p99 <= {} ms, with at most 0.1% of answers other than 2xx{}.\n",
        profile.p99_target_ms,
        profile
            .target_rps
            .map_or(String::new(), |t| format!(", {t} req/s in all"))
    );
    let m = &profile.machine;
    let _ = writeln!(out, "## Machine\n");
    let _ = writeln!(out, "- {} cores; CPU limits: {}", m.cores, m.cpu_limit);
    let _ = writeln!(
        out,
        "- engines: {}",
        m.engines
            .iter()
            .map(|e| e.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "- the load generator runs on the same machine (one thread), so a candidate as large as the machine is measured with less than its CPU"
    );
    for note in &m.notes {
        let _ = writeln!(out, "- {note}");
    }
    let s = &profile.start;
    let _ = writeln!(out, "\n## Start-up\n");
    let _ = writeln!(
        out,
        "- cold start (process start to ready, median of {} starts): {:.1} ms (server's own ready time {:.1} ms)",
        profile
            .candidates
            .iter()
            .filter(|c| c.note.is_none())
            .count()
            + profile.verifications.len(),
        s.cold_start_ms,
        s.ready_ms
    );
    let _ = writeln!(
        out,
        "- peak memory by ready (load and self-test): {} MB",
        opt(s.load_peak_mb, 1)
    );
    let _ = writeln!(out, "- idle resident memory: {} MB", opt(s.idle_rss_mb, 1));
    let _ = writeln!(out, "\n## Candidates\n");
    let _ = writeln!(
        out,
        "Request body: {} ({} bytes). Each candidate: closed loop at {:?} connections until p99 broke the target or throughput stopped growing (the knee: the most 2xx req/s that held, \"knee req/s\"), then open loop at 90%, 75%, 60%, 45%, 30% of the knee until one held (\"held req/s\"); CPU and memory are the server's own, from /proc.\n",
        profile.sample, profile.sample_bytes, profile.timing.ladder
    );
    let _ = writeln!(out, "| {} |", HEADINGS.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(HEADINGS.len()));
    for row in rows(profile) {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    if let Some(plot) = plot {
        let _ = writeln!(
            out,
            "\n![throughput against p99, per candidate]({plot})\n\nEach line is a candidate's closed-loop ladder: 2xx throughput against p99, the dashed line the target."
        );
    }
    let _ = writeln!(out, "\n## Recommendation\n");
    out.push_str(&summary(profile));
    if let Some(r) = &profile.recommendation {
        let _ = writeln!(
            out,
            "\n`deploymentconfig.json`:\n\n```json\n{}\n```\n\nThe inference config (the engine and batching of the model's entry):\n\n```json\n{}\n```",
            serde_json::to_string_pretty(&r.deployment_config).unwrap_or_default(),
            serde_json::to_string_pretty(&r.inference_config).unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "\nmemoryInGB is the peak resident memory under load (or at start, whichever is larger) times {}, at least 64 MB more, rounded up to 0.1 GB; the server's body budget is half of it, so bodies much larger than the sample need more. maxQueueWaitMs is twice the p99 target: past its capacity a replica answers 503 at once rather than queueing past the target.",
            crate::choose::MEMORY_HEADROOM
        );
    }
    let _ = writeln!(out, "\n## Files\n");
    for file in &profile.files {
        let _ = writeln!(out, "- `{file}`");
    }
    let _ = writeln!(out, "\nThe profile took {:.0} s.", profile.elapsed_s);
    out
}
