//! CPU limits by cgroup: a child cgroup of this process's own, with a CFS
//! quota of so many cores, that a server is started inside (as Kubernetes
//! limits a container: `limits.cpu` becomes exactly such a quota, with
//! the same 100 ms period). cgroup v1 (`cpu.cfs_quota_us`) and v2
//! (`cpu.max`). Making one needs root and a writable hierarchy; where that
//! fails the caller limits by threads instead and says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use inferd_config::Membership;

/// The CFS period, as Kubernetes sets it.
const PERIOD_US: u64 = 100_000;

/// Why no cgroup could be made.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CgroupError(String);

/// The cgroup hierarchy that holds the `cpu` controller, at this process's
/// own cgroup in it.
#[derive(Debug, Clone)]
pub enum Hierarchy {
    /// cgroup v1: the `cpu` hierarchy's folder for this process.
    V1(PathBuf),
    /// cgroup v2: this process's folder.
    V2(PathBuf),
}

impl Hierarchy {
    /// This process's place in the `cpu` hierarchy, if it may make cgroups there.
    pub fn find() -> Result<Hierarchy, CgroupError> {
        let fail = |text: String| CgroupError(text);
        let status =
            std::fs::read_to_string("/proc/self/status").map_err(|e| fail(e.to_string()))?;
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?");
        if uid != "0" {
            return Err(fail(format!(
                "making cgroups needs root; this is uid {uid}"
            )));
        }
        // This process's cgroups, as the server reads its own quota.
        let own = Membership::read(Path::new("/proc/self/cgroup"));
        let under = |mount: &str, path: &str| {
            Path::new("/sys/fs/cgroup")
                .join(mount)
                .join(path.trim_start_matches('/'))
        };
        if let Some((controllers, path)) = own.v1_hierarchy("cpu") {
            for mount in ["cpu", controllers] {
                let folder = under(mount, path);
                if folder.join("cpu.cfs_quota_us").is_file() {
                    return Ok(Hierarchy::V1(folder));
                }
            }
        }
        if let Some(path) = own.v2_path() {
            let folder = under("", path);
            if folder.join("cgroup.controllers").is_file() {
                return Ok(Hierarchy::V2(folder));
            }
        }
        Err(fail(format!(
            "no cgroup cpu controller found for this process: {own:?}"
        )))
    }

    fn folder(&self) -> &Path {
        match self {
            Hierarchy::V1(folder) | Hierarchy::V2(folder) => folder,
        }
    }

    /// A new child cgroup named `name` with `quota` cores (none: unlimited).
    pub fn child(&self, name: &str, quota: Option<f64>) -> Result<Cgroup, CgroupError> {
        let parent = self.folder();
        if let Hierarchy::V2(_) = self {
            // v2 gives a child the cpu controller only when the parent
            // delegates it; asking may fail (then the caller falls back).
            let control = parent.join("cgroup.subtree_control");
            let delegated = std::fs::read_to_string(&control).unwrap_or_default();
            if !delegated.split_whitespace().any(|c| c == "cpu") {
                std::fs::write(&control, "+cpu").map_err(|e| {
                    CgroupError(format!("cannot delegate cpu in {}: {e}", control.display()))
                })?;
            }
        }
        let folder = parent.join(name);
        std::fs::create_dir(&folder).map_err(|e| {
            CgroupError(format!("cannot make the cgroup {}: {e}", folder.display()))
        })?;
        // From here on the folder is removed when the guard drops.
        let cgroup = Cgroup {
            folder,
            parent: parent.to_path_buf(),
        };
        let write = |file: &str, text: String| {
            std::fs::write(cgroup.folder.join(file), &text)
                .map_err(|e| CgroupError(format!("cannot write {text:?} to {file}: {e}")))
        };
        let quota_us = quota.map(|q| ((q * PERIOD_US as f64).round() as u64).max(1000));
        match self {
            Hierarchy::V1(_) => {
                write("cpu.cfs_period_us", PERIOD_US.to_string())?;
                write(
                    "cpu.cfs_quota_us",
                    quota_us.map_or("-1".to_owned(), |q| q.to_string()),
                )?;
            }
            Hierarchy::V2(_) => write(
                "cpu.max",
                format!(
                    "{} {PERIOD_US}",
                    quota_us.map_or("max".to_owned(), |q| q.to_string())
                ),
            )?,
        }
        Ok(cgroup)
    }

