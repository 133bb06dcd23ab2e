//! A process's resident memory and CPU time, read from `/proc`: this
//! one's at scrape time, and another's (`inferd profile` reads the server
//! it measures). Linux; elsewhere both read as absent.

/// Clock ticks per second of `/proc/<pid>/stat` times: the kernel's
/// USER_HZ, fixed at 100 in its ABI on the architectures we build for.
const USER_HZ: f64 = 100.0;

/// Resident set size in bytes (`VmRSS` of `/proc/self/status`, in KiB
/// whatever the page size).
pub fn resident_bytes() -> Option<u64> {
    status_bytes("self", "VmRSS:")
}

/// A memory field of `/proc/PID/status` (`VmRSS:`, `VmHWM:`, ...) in
/// bytes; `pid` is a process id or `self`.
pub fn status_bytes(pid: impl std::fmt::Display, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_bytes(&status, field)
}

fn parse_status_bytes(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line[field.len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// User plus system CPU time in seconds (`/proc/self/stat`, utime and stime).
pub fn cpu_seconds() -> Option<f64> {
    cpu_seconds_of("self")
}

/// [`cpu_seconds`] of process `pid` (all its threads).
pub fn cpu_seconds_of(pid: impl std::fmt::Display) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_seconds(&stat)
}

fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may hold spaces, so
    // count fields from the last ')'. utime and stime are fields 14 and 15.
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_the_command_name() {
        let stat = "42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(parse_cpu_seconds(stat), Some(3.0));
    }

    #[test]
    fn resident_memory_is_read_in_kib() {
        let status = "Name:\tinferd\nVmPeak:\t  9000 kB\nVmHWM:\t   4096 kB\nVmRSS:\t   2048 kB\nThreads:\t4\n";
        assert_eq!(parse_status_bytes(status, "VmRSS:"), Some(2048 * 1024));
        assert_eq!(parse_status_bytes(status, "VmHWM:"), Some(4096 * 1024));
        assert_eq!(parse_status_bytes(status, "VmSwap:"), None);
    }

    #[test]
    fn this_process_has_memory_and_cpu_time() {
        if cfg!(target_os = "linux") {
            assert!(resident_bytes().unwrap() > 1024 * 1024);
            assert!(cpu_seconds().unwrap() >= 0.0);
        }
    }
}
