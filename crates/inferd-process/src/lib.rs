//! Process tuning for the `inferd` binary, performance only: a server
//! without any of it answers the same, only slower or larger. The one
//! crate of the server with `unsafe` (each block with its `SAFETY:`).
//!
//! # Layout
//! - [`allocator`]: mimalloc as the global allocator (+10% req/s against
//!   glibc's, ridge at 64 connections), asked for alignment only where Rust
//!   needs more than a word (mimalloc's aligned path cost ~1,500
//!   instructions a request on the HTTP thread); freed memory handed back
//!   after 100 ms (a large body's memory returns, and the HTTP thread's
//!   pages are not faulted in again under load: ~500 page faults a second
//!   at 64 connections against ~5,500 at 10 ms); what start-up freed,
//!   handed back before ready.
//! - [`hand_back`]: after a large request, a thread of its own hands the
//!   memory it freed back within a quarter of a second (an idle server
//!   otherwise kept 70-95 MB of a 60 MB body's for seconds).
//! - [`startup_pages`]: the executable's code that only start-up ran
//!   leaves the resident set before ready (the bundled MLP: 20 MB idle
//!   before, of which 15 MB code; ~13 MB after).
//!
//! The figures and the commands that measured them are in
//! `benches/RESULTS.md`.

pub mod allocator;
pub mod hand_back;
pub mod startup_pages;

pub use hand_back::HandBack;

/// Settings that must be in place before serving; call first thing in
/// `main` (which also links this crate's global allocator in).
pub fn configure() {
    allocator::configure();
}

/// Just before the server turns ready: hands back what start-up freed
/// and the code pages only start-up ran. Answers the resident file-backed
/// KiB before and after the code release, where there was one.
pub fn release_startup() -> Option<(u64, u64)> {
    allocator::release_freed();
    startup_pages::release()
}
