//! From the measured candidates to a recommendation: which candidate, the
//! memory to ask for, and the replicas and autoscaler for a target rate.

use crate::configs::Replicas;
use crate::grid::Settings;
use crate::measure::Sustained;

/// Candidates whose rate per CPU is within this share of the best are
/// equals: this machine's noise is about that size, so the cheaper and
/// simpler one wins among them.
const EQUAL_WITHIN: f64 = 0.05;

/// Memory asked for: the peak times this, for what the sample did not
/// show (larger bodies, allocator growth)...
pub const MEMORY_HEADROOM: f64 = 1.5;
/// ...and at least this much above the peak.
const MEMORY_MARGIN_BYTES: f64 = 64e6;

/// What the choice is made from, per candidate that held the target.
#[derive(Debug, Clone)]
pub struct Held<'a> {
    pub index: usize,
    pub settings: &'a Settings,
    pub sustained: &'a Sustained,
}

/// The chosen candidate and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub index: usize,
    pub why: String,
}

/// The candidate with the most sustained requests per second per CPU;
/// among those within [`EQUAL_WITHIN`] of it, the smallest CPU, then the
/// lowest p99, then the simplest settings. `None` when none held.
pub fn choose(held: &[Held]) -> Option<Choice> {
    let per_cpu = |h: &Held| h.sustained.rate / h.settings.cpu;
    let best = held.iter().map(per_cpu).fold(f64::NAN, f64::max);
    let mut equals: Vec<&Held> = held
        .iter()
        .filter(|h| per_cpu(h) >= best * (1.0 - EQUAL_WITHIN))
        .collect();
    equals.sort_by(|a, b| {
        a.settings
            .cpu
            .total_cmp(&b.settings.cpu)
            .then(a.sustained.p99_ms.total_cmp(&b.sustained.p99_ms))
            .then(a.settings.complexity().cmp(&b.settings.complexity()))
    });
    let chosen = equals.first()?;
    let why = if equals.len() == 1 {
        format!(
            "the most requests per second per CPU of the {} that held the target ({:.0} req/s per core)",
            held.len(),
            per_cpu(chosen)
        )
    } else {
        format!(
            "{} of the {} that held the target came within {:.0}% of the best rate per CPU ({:.0} req/s per core; this machine's noise): of those, the smallest CPU, then the lowest p99, then the simplest settings",
            equals.len(),
            held.len(),
            EQUAL_WITHIN * 100.0,
            best
        )
    };
    Some(Choice {
        index: chosen.index,
        why,
    })
}

/// Every candidate that held, best first: [`choose`] over what is left,
/// again and again (the verification falls back along this order).
pub fn rank(held: &[Held]) -> Vec<Choice> {
    let mut left: Vec<Held> = held.to_vec();
    let mut ranked: Vec<Choice> = Vec::new();
    while let Some(mut choice) = choose(&left) {
        left.retain(|h| h.index != choice.index);
        if !ranked.is_empty() {
            choice.why = format!(
                "the {} ranked above it did not hold the target when verified; of the rest, {}",
                ranked.len(),
                choice.why
            );
        }
        ranked.push(choice);
    }
    ranked
}

/// `memoryInGB` for a peak resident memory: with headroom, rounded up to
/// a tenth of a GB (10^9 bytes, as Kubernetes' `G`), at least 0.1.
pub fn memory_in_gb(peak_bytes: u64) -> f64 {
    let peak = peak_bytes as f64;
    let wanted = (peak * MEMORY_HEADROOM).max(peak + MEMORY_MARGIN_BYTES);
    ((wanted / 1e8).ceil() / 10.0).max(0.1)
}

/// The rate one replica is planned to carry: `utilization` percent of what it sustained.
pub fn replica_rate(sustained: &Sustained, utilization: u32) -> f64 {
    sustained.rate * f64::from(utilization) / 100.0
}

