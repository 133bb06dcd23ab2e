//! How many cores this process may use: the machine's, capped by the CPU
//! quota of the process's cgroup when one is set.
//!
//! The quota is read where the process's cgroup is ([`crate::cgroup`]):
//! cgroup v2's `cpu.max` (`max 100000` is none, `50000 100000` half a
//! core), else cgroup v1's `cpu.cfs_quota_us` / `cpu.cfs_period_us` on the
//! hierarchy holding the `cpu` controller (often `cpu,cpuacct`; a quota of
//! `-1` is none). A quota on any ancestor applies too, so the smallest on
//! the way up is taken. Reading only the root of the hierarchy, as a
//! container with a cgroup namespace may, finds nothing on a host or in a
//! pod without one, where the quota is on the process's own cgroup.
//!
//! A fractional quota is rounded down (at least 1): 1.5 cores give 1
//! thread. `std::thread::available_parallelism`, the machine's count here,
//! already applies the cgroup quota that way on Linux when `/proc` is
//! there; rounding the same way keeps one answer either way.

use std::path::Path;

use crate::cgroup::Membership;

/// Cores available to this process, at least 1.
pub fn available_cores() -> usize {
    let machine = std::thread::available_parallelism().map_or(1, usize::from);
    let quota = quota_under(Path::new("/proc/self/cgroup"), Path::new("/sys/fs/cgroup"));
    cores(machine, quota)
}

/// The CPU quota of the process whose `/proc/<pid>/cgroup` is
/// `proc_cgroup`, the cgroup mounts being under `cgroup_root`, in cores;
/// `None` when no level sets one.
pub fn quota_under(proc_cgroup: &Path, cgroup_root: &Path) -> Option<f64> {
    let membership = Membership::read(proc_cgroup);
    let read = |folder: &Path, file: &str| std::fs::read_to_string(folder.join(file)).ok();
    membership
        .smallest_v2(cgroup_root, |folder| {
            parse_cgroup_v2(&read(folder, "cpu.max")?)
        })
        .or_else(|| {
            membership.smallest_v1(cgroup_root, "cpu", |folder| {
                parse_cgroup_v1(
                    &read(folder, "cpu.cfs_quota_us")?,
                    &read(folder, "cpu.cfs_period_us")?,
                )
            })
        })
}

/// The machine's cores capped by a quota in cores, rounded down, at least 1.
pub fn cores(machine: usize, quota: Option<f64>) -> usize {
    match quota {
        Some(quota) => machine.min(quota.floor() as usize),
        None => machine,
    }
    .max(1)
}

/// `cpu.max` of cgroup v2: `max 100000` (no quota) or `200000 100000` (2 cores).
pub fn parse_cgroup_v2(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    let quota = parts.next()?.parse::<f64>().ok()?;
    let period = parts.next()?.parse::<f64>().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// cgroup v1: quota `-1` means none.
pub fn parse_cgroup_v1(quota: &str, period: &str) -> Option<f64> {
    let quota = quota.trim().parse::<f64>().ok()?;
    let period = period.trim().parse::<f64>().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse() {
        assert_eq!(parse_cgroup_v2("max 100000\n"), None);
        assert_eq!(parse_cgroup_v2("150000 100000\n"), Some(1.5));
        assert_eq!(parse_cgroup_v2(""), None);
        assert_eq!(parse_cgroup_v1("-1\n", "100000\n"), None);
        assert_eq!(parse_cgroup_v1("50000\n", "100000\n"), Some(0.5));
        assert!(available_cores() >= 1);
    }

    #[test]
    fn quotas_cap_the_machine_rounded_down() {
        assert_eq!(cores(8, None), 8);
        assert_eq!(cores(8, Some(0.5)), 1);
        assert_eq!(cores(8, Some(1.5)), 1);
        assert_eq!(cores(8, Some(2.0)), 2);
        assert_eq!(cores(2, Some(16.0)), 2);
        assert_eq!(cores(0, None), 1);
    }

    /// A fake `/proc/self/cgroup` and cgroup mounts: `files` are (path,
    /// text) under the mounts' root.
    fn quota(proc_cgroup: &str, files: &[(&str, &str)]) -> Option<f64> {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cgroup");
        std::fs::create_dir_all(&root).unwrap();
        for (path, text) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::write(dir.path().join("self-cgroup"), proc_cgroup).unwrap();
        quota_under(&dir.path().join("self-cgroup"), &root)
    }

    #[test]
    fn v2_quota_is_the_smallest_from_the_process_cgroup_up() {
        // A pod without a cgroup namespace: the root sets nothing, the
        // pod 2 cores, the container 1.5 below it.
        let files = [
            ("cpu.max", "max 100000\n"),
            ("kubepods/cpu.max", "max 100000\n"),
            ("kubepods/pod1/cpu.max", "200000 100000\n"),
            ("kubepods/pod1/c1/cpu.max", "150000 100000\n"),
        ];
        assert_eq!(quota("0::/kubepods/pod1/c1\n", &files), Some(1.5));
        // The tighter limit may be the ancestor's.
        let files = [
            ("kubepods/pod1/cpu.max", "50000 100000\n"),
            ("kubepods/pod1/c1/cpu.max", "max 100000\n"),
        ];
        assert_eq!(quota("0::/kubepods/pod1/c1\n", &files), Some(0.5));
        // A container with a cgroup namespace: `0::/`, the root is its own.
        assert_eq!(
            quota("0::/\n", &[("cpu.max", "300000 100000\n")]),
            Some(3.0)
        );
        assert_eq!(quota("0::/a\n", &[("a/cpu.max", "max 100000\n")]), None);
        assert_eq!(quota("", &[("cpu.max", "100000 100000\n")]), None);
    }

    #[test]
    fn v1_quota_on_the_cpu_hierarchy_when_v2_sets_none() {
        // A hybrid host (this process in `/job` on `cpu,cpuacct`), and v2
        // mounted without the cpu controller.
        let files = [
            ("cpu,cpuacct/cpu.cfs_quota_us", "-1\n"),
            ("cpu,cpuacct/cpu.cfs_period_us", "100000\n"),
            ("cpu,cpuacct/job/cpu.cfs_quota_us", "50000\n"),
            ("cpu,cpuacct/job/cpu.cfs_period_us", "100000\n"),
            ("memory/job/cpu.cfs_quota_us", "10000\n"),
            ("memory/job/cpu.cfs_period_us", "100000\n"),
        ];
        assert_eq!(
            quota("4:memory:/job\n2:cpu,cpuacct:/job\n0::/\n", &files),
            Some(0.5)
        );
        // The hierarchy mounted at `cpu` (as on a host that mounts each
        // controller apart), with a period of its own.
        let files = [
            ("cpu/a/cpu.cfs_quota_us", "250000\n"),
            ("cpu/a/cpu.cfs_period_us", "100000\n"),
            ("cpu/a/b/cpu.cfs_quota_us", "-1\n"),
            ("cpu/a/b/cpu.cfs_period_us", "50000\n"),
        ];
        assert_eq!(quota("1:cpu:/a/b\n", &files), Some(2.5));
        // A container that sees only its own subtree at the mount point.
        let files = [
            ("cpu/cpu.cfs_quota_us", "100000\n"),
            ("cpu/cpu.cfs_period_us", "100000\n"),
        ];
        assert_eq!(quota("1:cpu:/docker/abc\n", &files), Some(1.0));
        assert_eq!(quota("1:cpu:/\n", &[]), None);
    }
}
