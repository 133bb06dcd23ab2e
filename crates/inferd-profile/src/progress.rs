//! What a running profile shows: a bar over the candidates with the step
//! being run on a terminal (indicatif, on stderr), else a line per
//! candidate on stderr; never anything on stdout (`--json` owns it).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::Candidate;

pub struct Progress {
    /// `None` where stderr is not a terminal.
    bar: Option<ProgressBar>,
    candidate: String,
}

impl Progress {
    pub fn new(total: u64) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let bar = (!bar.is_hidden()).then(|| {
            let style =
                ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {msg} (ETA {eta})")
                    .expect("a valid template");
            bar.set_style(style);
            bar
        });
        Progress {
            bar,
            candidate: String::new(),
        }
    }

    /// A line above the bar (or on its own).
    pub fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub fn candidate(&mut self, index: usize, name: &str) {
        self.candidate = name.to_owned();
        if let Some(bar) = &self.bar {
            bar.set_position(index as u64);
            bar.set_message(name.to_owned());
        }
    }

    pub fn step(&self, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{}: {what}", self.candidate));
        }
    }

    pub fn finished(&self, candidate: &Candidate) {
        let result = match &candidate.load.sustained {
            Some(s) => format!(
                "held {:.0} req/s, p99 {:.2} ms, {:.0} µs CPU per request",
                s.rate, s.p99_ms, s.cpu_us_per_request
            ),
            None => "did not hold the target".to_owned(),
        };
        self.say(&format!("  {}: {result}", candidate.name));
    }

    pub fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