    /// Removes cgroups named `prefix*` that hold no process: what a run
    /// killed before it could clean up left behind.
    pub fn remove_stale(&self, prefix: &str) {
        let Ok(entries) = std::fs::read_dir(self.folder()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().starts_with(prefix) {
                continue;
            }
            let procs = std::fs::read_to_string(entry.path().join("cgroup.procs"));
            if procs.is_ok_and(|p| p.trim().is_empty()) {
                let _ = std::fs::remove_dir(entry.path());
            }
        }
    }
}

/// A child cgroup, removed when dropped: its processes are moved back to
/// the parent first, so that it can be.
#[derive(Debug)]
pub struct Cgroup {
    folder: PathBuf,
    parent: PathBuf,
}

impl Cgroup {
    /// `program` to be run inside this cgroup (add its arguments): a shell
    /// puts itself in it, then becomes the program (`exec`), so the program
    /// starts already inside.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new("sh");
        command
            .args([
                "-c",
                r#"echo $$ > "$1/cgroup.procs" && shift && exec "$@""#,
                "sh",
            ])
            .arg(&self.folder)
            .arg(program);
        command
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if let Ok(procs) = std::fs::read_to_string(self.folder.join("cgroup.procs")) {
            for pid in procs.split_whitespace() {
                let _ = std::fs::write(self.parent.join("cgroup.procs"), pid);
            }
        }
        // A process still exiting keeps the folder busy for a moment.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.folder).is_ok() || !self.folder.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// How candidates are held to their CPU: a cgroup each where this process
/// may make them, else only by threads (the server's engine threads
/// capped by the deployment config's `cpu`), which the report says.
#[derive(Debug)]
pub struct CpuLimits {
    hierarchy: Result<Hierarchy, String>,
    made: u32,
}

/// Leftovers of a run killed before it cleaned up start with this.
const PREFIX: &str = "inferd-profile-";

impl CpuLimits {
    pub fn find() -> CpuLimits {
        let hierarchy = Hierarchy::find().map_err(|e| e.to_string());
        if let Ok(hierarchy) = &hierarchy {
            hierarchy.remove_stale(PREFIX);
        }
        CpuLimits { hierarchy, made: 0 }
    }

    /// How limits are set, in words.
    pub fn kind(&self) -> String {
        match &self.hierarchy {
            Ok(Hierarchy::V1(_)) => {
                "cgroup v1 CPU quota (cpu.cfs_quota_us, 100 ms period)".to_owned()
            }
            Ok(Hierarchy::V2(_)) => "cgroup v2 CPU quota (cpu.max, 100 ms period)".to_owned(),
            Err(why) => format!(
                "threads only, no CPU quota ({why}): CPU limits below the machine's are optimistic"
            ),
        }
    }

    /// A cgroup of `cpu` cores for one server; `None` where there can be
    /// none. The first failure to make one ends the tries, so every
    /// candidate after it is limited the same way (and [`Self::kind`] says so).
    pub fn cgroup(&mut self, cpu: f64) -> Option<Cgroup> {
        let hierarchy = self.hierarchy.as_ref().ok()?;
        self.made += 1;
        let name = format!("{PREFIX}{}-{}", std::process::id(), self.made);
        match hierarchy.child(&name, Some(cpu)) {
            Ok(cgroup) => Some(cgroup),
            Err(e) => {
                self.hierarchy = Err(e.to_string());
                None
            }
        }
    }
}
