//! The log format, chosen once at start: human text on a terminal, JSON
//! lines for a log collector.

use std::io::IsTerminal;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

static CHOSEN: OnceLock<LogFormat> = OnceLock::new();

/// Fixes the format: `asked`, else text when stderr is a terminal and
/// JSON otherwise. The first choice stands.
pub(crate) fn choose(asked: Option<LogFormat>) -> LogFormat {
    *CHOSEN.get_or_init(|| {
        asked.unwrap_or(if std::io::stderr().is_terminal() {
            LogFormat::Text
        } else {
            LogFormat::Json
        })
    })
}

/// The format in effect, once chosen.
pub fn chosen() -> Option<LogFormat> {
    CHOSEN.get().copied()
}
