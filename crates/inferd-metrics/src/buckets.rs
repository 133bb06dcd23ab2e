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
///
/// No search: the durations with as many significant bits as `nanos` lie
/// within a factor of two, and neighbouring bounds are at least a factor
/// of two apart, so at most one bound falls among them. [`FIRST_BY_BITS`]
/// holds the first bucket of each bit length; one comparison against its
/// bound settles which side of it `nanos` is on.
#[inline]
pub fn duration_bucket(nanos: u64) -> usize {
    let first = FIRST_BY_BITS[(u64::BITS - nanos.leading_zeros()) as usize] as usize;
    first + usize::from(nanos > PADDED_NANOS[first])
}

/// [`DURATION_NANOS`] and one bound more that nothing exceeds (the `+Inf`
/// bucket's), so that [`duration_bucket`] never compares out of range.
const PADDED_NANOS: [u64; DURATION_NANOS.len() + 1] = {
    let mut padded = [u64::MAX; DURATION_NANOS.len() + 1];
    let mut i = 0;
    while i < DURATION_NANOS.len() {
        padded[i] = DURATION_NANOS[i];
        i += 1;
    }
    padded
};

/// For each bit length `b` (0 to 64), the bucket of the smallest duration
/// with `b` significant bits: the first bound at or above `2^(b-1)`.
const FIRST_BY_BITS: [u8; 65] = {
    let mut first = [0u8; 65];
    let mut bits = 1;
    while bits <= 64 {
        let smallest = 1u64 << (bits - 1);
        let mut bucket = 0;
        while bucket < DURATION_NANOS.len() && DURATION_NANOS[bucket] < smallest {
            bucket += 1;
        }
        first[bits] = bucket as u8;
        bits += 1;
    }
    first
};

/// Holds [`duration_bucket`]'s premise for every pair of neighbours.
const _: () = {
    let mut i = 1;
    while i < DURATION_NANOS.len() {
        assert!(DURATION_NANOS[i] >= 2 * DURATION_NANOS[i - 1]);
        i += 1;
    }
};

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

    /// The definition: the first bound `nanos` does not exceed.
    fn searched(nanos: u64) -> usize {
        DURATION_NANOS
            .iter()
            .position(|bound| nanos <= *bound)
            .unwrap_or(DURATION_NANOS.len())
    }

    #[test]
    fn every_bound_and_its_neighbours_fall_in_the_searched_bucket() {
        let mut edges = vec![0, 1, u64::MAX - 1, u64::MAX];
        for bound in DURATION_NANOS {
            edges.extend([bound - 1, bound, bound + 1]);
        }
        for bits in 0..64 {
            let power = 1u64 << bits;
            edges.extend([power - 1, power, power + 1]);
        }
        for nanos in edges {
            assert_eq!(duration_bucket(nanos), searched(nanos), "{nanos} ns");
        }
    }

    #[test]
    fn a_spread_of_durations_falls_in_the_searched_bucket() {
        // Deterministic, spread over every bit length (xorshift).
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let nanos = x >> (x % 64);
            assert_eq!(duration_bucket(nanos), searched(nanos), "{nanos} ns");
        }
        for nanos in 0..100_000 {
            assert_eq!(duration_bucket(nanos), searched(nanos), "{nanos} ns");
        }
    }
}
