//! The effective admission limits. Each value comes from, in order of
//! precedence, a flag, an environment variable, the deployment config file,
//! or the contract's default, and remembers which. The body memory budget's
//! default is derived from the container's memory instead: the cgroup's
//! limit, else the file's `memoryInGB`, else the machine's memory.

use std::fmt;
use std::time::Duration;

use crate::DeploymentConfig;
use crate::memory::ContainerMemory;

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Flag,
    Env,
    File,
    /// Derived from the memory limit of the process's cgroup.
    Cgroup,
    /// Derived from the machine's memory (no limit was found).
    Machine,
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Flag => "flag",
            Source::Env => "env",
            Source::File => "file",
            Source::Cgroup => "cgroup",
            Source::Machine => "machine",
            Source::Default => "default",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Setting<T> {
    pub value: T,
    pub source: Source,
}

/// Values given on the command line or in the environment (the caller
/// knows which), before the file and the defaults are considered.
#[derive(Debug, Clone, Copy, Default)]
pub struct LimitOverrides {
    pub max_concurrent_requests: Option<(u32, Source)>,
    pub max_queue_wait_ms: Option<(u64, Source)>,
    pub scoring_timeout_ms: Option<(u64, Source)>,
    pub max_queue_length: Option<(usize, Source)>,
    pub cpu: Option<(f64, Source)>,
    pub max_body_memory_mb: Option<(u64, Source)>,
}

pub const DEFAULT_MAX_CONCURRENT: u32 = 1;
pub const DEFAULT_MAX_QUEUE_WAIT_MS: u64 = 500;
pub const DEFAULT_SCORING_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_MAX_QUEUE_LENGTH: usize = 1024;
pub const DEFAULT_CPU: f64 = 0.1;
/// The body memory budget, in MiB, when no memory figure is known at all
/// (no cgroup limit, no `memoryInGB`, no `/proc/meminfo`).
pub const DEFAULT_MAX_BODY_MEMORY_MB: u64 = 1024;

/// How long a drain waits, by default, for the requests in flight when the
/// listener closes: the longest one admitted just before may wait its
/// whole queue time and then run its whole scoring time; a second more for
/// its answer to be written. `inferd serve` and the manifests `inferd
/// deploy` renders (whose kill deadline must come after it) both use it.
pub fn default_drain_timeout(max_queue_wait_ms: u64, scoring_timeout_ms: u64) -> Duration {
    Duration::from_millis(max_queue_wait_ms + scoring_timeout_ms + 1000)
}

const MIB: u64 = 1024 * 1024;

/// The limits in force.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Limits {
    pub max_concurrent_requests: Setting<u32>,
    pub max_queue_wait_ms: Setting<u64>,
    pub scoring_timeout_ms: Setting<u64>,
    pub max_queue_length: Setting<usize>,
    pub cpu: Setting<f64>,
    /// Request bodies being read, queued and scored, and their decoded
    /// tensors, all models together, in MiB (see [`body_memory_budget`]).
    pub max_body_memory_mb: Setting<u64>,
    /// Cores this container may use (machine, capped by the cgroup quota).
    pub container_cores: usize,
}

fn pick<T: Copy>(given: Option<(T, Source)>, file: Option<T>, default: T) -> Setting<T> {
    match (given, file) {
        (Some((value, source)), _) => Setting { value, source },
        (None, Some(value)) => Setting {
            value,
            source: Source::File,
        },
        (None, None) => Setting {
            value: default,
            source: Source::Default,
        },
    }
}

