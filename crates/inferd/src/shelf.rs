//! One thread's log shelf: a buffer that only its thread appends to and
//! that the log writer takes whole, swapping in an empty one, without a
//! lock either side must wait on. Behind a lock, a writer preempted while
//! holding it would stall the request thread that logs next until the
//! writer ran again.
//!
//! The thread announces each append (`appending`) before it reads which
//! buffer is current; the writer swaps the buffer, then waits for an
//! announced append to end before it reads what it took. An append only
//! copies bytes, so that wait is short and always ends.

use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// One thread's unwritten entries.
pub struct Shelf {
    /// The buffer being appended to, from `Box::into_raw`; owned by the shelf.
    lines: AtomicPtr<Vec<u8>>,
    /// The owning thread is inside [`Shelf::append`].
    appending: AtomicBool,
}

impl Shelf {
    pub fn with_capacity(capacity: usize) -> Shelf {
        Shelf {
            lines: AtomicPtr::new(Box::into_raw(Box::new(Vec::with_capacity(capacity)))),
            appending: AtomicBool::new(false),
        }
    }

    /// Runs `append` on the current buffer.
    ///
    /// # Safety
    ///
    /// Only one thread ever appends to a shelf (its owner), and `append`
    /// does not append to it again: the buffer is borrowed mutably.
    pub unsafe fn append<R>(&self, append: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        // SeqCst on both sides (this store and load, the writer's swap and
        // load): either the writer's swap comes after this load, and its
        // wait sees this append announced, or before it, and this append
        // gets the new buffer.
        self.appending.store(true, Ordering::SeqCst);
        // Ends the announcement even if `append` panics: a writer waiting
        // on it would otherwise wait for good.
        let _announced = Announced(&self.appending);
        let lines = self.lines.load(Ordering::SeqCst);
        // SAFETY: the writer reads a buffer only after swapping it out and
        // seeing no append announced (see `take`); no other thread appends.
        append(unsafe { &mut *lines })
    }

    /// Swaps `spare` (emptied first) for the shelf's buffer: `spare` then
    /// holds every entry appended before, whole.
    #[expect(
        clippy::box_collection,
        reason = "the buffers change hands as one pointer, so each is boxed"
    )]
    pub fn take(&self, spare: &mut Box<Vec<u8>>) {
        spare.clear();
        // The spare (its allocation kept) goes to the shelf; a 24-byte
        // placeholder holds its place until the taken buffer comes back.
        let given = std::mem::take(spare);
        let taken = self.lines.swap(Box::into_raw(given), Ordering::SeqCst);
        let mut spins = 0u32;
        // An append that read the old buffer is still copying: wait for it.
        // One that began after the swap holds the new buffer and is waited
        // for needlessly, for as long as one append takes.
        while self.appending.load(Ordering::SeqCst) {
            if spins < 100 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
            spins += 1;
        }
        // SAFETY: `taken` came from `Box::into_raw` and is no longer the
        // shelf's: no append can reach it now.
        *spare = unsafe { Box::from_raw(taken) };
    }
}

/// An append in progress; dropped when it ends.
struct Announced<'a>(&'a AtomicBool);

impl Drop for Announced<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Drop for Shelf {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::into_raw` and, the shelf
        // being dropped, nothing else refers to it.
        drop(unsafe { Box::from_raw(*self.lines.get_mut()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn every_append_is_taken_once_whole_and_in_order() {
        let shelf = Arc::new(Shelf::with_capacity(16));
        let appender = {
            let shelf = shelf.clone();
            std::thread::spawn(move || {
                for i in 0u32..200_000 {
                    // SAFETY: this thread is the shelf's only appender.
                    unsafe { shelf.append(|lines| lines.extend_from_slice(&i.to_le_bytes())) };
                }
            })
        };
        let mut spare = Box::new(Vec::new());
        let mut next = 0u32;
        let mut check = |taken: &[u8]| {
            assert_eq!(taken.len() % 4, 0, "a torn append");
            for chunk in taken.chunks_exact(4) {
                assert_eq!(u32::from_le_bytes(chunk.try_into().unwrap()), next);
                next += 1;
            }
        };
        while !appender.is_finished() {
            shelf.take(&mut spare);
            check(&spare);
        }
        appender.join().unwrap();
        shelf.take(&mut spare);
        check(&spare);
        assert_eq!(next, 200_000);
    }

    #[test]
    fn a_take_hands_the_spares_allocation_to_the_shelf() {
        let shelf = Shelf::with_capacity(64);
        let mut spare = Box::new(Vec::with_capacity(4096));
        spare.extend_from_slice(b"stale");
        // SAFETY (each append): this thread is the shelf's only appender.
        unsafe { shelf.append(|lines| lines.extend_from_slice(b"one")) };
        shelf.take(&mut spare);
        assert_eq!(spare.as_slice(), b"one");
        unsafe {
            shelf.append(|lines| {
                assert!(lines.is_empty() && lines.capacity() >= 4096);
                lines.extend_from_slice(b"two");
            })
        };
        shelf.take(&mut spare);
        assert_eq!(spare.as_slice(), b"two");
    }

    #[test]
    fn an_append_that_panics_does_not_leave_the_writer_waiting() {
        let shelf = Shelf::with_capacity(16);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: this thread is the shelf's only appender.
            unsafe { shelf.append(|_| panic!("in an append")) }
        }));
        assert!(panicked.is_err());
        // Returns: the announcement ended with the panic.
        shelf.take(&mut Box::default());
    }
}
