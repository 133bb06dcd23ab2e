//! One step's numbers: throughput, latency percentiles, status shares.

use std::collections::BTreeMap;
use std::time::Duration;

/// What one connection saw during a step.
#[derive(Debug, Default)]
pub struct Samples {
    /// Latency of every answered request, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Count per status; 0 is a connection error or a timeout.
    pub statuses: BTreeMap<u16, u64>,
}

impl Samples {
    pub fn record(&mut self, status: u16, latency: Duration) {
        self.latencies_us
            .push(latency.as_micros().min(u128::from(u32::MAX)) as u32);
        *self.statuses.entry(status).or_default() += 1;
    }

    pub fn merge(&mut self, other: Samples) {
        self.latencies_us.extend(other.latencies_us);
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
    }
}

/// A step of a run, as reported.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// Connections (closed loop) or connections serving the rate (open loop).
    pub concurrency: usize,
    /// Requests per second offered (open loop only).
    pub rate: Option<f64>,
    pub seconds: f64,
    pub requests: u64,
    /// Answered requests per second, every status included.
    pub throughput: f64,
    /// Requests per second answered 2xx.
    pub ok_throughput: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Share of each status ("0" for connection errors and timeouts).
    pub statuses: BTreeMap<String, f64>,
}

impl Step {
    pub fn from_samples(
        concurrency: usize,
        rate: Option<f64>,
        seconds: f64,
        mut samples: Samples,
    ) -> Step {
        samples.latencies_us.sort_unstable();
        let requests: u64 = samples.statuses.values().sum();
        let ok: u64 = samples
            .statuses
            .iter()
            .filter(|(s, _)| (200..300).contains(*s))
            .map(|(_, n)| n)
            .sum();
        let pct = |p: f64| percentile_ms(&samples.latencies_us, p);
        Step {
            concurrency,
            rate,
            seconds,
            requests,
            throughput: requests as f64 / seconds,
            ok_throughput: ok as f64 / seconds,
            p50_ms: pct(0.50),
            p90_ms: pct(0.90),
            p99_ms: pct(0.99),
            max_ms: pct(1.0),
            statuses: samples
                .statuses
                .iter()
                .map(|(s, n)| (s.to_string(), *n as f64 / requests.max(1) as f64))
                .collect(),
        }
    }
}

/// The nearest-rank percentile of sorted microseconds, in ms (0 when empty).
pub fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((sorted_us.len() as f64 * p).ceil() as usize).clamp(1, sorted_us.len());
    f64::from(sorted_us[rank - 1]) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile_ms(&v, 0.5), 50.0);
        assert_eq!(percentile_ms(&v, 0.99), 99.0);
        assert_eq!(percentile_ms(&v, 1.0), 100.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }

    #[test]
    fn steps_count_statuses_and_throughput() {
        let mut s = Samples::default();
        for i in 0..8 {
            s.record(200, Duration::from_micros(100 + i));
        }
        s.record(503, Duration::from_millis(1));
        s.record(0, Duration::from_millis(2));
        let step = Step::from_samples(4, None, 2.0, s);
        assert_eq!(step.requests, 10);
        assert_eq!(step.throughput, 5.0);
        assert_eq!(step.ok_throughput, 4.0);
        assert_eq!(step.statuses["200"], 0.8);
        assert_eq!(step.statuses["0"], 0.1);
        assert_eq!(step.max_ms, 2.0);
    }
}
