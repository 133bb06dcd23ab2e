//! A profile from start to end: every candidate served and measured in
//! turn, the choice, the files written, the proof, the report.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use inferd_bench::report::Report;
use inferd_bench::{BodyFormat, Protocol};
use inferd_config::InferenceConfig;
use inferd_registry::Registry;

use crate::ProfileError;
use crate::args::{Engine, ProfileArgs};
use crate::body::{self, Sample};
use crate::cgroup::CpuLimits;
use crate::child::{Launch, Served};
use crate::choose::{self, Held};
use crate::configs::{self, Sizing};
use crate::grid::{self, Settings};
use crate::measure::{self, Timing};
use crate::progress::Progress;
use crate::report::{self, Candidate, Machine, Profile, Recommendation, Start, to_mb};
use crate::verify;

/// What the binary knows that the profile needs.
#[derive(Debug, Clone)]
pub struct Context {
    pub registry: PathBuf,
    /// This binary: it serves every candidate (`serve`).
    pub exe: PathBuf,
    /// Whether this build has the ONNX Runtime engine.
    pub onnxruntime_built: bool,
}

/// The candidates' configs, removed when the profile ends, however it ends.
struct Scratch(PathBuf);

impl Scratch {
    fn make(folder: PathBuf) -> Result<Scratch, ProfileError> {
        std::fs::create_dir_all(&folder).map_err(ProfileError::io(format!(
            "cannot make {}",
            folder.display()
        )))?;
        Ok(Scratch(folder))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Candidates verified at most, best first, before the profile gives up.
const VERIFY_TRIES: usize = 3;

/// How long an idle server is left before its memory is read.
fn idle_wait(quick: bool) -> Duration {
    Duration::from_millis(if quick { 200 } else { 500 })
}

/// Runs the profile `args` ask for; prints the table (or `--json`) and
/// writes the files. A profile that found no candidate, or whose
/// recommendation did not hold, is still `Ok`: `verified` says.
pub fn run(args: ProfileArgs, context: &Context) -> Result<Profile, ProfileError> {
    let started = Instant::now();
    let version = Registry::new(&context.registry)
        .get(&args.model)
        .map_err(|e| ProfileError::Model(e.to_string()))?;
    let model = args.model.to_string();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("profile-{}", args.model.name)));
    let scratch = Scratch::make(out.join(".candidates"))?;
    let work = &scratch.0;
    let base = match &args.inference_config {
        Some(path) => Some(
            InferenceConfig::from_path(path).map_err(|e| ProfileError::Config(e.to_string()))?,
        ),
        None => None,
    };
    let data_field = base
        .as_ref()
        .and_then(|b| b.models.iter().find(|m| m.name() == args.model.name))
        .map_or("data".to_owned(), |m| m.data_field.clone());

    let mut notes = Vec::new();
    let cores = inferd_config::cpu::available_cores();
    let max_cpu = match args.max_cpu {
        Some(cpu) if cpu > cores as f64 => {
            notes.push(format!(
                "--max-cpu {cpu} is more than this machine's {cores} cores: profiled up to {cores}"
            ));
            cores as f64
        }
        Some(cpu) => cpu,
        None => cores as f64,
    };
    let mut engines = engines(&args.engines, context.onnxruntime_built, &mut notes)?;
    let mut limits = CpuLimits::find();
    let timing = Timing::new(args.quick);
    let grid = grid::grid(&engines, max_cpu, args.quick);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // One thread: the generator stays off the cores the server measures.
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(ProfileError::io("cannot start the load runtime"))?;

