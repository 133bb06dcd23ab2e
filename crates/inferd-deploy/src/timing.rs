//! The timings that decide whether a rollout drops requests: how a pod
//! stops (preStop wait, inferd's grace and drain, the kill deadline) and
//! how it is probed (startup, liveness, readiness), worked out from the
//! deployment config.
//!
//! # Stopping
//! Kubernetes marks the pod terminating and, at the same moment, starts
//! taking it out of every Service's endpoints and runs the preStop hook.
//! Proxies learn of the removal over the next seconds, so the pod must
//! still serve: the preStop sleep keeps it fully ready meanwhile. Then
//! SIGTERM: inferd answers `/ready` with 503 and keeps accepting for its
//! grace (`INFERD_SHUTDOWN_GRACE_S`), closing each kept-alive connection
//! after its next answer, then stops accepting and lets the requests in
//! flight finish, for at most the drain timeout (`INFERD_DRAIN_TIMEOUT_S`,
//! set to what the admission limits allow one request: its longest queue
//! wait plus its longest run), then flushes collected data (bounded). The
//! kill deadline (`terminationGracePeriodSeconds`, counted from the start
//! of preStop) must come after all of that, or Kubernetes SIGKILLs a pod
//! that is still answering.

use inferd_config::DeploymentConfig;
use inferd_config::limits::{
    DEFAULT_MAX_QUEUE_WAIT_MS, DEFAULT_SCORING_TIMEOUT_MS, default_drain_timeout,
};

/// Seconds proxies may take to stop sending to a terminating pod, covered
/// by the preStop sleep (kube-proxy and ingress controllers take a few).
pub const DEFAULT_PRE_STOP_S: u32 = 5;

/// inferd's grace after SIGTERM: covers clients that only learn from
/// `/ready` (a load balancer probing it), with its own probe interval.
pub const DEFAULT_SHUTDOWN_GRACE_S: u32 = 5;

/// The longest inferd waits for collected records to reach their files
/// after the drain (the binary's `COLLECT_CLOSE_TIMEOUT`), plus the log
/// flush (its `LOG_FLUSH_TIMEOUT`): both bounded in the binary, which
/// tests that they fit.
pub const FLUSH_S: u32 = 12;

/// Slack for the process to exit once done (a second is plenty; the rest
/// absorbs a busy node's scheduling).
pub const EXIT_SLACK_S: u32 = 3;

/// How a pod stops, in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Termination {
    pub pre_stop_s: u32,
    pub shutdown_grace_s: u32,
    pub drain_timeout_s: u32,
    pub flush_s: u32,
    /// `terminationGracePeriodSeconds`.
    pub kill_after_s: u32,
}

impl Termination {
    /// From the config's admission limits: a request may wait
    /// `maxQueueWaitMs` for a slot and then run `scoringTimeoutMs`.
    pub fn new(config: &DeploymentConfig, pre_stop_s: u32, shutdown_grace_s: u32) -> Termination {
        // inferd's own default, in whole seconds (rounded up).
        let drain = default_drain_timeout(
            config
                .max_queue_wait_ms
                .unwrap_or(DEFAULT_MAX_QUEUE_WAIT_MS),
            config
                .scoring_timeout_ms
                .unwrap_or(DEFAULT_SCORING_TIMEOUT_MS),
        );
        let drain_timeout_s =
            u32::try_from(drain.as_millis().div_ceil(1000)).unwrap_or(u32::MAX / 4);
        let kill_after_s = pre_stop_s + shutdown_grace_s + drain_timeout_s + FLUSH_S + EXIT_SLACK_S;
        Termination {
            pre_stop_s,
            shutdown_grace_s,
            drain_timeout_s,
            flush_s: FLUSH_S,
            kill_after_s,
        }
    }

    /// The latest a pod can still be working after deletion starts: it
    /// must come before the kill.
    pub fn latest_work_s(&self) -> u32 {
        self.pre_stop_s + self.shutdown_grace_s + self.drain_timeout_s + self.flush_s
    }
}

