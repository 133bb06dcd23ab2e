//! One candidate measured: a closed-loop ladder of connections finds the
//! knee (the most 2xx throughput whose p99 holds the target), then an
//! open-loop load just under it checks the rate the candidate sustains,
//! with its latency, CPU per request and peak memory.
//!
//! Closed loop alone would flatter a candidate (clients wait for answers,
//! so the load eases off as the server slows); the open-loop step is the
//! arrival pattern a deployment sees, with latency counted from when each
//! request was due.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use inferd_bench::Step;
use inferd_bench::load::{StepPlan, run_step};
use inferd_bench::target::Target;
use serde::Serialize;

use crate::child::Served;

/// Throughput below this share of the best so far, twice in a row: past the knee.
const STILL_GROWING: f64 = 1.05;

/// Connections from which a flat throughput ends the ladder.
const FLAT_FROM: usize = 8;

/// Open-loop rates tried, as shares of the knee's throughput, until one holds.
/// (A small model's knee on a small machine can be the generator's own
/// limit, which an open loop, with its timers and more connections, meets
/// sooner: hence the low shares.)
const CONFIRM_SHARES: [f64; 5] = [0.9, 0.75, 0.6, 0.45, 0.3];

/// The most connections an open-loop step opens.
const MOST_CONNECTIONS: usize = 512;

/// How long each step runs.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    /// Closed-loop connection counts, in order.
    pub ladder: Vec<usize>,
    #[serde(with = "seconds")]
    pub warmup: Duration,
    #[serde(with = "seconds")]
    pub step: Duration,
    #[serde(with = "seconds")]
    pub confirm: Duration,
    #[serde(with = "seconds")]
    pub timeout: Duration,
}

impl Timing {
    pub fn new(quick: bool) -> Timing {
        if quick {
            Timing {
                ladder: vec![1, 4, 16],
                warmup: Duration::from_millis(100),
                step: Duration::from_millis(400),
                confirm: Duration::from_millis(600),
                timeout: Duration::from_secs(5),
            }
        } else {
            Timing {
                ladder: vec![1, 2, 4, 8, 16, 32, 64],
                warmup: Duration::from_millis(250),
                step: Duration::from_secs(1),
                confirm: Duration::from_secs(2),
                timeout: Duration::from_secs(5),
            }
        }
    }

    /// The longest one candidate may take, for the plan's estimate.
    pub fn most_per_candidate(&self) -> Duration {
        let steps = self.ladder.len() as u32;
        (self.warmup + self.step) * steps
            + (self.warmup + self.confirm) * CONFIRM_SHARES.len() as u32
    }
}

/// The rate a candidate held under open-loop load, and what it cost.
#[derive(Debug, Clone, Serialize)]
pub struct Sustained {
    /// Requests per second offered (and answered 2xx).
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The server's CPU use at that rate, in cores.
    pub cpu_cores: f64,
    /// The server's CPU time per request, in microseconds.
    pub cpu_us_per_request: f64,
}

/// What one candidate's load found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Load {
    /// The closed-loop ladder, in order.
    pub ladder: Vec<Step>,
    /// The ladder step at the knee, if any held the target.
    pub knee: Option<usize>,
    /// The open-loop tries, in order.
    pub confirm: Vec<Step>,
    pub sustained: Option<Sustained>,
}

/// A server's `/score` on loopback.
pub fn score_target(port: u16) -> Target {
    Target {
        addr: ([127, 0, 0, 1], port).into(),
        authority: format!("127.0.0.1:{port}"),
        path: "/score".to_owned(),
    }
}

/// The most answers in a step that may be other than 2xx: a tenth of the
/// 1% that p99 leaves. A fast 503 must not pass for a fast answer, but one
/// shed request in tens of thousands (a VM's pause past a tight
/// `maxQueueWaitMs`) is not a broken target.
pub const ERROR_BUDGET: f64 = 0.001;

/// The share of a step's answers that were not 2xx (errors and timeouts
/// included); 1 when nothing was answered.
pub fn error_share(step: &Step) -> f64 {
    if step.requests == 0 {
        return 1.0;
    }
    step.statuses
        .iter()
        .filter(|(status, _)| !status.starts_with('2'))
        .map(|(_, share)| share)
        .sum()
}

