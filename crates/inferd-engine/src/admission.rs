//! Admission: at most `max_concurrent` scoring calls run at once in this
//! container, across all models. A request takes a place in a bounded queue
//! ([`Admission::enter`], refused at once when full) and must start within
//! `max_queue_wait`; past either bound it is refused (503) rather than left
//! to pile up.
//!
//! Slots are taken by the engine's worker threads themselves, right before a
//! run, so a freed slot goes straight to the next job without a trip through
//! the async runtime. A [`Slot`] is released only when the computation
//! really ends, even when the caller has long stopped waiting (a timed-out
//! computation still uses its core).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::EngineError;

#[derive(Debug, Clone, Copy)]
pub struct AdmissionOptions {
    pub max_concurrent: usize,
    pub max_queue_wait: Duration,
    pub max_queue_length: usize,
}

impl Default for AdmissionOptions {
    /// The contract's defaults: one call at a time, 500 ms of queueing.
    fn default() -> AdmissionOptions {
        AdmissionOptions {
            max_concurrent: 1,
            max_queue_wait: Duration::from_millis(500),
            max_queue_length: 1024,
        }
    }
}

/// The container-wide gate in front of every model.
pub struct Admission {
    options: AdmissionOptions,
    /// Slots in use and the workers waiting for one (on `freed`).
    slots: Mutex<Slots>,
    freed: Condvar,
    waiting: AtomicUsize,
}

impl Admission {
    pub fn new(options: AdmissionOptions) -> Arc<Admission> {
        Arc::new(Admission {
            options: AdmissionOptions {
                max_concurrent: options.max_concurrent.max(1),
                ..options
            },
            slots: Mutex::new(Slots::default()),
            freed: Condvar::new(),
            waiting: AtomicUsize::new(0),
        })
    }

    pub fn options(&self) -> AdmissionOptions {
        self.options
    }

    /// Slots in use, timed-out computations that still run included.
    pub fn busy(&self) -> usize {
        self.slots.lock().expect("admission lock").busy
    }

    /// Requests queued and not yet started.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// A place in the queue, or `QueueFull` at once. The queue-wait clock
    /// starts here, so the caller can prepare (decode the request) while
    /// counted as waiting, and a full queue refuses a request before any
    /// work is spent on it.
    pub fn enter(self: &Arc<Self>) -> Result<Ticket, EngineError> {
        let limit = self.options.max_queue_length;
        self.waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .map_err(|_| EngineError::QueueFull { capacity: limit })?;
        let entered = Instant::now();
        Ok(Ticket {
            admission: self.clone(),
            entered,
            deadline: entered + self.options.max_queue_wait,
        })
    }

    /// Blocks the calling (worker) thread until a slot is free or
    /// `deadline` passes. Never call it from an async task.
    pub fn take_slot_until(self: &Arc<Self>, deadline: Instant) -> Option<Slot> {
        let mut slots = self.slots.lock().expect("admission lock");
        while slots.busy >= self.options.max_concurrent {
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())?;
            slots.sleeping += 1;
            slots = self
                .freed
                .wait_timeout(slots, left)
                .expect("admission lock")
                .0;
            slots.sleeping -= 1;
        }
        slots.busy += 1;
        Some(Slot {
            admission: self.clone(),
        })
    }
}

/// A place in the queue, counted while held. Its `deadline` is the latest
/// moment the request may start.
pub struct Ticket {
    admission: Arc<Admission>,
    pub entered: Instant,
    pub deadline: Instant,
}

impl Ticket {
    pub fn admission(&self) -> &Arc<Admission> {
        &self.admission
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The right to run one scoring call. Dropping it frees the slot.
pub struct Slot {
    admission: Arc<Admission>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut slots = self.admission.slots.lock().expect("admission lock");
        slots.busy -= 1;
        let anyone_sleeping = slots.sleeping > 0;
        drop(slots);
        // A notification is a system call even with nobody waiting (std's
        // condition variable keeps no count); most slots are freed with
        // nobody waiting.
        if anyone_sleeping {
            self.admission.freed.notify_one();
        }
    }
}

/// What the admission lock guards.
#[derive(Debug, Default)]
struct Slots {
    busy: usize,
    sleeping: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(max_concurrent: usize, wait_ms: u64, queue: usize) -> Arc<Admission> {
        Admission::new(AdmissionOptions {
            max_concurrent,
            max_queue_wait: Duration::from_millis(wait_ms),
            max_queue_length: queue,
        })
    }

    #[test]
    fn a_full_queue_refuses_at_once_and_places_come_back() {
        let gate = admission(1, 500, 2);
        let first = gate.enter().unwrap();
        let _second = gate.enter().unwrap();
        assert_eq!(gate.waiting(), 2);
        assert!(matches!(
            gate.enter(),
            Err(EngineError::QueueFull { capacity: 2 })
        ));
        drop(first);
        assert_eq!(gate.waiting(), 1);
        assert!(gate.enter().is_ok());
        assert_eq!(
            first_deadline_is_entered_plus_wait(&gate),
            Duration::from_millis(500)
        );
    }

    fn first_deadline_is_entered_plus_wait(gate: &Arc<Admission>) -> Duration {
        let ticket = gate.enter().unwrap();
        ticket.deadline - ticket.entered
    }

    #[test]
    fn slots_are_limited_and_a_waiter_gets_the_next_free_one() {
        let gate = admission(2, 500, 10);
        let far = Instant::now() + Duration::from_secs(10);
        let a = gate.take_slot_until(far).unwrap();
        let _b = gate.take_slot_until(far).unwrap();
        assert_eq!(gate.busy(), 2);
        let waiter = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                let slot = gate.take_slot_until(Instant::now() + Duration::from_secs(30));
                (slot, Instant::now())
            })
        };
        // The waiter is asleep on the condition variable, both slots held.
        let start = Instant::now();
        while gate.slots.lock().unwrap().sleeping == 0 {
            assert!(start.elapsed() < Duration::from_secs(30), "never waited");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!waiter.is_finished(), "no slot while both are held");
        let released = Instant::now();
        drop(a);
        let (slot, got) = waiter.join().unwrap();
        assert!(slot.is_some());
        assert!(got >= released, "it waited for the release");
        assert_eq!(gate.busy(), 2, "the waiter holds the freed slot");
    }

    #[test]
    fn the_wait_for_a_slot_ends_at_the_deadline() {
        let gate = admission(1, 500, 10);
        let _busy = gate.take_slot_until(Instant::now()).unwrap();
        let started = Instant::now();
        assert!(
            gate.take_slot_until(started + Duration::from_millis(150))
                .is_none()
        );
        let waited = started.elapsed();
        // Not before the deadline; the upper bound only guards against
        // waiting on for the slot that never frees.
        assert!(
            waited >= Duration::from_millis(150) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        assert!(
            gate.take_slot_until(Instant::now() - Duration::from_millis(1))
                .is_none(),
            "a passed deadline never waits"
        );
        assert_eq!(gate.busy(), 1);
    }
}