impl Limits {
    /// Resolves the limits on a container with `container_cores` and
    /// `memory`; values given by flag or environment are checked here (the
    /// file's were checked when it was read).
    pub fn resolve(
        overrides: &LimitOverrides,
        file: Option<&DeploymentConfig>,
        container_cores: usize,
        memory: ContainerMemory,
    ) -> Result<Limits, String> {
        let from_file = |f: fn(&DeploymentConfig) -> Option<u64>| file.and_then(f);
        let limits = Limits {
            max_concurrent_requests: pick(
                overrides.max_concurrent_requests,
                file.and_then(|c| c.max_concurrent_requests_per_container),
                DEFAULT_MAX_CONCURRENT,
            ),
            max_queue_wait_ms: pick(
                overrides.max_queue_wait_ms,
                from_file(|c| c.max_queue_wait_ms),
                DEFAULT_MAX_QUEUE_WAIT_MS,
            ),
            scoring_timeout_ms: pick(
                overrides.scoring_timeout_ms,
                from_file(|c| c.scoring_timeout_ms),
                DEFAULT_SCORING_TIMEOUT_MS,
            ),
            max_queue_length: pick(overrides.max_queue_length, None, DEFAULT_MAX_QUEUE_LENGTH),
            cpu: pick(
                overrides.cpu,
                file.and_then(|c| c.container_resource_requirements.cpu),
                DEFAULT_CPU,
            ),
            max_body_memory_mb: body_memory_budget(overrides, file, memory),
            container_cores: container_cores.max(1),
        };
        if limits.max_concurrent_requests.value == 0 {
            return Err(format!(
                "maxConcurrentRequestsPerContainer ({}) must be at least 1",
                limits.max_concurrent_requests.source
            ));
        }
        if limits.scoring_timeout_ms.value == 0 {
            return Err(format!(
                "scoringTimeoutMs ({}) must be at least 1",
                limits.scoring_timeout_ms.source
            ));
        }
        if limits.max_body_memory_mb.value == 0 {
            return Err(format!(
                "maxBodyMemoryMB ({}) must be at least 1",
                limits.max_body_memory_mb.source
            ));
        }
        if !(limits.cpu.value.is_finite() && limits.cpu.value > 0.0) {
            return Err(format!(
                "cpu ({}) must be above 0, got {}",
                limits.cpu.source, limits.cpu.value
            ));
        }
        Ok(limits)
    }

    /// The body memory budget in bytes.
    pub fn max_body_memory_bytes(&self) -> u64 {
        self.max_body_memory_mb.value.saturating_mul(MIB)
    }

    /// Engine worker threads per model: as many as may score at once, but
    /// never more than the container's cores, nor than the CPU requested
    /// (rounded up) when a CPU figure was given. At least one.
    pub fn engine_threads(&self) -> usize {
        let mut threads = (self.max_concurrent_requests.value as usize).min(self.container_cores);
        if self.cpu.source != Source::Default {
            threads = threads.min(self.cpu.value.ceil() as usize);
        }
        threads.max(1)
    }

    /// Threads inside one engine run (ONNX Runtime's intra-op pool): the
    /// cores the engines may use split between the workers that may run at
    /// once, so threads per run x concurrent runs never exceed the cores.
    /// At least one.
    pub fn engine_intra_threads(&self) -> usize {
        (self.cpu_cores() / self.engine_threads()).max(1)
    }

    /// Threads for HTTP (the async runtime's workers): the cores left over
    /// by the engine runs that may be busy at once ([`Limits::engine_threads`]),
    /// so HTTP and engine threads together match the cores instead of
    /// taking turns on them; but never fewer than half the cores (rounded
    /// up), since for small models HTTP is most of the work. At least one.
    /// On 2 cores with the default concurrency of 1 that is one HTTP thread
    /// beside one engine thread: 15% less CPU per request at 64 connections
    /// than two HTTP threads, and no slower at one (benches/RESULTS.md).
    /// `--http-threads` picks.
    pub fn http_threads(&self) -> usize {
        let cores = self.cpu_cores();
        let left_over = cores.saturating_sub(self.engine_threads());
        left_over.max(cores.div_ceil(2)).max(1)
    }

    /// The cores the container has, or the CPU asked for (rounded up) when
    /// a CPU figure was given and is smaller.
    fn cpu_cores(&self) -> usize {
        let mut cores = self.container_cores;
        if self.cpu.source != Source::Default {
            cores = cores.min(self.cpu.value.ceil() as usize);
        }
        cores.max(1)
    }

    /// `name = value (source)` lines, for `inferd config show` and the start-up log.
    pub fn report(&self) -> Vec<(&'static str, String, Source)> {
        vec![
            (
                "maxConcurrentRequestsPerContainer",
                self.max_concurrent_requests.value.to_string(),
                self.max_concurrent_requests.source,
            ),
            (
                "maxQueueWaitMs",
                self.max_queue_wait_ms.value.to_string(),
                self.max_queue_wait_ms.source,
            ),
            (
                "scoringTimeoutMs",
                self.scoring_timeout_ms.value.to_string(),
                self.scoring_timeout_ms.source,
            ),
            (
                "maxQueueLength",
                self.max_queue_length.value.to_string(),
                self.max_queue_length.source,
            ),
            (
                "containerResourceRequirements.cpu",
                self.cpu.value.to_string(),
                self.cpu.source,
            ),
            (
                "maxBodyMemoryMB",
                self.max_body_memory_mb.value.to_string(),
                self.max_body_memory_mb.source,
            ),
        ]
    }
}

