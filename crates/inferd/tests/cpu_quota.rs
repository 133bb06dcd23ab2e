//! The real `inferd serve` under a cgroup CPU quota sizes its threads by
//! the quota of its own cgroup, not the machine's cores nor the root of the
//! hierarchy: each case makes a child cgroup of this test's own with a
//! quota (none, 0.5, 1, 1.5, 2 cores), starts the server inside it, and
//! checks the engine worker threads it runs (`/proc/PID/task/*/comm`) and
//! the HTTP threads it logs against what the quota allows.
//!
//! Needs root and a writable cgroup `cpu` controller (cgroup v1, or v2
//! where this test's cgroup may have children with `cpu.max`); elsewhere it
//! says why on stderr and passes without checking anything. The child
//! cgroups are removed when each case ends, failed or not.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use inferd_config::{ContainerMemory, LimitOverrides, Limits, Source};
use inferd_profile::cgroup::{Cgroup, Hierarchy};

/// How many may score at once: more than this machine's cores, so the
/// engine worker count is set by the cores the quota leaves.
const CONCURRENCY: u32 = 64;

#[test]
fn threads_follow_the_cgroup_cpu_quota() {
    let hierarchy = match Hierarchy::find() {
        Ok(hierarchy) => hierarchy,
        Err(reason) => {
            eprintln!("cpu_quota: not checked: {reason}");
            return;
        }
    };
    // What this test's own cgroup allows: the child's quota can only cap it.
    let here = inferd_config::cpu::available_cores();
    for quota in [None, Some(0.5), Some(1.0), Some(1.5), Some(2.0)] {
        let name = format!(
            "inferd-cpu-quota-test-{}-{}",
            std::process::id(),
            quota.map_or(0, |q| (q * 10.0) as u32)
        );
        let cgroup = match hierarchy.child(&name, quota) {
            Ok(cgroup) => cgroup,
            Err(reason) => {
                eprintln!("cpu_quota: not checked: {reason}");
                return;
            }
        };
        let cores = inferd_config::cpu::cores(here, quota);
        let limits = Limits::resolve(
            &LimitOverrides {
                max_concurrent_requests: Some((CONCURRENCY, Source::Flag)),
                ..LimitOverrides::default()
            },
            None,
            cores,
            ContainerMemory::default(),
        )
        .unwrap();
        let (engine, http) = (limits.engine_threads(), limits.http_threads());

        // `inferd config show` in the cgroup reports the cores it found.
        let shown = inferd_in(
            &cgroup,
            &[
                "config",
                "show",
                "--max-concurrent-requests",
                &CONCURRENCY.to_string(),
            ],
        )
        .output()
        .unwrap();
        let shown = String::from_utf8_lossy(&shown.stdout);
        assert!(
            shown.contains(&format!("(container cores: {cores})")),
            "quota {quota:?}: expected {cores} cores\n{shown}"
        );

        let mut server = Served::start(&cgroup);
        let in_cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", server.pid())).unwrap();
        assert!(
            in_cgroup.contains(&name),
            "the server is not in {name}:\n{in_cgroup}"
        );
        let threads = server.threads_log.clone();
        assert_eq!(
            (
                threads["engine_workers"].as_u64(),
                threads["http_threads"].as_u64()
            ),
            (Some(engine as u64), Some(http as u64)),
            "quota {quota:?} ({cores} cores): {threads}"
        );
        // The workers that run: `inferd-diabetes-ridge-<i>`, which the
        // kernel's 15-byte thread names cut to `inferd-diabetes`.
        let workers = thread_names(server.pid())
            .iter()
            .filter(|n| *n == "inferd-diabetes")
            .count();
        assert_eq!(workers, engine, "quota {quota:?}: engine worker threads");
        eprintln!(
            "cpu_quota: quota {quota:?} cores: {cores} cores, {workers} engine workers, {http} HTTP threads"
        );
        server.stop();
        drop(cgroup);
    }
}

/// `inferd ARGS` started inside `cgroup`.
fn inferd_in(cgroup: &Cgroup, args: &[&str]) -> Command {
    let mut command = cgroup.command(Path::new(env!("CARGO_BIN_EXE_inferd")));
    command.args(args);
    command
}

/// `inferd serve` running in a cgroup, killed when dropped.
struct Served {
    child: Child,
    /// The fields of its `threads` start-up line.
    threads_log: serde_json::Value,
}

impl Served {
    /// Starts it on a free port and waits for its `ready` line.
    fn start(cgroup: &Cgroup) -> Served {
        let registry = support::repo_models();
        let concurrency = CONCURRENCY.to_string();
        let mut child = inferd_in(
            cgroup,
            &[
                "serve",
                "--registry",
                registry.to_str().unwrap(),
                "--port",
                "0",
                "--log-format",
                "json",
                "--shutdown-grace-s",
                "0",
                "--max-concurrent-requests",
                &concurrency,
            ],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (mut logs, mut threads_log) = (String::new(), None);
        for line in lines.by_ref().map_while(Result::ok) {
            logs.push_str(&line);
            logs.push('\n');
            let Ok(log) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let fields = &log["fields"];
            if fields["message"] == "threads" {
                threads_log = Some(fields.clone());
            }
            if fields["message"] == "ready" {
                break;
            }
        }
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        // Made before the check, so that a failed start is killed too.
        let mut served = Served {
            child,
            threads_log: serde_json::Value::Null,
        };
        served.threads_log = threads_log.unwrap_or_else(|| panic!("no ready server:\n{logs}"));
        served
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it and waits, so that its cgroup is empty.
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The names of a process's threads.
fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}
