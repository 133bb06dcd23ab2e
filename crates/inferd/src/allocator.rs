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

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_t`; the
/// Rust binding names no constant for it).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays resident before mimalloc hands it back:
/// mimalloc 3 waits a second, and only acts on its next call after that,
/// so a server that read one 16 MB body kept ~200 MB resident right after a
/// round of such requests (`tests/hostile_memory.rs`); 10 ms, mimalloc 2's
/// wait, kept 65 MB. It costs ~2% of requests a second at 64 connections
/// (benches/RESULTS.md). `MIMALLOC_PURGE_DELAY` still overrides it.
const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// Settings that must be in place before serving; call first thing.
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting an option only stores a value mimalloc reads
        // when it next schedules a purge; any thread, any time.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) }
    }
}

/// Returns the memory freed so far to the operating system.
pub fn release_freed() {
    // SAFETY: mi_collect only walks the allocator's own structures; it is
    // safe to call from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_where_we_think() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return; // the library read its value from there
        }
        // SAFETY: reading an option has no preconditions.
        let default = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(default, 1000, "mimalloc 3's default purge delay");
    }
}
