//! The requests for a model that have arrived and not yet been answered,
//! counted from the moment the server starts handling them (before the
//! body is read): the batcher asks whether company may still come, and the
//! lone-client polling of [`crate::spin`] whether a client is alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::nanos;

/// How long since an arrival last found company before a caller counts as
/// alone. In a closed loop of even a few clients arrivals overlap every
/// millisecond or so; a lone client's never do.
pub const QUIET: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
pub struct Callers(Arc<CallerCount>);

#[derive(Debug)]
struct CallerCount {
    count: AtomicUsize,
    origin: Instant,
    /// Nanoseconds from `origin` to the last arrival that found another
    /// caller already there.
    crowded_at: AtomicU64,
}

impl Default for Callers {
    fn default() -> Callers {
        Callers(Arc::new(CallerCount {
            count: AtomicUsize::new(0),
            origin: Instant::now(),
            crowded_at: AtomicU64::new(0),
        }))
    }
}

impl Callers {
    /// Counts one caller, arrived at `now` (the caller's own clock
    /// reading: under load every arrival finds company, and a clock read of
    /// its own would cost each one), until the guard is dropped.
    pub fn arrive(&self, now: Instant) -> Caller {
        if self.0.count.fetch_add(1, Ordering::AcqRel) > 0 {
            let since = now.saturating_duration_since(self.0.origin);
            self.0.crowded_at.store(nanos(since), Ordering::Relaxed);
        }
        Caller(self.0.clone())
    }

    /// Callers now.
    pub fn count(&self) -> usize {
        self.0.count.load(Ordering::Acquire)
    }

    /// At most one caller now, and no arrival found company for [`QUIET`]:
    /// one client calling in turn, not a crowd that happens to be thin.
    pub fn alone(&self) -> bool {
        // Saturating: an arrival on another thread may have stored a
        // reading taken after this thread's.
        self.count() <= 1
            && nanos(self.0.origin.elapsed())
                .saturating_sub(self.0.crowded_at.load(Ordering::Relaxed))
                > QUIET.as_nanos() as u64
    }
}

/// One caller of a model; counted while alive.
#[derive(Debug)]
pub struct Caller(Arc<CallerCount>);

impl Drop for Caller {
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
        let first = callers.arrive(Instant::now());
        let second = callers.arrive(Instant::now());
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
        let lone = callers.arrive(Instant::now());
        assert!(callers.alone(), "one caller, never crowded");
        let crowd = callers.arrive(Instant::now());
        assert!(!callers.alone(), "two callers");
        drop(crowd);
        assert!(!callers.alone(), "one caller left, but company just now");
        std::thread::sleep(QUIET * 2);
        assert!(callers.alone(), "one caller, quiet since");
        drop(lone);
        assert!(callers.alone(), "nobody");
    }

    #[test]
    fn a_crowd_seen_at_a_later_reading_is_not_alone() {
        let callers = Callers::default();
        std::thread::sleep(QUIET * 2);
        // Another thread's reading, later than the one `alone` takes next.
        let later = Instant::now() + Duration::from_secs(1);
        let first = callers.arrive(later);
        let second = callers.arrive(later);
        drop(second);
        assert!(!callers.alone(), "company found at `later`");
        drop(first);
    }
}