/// Why a step missed the target: errors past [`ERROR_BUDGET`], or p99
/// past the target; `None` when it held.
pub fn miss(step: &Step, p99_ms: f64) -> Option<String> {
    if error_share(step) > ERROR_BUDGET {
        let statuses: Vec<String> = step
            .statuses
            .iter()
            .map(|(status, share)| format!("{status} {:.2}%", share * 100.0))
            .collect();
        Some(format!(
            "more than {}% of answers were not 2xx: {}",
            ERROR_BUDGET * 100.0,
            statuses.join(", ")
        ))
    } else if step.p99_ms > p99_ms {
        Some(format!("p99 {:.2} ms is over the target", step.p99_ms))
    } else {
        None
    }
}

/// Whether a step held the target.
pub fn holds(step: &Step, p99_ms: f64) -> bool {
    miss(step, p99_ms).is_none()
}

/// The ladder, then the open-loop tries, against `served`; `on_step` hears
/// what is being run.
pub fn measure(
    runtime: &tokio::runtime::Runtime,
    served: &Served,
    request: &Bytes,
    timing: &Timing,
    p99_ms: f64,
    on_step: &mut dyn FnMut(&str),
) -> Load {
    let target = score_target(served.port);
    let mut load = Load::default();
    let mut lagging = 0;
    for &connections in &timing.ladder {
        on_step(&format!("{connections} connections"));
        let plan = StepPlan {
            concurrency: connections,
            rate: None,
            warmup: timing.warmup,
            duration: timing.step,
            timeout: timing.timeout,
        };
        let progress = Arc::new(AtomicU64::new(0));
        let step = runtime.block_on(run_step(&target, request.clone(), &plan, progress));
        if !climb(&mut load, step, p99_ms, &mut lagging) {
            break;
        }
    }
    let Some(knee) = load.knee else {
        return load;
    };
    let knee_rate = load.ladder[knee].ok_throughput;
    for share in CONFIRM_SHARES {
        let rate = knee_rate * share;
        on_step(&format!("open loop at {rate:.0} req/s"));
        let (step, cpu_cores, cpu_us_per_request) = open_loop(
            runtime,
            served,
            &target,
            request,
            rate,
            timing.confirm,
            timing,
            p99_ms,
        );
        let held = holds(&step, p99_ms);
        if held {
            load.sustained = Some(Sustained {
                rate,
                p50_ms: step.p50_ms,
                p99_ms: step.p99_ms,
                cpu_cores,
                cpu_us_per_request,
            });
        }
        load.confirm.push(step);
        if held {
            break;
        }
    }
    load
}

/// Adds a ladder step and moves the knee; false once the ladder should
/// stop: the target broken, or throughput no longer growing.
fn climb(load: &mut Load, step: Step, p99_ms: f64, lagging: &mut u32) -> bool {
    let held = holds(&step, p99_ms);
    let best = load.knee.map_or(0.0, |k| load.ladder[k].ok_throughput);
    if held && step.ok_throughput > best {
        load.knee = Some(load.ladder.len());
    }
    // Below a few connections throughput can dip on noise alone.
    *lagging = if step.concurrency >= FLAT_FROM && step.ok_throughput < best * STILL_GROWING {
        *lagging + 1
    } else {
        0
    };
    load.ladder.push(step);
    held && *lagging < 2
}

/// One open-loop step at `rate` for `duration` (after the warmup): the
/// step, and the server's CPU over it (cores, µs per request).
#[allow(clippy::too_many_arguments)]
pub fn open_loop(
    runtime: &tokio::runtime::Runtime,
    served: &Served,
    target: &Target,
    request: &Bytes,
    rate: f64,
    duration: Duration,
    timing: &Timing,
    p99_ms: f64,
) -> (Step, f64, f64) {
    let plan = StepPlan {
        concurrency: connections_for(rate, p99_ms),
        rate: Some(rate),
        warmup: timing.warmup,
        duration,
        timeout: timing.timeout,
    };
    let progress = Arc::new(AtomicU64::new(0));
    let (cpu_before, wall) = (served.cpu_seconds(), Instant::now());
    let step = runtime.block_on(run_step(target, request.clone(), &plan, progress.clone()));
    let (cpu_after, wall) = (served.cpu_seconds(), wall.elapsed().as_secs_f64());
    let cpu = match (cpu_before, cpu_after) {
        (Some(before), Some(after)) => (after - before).max(0.0),
        _ => f64::NAN,
    };
    let answered = progress.load(Ordering::Relaxed).max(1) as f64;
    (step, cpu / wall, cpu * 1e6 / answered)
}

