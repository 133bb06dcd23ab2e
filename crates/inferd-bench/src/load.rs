//! The two ways to load a server.
//!
//! Closed loop: `concurrency` connections, each sending its next request as
//! soon as the last is answered; latency runs from the send.
//!
//! Open loop: requests are due at a fixed rate (the i-th at `start + i /
//! rate`) whatever the server does; `concurrency` connections take the due
//! requests in turn, and latency runs from the moment a request was due, not
//! from when a free connection sent it, so a slow server cannot hide its
//! queue by slowing the client down (no coordinated omission).
//!
//! The first `warmup` of each step is sent but not counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::conn::Conn;
use crate::stats::{Samples, Step};
use crate::target::Target;

/// One step's settings.
#[derive(Debug, Clone)]
pub struct StepPlan {
    pub concurrency: usize,
    /// Requests per second for an open-loop step; `None` is closed loop.
    pub rate: Option<f64>,
    pub warmup: Duration,
    pub duration: Duration,
    pub timeout: Duration,
}

/// Runs one step; `progress` counts answered requests as they come.
pub async fn run_step(
    target: &Target,
    request: Bytes,
    plan: &StepPlan,
    progress: Arc<AtomicU64>,
) -> Step {
    let start = Instant::now() + Duration::from_millis(5);
    let counted_from = start + plan.warmup;
    let end = counted_from + plan.duration;
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..plan.concurrency.max(1))
        .map(|_| {
            let (request, progress, next) = (request.clone(), progress.clone(), next.clone());
            let (addr, plan) = (target.addr, plan.clone());
            tokio::spawn(async move {
                let mut conn = Conn::new(addr);
                let mut samples = Samples::default();
                tokio::time::sleep_until(start.into()).await;
                loop {
                    let due = match plan.rate {
                        Some(rate) => {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let due = start + Duration::from_secs_f64(i as f64 / rate);
                            if due >= end {
                                break;
                            }
                            tokio::time::sleep_until(due.into()).await;
                            due
                        }
                        None => Instant::now(),
                    };
                    if due >= end {
                        break;
                    }
                    let status = match conn.send(&request, plan.timeout).await {
                        Ok(response) => response.status,
                        Err(_) => 0,
                    };
                    progress.fetch_add(1, Ordering::Relaxed);
                    if due >= counted_from {
                        samples.record(status, due.elapsed());
                    }
                }
                samples
            })
        })
        .collect();
    let mut all = Samples::default();
    for task in tasks {
        if let Ok(samples) = task.await {
            all.merge(samples);
        }
    }
    Step::from_samples(
        plan.concurrency,
        plan.rate,
        plan.duration.as_secs_f64(),
        all,
    )
}
