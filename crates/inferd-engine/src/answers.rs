//! Answers on their way: how many jobs have been handed to model workers
//! and how many of them have been answered (or dropped), so that an HTTP
//! thread about to sleep can tell whether an answer is still to come.
//!
//! An async runtime's worker parks in `epoll_wait` when it has nothing to
//! do. Under load that is most often the moment between handing jobs to
//! the workers and their answers, a few microseconds later; parking then
//! costs the engine a system call to wake the runtime, and the runtime's
//! CPU a sleep and a wake-up (tens of microseconds on a virtual machine).
//! [`poll_before_park`], called by the runtime before each park, polls for
//! the next answer instead, for a bounded time, and only while some answer
//! is due. Its cost is bounded by how often a loaded runtime parks, which
//! is rarely (about a hundred times a second at 64 connections here). What
//! it buys: diabetes-ridge at 64 connections, poll on / off 1.048 and 1.032
//! in requests a second (two series of 10-12 rounds, `benches/server_cpu.sh`
//! with one server at `--http-park-poll-us 0`; `benches/RESULTS.md`).
//!
//! The two counts live on separate cache lines and each has one kind of
//! writer: request threads count what they hand on, workers what they
//! answer, so neither side's count bounces between cores per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::spin::poll_until;

/// Jobs handed on and answered. One per server serves every executor, as
/// one async runtime serves every model: made where the server is built
/// ([`Answers::leak`]) and handed to the runtime's park hook and to each
/// executor ([`crate::ExecutorOptions::answers`]).
#[derive(Debug, Default)]
pub struct Answers {
    sent: Padded,
    answered: Padded,
}

/// A count on a cache line of its own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

impl Answers {
    pub const fn new() -> Answers {
        Answers {
            sent: Padded(AtomicU64::new(0)),
            answered: Padded(AtomicU64::new(0)),
        }
    }

    /// Counts that live as long as the process: the runtime's threads and
    /// every job's guard refer to them.
    pub fn leak() -> &'static Answers {
        Box::leak(Box::new(Answers::new()))
    }

    /// A job handed on: due an answer until the guard is dropped (after
    /// the answer is sent, or with the job when it is never run).
    pub fn sent(&'static self) -> Due {
        self.sent.0.fetch_add(1, Ordering::Relaxed);
        Due(self)
    }

    /// Answers still to come.
    pub fn due(&self) -> u64 {
        // Answered first: each answer follows its job's count (the job
        // reached its worker through a channel after the count), so this
        // difference is never below the truth at the time of the read.
        let answered = self.answered.0.load(Ordering::Acquire);
        self.sent.0.load(Ordering::Relaxed).wrapping_sub(answered)
    }

    /// For a runtime worker about to park: while an answer is due, polls
    /// until the next one comes or `bound` passes. Returns at once when
    /// no answer is due or `bound` is zero.
    pub fn poll_before_park(&self, bound: Duration) {
        if bound.is_zero() || self.due() == 0 {
            return;
        }
        let answered = self.answered.0.load(Ordering::Acquire);
        let _ = poll_until(Instant::now() + bound, || {
            (self.answered.0.load(Ordering::Acquire) != answered).then_some(())
        });
    }
}

/// One job's due answer; counted as answered when dropped.
#[derive(Debug)]
pub struct Due(&'static Answers);

impl Drop for Due {
    fn drop(&mut self) {
        // Release: a poller that sees the count sees the answer sent before it.
        self.0.answered.0.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers() -> &'static Answers {
        Answers::leak()
    }

    #[test]
    fn answers_are_due_while_their_guards_live() {
        let answers = answers();
        assert_eq!(answers.due(), 0);
        let first = answers.sent();
        let second = answers.sent();
        assert_eq!(answers.due(), 2);
        drop(first);
        assert_eq!(answers.due(), 1);
        drop(second);
        assert_eq!(answers.due(), 0);
    }

    #[test]
    fn nothing_due_means_no_polling() {
        let answers = answers();
        let start = Instant::now();
        answers.poll_before_park(Duration::from_secs(30));
        assert!(start.elapsed() < Duration::from_secs(10), "it polled");
    }

    #[test]
    fn polling_ends_with_the_next_answer_or_at_its_bound() {
        let answers = answers();
        let due = answers.sent();
        let start = Instant::now();
        answers.poll_before_park(Duration::from_millis(20));
        assert!(
            start.elapsed() >= Duration::from_millis(20),
            "no answer came"
        );
        let answering = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            drop(due);
        });
        let start = Instant::now();
        answers.poll_before_park(Duration::from_secs(30));
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the answer ended it"
        );
        answering.join().unwrap();
    }
}
