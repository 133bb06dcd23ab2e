//! A job's progress, shared by its caller and the worker: queued, started
//! (and when), or abandoned. The caller and the worker race on it with a
//! compare-and-swap at the queue deadline: exactly one of "refused" and
//! "started" wins, so a refused request never runs.
//!
//! The start time is read from here rather than sent: a message would wake
//! the caller's thread once more per request, only for it to go back to
//! waiting for the answer (on 2 cores that wake-up cost more than serving a
//! small model).

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::nanos;

const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const ABANDONED: u8 = 2;

pub(crate) struct Progress {
    state: AtomicU8,
    /// When the job entered the queue; the start is stored relative to it.
    entered: Instant,
    /// Nanoseconds from `entered` to the start, written before `state`
    /// turns to started (the compare-and-swap publishes it).
    started_after: AtomicU64,
    /// Nanoseconds the job's `prepare` took, written by the worker before it
    /// answers (the answer's channel publishes it).
    prepare_nanos: AtomicU64,
}

impl Progress {
    pub(crate) fn new(entered: Instant) -> Progress {
        Progress {
            state: AtomicU8::new(QUEUED),
            entered,
            started_after: AtomicU64::new(0),
            prepare_nanos: AtomicU64::new(0),
        }
    }

    /// Worker: queued -> started, now. False when the caller gave up first.
    pub(crate) fn start(&self) -> bool {
        self.start_at(Instant::now())
    }

    /// As [`Progress::start`], with the time already read.
    pub(crate) fn start_at(&self, now: Instant) -> bool {
        let after = now.saturating_duration_since(self.entered);
        self.started_after.store(nanos(after), Ordering::Relaxed);
        self.state
            .compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Worker: how long the job's `prepare` took.
    pub(crate) fn set_prepare(&self, took: Duration) {
        self.prepare_nanos.store(nanos(took), Ordering::Relaxed);
    }

    /// Caller, once answered: how long the job's `prepare` took.
    pub(crate) fn prepare(&self) -> Duration {
        Duration::from_nanos(self.prepare_nanos.load(Ordering::Relaxed))
    }

    /// Caller: queued -> abandoned. False when the worker started it first.
    pub(crate) fn abandon(&self) -> bool {
        self.state
            .compare_exchange(QUEUED, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub(crate) fn is_queued(&self) -> bool {
        self.state.load(Ordering::Acquire) == QUEUED
    }

    /// When the run started, once it has.
    pub(crate) fn started_at(&self) -> Option<Instant> {
        (self.state.load(Ordering::Acquire) == STARTED).then(|| {
            self.entered + Duration::from_nanos(self.started_after.load(Ordering::Relaxed))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_or_abandoned_never_both() {
        let progress = Progress::new(Instant::now());
        assert!(progress.is_queued() && progress.started_at().is_none());
        assert!(progress.start());
        assert!(!progress.abandon(), "a started job cannot be abandoned");
        let start = progress.started_at().expect("started");
        assert!(start >= progress.entered && start <= Instant::now());

        let progress = Progress::new(Instant::now());
        assert!(progress.abandon());
        assert!(!progress.start(), "an abandoned job never starts");
        assert!(!progress.is_queued() && progress.started_at().is_none());
    }

    #[test]
    fn the_race_has_one_winner() {
        for _ in 0..200 {
            let progress = std::sync::Arc::new(Progress::new(Instant::now()));
            let worker = {
                let progress = progress.clone();
                std::thread::spawn(move || progress.start())
            };
            let abandoned = progress.abandon();
            let started = worker.join().unwrap();
            assert!(abandoned != started);
        }
    }
}