/// How a pod is probed, from `livenessProbeRequirements`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probes {
    pub period_s: u32,
    pub timeout_s: u32,
    pub success_threshold: u32,
    pub failure_threshold: u32,
    /// The startup probe's budget: how long a pod may take to load its
    /// models before it is restarted.
    pub startup_budget_s: u32,
}

/// The startup probe asks this often, so a pod that loads in milliseconds
/// is ready within a second, not a liveness period.
pub const STARTUP_PERIOD_S: u32 = 1;

impl Probes {
    /// The contract's `initialDelaySeconds` is how long a starting container
    /// is left alone; the liveness probe then restarts it after
    /// `failureThreshold` failed probes. A startup probe gives the same
    /// budget (delay, then the failures) without delaying the liveness
    /// probe of a pod that started long ago.
    pub fn new(config: &DeploymentConfig) -> Probes {
        let given = config
            .liveness_probe_requirements
            .clone()
            .unwrap_or_default();
        Probes {
            period_s: given.period_seconds(),
            timeout_s: given.timeout_seconds(),
            success_threshold: given.success_threshold(),
            failure_threshold: given.failure_threshold(),
            startup_budget_s: given.initial_delay_seconds()
                + given.period_seconds() * given.failure_threshold(),
        }
    }

    /// Failed startup probes, one a second, before a restart.
    pub fn startup_failures(&self) -> u32 {
        self.startup_budget_s.div_ceil(STARTUP_PERIOD_S).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> DeploymentConfig {
        DeploymentConfig::from_json(text, "test.json").unwrap()
    }

    /// Kubernetes must never SIGKILL a pod that is still draining: from the
    /// start of deletion, preStop + grace + the longest drain + the flush
    /// must end before `terminationGracePeriodSeconds`, and inferd's drain
    /// must be long enough for a request admitted just before the listener
    /// closed (its longest queue wait plus its longest run).
    #[test]
    fn the_kill_comes_after_the_longest_drain() {
        for (text, pre_stop, grace) in [
            ("{}", DEFAULT_PRE_STOP_S, DEFAULT_SHUTDOWN_GRACE_S),
            (r#"{"scoringTimeoutMs": 1, "maxQueueWaitMs": 0}"#, 0, 0),
            (
                r#"{"scoringTimeoutMs": 300000, "maxQueueWaitMs": 2500}"#,
                10,
                30,
            ),
            (r#"{"scoringTimeoutMs": 999, "maxQueueWaitMs": 1}"#, 5, 5),
        ] {
            let config = config(text);
            let t = Termination::new(&config, pre_stop, grace);
            let request_ms = config.max_queue_wait_ms.unwrap_or(500)
                + config.scoring_timeout_ms.unwrap_or(60_000);
            assert!(
                u64::from(t.drain_timeout_s) * 1000 > request_ms,
                "{text}: the drain ({} s) must outlast one request ({request_ms} ms)",
                t.drain_timeout_s
            );
            assert!(
                t.latest_work_s() < t.kill_after_s,
                "{text}: killed at {} s while possibly working until {} s",
                t.kill_after_s,
                t.latest_work_s()
            );
            assert_eq!(t.pre_stop_s, pre_stop);
            assert_eq!(t.shutdown_grace_s, grace);
        }
        let defaults = Termination::new(&config("{}"), 5, 5);
        // 500 ms + 60 s rounds up to 61, plus a second.
        assert_eq!(defaults.drain_timeout_s, 62);
        assert_eq!(defaults.kill_after_s, 5 + 5 + 62 + FLUSH_S + EXIT_SLACK_S);
    }

    #[test]
    fn a_slow_load_gets_the_contracts_delay_and_failures() {
        let defaults = Probes::new(&config("{}"));
        assert_eq!(
            (
                defaults.period_s,
                defaults.timeout_s,
                defaults.failure_threshold
            ),
            (10, 2, 3)
        );
        assert_eq!(defaults.startup_budget_s, 310 + 30);
        assert_eq!(defaults.startup_failures(), 340);
        let quick = Probes::new(&config(
            r#"{"livenessProbeRequirements": {"periodSeconds": 10, "initialDelaySeconds": 5, "timeoutSeconds": 2}}"#,
        ));
        assert_eq!(quick.startup_budget_s, 35);
    }
}
