//! How much memory this container may use: the memory limit of the
//! process's own cgroup, and the machine's total. Read once at start-up,
//! for the default of the body memory budget (see [`crate::limits`]).
//!
//! The cgroup is found from `/proc/self/cgroup` ([`crate::cgroup`]):
//! cgroup v2's `memory.max` (`max` meaning none), else v1's
//! `memory.limit_in_bytes` (a huge number meaning none); the smallest from
//! the process's cgroup up to the root.

use std::path::Path;

use crate::cgroup::Membership;

/// What start-up found out; either part may be unknown (no `/proc`, no
/// limit set, another operating system).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerMemory {
    /// The cgroup's memory limit in bytes, when one is set below the
    /// machine's memory (a limit above it limits nothing).
    pub cgroup_limit: Option<u64>,
    /// The machine's memory in bytes (`MemTotal`).
    pub machine_total: Option<u64>,
}

impl ContainerMemory {
    /// This process's, from `/proc` and `/sys/fs/cgroup`.
    pub fn detect() -> ContainerMemory {
        ContainerMemory::detect_under(
            Path::new("/proc/self/cgroup"),
            Path::new("/sys/fs/cgroup"),
            Path::new("/proc/meminfo"),
        )
    }

    /// As [`ContainerMemory::detect`], with the three places given (for tests).
    pub fn detect_under(proc_cgroup: &Path, cgroup_root: &Path, meminfo: &Path) -> ContainerMemory {
        let machine_total = std::fs::read_to_string(meminfo)
            .ok()
            .and_then(|text| parse_mem_total(&text));
        let cgroup_limit = cgroup_limit(&Membership::read(proc_cgroup), cgroup_root)
            .filter(|limit| machine_total.is_none_or(|total| *limit < total));
        ContainerMemory {
            cgroup_limit,
            machine_total,
        }
    }
}

/// The smallest memory limit from the process's cgroup up to the root:
/// v2 first; v1's memory controller when v2 sets none (a hybrid host
/// mounts v2 without the memory controller).
fn cgroup_limit(membership: &Membership, root: &Path) -> Option<u64> {
    let read = |file: &'static str, parse: fn(&str) -> Option<u64>| {
        move |folder: &Path| parse(&std::fs::read_to_string(folder.join(file)).ok()?)
    };
    membership
        .smallest_v2(root, read("memory.max", parse_v2))
        .or_else(|| membership.smallest_v1(root, "memory", read("memory.limit_in_bytes", parse_v1)))
}

/// cgroup v2 `memory.max`: bytes, or `max` for none.
pub fn parse_v2(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// cgroup v1 `memory.limit_in_bytes`: bytes; none is the largest page
/// count the kernel keeps, in bytes (9223372036854771712 on 4 KiB pages).
pub fn parse_v1(text: &str) -> Option<u64> {
    text.trim()
        .parse()
        .ok()
        .filter(|&bytes: &u64| bytes < 1 << 62)
}

/// `MemTotal:  24683784 kB` from `/proc/meminfo`, in bytes.
pub fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    /// A fake `/proc` and `/sys/fs/cgroup`: `files` are (path, text) under the root.
    fn detect(proc_cgroup: &str, files: &[(&str, &str)]) -> ContainerMemory {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cgroup");
        for (path, text) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(dir.path().join("self-cgroup"), proc_cgroup).unwrap();
        std::fs::write(
            dir.path().join("meminfo"),
            "MemTotal:        8388608 kB\nMemFree:  1 kB\n",
        )
        .unwrap();
        ContainerMemory::detect_under(
            &dir.path().join("self-cgroup"),
            &root,
            &dir.path().join("meminfo"),
        )
    }

    #[test]
    fn cgroup_v2_limit_is_the_smallest_on_the_way_up() {
        let found = detect(
            "0::/kubepods/pod1/c1\n",
            &[
                ("kubepods/memory.max", "max\n"),
                ("kubepods/pod1/memory.max", "2147483648\n"),
                ("kubepods/pod1/c1/memory.max", "max\n"),
            ],
        );
        assert_eq!(found.cgroup_limit, Some(2 * GIB));
        assert_eq!(found.machine_total, Some(8 * GIB));
    }

    #[test]
    fn max_everywhere_and_limits_above_the_machine_are_no_limit() {
        assert_eq!(
            detect("0::/a\n", &[("a/memory.max", "max\n")]).cgroup_limit,
            None
        );
        assert_eq!(
            detect("0::/a\n", &[("a/memory.max", "17179869184\n")]).cgroup_limit,
            None,
            "16 GiB on an 8 GiB machine"
        );
        assert_eq!(detect("", &[]).cgroup_limit, None);
    }

    #[test]
    fn cgroup_v1_memory_controller_when_v2_has_none() {
        // A hybrid host: v2 mounted without the memory controller.
        let found = detect(
            "4:memory:/docker/abc\n1:cpu,cpuacct:/docker/abc\n0::/\n",
            &[
                ("memory/memory.limit_in_bytes", "9223372036854771712\n"),
                ("memory/docker/abc/memory.limit_in_bytes", "1073741824\n"),
            ],
        );
        assert_eq!(found.cgroup_limit, Some(GIB));
        // Inside the container, only its own subtree is mounted: the
        // levels that are missing are skipped, the root read.
        let found = detect(
            "4:memory:/docker/abc\n",
            &[("memory/memory.limit_in_bytes", "536870912\n")],
        );
        assert_eq!(found.cgroup_limit, Some(GIB / 2));
        assert_eq!(parse_v1("9223372036854771712"), None);
    }

    #[test]
    fn mem_total_parses() {
        assert_eq!(
            parse_mem_total("MemTotal:       24683784 kB\n"),
            Some(24683784 * 1024)
        );
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(parse_v2("max\n"), None);
        assert_eq!(parse_v2("1024\n"), Some(1024));
    }
}
