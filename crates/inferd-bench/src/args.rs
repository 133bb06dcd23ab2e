//! The command line of `inferd bench`, and the run it describes.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;

use crate::BenchError;
use crate::load::{StepPlan, run_step};
use crate::report::{self, ProgressBar, Report};
use crate::target::{Target, body_from_swagger};

/// Load a scoring server and report throughput, latency and statuses.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Where to send the load (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:5001/score")]
    pub url: String,

    /// A file whose content is each request's body. Without it, the example
    /// of the target's /swagger.json (its ServiceInput) is used.
    #[arg(long)]
    pub body: Option<PathBuf>,

    /// An extra request header, `Name: value`; repeatable.
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,

    /// Connections per step, comma-separated: one step each.
    #[arg(long, short = 'c', value_delimiter = ',', default_value = "1,4,16,64")]
    pub concurrency: Vec<usize>,

    /// Open loop: requests per second, comma-separated (one step each, all
    /// with the largest --concurrency as connections). Without it, closed loop.
    #[arg(long, value_delimiter = ',')]
    pub rate: Vec<f64>,

    /// Seconds counted per step.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    pub duration: f64,

    /// Seconds of load before each step's counting starts.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,

    /// Seconds after which a request counts as failed (status 0).
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,

    /// Name of this run in reports and plots.
    #[arg(long, default_value = "inferd")]
    pub label: String,

    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Write an SVG plot (latency and throughput against concurrency).
    #[arg(long)]
    pub svg: Option<PathBuf>,

    /// Earlier JSON reports to draw in the same plot, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub with: Vec<PathBuf>,

    /// Send no load: only draw the --with reports into --svg.
    #[arg(long, requires_all = ["with", "svg"])]
    pub plot_only: bool,
}

/// Runs the benchmark on a runtime of its own (the caller is synchronous).
pub fn run(args: BenchArgs) -> Result<Report, BenchError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(BenchError::io("cannot start the runtime"))?;
    runtime.block_on(run_async(args))
}

pub async fn run_async(args: BenchArgs) -> Result<Report, BenchError> {
    let target = Target::parse(&args.url)?;
    if args.plot_only {
        let runs = read_reports(&args.with)?;
        write_svg(&args, &target, &runs)?;
        return runs
            .into_iter()
            .next()
            .ok_or_else(|| BenchError::Usage("--with names no report".into()));
    }
    if args.concurrency.is_empty() || args.concurrency.contains(&0) {
        return Err(BenchError::Usage(
            "--concurrency needs counts above 0".into(),
        ));
    }
    if args.duration <= 0.0 || args.warmup < 0.0 || args.rate.iter().any(|r| *r <= 0.0) {
        return Err(BenchError::Usage(
            "--duration and --rate must be above 0, --warmup not below".into(),
        ));
    }
    let headers = args
        .headers
        .iter()
        .map(|h| {
            h.split_once(':')
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| BenchError::Usage(format!("header '{h}': write it as Name: value")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let body = match &args.body {
        Some(path) => Bytes::from(
            std::fs::read(path)
                .map_err(BenchError::io(format!("cannot read {}", path.display())))?,
        ),
        None => body_from_swagger(&target).await?,
    };
    let request = target.request(Some(&body), &headers);
    let plans: Vec<StepPlan> = if args.rate.is_empty() {
        args.concurrency
            .iter()
            .map(|&c| plan(&args, c, None))
            .collect()
    } else {
        let connections = *args.concurrency.iter().max().expect("not empty");
        args.rate
            .iter()
            .map(|&r| plan(&args, connections, Some(r)))
            .collect()
    };
    let mode = if args.rate.is_empty() {
        "closed"
    } else {
        "open"
    };
    println!(
        "{} {} ({mode} loop, {} s per step, {} byte body)",
        args.label,
        args.url,
        args.duration,
        body.len()
    );
    println!("{}", report::header());
    let mut steps = Vec::new();
    for plan in &plans {
        let done = Arc::new(AtomicU64::new(0));
        let progress = ProgressBar::start(
            format!("c={}", plan.concurrency),
            plan.warmup + plan.duration,
            done.clone(),
        );
        let step = run_step(&target, request.clone(), plan, done).await;
        drop(progress);
        // Let the bar's task clear its line before the row is printed.
        tokio::time::sleep(Duration::from_millis(5)).await;
        println!("{}", report::row(&step));
        steps.push(step);
    }
    let report = Report {
        label: args.label.clone(),
        url: args.url.clone(),
        mode: mode.to_owned(),
        body_bytes: body.len(),
        steps,
    };
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).expect("a report serialises");
        std::fs::write(path, text + "\n")
            .map_err(BenchError::io(format!("cannot write {}", path.display())))?;
    }
    let mut runs = vec![report.clone()];
    runs.extend(read_reports(&args.with)?);
    write_svg(&args, &target, &runs)?;
    Ok(report)
}

fn read_reports(paths: &[PathBuf]) -> Result<Vec<Report>, BenchError> {
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read(path)
                .map_err(BenchError::io(format!("cannot read {}", path.display())))?;
            serde_json::from_slice::<Report>(&text).map_err(|e| {
                BenchError::Usage(format!("{} is not a bench report: {e}", path.display()))
            })
        })
        .collect()
}

fn write_svg(args: &BenchArgs, target: &Target, runs: &[Report]) -> Result<(), BenchError> {
    let Some(path) = &args.svg else { return Ok(()) };
    let svg = crate::plot::svg(&format!("POST {}", target.path), runs);
    std::fs::write(path, svg).map_err(BenchError::io(format!("cannot write {}", path.display())))
}

fn plan(args: &BenchArgs, concurrency: usize, rate: Option<f64>) -> StepPlan {
    StepPlan {
        concurrency,
        rate,
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.duration),
        timeout: Duration::from_secs_f64(args.timeout),
    }
}