/// The body memory budget in MiB: as given, else half the container's
/// memory: the cgroup's limit (what the kernel enforces), else the
/// deployment config's `memoryInGB` (what the deployer asked for; GB as
/// 10^9 bytes), else the machine's memory; else
/// [`DEFAULT_MAX_BODY_MEMORY_MB`]. At least 1 MiB.
///
/// Half, because the bodies and their tensors are the part of memory that
/// grows with load, and the other half is what the process needs besides:
/// its base (the models, the engines' sessions and arenas), what a
/// request's decoding and answer hold besides its body and tensors, and
/// the freed memory the allocator keeps for 100 ms before handing it back,
/// which under a burst of large bodies is of the order of the bodies
/// themselves (benches/RESULTS.md, "Memory budget").
pub fn body_memory_budget(
    overrides: &LimitOverrides,
    file: Option<&DeploymentConfig>,
    memory: ContainerMemory,
) -> Setting<u64> {
    if let Some((value, source)) = overrides.max_body_memory_mb {
        return Setting { value, source };
    }
    let half = |bytes: u64| (bytes / 2 / MIB).max(1);
    let from_file = file
        .and_then(|f| f.container_resource_requirements.memory_in_gb)
        .map(|gb| (gb * 1e9) as u64);
    let (value, source) = match (memory.cgroup_limit, from_file, memory.machine_total) {
        (Some(limit), _, _) => (half(limit), Source::Cgroup),
        (None, Some(bytes), _) => (half(bytes), Source::File),
        (None, None, Some(total)) => (half(total), Source::Machine),
        (None, None, None) => (DEFAULT_MAX_BODY_MEMORY_MB, Source::Default),
    };
    Setting { value, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> DeploymentConfig {
        DeploymentConfig::from_json(text, "f").unwrap()
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let config = file(
            r#"{"maxQueueWaitMs": 50, "scoringTimeoutMs": 900, "maxConcurrentRequestsPerContainer": 3}"#,
        );
        let overrides = LimitOverrides {
            max_queue_wait_ms: Some((10, Source::Flag)),
            scoring_timeout_ms: Some((20, Source::Env)),
            ..LimitOverrides::default()
        };
        let limits =
            Limits::resolve(&overrides, Some(&config), 8, ContainerMemory::default()).unwrap();
        assert_eq!(
            limits.max_queue_wait_ms,
            Setting {
                value: 10,
                source: Source::Flag
            }
        );
        assert_eq!(
            limits.scoring_timeout_ms,
            Setting {
                value: 20,
                source: Source::Env
            }
        );
        assert_eq!(
            limits.max_concurrent_requests,
            Setting {
                value: 3,
                source: Source::File
            }
        );
        assert_eq!(limits.max_queue_length.source, Source::Default);

        let defaults = Limits::resolve(
            &LimitOverrides::default(),
            None,
            8,
            ContainerMemory::default(),
        )
        .unwrap();
        assert_eq!(defaults.max_concurrent_requests.value, 1);
        assert_eq!(defaults.max_queue_wait_ms.value, 500);
        assert_eq!(defaults.scoring_timeout_ms.value, 60_000);
    }

    #[test]
    fn intra_op_threads_times_concurrent_runs_never_exceed_the_cores() {
        let split = |text: &str, cores| {
            let limits = Limits::resolve(
                &LimitOverrides::default(),
                Some(&file(text)),
                cores,
                ContainerMemory::default(),
            )
            .unwrap();
            (limits.engine_threads(), limits.engine_intra_threads())
        };
        assert_eq!(
            split("{}", 8),
            (1, 8),
            "one run at a time may use every core"
        );
        assert_eq!(
            split(r#"{"maxConcurrentRequestsPerContainer": 4}"#, 8),
            (4, 2)
        );
        assert_eq!(
            split(r#"{"maxConcurrentRequestsPerContainer": 3}"#, 8),
            (3, 2)
        );
        assert_eq!(
            split(r#"{"maxConcurrentRequestsPerContainer": 16}"#, 2),
            (2, 1)
        );
        assert_eq!(
            split(
                r#"{"maxConcurrentRequestsPerContainer": 1, "containerResourceRequirements": {"cpu": 2.5}}"#,
                8
            ),
            (1, 3)
        );
        for concurrency in 1..=20 {
            for cores in 1..=16 {
                let (workers, intra) = split(
                    &format!(r#"{{"maxConcurrentRequestsPerContainer": {concurrency}}}"#),
                    cores,
                );
                assert!(workers * intra <= cores, "{concurrency} on {cores}");
            }
        }
    }

    /// The limits a deployment config gives on a machine with `cores`.
    fn limits(text: &str, cores: usize) -> Limits {
        Limits::resolve(
            &LimitOverrides::default(),
            Some(&file(text)),
            cores,
            ContainerMemory::default(),
        )
        .unwrap()
    }

    #[test]
    fn http_threads_take_the_cores_the_engines_leave() {
        let threads = |text: &str, cores| limits(text, cores).http_threads();
        assert_eq!(
            threads("{}", 2),
            1,
            "one engine thread beside one HTTP thread"
        );
        assert_eq!(threads("{}", 1), 1);
        assert_eq!(threads("{}", 8), 7);
        assert_eq!(threads(r#"{"maxConcurrentRequestsPerContainer": 2}"#, 8), 6);
        assert_eq!(
            threads(r#"{"maxConcurrentRequestsPerContainer": 8}"#, 8),
            4,
            "never fewer than half the cores"
        );
        assert_eq!(threads(r#"{"maxConcurrentRequestsPerContainer": 4}"#, 3), 2);
        assert_eq!(
            threads(r#"{"containerResourceRequirements": {"cpu": 2.5}}"#, 16),
            2,
            "an explicit cpu caps the cores: 3, less one engine thread"
        );
        assert_eq!(
            threads(r#"{"containerResourceRequirements": {"cpu": 0.1}}"#, 16),
            1
        );
    }

    #[test]
    fn engine_threads_never_exceed_cores_or_the_cpu_asked() {
        let threads = |text: &str, cores| limits(text, cores).engine_threads();
        assert_eq!(threads("{}", 8), 1);
        assert_eq!(
            threads(r#"{"maxConcurrentRequestsPerContainer": 4}"#, 8),
            4,
            "default cpu is a request, not a cap"
        );
        assert_eq!(threads(r#"{"maxConcurrentRequestsPerContainer": 4}"#, 2), 2);
        assert_eq!(
            threads(
                r#"{"maxConcurrentRequestsPerContainer": 4, "containerResourceRequirements": {"cpu": 1.5}}"#,
                8
            ),
            2
        );
        assert_eq!(
            threads(
                r#"{"maxConcurrentRequestsPerContainer": 4, "containerResourceRequirements": {"cpu": 0.1}}"#,
                8
            ),
            1
        );
    }

    #[test]
    fn the_body_memory_budget_is_half_the_containers_memory() {
        const GIB: u64 = 1 << 30;
        let budget = |overrides: &LimitOverrides, text: Option<&str>, memory| {
            let config = text.map(file);
            let limits = Limits::resolve(overrides, config.as_ref(), 2, memory).unwrap();
            (
                limits.max_body_memory_mb.value,
                limits.max_body_memory_mb.source,
            )
        };
        let none = LimitOverrides::default();
        let all = ContainerMemory {
            cgroup_limit: Some(GIB),
            machine_total: Some(16 * GIB),
        };
        let two_gb = Some(r#"{"containerResourceRequirements": {"memoryInGB": 2}}"#);
        assert_eq!(
            budget(&none, two_gb, all),
            (512, Source::Cgroup),
            "the cgroup's limit beats the file"
        );
        let machine = ContainerMemory {
            cgroup_limit: None,
            ..all
        };
        assert_eq!(
            budget(&none, two_gb, machine),
            (953, Source::File),
            "2 GB (10^9) halved, in MiB"
        );
        assert_eq!(
            budget(&none, Some("{}"), machine),
            (8192, Source::Machine),
            "the contract's 0.5 GB default is not a figure the file gave"
        );
        assert_eq!(
            budget(&none, None, ContainerMemory::default()),
            (DEFAULT_MAX_BODY_MEMORY_MB, Source::Default)
        );
        let tiny = Some(r#"{"containerResourceRequirements": {"memoryInGB": 0.001}}"#);
        assert_eq!(budget(&none, tiny, ContainerMemory::default()).0, 1);
        let flag = LimitOverrides {
            max_body_memory_mb: Some((64, Source::Env)),
            ..LimitOverrides::default()
        };
        assert_eq!(budget(&flag, two_gb, all), (64, Source::Env));
        let limits = Limits::resolve(&flag, None, 2, all).unwrap();
        assert_eq!(limits.max_body_memory_bytes(), 64 << 20);
        let zero = LimitOverrides {
            max_body_memory_mb: Some((0, Source::Flag)),
            ..LimitOverrides::default()
        };
        assert_eq!(
            Limits::resolve(&zero, None, 2, all).unwrap_err(),
            "maxBodyMemoryMB (flag) must be at least 1"
        );
    }

    #[test]
    fn bad_overrides_are_refused() {
        let zero = LimitOverrides {
            max_concurrent_requests: Some((0, Source::Flag)),
            ..LimitOverrides::default()
        };
        assert_eq!(
            Limits::resolve(&zero, None, 2, ContainerMemory::default()).unwrap_err(),
            "maxConcurrentRequestsPerContainer (flag) must be at least 1"
        );
    }
}
