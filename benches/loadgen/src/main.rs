//! Open-loop load: sends `--rate` requests per second for `--duration`
//! seconds whatever the server does (so an overloaded server cannot slow the
//! offered load down), and reports the share of each status and latency
//! percentiles of the successes. Latency runs from the moment a request was
//! scheduled, not sent, so queueing in the client counts too (no coordinated
//! omission). Loopback targets only: it is a benchmark tool. The
//! server-side figures (`ok_server_*`: arrival to encoded answer; `ok_queue_*`,
//! `ok_score_*`; `ok_outside_*`: the client's latency less the server's total)
//! come from the `Server-Timing` header,
//! which inferd sends only with `--server-timing` (else they are null).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[derive(Debug, Parser)]
struct Args {
    /// Target URL (loopback only), e.g. http://127.0.0.1:5001/score.
    #[arg(long)]
    url: String,
    /// File whose content is POSTed as JSON.
    #[arg(long)]
    body: std::path::PathBuf,
    /// Requests per second.
    #[arg(long)]
    rate: f64,
    /// Seconds of load.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Give up on a request after this many seconds (counted as status 0).
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let uri: hyper::Uri = args.url.parse().context("bad --url")?;
    match uri.host() {
        Some("127.0.0.1" | "localhost" | "[::1]") => {}
        other => bail!("refusing to load {other:?}: loopback targets only"),
    }
    let body = Bytes::from(std::fs::read(&args.body).context("cannot read --body")?);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build_http::<Full<Bytes>>();
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let total = (args.rate * args.duration).round() as u64;
    let timeout = Duration::from_secs_f64(args.timeout);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let (client, uri, body) = (client.clone(), uri.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let request = hyper::Request::post(uri)
                .header("content-type", "application/json")
                .body(Full::new(body))
                .expect("valid request");
            let status = match tokio::time::timeout(timeout, async {
                let response = client.request(request).await.ok()?;
                let status = response.status().as_u16();
                let server_total = response
                    .headers()
                    .get("server-timing")
                    .and_then(|v| v.to_str().ok())
                    .and_then(server_timing_ms);
                response.into_body().collect().await.ok()?;
                Some((status, server_total))
            })
            .await
            {
                Ok(Some(answer)) => answer,
                _ => (0, None),
            };
            (status, scheduled.elapsed())
        }));
    }
    let offered_for = start.elapsed();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut ok_latencies = Vec::new();
    let mut ok_server_ms = Vec::new();
    let (mut ok_queue_ms, mut ok_score_ms, mut ok_outside_ms) =
        (Vec::new(), Vec::new(), Vec::new());
    for task in tasks {
        let ((status, server), latency) = task.await?;
        *statuses.entry(status).or_default() += 1;
        if status == 200 {
            let latency = latency.as_secs_f64() * 1000.0;
            ok_latencies.push(latency);
            if let Some(timing) = server {
                ok_server_ms.push(timing.total);
                ok_queue_ms.push(timing.queue);
                ok_score_ms.push(timing.score);
                ok_outside_ms.push(latency - timing.total);
            }
        }
    }
    let pct = |values: &mut Vec<f64>, p: f64| -> f64 {
        values.sort_by(f64::total_cmp);
        if values.is_empty() {
            return f64::NAN;
        }
        values[((values.len() as f64 - 1.0) * p).round() as usize]
    };
    let shares: BTreeMap<String, f64> = statuses
        .iter()
        .map(|(status, count)| (status.to_string(), *count as f64 / total as f64))
        .collect();
    let report = serde_json::json!({
        "offered_rate": args.rate,
        "sent": total,
        "offered_seconds": offered_for.as_secs_f64(),
        "statuses": statuses,
        "shares": shares,
        "ok_p50_ms": pct(&mut ok_latencies, 0.50),
        "ok_p99_ms": pct(&mut ok_latencies, 0.99),
        "ok_max_ms": pct(&mut ok_latencies, 1.0),
        "ok_server_p50_ms": pct(&mut ok_server_ms, 0.50),
        "ok_server_p99_ms": pct(&mut ok_server_ms, 0.99),
        "ok_server_max_ms": pct(&mut ok_server_ms, 1.0),
        "ok_queue_p99_ms": pct(&mut ok_queue_ms, 0.99),
        "ok_queue_max_ms": pct(&mut ok_queue_ms, 1.0),
        "ok_score_p99_ms": pct(&mut ok_score_ms, 0.99),
        "ok_outside_p50_ms": pct(&mut ok_outside_ms, 0.50),
        "ok_outside_p99_ms": pct(&mut ok_outside_ms, 0.99),
    });
    println!("{report}");
    Ok(())
}

/// One answer's `Server-Timing`, in ms: the wait for a slot, the run
/// (decoding included), and arrival to encoded answer.
struct ServerTiming {
    queue: f64,
    score: f64,
    total: f64,
}

fn server_timing_ms(header: &str) -> Option<ServerTiming> {
    let part = |name: &str| {
        header
            .split(',')
            .find_map(|part| part.trim().strip_prefix(name)?.strip_prefix(";dur="))
            .and_then(|ms| ms.parse().ok())
    };
    Some(ServerTiming {
        queue: part("queue")?,
        score: part("score")?,
        total: part("total")?,
    })
}