/// Replicas for `target_rps`, each carrying [`replica_rate`]; the
/// autoscaler keeps at least those, may double them for a burst, and
/// aims at the CPU share a replica shows at its planned rate (its CPU
/// target is a share of the CPU asked for, not of a request rate).
pub fn replicas(target_rps: f64, sustained: &Sustained, cpu: f64, utilization: u32) -> Replicas {
    let per_replica = replica_rate(sustained, utilization);
    let count = (target_rps / per_replica).ceil().max(1.0) as u32;
    let cores_at_plan = sustained.cpu_us_per_request * 1e-6 * per_replica;
    let target_utilization = if cores_at_plan.is_finite() && cores_at_plan > 0.0 {
        (100.0 * cores_at_plan / cpu).round().clamp(10.0, 95.0) as u32
    } else {
        utilization
    };
    Replicas {
        count,
        min_replicas: count,
        max_replicas: count * 2,
        target_utilization,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Engine;
    use crate::grid::BatchSetting;

    fn settings(cpu: f64, batch: Option<u32>) -> Settings {
        Settings {
            engine: Engine::Tract,
            cpu,
            max_concurrent_requests: 1,
            batching: batch.map(|max_batch_size| BatchSetting {
                max_batch_size,
                max_batch_delay_ms: 0,
            }),
        }
    }

    fn sustained(rate: f64, p99_ms: f64) -> Sustained {
        Sustained {
            rate,
            p50_ms: p99_ms / 3.0,
            p99_ms,
            cpu_cores: 1.0,
            cpu_us_per_request: 50.0,
        }
    }

    #[test]
    fn the_best_rate_per_cpu_wins() {
        let (a, b) = (settings(2.0, None), settings(1.0, None));
        let (sa, sb) = (sustained(10_000.0, 2.0), sustained(6_000.0, 3.0));
        let held = [
            Held {
                index: 0,
                settings: &a,
                sustained: &sa,
            },
            Held {
                index: 3,
                settings: &b,
                sustained: &sb,
            },
        ];
        let choice = choose(&held).unwrap();
        assert_eq!(choice.index, 3, "6000 per core beats 5000 per core");
        assert!(choice.why.contains("6000 req/s per core"), "{}", choice.why);
    }

    #[test]
    fn among_equals_the_smaller_cpu_then_p99_then_simpler() {
        let (plain, batched) = (settings(1.0, None), settings(1.0, Some(8)));
        let big = settings(2.0, None);
        let (fast, faster, fast_big) = (
            sustained(5_000.0, 3.0),
            sustained(5_100.0, 3.0),
            sustained(10_100.0, 1.0),
        );
        let held = [
            Held {
                index: 0,
                settings: &big,
                sustained: &fast_big,
            },
            Held {
                index: 1,
                settings: &batched,
                sustained: &faster,
            },
            Held {
                index: 2,
                settings: &plain,
                sustained: &fast,
            },
        ];
        let choice = choose(&held).unwrap();
        assert_eq!(choice.index, 2, "{choice:?}");
        assert!(
            choice.why.contains("3 of the 3 that held"),
            "{}",
            choice.why
        );
        assert_eq!(choose(&[]), None);
        let ranked: Vec<usize> = rank(&held).iter().map(|c| c.index).collect();
        assert_eq!(
            ranked,
            [2, 1, 0],
            "then the batched one; the big one is a rank below"
        );
    }

    #[test]
    fn memory_has_headroom_and_rounds_up_to_a_tenth() {
        assert_eq!(memory_in_gb(20_000_000), 0.1);
        assert_eq!(memory_in_gb(100_000_000), 0.2);
        assert_eq!(memory_in_gb(300_000_000), 0.5);
        assert_eq!(memory_in_gb(2_000_000_000), 3.0);
    }

    #[test]
    fn replicas_carry_the_target_at_the_planned_utilization() {
        // 10k req/s sustained, planned at 70%: 7000 per replica.
        let s = sustained(10_000.0, 2.0);
        assert_eq!(replica_rate(&s, 70), 7000.0);
        let r = replicas(20_000.0, &s, 1.0, 70);
        assert_eq!((r.count, r.min_replicas, r.max_replicas), (3, 3, 6));
        // 50 µs per request at 7000 req/s is 0.35 cores of 1.
        assert_eq!(r.target_utilization, 35);
        assert_eq!(replicas(10.0, &s, 1.0, 70).count, 1);
    }
}
