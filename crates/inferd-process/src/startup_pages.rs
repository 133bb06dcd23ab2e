//! Once the models are loaded, the pages of the program's own code that
//! only start-up ran (the command line, ONNX parsing, tract's optimiser,
//! the API document) leave the resident set. The kernel maps code in 64 KiB
//! at a time around each fault, so start-up leaves about half of the 23 MB
//! of machine code resident for the life of the process, most of it never
//! run again: the bundled MLP sat at 20 MB idle, of which 15 MB were code.
//!
//! Only the executable's own read-and-execute mapping is touched. It is
//! private, never written and backed by the file, so dropping its page
//! table entries (`MADV_DONTNEED`) loses nothing: the code that runs next
//! faults back in from the page cache (a minor fault, no disk read while
//! the file is cached). Writable and relocated mappings (`.data`,
//! `.data.rel.ro`) are never touched: dropping those would lose their
//! contents.

/// Releases the code pages; answers the resident file-backed KiB before
/// and after (`RssFile`: what the release drops, and a count other
/// threads' heap allocations do not move), or `None` where there is
/// nothing to do (not Linux, or the mapping cannot be found).
pub fn release() -> Option<(u64, u64)> {
    imp::release()
}

#[cfg(target_os = "linux")]
mod imp {
    use std::path::Path;

    pub fn release() -> Option<(u64, u64)> {
        let exe = std::env::current_exe().ok()?;
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        let before = resident_kib()?;
        let mut released = false;
        for (start, end) in code_mappings(&maps, &exe) {
            // SAFETY: [start, end) is a whole mapping of this process, as
            // /proc/self/maps lists it: private, read-and-execute, backed
            // by our executable, which nothing writes. MADV_DONTNEED on
            // such a mapping only drops page table entries; later reads
            // fault the same bytes back in from the file, so no state is
            // lost and no pointer is invalidated.
            let status = unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED)
            };
            released |= status == 0;
        }
        if !released {
            return None;
        }
        Some((before, resident_kib()?))
    }

    /// The private read-and-execute mappings of `exe` in a maps listing.
    pub(super) fn code_mappings<'a>(
        maps: &'a str,
        exe: &'a Path,
    ) -> impl Iterator<Item = (usize, usize)> + 'a {
        maps.lines().filter_map(move |line| {
            let mut fields = line.split_whitespace();
            let range = fields.next()?;
            let perms = fields.next()?;
            // offset, device, inode, then the path (which may hold spaces).
            let path = fields.nth(3)?;
            let rest: Vec<&str> = fields.collect();
            let path = if rest.is_empty() {
                path.to_owned()
            } else {
                format!("{path} {}", rest.join(" "))
            };
            if perms != "r-xp" || Path::new(&path) != exe {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            let start = usize::from_str_radix(start, 16).ok()?;
            let end = usize::from_str_radix(end, 16).ok()?;
            (end > start).then_some((start, end))
        })
    }

    fn resident_kib() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("RssFile:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub fn release() -> Option<(u64, u64)> {
        None
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn only_the_executables_private_code_mapping_is_chosen() {
        let maps = "\
55d0a0000000-55d0a0400000 r--p 00000000 fe:00 42 /opt/inferd/bin/inferd
55d0a0400000-55d0a1800000 r-xp 00400000 fe:00 42 /opt/inferd/bin/inferd
55d0a1800000-55d0a1a00000 r--p 01800000 fe:00 42 /opt/inferd/bin/inferd
55d0a1a00000-55d0a1a10000 rw-p 01a00000 fe:00 42 /opt/inferd/bin/inferd
7f0000000000-7f0000100000 r-xp 00000000 fe:00 7 /usr/lib/libc.so.6
7f0000200000-7f0000300000 r-xp 00000000 fe:00 9 /opt/my models/bin/inferd
7f0000400000-7f0000500000 rwxp 00000000 00:00 0
";
        let found: Vec<_> = imp::code_mappings(maps, Path::new("/opt/inferd/bin/inferd")).collect();
        assert_eq!(found, [(0x55d0a0400000, 0x55d0a1800000)]);
        let spaced: Vec<_> =
            imp::code_mappings(maps, Path::new("/opt/my models/bin/inferd")).collect();
        assert_eq!(spaced, [(0x7f0000200000, 0x7f0000300000)]);
    }

    #[test]
    fn releasing_keeps_the_program_running_and_shrinks_its_resident_set() {
        // This test binary's own code: whatever it ran so far is resident.
        let (before, after) = release().expect("the test binary's code mapping is found");
        assert!(after < before, "resident {before} KiB -> {after} KiB");
        // Code runs again after the release (faulted back in).
        let sum: u64 = (1..=100u64).map(std::hint::black_box).sum();
        assert_eq!(sum, 5050);
        assert!(release().is_some());
    }
}
