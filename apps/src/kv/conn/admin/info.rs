//! INFO's text: the sections Redis prints, from the shards' parts.

use super::*;

/// The sections INFO gives without arguments (or with `default`), in
/// Redis's order; `all` and `everything` add `commandstats`.
pub(super) const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "keyspace",
];

/// Where the per-command counters start in a shard's INFO part.
pub(super) const STATS_AT: usize = 14;

/// Redis's `bytesToHuman`: B, K, M, G… with two decimals.
pub(super) fn human(n: u64) -> String {
    let units = ["B", "K", "M", "G", "T", "P"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{v:.2}{}", units[i])
    }
}

/// The text of INFO for the sections asked (lower case; none: the
/// default ones), with a line per shard where kv differs from Redis.
pub(crate) fn info(parts: &[&[u8]], sections: &[String]) -> String {
    let per: Vec<Vec<u64>> = parts.iter().map(|p| read_u64s(p)).collect();
    let sum = |i: usize| {
        per.iter()
            .map(|v| v.get(i).copied().unwrap_or(0))
            .sum::<u64>()
    };
    let all = sections.iter().any(|s| s == "all" || s == "everything");
    let default = sections.is_empty() || sections.iter().any(|s| s == "default");
    let want = |s: &str| {
        all || (default && DEFAULT_SECTIONS.contains(&s)) || sections.iter().any(|x| x == s)
    };
    let mut text = String::new();
    if want("server") {
        text += &format!(
            "# Server\r\nredis_version:7.0.15\r\nkv_version:{}\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nprocess_id:{}\r\nshards:{}\r\n\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::process::id(),
            parts.len()
        );
    }
    if want("clients") {
        text += &format!(
            "# Clients\r\nconnected_clients:{}\r\nblocked_clients:{}\r\ntotal_blocking_keys:{}\r\ntotal_watched_keys:{}\r\n\r\n",
            sum(5),
            sum(10),
            sum(11),
            sum(12)
        );
    }
    if want("memory") {
        let rss = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |pages| pages * 4096);
        // The counted heap (see `crate::memory`), else the resident size.
        let used = if crate::memory::installed() {
            crate::memory::used()
        } else {
            rss
        };
        let max = crate::kv::evict::maxmemory();
        text += &format!(
            "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nmaxmemory:{max}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\n\r\n",
            human(used),
            human(rss),
            human(max),
            crate::kv::evict::policy().name()
        );
    }
    if want("persistence") {
        let enabled = super::super::super::aof::enabled();
        text += &format!(
            "# Persistence\r\nloading:0\r\naof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_last_write_status:{}\r\n",
            enabled as u8,
            (sum(6) > 0) as u8,
            if sum(9) > 0 { "err" } else { "ok" },
        );
        if enabled {
            text += &format!(
                "aof_current_size:{}\r\naof_base_size:{}\r\n",
                sum(8),
                sum(7)
            );
        }
        text += "\r\n";
    }
    if want("stats") {
        text += &format!(
            "# Stats\r\ntotal_commands_processed:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkv_cross_shard_hops:{}\r\n",
            sum(2),
            sum(4),
            sum(13),
            sum(3)
        );
        for (k, v) in per.iter().enumerate() {
            text += &format!(
                "kv_shard{k}:keys={},commands={},hops={}\r\n",
                v.first().unwrap_or(&0),
                v.get(2).unwrap_or(&0),
                v.get(3).unwrap_or(&0)
            );
        }
        text += "\r\n";
    }
    if want("replication") {
        // No replicas: a master of none.
        text += "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\nrepl_backlog_active:0\r\n\r\n";
    }
    if want("cpu") {
        let (user, sys) = cpu_seconds(libc::RUSAGE_SELF);
        let (cuser, csys) = cpu_seconds(libc::RUSAGE_CHILDREN);
        text += &format!(
            "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:{csys:.6}\r\nused_cpu_user_children:{cuser:.6}\r\n\r\n"
        );
    }
    if want("commandstats") {
        text += "# Commandstats\r\n";
        let n = cmd::COMMANDS.len();
        for (i, spec) in cmd::COMMANDS.iter().enumerate() {
            let (calls, rejected) = (sum(STATS_AT + i), sum(STATS_AT + n + i));
            if calls + rejected > 0 {
                text += &format!(
                    "cmdstat_{}:calls={calls},usec=0,usec_per_call=0.00,rejected_calls={rejected},failed_calls=0\r\n",
                    spec.name
                );
            }
        }
        text += "\r\n";
    }
    if want("keyspace") {
        text += "# Keyspace\r\n";
        if sum(0) > 0 {
            text += &format!("db0:keys={},expires={},avg_ttl=0\r\n", sum(0), sum(1));
        }
    }
    text
}

/// User and system CPU seconds of this process (`who`: RUSAGE_SELF) or
/// its waited-for children.
pub(super) fn cpu_seconds(who: libc::c_int) -> (f64, f64) {
    // SAFETY: getrusage writes a whole rusage into the zeroed struct we
    // own; `who` is one of the two values it accepts.
    let u = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut u);
        u
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(u.ru_utime), secs(u.ru_stime))
}