    let mut progress = Progress::new(grid.len() as u64 + 1);
    progress.say(&format!(
        "profiling {model}: {} candidates, up to {} s each; CPU limits by {}",
        grid.len(),
        timing.most_per_candidate().as_secs(),
        limits.kind()
    ));
    let mut sample: Option<Sample> = None;
    let mut start = Start::default();
    let mut starts = Vec::new();
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut broken_engines: Vec<Engine> = Vec::new();
    for (i, settings) in grid.iter().enumerate() {
        let name = settings.name();
        progress.candidate(i, &name);
        let mut candidate = Candidate {
            name: name.clone(),
            settings: settings.clone(),
            cpu_quota: false,
            threads: None,
            load: Default::default(),
            peak_rss_mb: None,
            note: None,
        };
        if let Some(why) = skip(settings, &candidates, &broken_engines) {
            candidate.note = Some(why);
            candidates.push(candidate);
            continue;
        }
        let folder = work.join(format!("{:02}", i + 1));
        let launch = write_candidate(
            &folder,
            context,
            &model,
            base.as_ref(),
            settings,
            args.p99_ms,
            &Sizing::default(),
        )?;
        let cgroup = limits.cgroup(settings.cpu);
        candidate.cpu_quota = cgroup.is_some();
        let served = match Served::start(&launch, cgroup) {
            Ok(served) => served,
            Err(e) => {
                if settings.engine == Engine::Onnxruntime
                    && !candidates
                        .iter()
                        .any(|c| c.settings.engine == Engine::Onnxruntime && c.note.is_none())
                {
                    broken_engines.push(Engine::Onnxruntime);
                    notes.push(format!(
                        "ONNX Runtime could not start, so it was not profiled: {e}"
                    ));
                }
                candidate.note = Some(start_failure(&e));
                candidates.push(candidate);
                continue;
            }
        };
        starts.push((served.start_to_ready, served.ready_ms));
        candidate.threads = served.threads;
        if start.load_peak_mb.is_none() {
            start.load_peak_mb = to_mb(served.peak_rss());
            std::thread::sleep(idle_wait(args.quick));
            start.idle_rss_mb = to_mb(served.rss());
        }
        let target = measure::score_target(served.port);
        let found = match &sample {
            Some(found) => found.clone(),
            None => {
                let found = runtime.block_on(body::find(
                    args.sample.as_deref(),
                    &target,
                    &version.dir,
                    &data_field,
                ))?;
                sample = Some(found.clone());
                found
            }
        };
        if let Err(e) = runtime.block_on(body::check(&target, &found)) {
            if candidates.iter().all(|c| c.note.is_some()) {
                return Err(e);
            }
            candidate.note = Some(first_line(&e.to_string()).to_owned());
            candidates.push(candidate);
            continue;
        }
        let request = target.request(Some(&found.body), &[]);
        served.reset_peak();
        candidate.load = measure::measure(
            &runtime,
            &served,
            &request,
            &timing,
            args.p99_ms,
            &mut |what| progress.step(what),
        );
        candidate.peak_rss_mb = to_mb(served.peak_rss());
        drop(served);
        progress.finished(&candidate);
        candidates.push(candidate);
    }
    engines.retain(|e| !broken_engines.contains(e));
    let Some(sample) = sample else {
        return Err(ProfileError::Start {
            why: "no candidate's server started".to_owned(),
            logs: candidates
                .iter()
                .filter_map(|c| c.note.clone())
                .collect::<Vec<_>>()
                .join("\n"),
        });
    };