/// Connections for an open-loop rate: what the rate keeps in flight at
/// the target latency, so a connection is free when a request is due
/// while the target holds (a late one is counted late, not hidden).
fn connections_for(rate: f64, p99_ms: f64) -> usize {
    ((rate * p99_ms / 1000.0).ceil() as usize).clamp(8, MOST_CONNECTIONS)
}

mod seconds {
    pub fn serialize<S: serde::Serializer>(
        value: &std::time::Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn step(statuses: &[(&str, f64)], p99_ms: f64) -> Step {
        Step {
            concurrency: 1,
            rate: None,
            seconds: 1.0,
            requests: 100,
            throughput: 100.0,
            ok_throughput: 100.0,
            p50_ms: p99_ms / 2.0,
            p90_ms: p99_ms,
            p99_ms,
            max_ms: p99_ms,
            statuses: statuses
                .iter()
                .map(|(s, share)| (s.to_string(), *share))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn a_step_holds_with_p99_in_target_and_errors_in_budget() {
        assert!(holds(&step(&[("200", 1.0)], 4.0), 5.0));
        assert!(!holds(&step(&[("200", 1.0)], 6.0), 5.0));
        assert!(!holds(&step(&[("200", 0.99), ("503", 0.01)], 1.0), 5.0));
        assert!(!holds(&step(&[("200", 0.99), ("0", 0.01)], 1.0), 5.0));
        assert!(holds(&step(&[("200", 0.9998), ("503", 0.0002)], 1.0), 5.0));
        assert!(!holds(&step(&[("200", 0.998), ("503", 0.002)], 1.0), 5.0));
        let empty = Step {
            requests: 0,
            ..step(&[], 1.0)
        };
        assert!(!holds(&empty, 5.0));
    }

    fn at(concurrency: usize, ok_throughput: f64, p99_ms: f64) -> Step {
        Step {
            concurrency,
            ok_throughput,
            ..step(&[("200", 1.0)], p99_ms)
        }
    }

    #[test]
    fn the_knee_is_the_best_throughput_that_held() {
        let mut load = Load::default();
        let mut lagging = 0;
        assert!(climb(&mut load, at(1, 1000.0, 1.0), 5.0, &mut lagging));
        assert!(climb(&mut load, at(2, 3000.0, 2.0), 5.0, &mut lagging));
        let broke = climb(&mut load, at(4, 3500.0, 7.0), 5.0, &mut lagging);
        assert!(!broke, "p99 broke");
        assert_eq!(load.knee, Some(1));
        assert_eq!(load.ladder.len(), 3);
    }

    #[test]
    fn the_ladder_stops_when_throughput_stops_growing() {
        let mut load = Load::default();
        let mut lagging = 0;
        let ladder = [
            (1, 1000.0, true),
            (2, 900.0, true), // a dip at few connections is noise
            (4, 2000.0, true),
            (8, 2050.0, true),
            (16, 2080.0, false),
        ];
        for (connections, rate, go_on) in ladder {
            let step = at(connections, rate, 1.0);
            let went_on = climb(&mut load, step, 5.0, &mut lagging);
            assert_eq!(went_on, go_on, "{connections}");
        }
        assert_eq!(load.knee, Some(4), "the best that held, past the flat part");
        let mut none = Load::default();
        assert!(!climb(&mut none, at(1, 1000.0, 9.0), 5.0, &mut 0));
        assert_eq!(none.knee, None);
    }

    #[test]
    fn open_loop_connections_cover_the_rate_in_flight() {
        assert_eq!(connections_for(100.0, 5.0), 8);
        assert_eq!(connections_for(15_000.0, 5.0), 75);
        assert_eq!(connections_for(1e7, 50.0), MOST_CONNECTIONS);
    }
}
