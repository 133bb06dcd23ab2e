//! Histogram buckets. Durations run from 10 microseconds (a small model's
//! decode) to a minute (the default scoring timeout), about three buckets
//! per decade, so percentiles stay readable at every scale.

/// Upper bounds in nanoseconds (whole numbers, so that recording needs no
/// floating point): 10 us, 25 us, 50 us ... 30 s, 60 s.
pub const DURATION_NANOS: [u64; 21] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
    60_000_000_000,
];

/// The bucket of `nanos` in [`DURATION_NANOS`]: the index of the first
/// bound it does not exceed, or `DURATION_NANOS.len()` past the last.
pub fn duration_bucket(nanos: u64) -> usize {
    DURATION_NANOS.partition_point(|bound| *bound < nanos)
}

/// [`DURATION_NANOS`] in seconds, as exposed.
pub fn duration_seconds() -> impl Iterator<Item = f64> {
    DURATION_NANOS.iter().map(|nanos| *nanos as f64 / 1e9)
}

/// Upper bounds in rows (requests merged into one engine run).
pub const BATCH_SIZE: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_falls_in_the_first_bucket_it_does_not_exceed() {
        assert_eq!(duration_bucket(0), 0);
        assert_eq!(duration_bucket(10_000), 0);
        assert_eq!(duration_bucket(10_001), 1);
        assert_eq!(duration_bucket(60_000_000_000), DURATION_NANOS.len() - 1);
        assert_eq!(duration_bucket(60_000_000_001), DURATION_NANOS.len());
        assert_eq!(duration_bucket(u64::MAX), DURATION_NANOS.len());
        for (i, bound) in DURATION_NANOS.iter().enumerate() {
            assert_eq!(duration_bucket(*bound), i);
            assert_eq!(duration_bucket(bound + 1), i + 1);
        }
    }
}
