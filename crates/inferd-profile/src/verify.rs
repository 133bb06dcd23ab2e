//! The proof: the written files served exactly as a deployment would
//! serve them (same CPU limit), loaded open loop at the rate one replica
//! is planned to carry. The report says "verified" only when p99 held
//! the target with every answer 2xx.

use std::time::Duration;

use bytes::Bytes;

use crate::child::Served;
use crate::measure::{self, Timing};
use crate::report::Verification;

/// Loads `served` (candidate `candidate`, named `name`) at `rate` for `seconds` and judges it against `p99_ms`.
#[allow(clippy::too_many_arguments)]
pub fn verify(
    runtime: &tokio::runtime::Runtime,
    served: &Served,
    request: &Bytes,
    (candidate, name): (usize, &str),
    rate: f64,
    seconds: f64,
    timing: &Timing,
    p99_ms: f64,
) -> Verification {
    let target = measure::score_target(served.port);
    let (step, cpu_cores, _) = measure::open_loop(
        runtime,
        served,
        &target,
        request,
        rate,
        Duration::from_secs_f64(seconds),
        timing,
        p99_ms,
    );
    let failure = measure::miss(&step, p99_ms);
    Verification {
        candidate,
        name: name.to_owned(),
        rate,
        seconds,
        cpu_cores,
        held: failure.is_none(),
        failure,
        step,
    }
}
