//! The tracing subscriber: text for a terminal, JSON lines for collectors,
//! levels from `RUST_LOG` (default `info`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The format chosen at start, for the parts that write lines themselves.
static FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// The log format in effect, once `init` has run.
pub fn format() -> Option<LogFormat> {
    FORMAT.get().copied()
}

pub fn init(format: Option<LogFormat>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let format = format.unwrap_or(if std::io::stderr().is_terminal() {
        LogFormat::Text
    } else {
        LogFormat::Json
    });
    let writer = match crate::log_writer::QueuedStderr::start() {
        Ok(queued) => BoxMakeWriter::new(queued),
        Err(e) => {
            eprintln!(
                "warning: cannot start the log writer thread ({e}); logging to stderr directly"
            );
            BoxMakeWriter::new(std::io::stderr)
        }
    };
    let _ = FORMAT.set(format);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
