//! The process's allocator: mimalloc. Each thread allocates from its own
//! heap and a block freed by another thread goes back without a lock; a
//! request's buffers are made on the HTTP thread and freed on the engine's
//! (and the other way round), which glibc's arenas pay for with a lock and
//! a consolidation pass. Measured at 64 connections on diabetes-ridge:
//! about 10% more requests a second than glibc (benches/RESULTS.md).
//!
//! Two things keep the idle resident set where glibc's was. The build
//! leaves transparent huge pages off (the `no_thp` feature): mimalloc would
//! otherwise ask for them on its arenas, and a few touched bytes would
//! make 2 MiB resident. And mimalloc keeps freed memory until the
//! allocator next runs on that heap, so what start-up freed (the parsed
//! ONNX graph, tract's optimisation passes) would stay resident while a
//! server waits for its first request; [`release_freed`] hands it back
//! before ready.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

#[global_allocator]
static ALLOCATOR: Mimalloc = Mimalloc;

/// mimalloc, asked for alignment only where Rust needs more than every
/// block already has. The `mimalloc` crate's allocator calls
/// `mi_malloc_aligned` for everything, and mimalloc 3 serves that from its
/// fast path only up to 1 KiB: a larger block (hyper's read buffer, the
/// handler's future, a body) takes the aligned slow path, and unless its
/// size is a power of two up to 4 KiB, an over-allocation. callgrind
/// counted ~1,500 instructions a request in `mi_malloc_aligned` on the
/// HTTP thread alone.
struct Mimalloc;

/// Every mimalloc block is aligned to this: blocks are whole words, and a
/// page's first block is aligned to 16 (`MI_PAGE_MIN_START_BLOCK_ALIGN`).
const WORD: usize = std::mem::size_of::<usize>();

// SAFETY: each call forwards to the matching mimalloc function, which
// returns null or a block of at least `size` bytes aligned as asked (for
// `align <= WORD`, as every block is); `mi_free` takes any of them.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: see the impl.
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see the impl; the block was allocated with this same
        // alignment, so by the same branch.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_t`; the
/// Rust binding names no constant for it).
const PURGE_DELAY: mi::mi_option_t = 15;

/// How long freed memory stays resident before mimalloc hands it back:
/// mimalloc 3 waits a second, and only acts on its next call after that,
/// so a server that read one 16 MB body kept ~200 MB resident right after a
/// round of such requests (`tests/hostile_memory.rs`). A short wait costs
/// under load: pages the HTTP thread empties and refills every few
/// milliseconds (each request's read buffer and handler future) are handed
/// back and faulted in again. At 64 connections on diabetes-ridge the HTTP
/// thread took ~5,500 page faults a second at 10 ms, ~500 at 100 ms, ~10
/// at 1 s; after the hostile rounds 10 ms kept ~30 MB resident, 100 ms
/// ~48 MB, 150 ms and more up to ~200 MB on some rounds (benches/RESULTS.md).
/// `MIMALLOC_PURGE_DELAY` still overrides it.
const PURGE_DELAY_MS: std::ffi::c_long = 100;

/// Settings that must be in place before serving; call first thing.
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting an option only stores a value mimalloc reads
        // when it next schedules a purge; any thread, any time.
        unsafe { mi::mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) }
    }
}

/// Returns the memory freed so far to the operating system.
pub fn release_freed() {
    // SAFETY: mi_collect only walks the allocator's own structures; it is
    // safe to call from any thread at any time.
    unsafe { mi::mi_collect(true) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_as_asked_and_keep_their_bytes() {
        let sizes = [1, 7, 8, 24, 100, 1024, 1025, 4120, 8192, 70_000, 3 << 20];
        for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in sizes {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero size; each block is freed with its layout.
                unsafe {
                    let block = ALLOCATOR.alloc(layout);
                    assert!(!block.is_null());
                    assert_eq!(block as usize % align, 0, "size {size} align {align}");
                    block.write_bytes(0xa5, size);
                    let grown = ALLOCATOR.realloc(block, layout, size * 2 + 8);
                    assert_eq!(grown as usize % align, 0, "realloc {size} align {align}");
                    assert!((0..size).all(|i| *grown.add(i) == 0xa5));
                    ALLOCATOR.dealloc(grown, Layout::from_size_align(size * 2 + 8, align).unwrap());
                    let zeroed = ALLOCATOR.alloc_zeroed(layout);
                    assert_eq!(zeroed as usize % align, 0, "zeroed {size} align {align}");
                    assert!((0..size).all(|i| *zeroed.add(i) == 0));
                    ALLOCATOR.dealloc(zeroed, layout);
                }
            }
        }
    }

    #[test]
    fn the_purge_delay_option_is_where_we_think() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return; // the library read its value from there
        }
        // SAFETY: reading an option has no preconditions.
        let default = unsafe { mi::mi_option_get(PURGE_DELAY) };
        assert_eq!(default, 1000, "mimalloc 3's default purge delay");
    }
}