    // The choice, its files, and the proof.
    let held: Vec<Held> = candidates
        .iter()
        .enumerate()
        .filter_map(|(index, c)| {
            Some(Held {
                index,
                settings: &c.settings,
                sustained: c.load.sustained.as_ref()?,
            })
        })
        .collect();
    let ranked = choose::rank(&held);
    let mut files = Vec::new();
    let mut recommendation = None;
    let mut verifications = Vec::new();
    // The files of the last candidate verified: the ones left in `out`.
    let mut written: Option<Launch> = None;
    let seconds = args
        .verify_seconds
        .unwrap_or(if args.quick { 2.0 } else { 10.0 });
    // The best first; where its written files do not hold the target
    // under load, the next, up to VERIFY_TRIES.
    for choice in ranked.into_iter().take(VERIFY_TRIES) {
        let chosen = &candidates[choice.index];
        let sustained = chosen
            .load
            .sustained
            .clone()
            .expect("a ranked candidate sustained a rate");
        let peak_mb = chosen
            .peak_rss_mb
            .unwrap_or(0.0)
            .max(start.load_peak_mb.unwrap_or(0.0));
        let sizing = Sizing {
            memory_in_gb: Some(choose::memory_in_gb((peak_mb * 1e6) as u64)),
            replicas: args.target_rps.map(|t| {
                choose::replicas(t, &sustained, chosen.settings.cpu, args.target_utilization)
            }),
        };
        let launch = write_candidate(
            &out,
            context,
            &model,
            base.as_ref(),
            &chosen.settings,
            args.p99_ms,
            &sizing,
        )?;
        let replica_rate = choose::replica_rate(&sustained, args.target_utilization);
        recommendation = Some(Recommendation {
            candidate: choice.index,
            name: chosen.name.clone(),
            why: choice.why,
            settings: chosen.settings.clone(),
            memory_in_gb: sizing.memory_in_gb.unwrap_or_default(),
            max_queue_wait_ms: configs::max_queue_wait_ms(args.p99_ms),
            replica_rate,
            target_utilization: args.target_utilization,
            replicas: sizing.replicas.clone(),
            deployment_config: read_json(&launch.deployment_config)?,
            inference_config: read_json(&launch.inference_config)?,
        });
        progress.candidate(grid.len(), &format!("verifying {}", chosen.name));
        progress.step(&format!("the written files at {replica_rate:.0} req/s"));
        let served = Served::start(&launch, limits.cgroup(chosen.settings.cpu))?;
        starts.push((served.start_to_ready, served.ready_ms));
        let request = measure::score_target(served.port).request(Some(&sample.body), &[]);
        let verification = verify::verify(
            &runtime,
            &served,
            &request,
            (choice.index, &chosen.name),
            replica_rate,
            seconds,
            &timing,
            args.p99_ms,
        );
        progress.say(&report::verdict(&verification, args.p99_ms));
        let held = verification.held;
        verifications.push(verification);
        written = Some(launch);
        if held {
            break;
        }
    }
    if let Some(launch) = written {
        files.push(launch.deployment_config.display().to_string());
        files.push(launch.inference_config.display().to_string());
    }
    progress.done();
    drop(scratch);

    start.cold_start_ms = median(starts.iter().map(|(wall, _)| wall.as_secs_f64() * 1000.0));
    start.ready_ms = median(starts.iter().filter_map(|(_, ms)| ms.map(|ms| ms as f64)));
    let machine = Machine {
        cores,
        cpu_limit: limits.kind(),
        engines,
        notes,
    };
    let svg = out.join("tradeoff.svg");
    let report_md = out.join("report.md");
    let profile_json = out.join("profile.json");
    for path in [&svg, &report_md, &profile_json] {
        files.push(path.display().to_string());
    }
    let mut profile = Profile {
        model,
        p99_target_ms: args.p99_ms,
        target_rps: args.target_rps,
        machine,
        sample_bytes: sample.body.len(),
        sample: sample.source,
        start,
        timing,
        verified: verifications.last().is_some_and(|v| v.held),
        candidates,
        recommendation,
        verifications,
        elapsed_s: 0.0,
        files,
    };
    let plot = inferd_bench::plot::svg_tradeoff(
        &format!("inferd profile: {}", profile.model),
        &ladders(&profile),
        Some(args.p99_ms),
        profile.recommendation.as_ref().map(|r| r.candidate),
    );
    write(&svg, &plot)?;
    profile.elapsed_s = started.elapsed().as_secs_f64();
    write(
        &report_md,
        &report::markdown(&profile, Some("tradeoff.svg")),
    )?;
    let json =
        serde_json::to_string_pretty(&profile).map_err(|e| ProfileError::Config(e.to_string()))?;
    write(&profile_json, &(json.clone() + "\n"))?;
    if args.json {
        println!("{json}");
    } else {
        print!("{}", report::table(&profile));
        println!();
        print!("{}", report::summary(&profile));
        println!("Wrote {}", profile.files.join(", "));
    }
    Ok(profile)
}

