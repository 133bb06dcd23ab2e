//! Histogram buckets. Durations run from 10 microseconds (a small model's
//! decode) to a minute (the default scoring timeout), about three buckets
//! per decade, so percentiles stay readable at every scale.

/// Upper bounds in seconds.
pub const DURATION_SECONDS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Upper bounds in rows (requests merged into one engine run).
pub const BATCH_SIZE: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];
