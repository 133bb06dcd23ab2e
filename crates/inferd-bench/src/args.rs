//! The command line of `inferd bench`, and the run it describes.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;

use crate::BenchError;
use crate::load::{StepPlan, run_step};
use crate::protocol::{BodyFormat, Protocol};
use crate::report::{self, ProgressBar, Report};
use crate::target::Target;

/// Load a scoring server and report throughput, latency and statuses.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Where to send the load (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:5001/score")]
    pub url: String,

    /// A file whose content is each request's body, sent as it is. Without
    /// it, /score gets the example of the target's /swagger.json (its
    /// ServiceInput), and v2 a body made from the model metadata (see
    /// --rows).
    #[arg(long)]
    pub body: Option<PathBuf>,

    #[command(flatten)]
    pub wire: WireArgs,

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

/// What the requests speak, and how a v2 body is made.
#[derive(Debug, Clone, Default, Args)]
pub struct WireArgs {
    /// The target's contract: `score` (Azure ML JSON) or `v2` (the Open
    /// Inference Protocol, KServe v2). Default: v2 when the URL's path is
    /// /v2/models/{m}[/versions/{v}]/infer, else score.
    #[arg(long, value_enum)]
    pub protocol: Option<Protocol>,

    /// How a v2 request carries its tensors. A binary body asks for binary
    /// outputs too, as tritonclient does; a JSON body for JSON outputs.
    #[arg(long, value_enum, default_value = "json")]
    pub body_format: BodyFormat,

    /// With --body FILE and --body-format binary: the length in bytes of
    /// the file's JSON header, sent as Inference-Header-Content-Length
    /// (`-H 'Inference-Header-Content-Length: N'` does the same).
    #[arg(long, value_name = "N", requires = "body")]
    pub header_length: Option<usize>,

    /// v2 without --body: requests of N rows with values from a fixed
    /// pattern (floats 0, 0.25, 0.5, 0.75 repeating; integers 0; booleans
    /// false). A free (-1) first dimension of an input's metadata shape is
    /// N, any other free dimension 1. Without --rows the example of the
    /// target's /swagger.json is sent when it fits the model (the same
    /// values as a /score run), else 1 row of the pattern.
    #[arg(long, value_name = "N", conflicts_with = "body",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rows: Option<u32>,
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
    let body = crate::body::prepare(&args, &target, headers).await?;
    let request: Bytes = target.request(Some(&body.bytes), &body.headers);
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
        "{} {} ({} {}, {mode} loop, {} s per step, {} byte body: {})",
        args.label,
        args.url,
        body.protocol.as_str(),
        body.format.as_str(),
        args.duration,
        body.bytes.len(),
        body.source
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
        protocol: body.protocol,
        body_format: body.format,
        body_bytes: body.bytes.len(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use inferd_tensor::{DType, Dim, Signature, TensorSpec};
    use inferd_v2::V2Model;
    use serde_json::json;

    use crate::test_server::TestServer;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn parse(line: &[&str]) -> Result<BenchArgs, clap::Error> {
        let words = std::iter::once("bench").chain(line.iter().copied());
        Cli::try_parse_from(words).map(|cli| cli.args)
    }

    #[test]
    fn v2_options_parse() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.wire.protocol, None);
        assert_eq!(args.wire.body_format, BodyFormat::Json);
        let args = parse(&[
            "--url",
            "http://127.0.0.1:8000/v2/models/m/infer",
            "--protocol",
            "v2",
            "--body-format",
            "binary",
            "--rows",
            "8",
        ])
        .unwrap();
        assert_eq!(args.wire.protocol, Some(Protocol::V2));
        assert_eq!(args.wire.body_format, BodyFormat::Binary);
        assert_eq!(args.wire.rows, Some(8));
        let args = parse(&["--body", "b.bin", "--header-length", "120"]).unwrap();
        assert_eq!(args.wire.header_length, Some(120));
        for bad in [
            &["--rows", "0"][..],
            &["--rows", "2", "--body", "b.json"],
            &["--header-length", "10"],
            &["--body-format", "npy"],
            &["--protocol", "v1"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    /// A run's worth of checks that need no server: each is refused before
    /// any request.
    #[tokio::test]
    async fn options_of_the_other_protocol_are_refused() {
        let refused = |line: &'static [&'static str]| async move {
            let error = run_async(parse(line).unwrap()).await.unwrap_err();
            assert!(matches!(error, BenchError::Usage(_)), "{line:?}: {error}");
        };
        refused(&["--body-format", "binary"]).await;
        refused(&["--rows", "2"]).await;
        refused(&[
            "--url",
            "http://127.0.0.1:1/v2/models/m/infer",
            "-H",
            "Inference-Header-Content-Length: 4",
        ])
        .await;
        let error = run_async(parse(&["--protocol", "v2"]).unwrap()).await;
        assert!(matches!(error, Err(BenchError::NoBody(_))), "{error:?}");
    }

    /// The whole path against a stand-in v2 server: metadata read, a binary
    /// body made, sent with its framing, and readable by the server's codec.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_v2_run_sends_a_body_the_server_reads() {
        let metadata = json!({"name": "m", "versions": ["1"], "platform": "x",
            "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
            "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1]}]});
        let server = TestServer::start(vec![
            ("/v2/models/m", 200, metadata.to_string()),
            ("/v2/models/m/infer", 200, "{}".to_owned()),
        ])
        .await;
        let url = format!("http://{}/v2/models/m/infer", server.addr);
        let dir = std::env::temp_dir().join(format!("inferd-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let json_path = dir.join("report.json");
        let args = parse(&[
            "--url",
            &url,
            "--body-format",
            "binary",
            "--rows",
            "2",
            "-c",
            "1",
            "-d",
            "0.05",
            "--warmup",
            "0",
            "--json",
            json_path.to_str().unwrap(),
        ])
        .unwrap();
        let report = run_async(args).await.unwrap();
        assert_eq!(report.protocol, Protocol::V2);
        assert_eq!(report.body_format, BodyFormat::Binary);
        assert!(report.steps[0].requests > 0);
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
        assert_eq!(written["protocol"], "v2");
        assert_eq!(written["body_format"], "binary");
        std::fs::remove_dir_all(&dir).unwrap();

        let received = server.received.lock().unwrap().clone();
        let post = received.iter().find(|r| r.method == "POST").unwrap();
        assert_eq!(post.path, "/v2/models/m/infer");
        assert_eq!(
            post.header("content-type"),
            Some("application/octet-stream")
        );
        let header_length: usize = post
            .header("inference-header-content-length")
            .unwrap()
            .parse()
            .unwrap();
        let signature = Signature {
            inputs: vec![TensorSpec {
                name: "x".into(),
                dtype: DType::F32,
                shape: Some(vec![Dim::Free(None), Dim::Fixed(3)]),
            }],
            outputs: vec![],
        };
        let model = V2Model::new("m", "1", "x", signature);
        let request = model
            .decode_request(&post.body, Some(header_length))
            .unwrap();
        assert_eq!(request.inputs[0].shape(), [2, 3]);
    }

    #[test]
    fn reports_from_before_v2_read_as_score_json() {
        let old = json!({"label": "a", "url": "http://127.0.0.1:5001/score",
            "mode": "closed", "body_bytes": 10, "steps": []});
        let report: Report = serde_json::from_value(old).unwrap();
        assert_eq!(report.protocol, Protocol::Score);
        assert_eq!(report.body_format, BodyFormat::Json);
    }
}
