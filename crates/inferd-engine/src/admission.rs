//! Admission: at most `max_concurrent` scoring calls run at once in this
//! container, across all models. A request that finds no free slot waits in
//! a bounded queue for at most `max_queue_wait`; past either bound it is
//! refused at once (503) rather than left to pile up.
//!
//! A [`Slot`] is held until the computation really ends: the executor's
//! worker drops it after the engine returns, even when the caller has long
//! stopped waiting (a timed-out computation still uses its core). Waiting is
//! a future: if the client goes away, the future is dropped and the request
//! leaves the queue without ever running.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
    permits: Arc<Semaphore>,
    options: AdmissionOptions,
    waiting: AtomicUsize,
}

/// The right to run one scoring call. Dropping it frees the slot.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    /// How long the request waited for it.
    pub waited: Duration,
}

impl Admission {
    pub fn new(options: AdmissionOptions) -> Arc<Admission> {
        let options = AdmissionOptions {
            max_concurrent: options.max_concurrent.max(1),
            ..options
        };
        Arc::new(Admission {
            permits: Arc::new(Semaphore::new(options.max_concurrent)),
            options,
            waiting: AtomicUsize::new(0),
        })
    }

    pub fn options(&self) -> AdmissionOptions {
        self.options
    }

    /// Slots in use, timed-out computations that still run included.
    pub fn busy(&self) -> usize {
        self.options.max_concurrent - self.permits.available_permits()
    }

    /// Requests waiting for a slot.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// A slot now, or after waiting at most `max_queue_wait`.
    pub async fn admit(&self) -> Result<Slot, EngineError> {
        self.enter()?.wait().await
    }

    /// A place in the queue, or `QueueFull` at once. The queue-wait clock
    /// starts here, so the caller can do its own preparation (decoding the
    /// request) while counted as waiting, and a full queue refuses a request
    /// before any work is spent on it.
    pub fn enter(&self) -> Result<Ticket<'_>, EngineError> {
        let place = QueuePlace::take(&self.waiting, self.options.max_queue_length).ok_or(
            EngineError::QueueFull {
                capacity: self.options.max_queue_length,
            },
        )?;
        Ok(Ticket {
            admission: self,
            _place: place,
            entered: Instant::now(),
        })
    }
}

/// A place in the queue; [`Ticket::wait`] turns it into a [`Slot`].
pub struct Ticket<'a> {
    admission: &'a Admission,
    _place: QueuePlace<'a>,
    entered: Instant,
}

impl Ticket<'_> {
    /// Waits for a slot until `max_queue_wait` after entering the queue. The
    /// semaphore is fair, so waiters are served in arrival order and a
    /// newcomer cannot take a slot a waiter is owed.
    pub async fn wait(self) -> Result<Slot, EngineError> {
        let admission = self.admission;
        let started = Instant::now();
        if let Ok(permit) = admission.permits.clone().try_acquire_owned() {
            return Ok(Slot {
                _permit: permit,
                waited: Duration::ZERO,
            });
        }
        let max_wait = admission.options.max_queue_wait;
        let remaining = max_wait.saturating_sub(self.entered.elapsed());
        match tokio::time::timeout(remaining, admission.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Slot {
                _permit: permit,
                waited: started.elapsed(),
            }),
            Ok(Err(_closed)) => Err(EngineError::Stopped),
            Err(_) => Err(EngineError::QueueTimeout { waited: max_wait }),
        }
    }
}

/// A place in the queue, counted while held.
struct QueuePlace<'a>(&'a AtomicUsize);

impl<'a> QueuePlace<'a> {
    fn take(waiting: &'a AtomicUsize, limit: usize) -> Option<QueuePlace<'a>> {
        waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| QueuePlace(waiting))
    }
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
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

    #[tokio::test(start_paused = true)]
    async fn a_waiter_gets_the_next_free_slot() {
        let gate = admission(1, 500, 10);
        let first = gate.admit().await.unwrap();
        assert_eq!((gate.busy(), first.waited), (1, Duration::ZERO));
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.admit().await.map(|slot| slot.waited) })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(gate.waiting(), 1);
        drop(first);
        let waited = waiter.await.unwrap().unwrap();
        assert_eq!(waited, Duration::from_millis(200));
        assert_eq!(gate.waiting(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_is_bounded() {
        let gate = admission(1, 500, 10);
        let _busy = gate.admit().await.unwrap();
        let started = tokio::time::Instant::now();
        let err = gate.admit().await.err().unwrap();
        assert!(matches!(err, EngineError::QueueTimeout { .. }), "{err}");
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(500),
            "refused at the deadline, not later"
        );
        assert_eq!(gate.waiting(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_refuses_at_once() {
        let gate = admission(1, 500, 2);
        let _busy = gate.admit().await.unwrap();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move { gate.admit().await.map(|_| ()) })
            })
            .collect();
        tokio::task::yield_now().await;
        assert_eq!(gate.waiting(), 2);
        let started = tokio::time::Instant::now();
        let err = gate.admit().await.err().unwrap();
        assert!(
            matches!(err, EngineError::QueueFull { capacity: 2 }),
            "{err}"
        );
        assert_eq!(started.elapsed(), Duration::ZERO);
        for waiter in waiters {
            assert!(waiter.await.unwrap().is_err());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_that_gives_up_leaves_the_queue() {
        let gate = admission(1, 500, 10);
        let busy = gate.admit().await.unwrap();
        let gone = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.admit().await.map(|_| ()) })
        };
        tokio::task::yield_now().await;
        assert_eq!(gate.waiting(), 1);
        gone.abort();
        let _ = gone.await;
        assert_eq!(gate.waiting(), 0);
        drop(busy);
        assert_eq!(
            gate.busy(),
            0,
            "the slot went back, not to the abandoned waiter"
        );
    }
}
