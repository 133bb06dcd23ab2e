//! How many cores this process may use: the machine's, capped by the
//! container's CPU quota when a cgroup sets one.

/// Cores available to this process, at least 1.
pub fn available_cores() -> usize {
    let machine = std::thread::available_parallelism().map_or(1, usize::from);
    let quota = std::fs::read_to_string("/sys/fs/cgroup/cpu.max")
        .ok()
        .and_then(|text| parse_cgroup_v2(&text))
        .or_else(|| {
            let quota = std::fs::read_to_string("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").ok()?;
            let period = std::fs::read_to_string("/sys/fs/cgroup/cpu/cpu.cfs_period_us").ok()?;
            parse_cgroup_v1(&quota, &period)
        });
    match quota {
        Some(cores) => machine.min(cores.ceil() as usize).max(1),
        None => machine,
    }
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
}
