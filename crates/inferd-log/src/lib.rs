//! inferd's logs. Everything goes to stderr as text (for a terminal) or
//! JSON lines (for a collector), through one thread that writes them, so
//! a slow terminal or pipe never slows a request.
//!
//! # Layout
//! - `format`: [`LogFormat`], text or JSON, chosen once at start.
//! - `writer`: the writer thread and each thread's bounded, lossy
//!   shelf of lines, with dropped lines counted and reported.
//! - `access_line`: [`AccessLine`], the one line per request, and its one
//!   formatter for both formats.
//! - [`millis`]: durations as milliseconds text (`12.345`).
//! - `timestamp`: a wall-clock time in RFC 3339 with microseconds.
//!
//! The door: [`init`] once at start (the `tracing` subscriber and the
//! writer), [`access`] for each request's line, [`finish`] before the
//! process exits.
#![forbid(unsafe_code)]

mod access_line;
mod format;
pub mod millis;
mod timestamp;
mod writer;

use std::time::Duration;

pub use access_line::AccessLine;
pub use format::LogFormat;

/// Starts the writer thread and installs the `tracing` subscriber: `format`
/// (text on a terminal, JSON otherwise, when `None`), levels from
/// `RUST_LOG` (default `info`). The first call wins; later ones change
/// nothing. Without a writer thread (it could not start) lines go to
/// stderr directly.
pub fn init(format: Option<LogFormat>) {
    let format = format::choose(format);
    let started = writer::start();
    if let Err(e) = &started {
        eprintln!("warning: cannot start the log writer thread ({e}); logging to stderr directly");
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer::Lines);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Writes one access line, in the format [`init`] chose; nothing before
/// [`init`] (a server run inside a test process logs no access lines).
pub fn access(line: &AccessLine<'_>) {
    if let Some(format) = format::chosen() {
        writer::write_with(|out| line.write(format, std::time::SystemTime::now(), out));
    }
}

/// Writes out every line handed on so far, waiting at most `timeout`;
/// lines after this go to stderr directly.
pub fn finish(timeout: Duration) {
    writer::finish(timeout);
}
