//! Brief busy-polling before a thread sleeps, while one caller alone uses
//! the model: by an idle engine worker (for the next job), and by the lone
//! caller's task (for its answer).
//!
//! A thread that sleeps must be woken, and on a virtual machine waking an
//! idle CPU costs tens of microseconds (the host schedules the vCPU back
//! in): at one connection that was most of a small model's latency.
//! - The worker polls its queue for a bounded time after each job, so its
//!   CPU is awake for a lone client's next request. Measured on the 2-core
//!   VM (diabetes-ridge, one connection): p50 0.09-0.13 ms -> 0.05 ms.
//! - The caller polls for its answer for the same bound before it awaits
//!   it, so its thread is awake when a run of tens of microseconds ends.
//!   Measured (mlp-784, one connection): p50 0.113 -> 0.080 ms.
//!
//! Both only happen while a client calls the model alone
//! ([`Callers::alone`]): with company, queues are rarely empty and CPU time
//! is what counts (polling whenever one request was in flight cost a third
//! of the throughput at 16 connections with the load generator on the same
//! cores). Every poll ends at its bound, then the thread sleeps as before.

use std::time::{Duration, Instant};

use crate::callers::Callers;

/// [`poll_until`] for at most `bound`, and never past `deadline`, only
/// while a client calls alone; `None` at once otherwise (or when `bound` is
/// zero, or the deadline has passed). `alone` is asked first: under load it
/// says no before any clock is read.
pub fn poll_if_alone<T>(
    callers: &Callers,
    bound: Duration,
    deadline: Option<Instant>,
    poll: impl FnMut() -> Option<T>,
) -> Option<T> {
    if bound.is_zero() || !callers.alone() {
        return None;
    }
    let now = Instant::now();
    let until = deadline.map_or(now + bound, |deadline| deadline.min(now + bound));
    if until <= now {
        return None;
    }
    poll_until(until, poll)
}

/// Calls `poll` until it answers `Some` or `until` passes (then `None`).
pub(crate) fn poll_until<T>(until: Instant, mut poll: impl FnMut() -> Option<T>) -> Option<T> {
    loop {
        if let Some(found) = poll() {
            return Some(found);
        }
        if Instant::now() >= until {
            return None;
        }
        for _ in 0..16 {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn polling_ends_at_its_bound_or_when_found() {
        let start = Instant::now();
        let none: Option<()> = poll_until(start + Duration::from_millis(2), || None);
        assert!(none.is_none());
        assert!(start.elapsed() >= Duration::from_millis(2));
        let mut calls = 0;
        let found = poll_until(start + Duration::from_secs(60), || {
            calls += 1;
            (calls == 3).then_some(calls)
        });
        assert_eq!(found, Some(3));
    }
}
