//! Memory handed back after large requests. mimalloc hands freed memory
//! back only when the allocator next runs on a thread after its purge
//! delay; an idle server runs none, so what a large request took stayed
//! resident: 70-95 MB after one 60 MB body, for seconds, and after
//! rounds of them it stayed there (`benches/RESULTS.md`). One forced
//! collection, from any thread, hands it back (70 -> 15 MB).
//!
//! [`HandBack::soon`] (called by the server after each request that moved
//! [`LARGE_REQUEST_BYTES`] or more) has a thread of its own collect
//! [`SETTLE`] after the last such request, when its buffers have been
//! freed, and once more [`LATE`] after that, for an answer its client read
//! slowly. While large requests keep coming nothing is collected: their
//! memory is in use, and taking it back would only fault it in again. The
//! hot path pays nothing: small requests never call it.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A request whose body and answer together are this large or larger has
/// its memory handed back once it is done.
pub const LARGE_REQUEST_BYTES: u64 = 1 << 20;

/// How long after the last large request the first collection runs: its
/// body, tensors and answer have been freed by then (the answer once its
/// client has read it).
pub const SETTLE: Duration = Duration::from_millis(250);

/// How long after the first the second collection runs.
pub const LATE: Duration = Duration::from_secs(2);

/// How long the thread sleeps with nothing due before it looks again
/// (every wait has a bound).
const IDLE_WAKE: Duration = Duration::from_secs(60);

/// The hand-back thread's handle; cheap to clone.
#[derive(Clone)]
pub struct HandBack {
    shared: Arc<Shared>,
}

struct Shared {
    due: Mutex<Due>,
    changed: Condvar,
}

#[derive(Default)]
struct Due {
    /// When the next collection runs.
    at: Option<Instant>,
    /// Whether a late one follows it.
    late: bool,
}

impl HandBack {
    /// Starts the thread. Without it, memory goes back as mimalloc alone
    /// hands it back.
    pub fn start() -> std::io::Result<HandBack> {
        let shared = Arc::new(Shared {
            due: Mutex::new(Due::default()),
            changed: Condvar::new(),
        });
        let worker = shared.clone();
        std::thread::Builder::new()
            .name("inferd-hand-back".to_owned())
            .spawn(move || worker.run())?;
        Ok(HandBack { shared })
    }

    /// A large request is done: collect [`SETTLE`] from now (and [`LATE`]
    /// after that), unless another comes first.
    pub fn soon(&self) {
        let mut due = self.shared.lock();
        due.at = Some(Instant::now() + SETTLE);
        due.late = true;
        drop(due);
        self.shared.changed.notify_one();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Due> {
        // A `Due` is never left half-written: a poisoned lock is sound.
        self.due.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self) {
        let mut due = self.lock();
        loop {
            let now = Instant::now();
            match due.at {
                Some(at) if at <= now => {
                    due.at = due.late.then(|| now + LATE);
                    due.late = false;
                    drop(due);
                    crate::allocator::release_freed();
                    due = self.lock();
                }
                at => {
                    let wait = at.map_or(IDLE_WAKE, |at| at - now);
                    due = self
                        .changed
                        .wait_timeout(due, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
    }
}
