//! Where this process's cgroup is, and the tightest value of one of its
//! settings from there up to the root: what the CPU quota ([`crate::cpu`])
//! and the memory limit ([`crate::memory`]) share.
//!
//! `/proc/self/cgroup` names the cgroup: cgroup v2's `0::<path>` line, and
//! one `<id>:<controllers>:<path>` line per cgroup v1 hierarchy. A limit set
//! on any ancestor applies too, so every level from the process's own folder
//! up to the mount is read and the smallest value taken. The root of the
//! hierarchy alone is not enough: on a host, or in a pod without a cgroup
//! namespace, the limit is on the process's own cgroup, not on the root.
//! A level missing from this mount namespace (a container that sees only
//! its own subtree, mounted at the mount point) is skipped; the mount
//! point's own folder is then the container's cgroup, and is read.

use std::path::{Path, PathBuf};

/// This process's place in the cgroup hierarchies.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The cgroup v2 path (the `0::` line), when there is one.
    v2: Option<String>,
    /// cgroup v1: each hierarchy's controllers as listed (`cpu,cpuacct`)
    /// and the path in it.
    v1: Vec<(String, String)>,
}

impl Membership {
    /// From `/proc/self/cgroup` or a stand-in; none when it cannot be read
    /// (no `/proc` in an empty root, another operating system).
    pub fn read(proc_cgroup: &Path) -> Membership {
        std::fs::read_to_string(proc_cgroup)
            .map(|text| Membership::parse(&text))
            .unwrap_or_default()
    }

    /// Parses the text of `/proc/self/cgroup`; lines that are not
    /// `id:controllers:path` are ignored.
    pub(crate) fn parse(text: &str) -> Membership {
        let mut membership = Membership::default();
        for line in text.lines() {
            let mut fields = line.splitn(3, ':');
            let (Some(id), Some(controllers), Some(path)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if id == "0" && controllers.is_empty() {
                membership.v2 = Some(path.trim().to_owned());
            } else if !controllers.is_empty() {
                membership
                    .v1
                    .push((controllers.to_owned(), path.trim().to_owned()));
            }
        }
        membership
    }

    /// The cgroup v2 path (`/` at the root), when there is one.
    pub fn v2_path(&self) -> Option<&str> {
        self.v2.as_deref()
    }

    /// cgroup v1: the controllers as listed (`cpu,cpuacct`) and the path of
    /// the hierarchy holding `controller`.
    pub fn v1_hierarchy(&self, controller: &str) -> Option<(&str, &str)> {
        self.v1
            .iter()
            .find(|(controllers, _)| controllers.split(',').any(|c| c == controller))
            .map(|(controllers, path)| (controllers.as_str(), path.as_str()))
    }

    /// The smallest `read(folder)` over this process's cgroup v2 folder
    /// and its ancestors, the v2 hierarchy being mounted at `root`.
    pub(crate) fn smallest_v2<T: PartialOrd>(
        &self,
        root: &Path,
        read: impl Fn(&Path) -> Option<T>,
    ) -> Option<T> {
        smallest_up(root, self.v2.as_deref()?, read)
    }

    /// The smallest `read(folder)` over this process's cgroup in the v1
    /// hierarchy holding `controller`, and its ancestors. That hierarchy is
    /// mounted under `root` at the controller's name (`cpu`, often a link
    /// to `cpu,cpuacct`) or at the controllers' list.
    pub(crate) fn smallest_v1<T: PartialOrd>(
        &self,
        root: &Path,
        controller: &str,
        read: impl Fn(&Path) -> Option<T>,
    ) -> Option<T> {
        let (controllers, path) = self.v1_hierarchy(controller)?;
        let mount = [root.join(controller), root.join(controllers)]
            .into_iter()
            .find(|mount| mount.is_dir())?;
        smallest_up(&mount, path, read)
    }
}

/// The smallest `read(folder)` over `path`'s folder under `mount` and each
/// folder above it, up to `mount` itself; folders where `read` finds
/// nothing (missing, or no limit set) are skipped.
fn smallest_up<T: PartialOrd>(
    mount: &Path,
    path: &str,
    read: impl Fn(&Path) -> Option<T>,
) -> Option<T> {
    let mut level = Some(Path::new(path.trim_start_matches('/')));
    let mut smallest: Option<T> = None;
    while let Some(relative) = level {
        let folder: PathBuf = mount.join(relative);
        if let Some(value) = read(&folder) {
            smallest = match smallest {
                Some(s) if s <= value => Some(s),
                _ => Some(value),
            };
        }
        level = relative.parent();
    }
    smallest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_number(file: &'static str) -> impl Fn(&Path) -> Option<u64> {
        move |folder| {
            std::fs::read_to_string(folder.join(file))
                .ok()?
                .trim()
                .parse()
                .ok()
        }
    }

    #[test]
    fn parses_v2_and_v1_lines() {
        let m = Membership::parse(
            "12:cpu,cpuacct:/docker/abc\n4:memory:/m\n0::/kubepods/p\nnonsense\n",
        );
        assert_eq!(m.v2.as_deref(), Some("/kubepods/p"));
        assert_eq!(
            m.v1,
            vec![
                ("cpu,cpuacct".to_owned(), "/docker/abc".to_owned()),
                ("memory".to_owned(), "/m".to_owned())
            ]
        );
        assert_eq!(Membership::parse(""), Membership::default());
        assert_eq!(
            Membership::read(Path::new("/nonexistent/cgroup")),
            Membership::default()
        );
    }

    #[test]
    fn smallest_on_the_way_up_skipping_missing_levels() {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("cpu,cpuacct");
        for (folder, value) in [("", "7"), ("a", "5"), ("a/b/c", "9")] {
            std::fs::create_dir_all(mount.join(folder)).unwrap();
            std::fs::write(mount.join(folder).join("v"), value).unwrap();
        }
        // `a/b` has no file: skipped; the smallest of 9, 5, 7 is 5.
        let m = Membership::parse("3:cpu,cpuacct:/a/b/c\n");
        assert_eq!(m.smallest_v1(dir.path(), "cpu", read_number("v")), Some(5));
        assert_eq!(
            m.smallest_v1(dir.path(), "cpuacct", read_number("v")),
            Some(5),
            "either controller of the line finds it"
        );
        assert_eq!(m.smallest_v1(dir.path(), "memory", read_number("v")), None);
        // A path that is not in this mount namespace: only the mount's own
        // folder (the container's cgroup) is read.
        let m = Membership::parse("3:cpu,cpuacct:/docker/elsewhere\n");
        assert_eq!(m.smallest_v1(dir.path(), "cpu", read_number("v")), Some(7));
        // v2 reads the mount given.
        let m = Membership::parse("0::/a/b/c\n");
        assert_eq!(m.smallest_v2(&mount, read_number("v")), Some(5));
        assert_eq!(
            Membership::default().smallest_v2(&mount, read_number("v")),
            None
        );
    }
}
