//! The body memory budget: admission in bytes. One count, for the whole
//! container (all models), of the bytes held by request bodies being read,
//! queued and scored, and by their decoded tensors. A request that would
//! take the count past the budget is refused at once (503, `Retry-After`)
//! before its bytes are read; one that could never fit, its needs alone
//! being larger than the whole budget, is refused for good (413).
//!
//! Why: each body is limited (`--max-body-bytes`) and so is the queue
//! (`--max-queue-length`), but not their product: sixteen clients sending a
//! 60 MB body each at once took the process to 1.55 GB resident (issue 37).
//!
//! A request's bytes are reserved before they are held: its
//! `Content-Length` before its body is read, each frame of a body without
//! one before it is kept, and its tensors' bytes: a large payload's exactly,
//! on the model's worker right after decoding (the decoding itself is
//! bounded by the concurrency slots it runs under), a small one's at their
//! most, up front (the server's `score.rs` says how much). The
//! [`Reservation`] gives them back when its last holder drops it: the
//! request's handler once it is answered, or the decoding closure, which
//! holds the body of a request whose client has gone. So every path (an
//! answer, an error, a timeout, a dropped future) gives them back.
//!
//! Cost on a small request's path: no lock, no wait; two compare-and-swaps
//! on the shared count (the body, then its tensors' most) and one
//! subtraction at the end, all on the HTTP thread, and one small
//! allocation made and freed there. A large request adds one
//! compare-and-swap on the worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The container's budget, and the bytes held against it now.
#[derive(Debug)]
pub struct BodyBudget {
    limit: u64,
    held: AtomicU64,
}

/// Why bytes were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BudgetRefusal {
    /// Requests in flight hold too much now; this one fits once they end.
    #[error(
        "the server's body memory budget is full: requests in flight hold {held} of its {limit} bytes (maxBodyMemoryMB) and this one needs {asked} more; retry shortly"
    )]
    Full { asked: u64, held: u64, limit: u64 },

    /// This request alone needs more than the whole budget: it never fits.
    #[error(
        "the request needs {needs} bytes of memory for its body and tensors, more than the server's whole body memory budget of {limit} bytes (maxBodyMemoryMB)"
    )]
    TooLarge { needs: u64, limit: u64 },
}

impl BodyBudget {
    /// A budget of `limit` bytes, none held.
    pub fn new(limit: u64) -> Arc<BodyBudget> {
        Arc::new(BodyBudget {
            limit,
            held: AtomicU64::new(0),
        })
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes reserved by requests in flight now.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// Reserves `bytes` for one request, or refuses them without holding
    /// anything.
    pub fn reserve(self: &Arc<Self>, bytes: u64) -> Result<Reservation, BudgetRefusal> {
        self.take(bytes, bytes)?;
        Ok(Reservation(Arc::new(Held {
            budget: self.clone(),
            bytes: AtomicU64::new(bytes),
        })))
    }

    /// Adds `bytes` to the count unless that would pass the limit; `needs`
    /// is the request's whole need with them, for the refusal. Relaxed: the
    /// count guards no other memory, and every update is one atomic step.
    fn take(&self, bytes: u64, needs: u64) -> Result<(), BudgetRefusal> {
        if needs > self.limit {
            return Err(BudgetRefusal::TooLarge {
                needs,
                limit: self.limit,
            });
        }
        if bytes == 0 {
            return Ok(());
        }
        self.held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                held.checked_add(bytes).filter(|&after| after <= self.limit)
            })
            .map(drop)
            .map_err(|held| BudgetRefusal::Full {
                asked: bytes,
                held,
                limit: self.limit,
            })
    }
}

/// One request's bytes in the budget, given back when the last clone is
/// dropped. Cloned (cheaply) to the decoding closure on the model's worker,
/// which grows it by the decoded tensors.
#[derive(Debug, Clone)]
pub struct Reservation(Arc<Held>);

#[derive(Debug)]
struct Held {
    budget: Arc<BodyBudget>,
    /// This request's bytes in the budget's count.
    bytes: AtomicU64,
}

impl Reservation {
    /// Adds `bytes` to the request's reservation, or refuses them (the
    /// reservation stays as it was).
    pub fn grow(&self, bytes: u64) -> Result<(), BudgetRefusal> {
        let held = &self.0;
        let needs = held.bytes.load(Ordering::Relaxed).saturating_add(bytes);
        held.budget.take(bytes, needs)?;
        held.bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// The bytes reserved for the request so far.
    pub fn bytes(&self) -> u64 {
        self.0.bytes.load(Ordering::Relaxed)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let bytes = *self.bytes.get_mut();
        if bytes > 0 {
            self.budget.held.fetch_sub(bytes, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_under_the_limit_and_come_back_when_dropped() {
        let budget = BodyBudget::new(100);
        let a = budget.reserve(60).unwrap();
        assert_eq!(budget.held(), 60);
        assert_eq!(
            budget.reserve(50).unwrap_err(),
            BudgetRefusal::Full {
                asked: 50,
                held: 60,
                limit: 100
            }
        );
        assert_eq!(budget.held(), 60, "a refusal holds nothing");
        let b = budget.reserve(40).unwrap();
        assert_eq!(budget.held(), 100);
        drop(a);
        assert_eq!(budget.held(), 40);
        drop(b);
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn a_need_larger_than_the_whole_budget_is_too_large() {
        let budget = BodyBudget::new(100);
        assert_eq!(
            budget.reserve(101).unwrap_err(),
            BudgetRefusal::TooLarge {
                needs: 101,
                limit: 100
            }
        );
        let r = budget.reserve(70).unwrap();
        assert_eq!(
            r.grow(31).unwrap_err(),
            BudgetRefusal::TooLarge {
                needs: 101,
                limit: 100
            }
        );
        assert_eq!(r.bytes(), 70);
        assert_eq!(budget.held(), 70);
    }

    #[test]
    fn growth_is_given_back_by_the_last_holder() {
        let budget = BodyBudget::new(100);
        let handler = budget.reserve(10).unwrap();
        let worker = handler.clone();
        worker.grow(30).unwrap();
        assert_eq!(handler.bytes(), 40);
        let other = budget.reserve(50).unwrap();
        assert!(matches!(
            worker.grow(20),
            Err(BudgetRefusal::Full { asked: 20, .. })
        ));
        drop(handler);
        assert_eq!(budget.held(), 90, "the worker's clone still holds them");
        drop(worker);
        drop(other);
        assert_eq!(budget.held(), 0);
        let empty = budget.reserve(0).unwrap();
        empty.grow(0).unwrap();
        drop(empty);
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn the_count_never_passes_the_limit_under_contention() {
        let budget = BodyBudget::new(1000);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let budget = budget.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        if let Ok(r) = budget.reserve(300) {
                            assert!(budget.held() <= 1000);
                            let _ = r.grow(100);
                            assert!(budget.held() <= 1000);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(budget.held(), 0);
    }
}
