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

/// Returns the memory freed so far to the operating system.
pub fn release_freed() {
    // SAFETY: mi_collect only walks the allocator's own structures; it is
    // safe to call from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
