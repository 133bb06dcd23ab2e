//! `inferd-conformance`: runs the ONNX operator cases through every engine
//! built in, prints the table, optionally writes the report, and fails when
//! an engine's pass count drops below the committed baseline.
//!
//! ```text
//! inferd-conformance [--cases DIR] [--report FILE.md] [--baseline FILE.json] [--filter TEXT] [--cuda]
//! ```
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use inferd_conformance::report::{self, Baseline, EngineResults};
use inferd_conformance::{bundled, engines, node_cases};

struct Args {
    cases: PathBuf,
    report: Option<PathBuf>,
    baseline: Option<PathBuf>,
    filter: Option<String>,
    cuda: bool,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        cases: engines::repo_root().join(".cache/onnx-node-cases"),
        report: None,
        baseline: None,
        filter: None,
        cuda: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--cases" => args.cases = value()?.into(),
            "--report" => args.report = Some(value()?.into()),
            "--baseline" => args.baseline = Some(value()?.into()),
            "--filter" => args.filter = Some(value()?),
            "--cuda" => args.cuda = true,
            "-h" | "--help" => {
                println!(
                    "usage: inferd-conformance [--cases DIR] [--report FILE.md] [--baseline FILE.json] [--filter TEXT] [--cuda]"
                );
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other} (see --help)"),
        }
    }
    Ok(args)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    // Panics are outcomes here (caught per case); their default report on
    // stderr would bury the table.
    std::panic::set_hook(Box::new(|_| {}));
    let folders: Vec<PathBuf> = node_cases::cases(&args.cases)?
        .into_iter()
        .filter(|p| {
            args.filter.as_deref().is_none_or(|f| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(f))
            })
        })
        .collect();
    let names: Vec<String> = folders
        .iter()
        .map(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let deadline = Duration::from_secs(30);
    let engines = engines::all_with(args.cuda)?;

    // The bundled models first: the engine suite of the tests, here so that
    // a GPU run (benches/cuda.sh) covers it too.
    let models = bundled::models(&engines::repo_root().join("models"))?;
    let mut bundled_failed = Vec::new();
    let mut bundled_table = format!(
        "| bundled model | {} |\n| --- |{}\n",
        engines
            .iter()
            .map(|e| e.name)
            .collect::<Vec<_>>()
            .join(" | "),
        " --- |".repeat(engines.len())
    );
    for model in &models {
        let mut row = format!("| {} |", model.name);
        for named in &engines {
            match bundled::check(named.engine.as_ref(), model, &bundled::BATCH_SIZES) {
                Ok(()) => row.push_str(" batches 1/7/64 equal |"),
                Err(e) => {
                    row.push_str(" FAILED |");
                    bundled_failed.push(format!("{} on {}: {e}", model.name, named.name));
                }
            }
        }
        bundled_table.push_str(&row);
        bundled_table.push('\n');
    }
    println!("{bundled_table}");

    let mut results = Vec::new();
    for named in engines {
        let started = Instant::now();
        let engine: &'static dyn inferd_backend::Engine = Box::leak(named.engine);
        let outcomes = folders
            .iter()
            .map(|folder| node_cases::run(engine, folder, deadline))
            .collect();
        let done = EngineResults {
            engine: named.name.to_owned(),
            outcomes,
        };
        eprintln!(
            "{}: {} of {} cases pass ({:.1} s)",
            done.engine,
            done.count("pass"),
            folders.len(),
            started.elapsed().as_secs_f64()
        );
        results.push(done);
    }
    let table = report::table(&results);
    print!("{table}");

    if let Some(path) = &args.report {
        let onnx = std::fs::read_to_string(args.cases.join("onnx-version.txt")).unwrap_or_default();
        let text = format!(
            "# ONNX operator conformance\n\n\
             Made by `scripts/conformance.sh` (`inferd-conformance --report {}`): every node case the \
             `onnx` {} wheel generates, run through each engine in-process (one session, one thread, \
             the tolerances each case states). Per-case outcomes, and why each non-pass failed, are in \
             `{}`.\n\n{table}\n\
             The engine suite on the bundled models (recorded outputs, rtol 1e-4):\n\n{bundled_table}",
            path.display(),
            onnx.trim(),
            path.with_extension("tsv").display(),
        );
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
        std::fs::write(
            path.with_extension("tsv"),
            report::per_case(&names, &results),
        )?;
    }
    if let Some(path) = &args.baseline {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the baseline {}", path.display()))?;
        let baseline: Baseline = serde_json::from_str(&text).with_context(|| {
            format!("the baseline {} is not {{engine: passes}}", path.display())
        })?;
        let regressions = report::regressions(&results, &baseline);
        if !regressions.is_empty() {
            anyhow::bail!("conformance dropped: {}", regressions.join("; "));
        }
        eprintln!("every engine at or above its baseline ({})", path.display());
    }
    if !bundled_failed.is_empty() {
        anyhow::bail!("bundled models failed: {}", bundled_failed.join("; "));
    }
    Ok(())
}