/// The engines to profile: those asked for that this build has, else all it has.
fn engines(
    asked: &[Engine],
    onnxruntime_built: bool,
    notes: &mut Vec<String>,
) -> Result<Vec<Engine>, ProfileError> {
    let built = |e: &Engine| *e == Engine::Tract || onnxruntime_built;
    let mut engines: Vec<Engine> = if asked.is_empty() {
        [Engine::Tract, Engine::Onnxruntime]
            .into_iter()
            .filter(built)
            .collect()
    } else {
        asked.to_vec()
    };
    engines.sort();
    engines.dedup();
    if !onnxruntime_built {
        if engines.contains(&Engine::Onnxruntime) {
            engines.retain(built);
            if engines.is_empty() {
                return Err(ProfileError::Usage(
                    "--engine onnxruntime: this build has no ONNX Runtime (build with --features ort)".to_owned(),
                ));
            }
        }
        notes.push(
            "ONNX Runtime: not in this build (build with --features ort to profile it too)"
                .to_owned(),
        );
    }
    Ok(engines)
}

/// Why a candidate is not worth measuring: its engine could not start, or
/// the same settings with more CPU broke the target at one connection.
fn skip(settings: &Settings, done: &[Candidate], broken: &[Engine]) -> Option<String> {
    if broken.contains(&settings.engine) {
        return Some(format!("skipped: {} did not start", settings.engine.name()));
    }
    done.iter()
        .filter(|c| c.settings.cpu > settings.cpu && c.settings == settings.at_cpu(c.settings.cpu))
        .find(|c| c.note.is_none() && c.load.knee.is_none())
        .map(|c| {
            format!(
                "skipped: missed the target at 1 connection with cpu {}",
                c.settings.cpu
            )
        })
}

/// Writes a candidate's two configs into `folder`; what to serve them with.
fn write_candidate(
    folder: &Path,
    context: &Context,
    model: &str,
    base: Option<&InferenceConfig>,
    settings: &Settings,
    p99_ms: f64,
    sizing: &Sizing,
) -> Result<Launch, ProfileError> {
    std::fs::create_dir_all(folder).map_err(ProfileError::io(format!(
        "cannot make {}",
        folder.display()
    )))?;
    let deployment_config = folder.join("deploymentconfig.json");
    let inference_config = folder.join("inferenceconfig.json");
    write(
        &deployment_config,
        &configs::deployment_config(settings, p99_ms, sizing)?,
    )?;
    write(
        &inference_config,
        &configs::inference_config(base, model, settings)?,
    )?;
    Ok(Launch {
        exe: context.exe.clone(),
        registry: context.registry.clone(),
        inference_config,
        deployment_config,
    })
}

fn write(path: &Path, text: &str) -> Result<(), ProfileError> {
    std::fs::write(path, text).map_err(ProfileError::io(format!("cannot write {}", path.display())))
}

fn read_json(path: &Path) -> Result<serde_json::Value, ProfileError> {
    let text = std::fs::read_to_string(path)
        .map_err(ProfileError::io(format!("cannot read {}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| ProfileError::Config(format!("{}: {e}", path.display())))
}

/// Each measured candidate's ladder as a bench report, for the plot.
fn ladders(profile: &Profile) -> Vec<Report> {
    profile
        .candidates
        .iter()
        .map(|c| Report {
            label: c.name.clone(),
            url: "/score".to_owned(),
            mode: "closed loop".to_owned(),
            protocol: Protocol::Score,
            body_format: BodyFormat::Json,
            body_bytes: profile.sample_bytes,
            steps: c.load.ladder.clone(),
        })
        .collect()
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// A failed start in one line: why, and the server's last word.
fn start_failure(error: &ProfileError) -> String {
    match error {
        ProfileError::Start { why, logs } => {
            match logs.lines().rev().find(|l| !l.trim().is_empty()) {
                Some(last) => format!("did not start: {why}: {last}"),
                None => format!("did not start: {why}"),
            }
        }
        other => format!("did not start: {}", first_line(&other.to_string())),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}
