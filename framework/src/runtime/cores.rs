//! How many shards, on which cores: the cores this process may run on,
//! the CPU quota of its cgroup, and listening sockets inherited from a
//! service manager.

use std::io;

/// The cores this process may run on (its scheduler affinity: a cgroup
/// cpuset or `taskset` narrows it).
pub fn available_cores() -> Vec<usize> {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// The listening sockets systemd passed this process (`LISTEN_FDS`, for
/// this `LISTEN_PID`), with the address each listens on; the variables are
/// cleared so children do not inherit them. Empty without socket
/// activation.
pub fn inherited_listeners() -> io::Result<Vec<(std::os::fd::OwnedFd, crate::Address)>> {
    let mut out = Vec::new();
    for raw in sd_notify::listen_fds()? {
        let fd = crate::sys::inherited_fd(raw)?;
        let addr = {
            let sock = socket2::SockRef::from(&fd);
            let local = sock.local_addr()?;
            match local.as_socket() {
                Some(a) => crate::Address::Inet(a),
                None => crate::Address::Unix(local.as_pathname().map(std::path::PathBuf::from)),
            }
        };
        out.push((fd, addr));
    }
    Ok(out)
}

/// How many shards `shards = "auto"` runs: one per core this process may
/// run on, and no more than its cgroup's CPU quota allows (`cpu.max`,
/// rounded up: a Kubernetes pod with a 2-CPU limit runs 2 shards even on a
/// 64-core node). At least 1.
pub fn auto_shards() -> usize {
    let cores = available_cores().len().max(1);
    match cgroup_cpu_quota() {
        Some(quota) => cores.min(quota.max(1)),
        None => cores,
    }
}

/// The CPU quota of this process's cgroup (v2 `cpu.max`, or v1
/// `cpu.cfs_quota_us`/`cpu.cfs_period_us`), in whole CPUs rounded up;
/// `None` when unlimited or unknown.
fn cgroup_cpu_quota() -> Option<usize> {
    let v2 = std::fs::read_to_string("/sys/fs/cgroup/cpu.max").ok();
    let (quota, period) = match v2 {
        Some(text) => {
            let mut parts = text.split_whitespace();
            let quota = parts.next()?;
            let period: f64 = parts.next()?.parse().ok()?;
            (quota.parse::<f64>().ok()?, period)
        }
        None => {
            let q = std::fs::read_to_string("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").ok()?;
            let p = std::fs::read_to_string("/sys/fs/cgroup/cpu/cpu.cfs_period_us").ok()?;
            let q: f64 = q.trim().parse().ok()?;
            if q < 0.0 {
                return None;
            }
            (q, p.trim().parse().ok()?)
        }
    };
    (period > 0.0).then(|| (quota / period).ceil() as usize)
}
