//! The candidate settings a profile measures: engine, CPU limit,
//! `maxConcurrentRequestsPerContainer` and dynamic batching.

use serde::{Deserialize, Serialize};

use crate::args::Engine;

/// Smallest CPU limit tried, in cores.
const SMALLEST_CPU: f64 = 0.5;

/// Dynamic batching as the inference config's `batching` block takes it
/// (whole milliseconds of delay, so the choice can be written down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSetting {
    pub max_batch_size: u32,
    pub max_batch_delay_ms: u64,
}

/// One candidate deployment of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub engine: Engine,
    /// `containerResourceRequirements.cpu`, and the CFS quota it runs under.
    pub cpu: f64,
    pub max_concurrent_requests: u32,
    /// `None`: no dynamic batching.
    pub batching: Option<BatchSetting>,
}

impl Settings {
    /// A short name for tables and the plot's legend.
    pub fn name(&self) -> String {
        let batching = match self.batching {
            None => "no batching".to_owned(),
            Some(b) => format!("batch {}/{}ms", b.max_batch_size, b.max_batch_delay_ms),
        };
        format!(
            "{} cpu {} conc {} {batching}",
            self.engine.name(),
            self.cpu,
            self.max_concurrent_requests
        )
    }

    /// How much there is to run and tune: fewer moving parts rank first
    /// among equals.
    pub fn complexity(&self) -> u64 {
        let batching = self.batching.map_or(0, |b| {
            1 + u64::from(b.max_batch_size) + 100 * b.max_batch_delay_ms
        });
        u64::from(self.max_concurrent_requests) * 1000 + batching
    }

    /// The same settings at another CPU limit (for pruning a grid).
    pub fn at_cpu(&self, cpu: f64) -> Settings {
        Settings {
            cpu,
            ..self.clone()
        }
    }
}

/// The CPU limits tried: `max_cpu`, then halves of it down to half a core.
pub fn cpu_levels(max_cpu: f64, quick: bool) -> Vec<f64> {
    let mut levels = vec![round_tenth(max_cpu)];
    if quick {
        return levels;
    }
    let mut cpu = max_cpu / 2.0;
    while cpu >= SMALLEST_CPU - 1e-9 && levels.len() < 3 {
        levels.push(round_tenth(cpu));
        cpu /= 2.0;
    }
    levels
}

fn round_tenth(cpu: f64) -> f64 {
    ((cpu * 10.0).round() / 10.0).max(0.1)
}

/// Every candidate, largest CPU first: engines × CPU limits × concurrency
/// (more than one engine run at once only where there are cores for
/// them) × batching.
pub fn grid(engines: &[Engine], max_cpu: f64, quick: bool) -> Vec<Settings> {
    let batchings: &[Option<BatchSetting>] = if quick {
        &[None, Some(batch(8, 0))]
    } else {
        &[
            None,
            Some(batch(8, 0)),
            Some(batch(32, 0)),
            Some(batch(32, 1)),
        ]
    };
    let mut out = Vec::new();
    for &engine in engines {
        for cpu in cpu_levels(max_cpu, quick) {
            let concurrency: &[u32] = if cpu >= 2.0 && !quick { &[1, 2] } else { &[1] };
            for &max_concurrent_requests in concurrency {
                for &batching in batchings {
                    out.push(Settings {
                        engine,
                        cpu,
                        max_concurrent_requests,
                        batching,
                    });
                }
            }
        }
    }
    out
}

fn batch(max_batch_size: u32, max_batch_delay_ms: u64) -> BatchSetting {
    BatchSetting {
        max_batch_size,
        max_batch_delay_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_halves_down_to_half_a_core() {
        assert_eq!(cpu_levels(2.0, false), vec![2.0, 1.0, 0.5]);
        assert_eq!(cpu_levels(8.0, false), vec![8.0, 4.0, 2.0]);
        assert_eq!(cpu_levels(0.75, false), vec![0.8]);
        assert_eq!(cpu_levels(1.0, false), vec![1.0, 0.5]);
        assert_eq!(cpu_levels(2.0, true), vec![2.0]);
    }

    #[test]
    fn the_grid_on_two_cores() {
        let full = grid(&[Engine::Tract], 2.0, false);
        // cpu 2: 2 concurrencies × 4 batchings; cpu 1 and 0.5: 4 each.
        assert_eq!(full.len(), 16);
        assert!(
            full.iter()
                .all(|s| s.max_concurrent_requests == 1 || s.cpu >= 2.0)
        );
        assert_eq!(full[0].name(), "tract cpu 2 conc 1 no batching");
        let quick = grid(&[Engine::Tract, Engine::Onnxruntime], 2.0, true);
        assert_eq!(quick.len(), 4);
        assert_eq!(quick[3].name(), "onnxruntime cpu 2 conc 1 batch 8/0ms");
    }

    #[test]
    fn simpler_settings_rank_first() {
        let plain = grid(&[Engine::Tract], 2.0, false);
        let (none, b8, b32, b32d) = (&plain[0], &plain[1], &plain[2], &plain[3]);
        assert!(none.complexity() < b8.complexity());
        assert!(b8.complexity() < b32.complexity());
        assert!(b32.complexity() < b32d.complexity());
        assert!(
            b32d.complexity() < plain[4].complexity(),
            "two engine runs rank after one"
        );
    }
}
