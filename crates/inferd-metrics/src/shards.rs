//! Counters that request threads add to without a locked instruction: each
//! thread that records owns a shard (claimed at its first record, given
//! back when it exits) and adds to it with a plain load and store; a scrape
//! sums the shards. prometheus' own counters and histograms take a locked
//! read-modify-write per cell, about twenty-five a scored request, each
//! costing more than the rest of that request's recording together.
//!
//! Threads beyond [`OWNERS`] share one more shard and add atomically. A
//! shard is allocated when its owner first records, so a process whose
//! requests run on two threads holds two per model.

use std::marker::PhantomData;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Threads that get a shard of their own. The HTTP runtime's workers are
/// all that record per request; there is one per core by default.
pub const OWNERS: usize = 32;

/// Bit `i` is set while some thread owns shard `i`.
static CLAIMED: AtomicU64 = AtomicU64::new(0);

/// This thread's claim; given back when the thread exits.
struct Owner(Option<usize>);

impl Drop for Owner {
    fn drop(&mut self) {
        if let Some(index) = self.0 {
            // Release: the next owner sees every count this thread wrote.
            CLAIMED.fetch_and(!(1 << index), Ordering::Release);
        }
    }
}

thread_local! {
    static OWNER: Owner = Owner(claim());
}

fn claim() -> Option<usize> {
    let mut claimed = CLAIMED.load(Ordering::Relaxed);
    loop {
        let free = (!claimed).trailing_zeros() as usize;
        if free >= OWNERS {
            return None;
        }
        match CLAIMED.compare_exchange_weak(
            claimed,
            claimed | 1 << free,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => return Some(free),
            Err(now) => claimed = now,
        }
    }
}

/// The shard this thread owns, if any (none once its thread-locals are
/// being torn down).
fn owned_index() -> Option<usize> {
    OWNER.try_with(|owner| owner.0).ok().flatten()
}

/// `width` counters, sharded by thread.
pub struct Shards {
    width: usize,
    owned: Box<[OnceLock<Box<[AtomicU64]>>]>,
    shared: Box<[AtomicU64]>,
}

fn zeros(width: usize) -> Box<[AtomicU64]> {
    (0..width).map(|_| AtomicU64::new(0)).collect()
}

impl Shards {
    pub fn new(width: usize) -> Shards {
        Shards {
            width,
            owned: (0..OWNERS).map(|_| OnceLock::new()).collect(),
            shared: zeros(width),
        }
    }

    /// This thread's way to add. Resolve it once for a burst of adds; it
    /// cannot leave the thread (an `await` in between would need it to).
    pub fn writer(&self) -> ShardWriter<'_> {
        let cells = match owned_index() {
            Some(index) => Cells::Owned(self.owned[index].get_or_init(|| zeros(self.width))),
            None => Cells::Shared(&self.shared),
        };
        ShardWriter {
            cells,
            _not_send: PhantomData,
        }
    }

    /// Counter `cell`, summed over every shard.
    pub fn sum(&self, cell: usize) -> u64 {
        self.owned
            .iter()
            .filter_map(OnceLock::get)
            .chain(std::iter::once(&self.shared))
            .map(|cells| cells[cell].load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

enum Cells<'a> {
    /// Only this thread writes these.
    Owned(&'a [AtomicU64]),
    Shared(&'a [AtomicU64]),
}

/// Adds to one thread's shard.
pub struct ShardWriter<'a> {
    cells: Cells<'a>,
    /// An owned shard must only be written by its thread.
    _not_send: PhantomData<*const ()>,
}

impl ShardWriter<'_> {
    /// Adds `n` to counter `cell`.
    #[inline]
    pub fn add(&self, cell: usize, n: u64) {
        match self.cells {
            Cells::Owned(cells) => {
                let cell = &cells[cell];
                cell.store(
                    cell.load(Ordering::Relaxed).wrapping_add(n),
                    Ordering::Relaxed,
                );
            }
            Cells::Shared(cells) => {
                cells[cell].fetch_add(n, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn adds_from_many_threads_all_count() {
        // More threads than owners at once: some share the last shard.
        let shards = Arc::new(Shards::new(3));
        let barrier = Arc::new(std::sync::Barrier::new(OWNERS + 8));
        let threads: Vec<_> = (0..OWNERS + 8)
            .map(|_| {
                let (shards, barrier) = (shards.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    for _ in 0..10_000 {
                        let writer = shards.writer();
                        writer.add(0, 1);
                        writer.add(2, 3);
                    }
                    // Held until every thread has written: all claims overlap.
                    barrier.wait();
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let n = (OWNERS as u64 + 8) * 10_000;
        assert_eq!([shards.sum(0), shards.sum(1), shards.sum(2)], [n, 0, 3 * n]);
        assert!(shards.shared[0].load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn an_exited_threads_shard_goes_to_the_next_thread_counts_and_all() {
        let shards = Arc::new(Shards::new(1));
        for _ in 0..3 * OWNERS {
            let shards = shards.clone();
            std::thread::spawn(move || shards.writer().add(0, 2))
                .join()
                .unwrap();
        }
        assert_eq!(shards.sum(0), 6 * OWNERS as u64);
        // Sequential threads reuse the shards freed before them (the test
        // harness's other threads may hold a few).
        let allocated = shards.owned.iter().filter(|s| s.get().is_some()).count();
        assert!(allocated < OWNERS, "{allocated}");
    }
}
