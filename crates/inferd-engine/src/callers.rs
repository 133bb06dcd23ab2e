//! The requests for a model that have arrived and not yet been answered,
//! counted from the moment the server starts handling them (before the
//! body is read): the batcher asks whether company may still come, and the
//! lone-client polling of [`crate::spin`] whether a client is alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long since an arrival last found company before a caller counts as
/// alone. In a closed loop of even a few clients arrivals overlap every
/// millisecond or so; a lone client's never do.
pub const QUIET: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
pub struct Callers(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    count: AtomicUsize,
    origin: Instant,
    /// Nanoseconds from `origin` to the last arrival that found another
    /// caller already there.
    crowded_at: AtomicU64,
}

impl Default for Callers {
    fn default() -> Callers {
        Callers(Arc::new(Inner {
            count: AtomicUsize::new(0),
            origin: Instant::now(),
            crowded_at: AtomicU64::new(0),
        }))
    }
}

impl Callers {
    /// Counts one caller until the guard is dropped.
    pub fn arrive(&self) -> Arrival {
        if self.0.count.fetch_add(1, Ordering::AcqRel) > 0 {
            self.0
                .crowded_at
                .store(self.0.since_origin(), Ordering::Relaxed);
        }
        Arrival(self.0.clone())
    }

    /// Callers now.
    pub fn count(&self) -> usize {
        self.0.count.load(Ordering::Acquire)
    }

    /// At most one caller now, and no arrival found company for [`QUIET`]:
    /// one client calling in turn, not a crowd that happens to be thin.
    pub fn alone(&self) -> bool {
        self.count() <= 1
            && self.0.since_origin() - self.0.crowded_at.load(Ordering::Relaxed)
                > QUIET.as_nanos() as u64
    }
}

impl Inner {
    fn since_origin(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// One caller of a model; counted while alive.
#[derive(Debug)]
pub struct Arrival(Arc<Inner>);

impl Drop for Arrival {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_while_alive() {
        let callers = Callers::default();
        let first = callers.arrive();
        let second = callers.arrive();
        assert_eq!(callers.count(), 2);
        drop(first);
        assert_eq!(callers.count(), 1);
        drop(second);
        assert_eq!(callers.count(), 0);
    }

    #[test]
    fn alone_only_after_a_quiet_spell_without_company() {
        let callers = Callers::default();
        std::thread::sleep(QUIET * 2);
        let lone = callers.arrive();
        assert!(callers.alone(), "one caller, never crowded");
        let crowd = callers.arrive();
        assert!(!callers.alone(), "two callers");
        drop(crowd);
        assert!(!callers.alone(), "one caller left, but company just now");
        std::thread::sleep(QUIET * 2);
        assert!(callers.alone(), "one caller, quiet since");
        drop(lone);
        assert!(callers.alone(), "nobody");
    }
}
