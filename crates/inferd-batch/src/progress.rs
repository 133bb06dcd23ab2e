//! How a running job shows its progress: a bar with rows, rows/s and the
//! time left on a terminal (indicatif), a JSON line every few seconds
//! otherwise (a log collector reads it), or nothing.

use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Bar,
    Lines,
    Quiet,
}

/// Between two progress lines.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// Counts so far.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    pub read: u64,
    pub scored: u64,
    pub failed: u64,
    /// Input bytes read, of `total`.
    pub bytes: u64,
}

pub(crate) struct Progress {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
    total_bytes: u64,
    /// Rows read when the job (or this run of it) started: rows/s counts
    /// this run's rows only.
    first: u64,
}

impl Progress {
    pub fn new(mode: ProgressMode, total_bytes: u64, first: u64) -> Progress {
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
            let style =
                ProgressStyle::with_template("{bar:30.cyan/blue} {percent:>3}% {msg} (ETA {eta})")
                    .expect("a valid template");
            bar.set_style(style);
            bar
        });
        let now = Instant::now();
        Progress {
            mode,
            bar,
            started: now,
            last_line: now,
            total_bytes,
            first,
        }
    }

    fn rate(&self, counts: &Counts) -> f64 {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        counts.read.saturating_sub(self.first) as f64 / seconds
    }

    pub fn update(&mut self, counts: &Counts) {
        match self.mode {
            ProgressMode::Quiet => {}
            ProgressMode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(counts.bytes.min(self.total_bytes));
                    bar.set_message(format!(
                        "{} rows, {:.0} rows/s, {} failed",
                        counts.read,
                        self.rate(counts),
                        counts.failed
                    ));
                }
            }
            ProgressMode::Lines => {
                if self.last_line.elapsed() >= LINE_EVERY {
                    self.last_line = Instant::now();
                    self.line(counts);
                }
            }
        }
    }

    fn line(&self, counts: &Counts) {
        let rate = self.rate(counts);
        let done = counts.bytes as f64 / self.total_bytes.max(1) as f64;
        let elapsed = self.started.elapsed().as_secs_f64();
        let eta = (done > 0.0).then(|| elapsed * (1.0 - done) / done);
        let line = serde_json::json!({
            "progress": {
                "rows_read": counts.read,
                "rows_scored": counts.scored,
                "rows_failed": counts.failed,
                "rows_per_s": rate.round(),
                "percent": (done * 1000.0).round() / 10.0,
                "eta_s": eta.map(|s| s.round()),
            }
        });
        let _ = writeln!(std::io::stderr(), "{line}");
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
