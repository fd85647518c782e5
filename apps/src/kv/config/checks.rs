//! The types of Redis 7.0's modifiable parameters, so that CONFIG SET
//! refuses what Redis refuses, with Redis's error, and CONFIG GET prints
//! what Redis prints (a memory value in bytes, an enum's own spelling).
//!
//! The table is Redis 7.0.15's `static_configs` (`src/config.c`): its
//! booleans, enums and numbers with their bounds. Parameters not listed
//! (strings and Redis's special ones such as `save`) are taken as given.

/// How a parameter's value is checked.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// `yes` or `no`, in any case.
    Bool,
    /// One of the names (any case); several separated by spaces when the
    /// flag is set.
    Enum(&'static [&'static str], bool),
    /// An integer within `min..=max`; `memory` also takes Redis's units
    /// (`b`, `k`, `kb`, `m`, `mb`, `g`, `gb`), `percent` a `N%`.
    Num {
        min: i128,
        max: i128,
        unsigned: bool,
        memory: bool,
        percent: bool,
    },
}

/// Redis 7.0.15's typed modifiable parameters, aliases included.
#[rustfmt::skip]
const CHECKS: &[(&str, Check)] = &[
    ("acl-pubsub-default", Check::Enum(&["allchannels", "resetchannels"], false)),
    ("acllog-max-len", Check::Num { min: 0, max: 9223372036854775807, unsigned: false, memory: false, percent: false }),
    ("active-defrag-cycle-max", Check::Num { min: 1, max: 99, unsigned: false, memory: false, percent: false }),
    ("active-defrag-cycle-min", Check::Num { min: 1, max: 99, unsigned: false, memory: false, percent: false }),
    ("active-defrag-ignore-bytes", Check::Num { min: 1, max: 9223372036854775807, unsigned: true, memory: true, percent: false }),
    ("active-defrag-max-scan-fields", Check::Num { min: 1, max: 9223372036854775807, unsigned: false, memory: false, percent: false }),
    ("active-defrag-threshold-lower", Check::Num { min: 0, max: 1000, unsigned: false, memory: false, percent: false }),
    ("active-defrag-threshold-upper", Check::Num { min: 0, max: 1000, unsigned: false, memory: false, percent: false }),
    ("active-expire-effort", Check::Num { min: 1, max: 10, unsigned: false, memory: false, percent: false }),
    ("activedefrag", Check::Bool),
    ("activerehashing", Check::Bool),
    ("aof-disable-auto-gc", Check::Bool),
    ("aof-load-truncated", Check::Bool),
    ("aof-rewrite-incremental-fsync", Check::Bool),
    ("aof-timestamp-enabled", Check::Bool),
    ("aof-use-rdb-preamble", Check::Bool),
    ("appendfsync", Check::Enum(&["everysec", "always", "no"], false)),
    ("appendonly", Check::Bool),
    ("auto-aof-rewrite-min-size", Check::Num { min: 0, max: 9223372036854775807, unsigned: false, memory: true, percent: false }),
    ("auto-aof-rewrite-percentage", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("busy-reply-threshold", Check::Num { min: 0, max: 9223372036854775807, unsigned: false, memory: false, percent: false }),
    ("client-query-buffer-limit", Check::Num { min: 1048576, max: 9223372036854775807, unsigned: true, memory: true, percent: false }),
    ("cluster-allow-pubsubshard-when-down", Check::Bool),
    ("cluster-allow-reads-when-down", Check::Bool),
    ("cluster-allow-replica-migration", Check::Bool),
    ("cluster-announce-bus-port", Check::Num { min: 0, max: 65535, unsigned: false, memory: false, percent: false }),
    ("cluster-announce-port", Check::Num { min: 0, max: 65535, unsigned: false, memory: false, percent: false }),
    ("cluster-announce-tls-port", Check::Num { min: 0, max: 65535, unsigned: false, memory: false, percent: false }),
    ("cluster-link-sendbuf-limit", Check::Num { min: 0, max: 18446744073709551615, unsigned: true, memory: true, percent: false }),
    ("cluster-migration-barrier", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("cluster-node-timeout", Check::Num { min: 0, max: 9223372036854775807, unsigned: false, memory: false, percent: false }),
    ("cluster-preferred-endpoint-type", Check::Enum(&["ip", "hostname", "unknown-endpoint"], false)),
    ("cluster-replica-no-failover", Check::Bool),
    ("cluster-replica-validity-factor", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("cluster-require-full-coverage", Check::Bool),
    ("cluster-slave-no-failover", Check::Bool),
    ("cluster-slave-validity-factor", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("crash-log-enabled", Check::Bool),
    ("crash-memcheck-enabled", Check::Bool),
    ("dynamic-hz", Check::Bool),
    ("hash-max-listpack-entries", Check::Num { min: 0, max: 9223372036854775807, unsigned: true, memory: false, percent: false }),
    ("hash-max-listpack-value", Check::Num { min: 0, max: 9223372036854775807, unsigned: true, memory: true, percent: false }),
    ("hash-max-ziplist-entries", Check::Num { min: 0, max: 9223372036854775807, unsigned: true, memory: false, percent: false }),
    ("hash-max-ziplist-value", Check::Num { min: 0, max: 9223372036854775807, unsigned: true, memory: true, percent: false }),
    ("hll-sparse-max-bytes", Check::Num { min: 0, max: 9223372036854775807, unsigned: true, memory: true, percent: false }),
    ("hz", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("jemalloc-bg-thread", Check::Bool),
    ("key-load-delay", Check::Num { min: -2147483648, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("latency-monitor-threshold", Check::Num { min: 0, max: 9223372036854775807, unsigned: false, memory: false, percent: false }),
    ("latency-tracking", Check::Bool),
    ("lazyfree-lazy-eviction", Check::Bool),
    ("lazyfree-lazy-expire", Check::Bool),
    ("lazyfree-lazy-server-del", Check::Bool),
    ("lazyfree-lazy-user-del", Check::Bool),
    ("lazyfree-lazy-user-flush", Check::Bool),
    ("lfu-decay-time", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("lfu-log-factor", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("list-compress-depth", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("list-max-listpack-size", Check::Num { min: -2147483648, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("list-max-ziplist-size", Check::Num { min: -2147483648, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("loading-process-events-interval-bytes", Check::Num { min: 1024, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("loglevel", Check::Enum(&["debug", "verbose", "notice", "warning"], false)),
    ("lua-time-limit", Check::Num { min: 0, max: 9223372036854775807, unsigned: false, memory: false, percent: false }),
    ("maxclients", Check::Num { min: 1, max: 4294967295, unsigned: true, memory: false, percent: false }),
    ("maxmemory", Check::Num { min: 0, max: 18446744073709551615, unsigned: true, memory: true, percent: false }),
    ("maxmemory-clients", Check::Num { min: -100, max: 9223372036854775807, unsigned: false, memory: true, percent: true }),
    ("maxmemory-eviction-tenacity", Check::Num { min: 0, max: 100, unsigned: false, memory: false, percent: false }),
    ("maxmemory-policy", Check::Enum(&["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"], false)),
    ("maxmemory-samples", Check::Num { min: 1, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("min-replicas-max-lag", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("min-replicas-to-write", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("min-slaves-max-lag", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("min-slaves-to-write", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("no-appendfsync-on-rewrite", Check::Bool),
    ("oom-score-adj", Check::Enum(&["no", "yes", "relative", "absolute"], false)),
    ("port", Check::Num { min: 0, max: 65535, unsigned: false, memory: false, percent: false }),
    ("propagation-error-behavior", Check::Enum(&["ignore", "panic", "panic-on-replicas"], false)),
    ("protected-mode", Check::Bool),
    ("proto-max-bulk-len", Check::Num { min: 1048576, max: 9223372036854775807, unsigned: false, memory: true, percent: false }),
    ("rdb-del-sync-files", Check::Bool),
    ("rdb-key-save-delay", Check::Num { min: -2147483648, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("rdb-save-incremental-fsync", Check::Bool),
    ("rdbcompression", Check::Bool),
    ("repl-backlog-size", Check::Num { min: 1, max: 9223372036854775807, unsigned: false, memory: true, percent: false }),
    ("repl-backlog-ttl", Check::Num { min: 0, max: 9223372036854775807, unsigned: false, memory: false, percent: false }),
    ("repl-disable-tcp-nodelay", Check::Bool),
    ("repl-diskless-load", Check::Enum(&["disabled", "on-empty-db", "swapdb"], false)),
    ("repl-diskless-sync", Check::Bool),
    ("repl-diskless-sync-delay", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("repl-diskless-sync-max-replicas", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("repl-ping-replica-period", Check::Num { min: 1, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("repl-ping-slave-period", Check::Num { min: 1, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("repl-timeout", Check::Num { min: 1, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("replica-announce-port", Check::Num { min: 0, max: 65535, unsigned: false, memory: false, percent: false }),
    ("replica-announced", Check::Bool),
    ("replica-ignore-disk-write-errors", Check::Bool),
    ("replica-ignore-maxmemory", Check::Bool),
    ("replica-lazy-flush", Check::Bool),
    ("replica-priority", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("replica-read-only", Check::Bool),
    ("replica-serve-stale-data", Check::Bool),
    ("sanitize-dump-payload", Check::Enum(&["no", "yes", "clients"], false)),
    ("set-max-intset-entries", Check::Num { min: 0, max: 9223372036854775807, unsigned: true, memory: false, percent: false }),
    ("shutdown-on-sigint", Check::Enum(&["default", "save", "nosave", "now", "force"], true)),
    ("shutdown-on-sigterm", Check::Enum(&["default", "save", "nosave", "now", "force"], true)),
    ("shutdown-timeout", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("slave-announce-port", Check::Num { min: 0, max: 65535, unsigned: false, memory: false, percent: false }),
    ("slave-ignore-maxmemory", Check::Bool),
    ("slave-lazy-flush", Check::Bool),
    ("slave-priority", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("slave-read-only", Check::Bool),
    ("slave-serve-stale-data", Check::Bool),
    ("slowlog-log-slower-than", Check::Num { min: -1, max: 9223372036854775807, unsigned: false, memory: false, percent: false }),
    ("slowlog-max-len", Check::Num { min: 0, max: 9223372036854775807, unsigned: false, memory: false, percent: false }),
    ("stop-writes-on-bgsave-error", Check::Bool),
    ("stream-node-max-bytes", Check::Num { min: 0, max: 9223372036854775807, unsigned: true, memory: true, percent: false }),
    ("stream-node-max-entries", Check::Num { min: 0, max: 9223372036854775807, unsigned: false, memory: false, percent: false }),
    ("tcp-keepalive", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("timeout", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("tls-auth-clients", Check::Enum(&["no", "yes", "optional"], false)),
    ("tls-cluster", Check::Bool),
    ("tls-port", Check::Num { min: 0, max: 65535, unsigned: false, memory: false, percent: false }),
    ("tls-prefer-server-ciphers", Check::Bool),
    ("tls-replication", Check::Bool),
    ("tls-session-cache-size", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("tls-session-cache-timeout", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("tls-session-caching", Check::Bool),
    ("tracking-table-max-keys", Check::Num { min: 0, max: 9223372036854775807, unsigned: true, memory: false, percent: false }),
    ("use-exit-on-panic", Check::Bool),
    ("watchdog-period", Check::Num { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }),
    ("zset-max-listpack-entries", Check::Num { min: 0, max: 9223372036854775807, unsigned: true, memory: false, percent: false }),
    ("zset-max-listpack-value", Check::Num { min: 0, max: 9223372036854775807, unsigned: true, memory: true, percent: false }),
    ("zset-max-ziplist-entries", Check::Num { min: 0, max: 9223372036854775807, unsigned: true, memory: false, percent: false }),
    ("zset-max-ziplist-value", Check::Num { min: 0, max: 9223372036854775807, unsigned: true, memory: true, percent: false }),
];

/// The value CONFIG SET stores for `name` (as CONFIG GET will print it),
/// or the reason Redis gives for refusing `value`.
pub fn check(name: &str, value: &[u8]) -> Result<String, String> {
    let Some((_, check)) = CHECKS.iter().find(|(n, _)| *n == name) else {
        return Ok(String::from_utf8_lossy(value).into_owned());
    };
    match *check {
        Check::Bool => match value.to_ascii_lowercase().as_slice() {
            b"yes" => Ok("yes".into()),
            b"no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Check::Enum(names, multi) => {
            let words: Vec<&[u8]> = if multi {
                value
                    .split(|&b| b == b' ')
                    .filter(|w| !w.is_empty())
                    .collect()
            } else {
                vec![value]
            };
            let found: Option<Vec<&str>> = words
                .iter()
                .map(|w| {
                    names
                        .iter()
                        .copied()
                        .find(|n| n.as_bytes().eq_ignore_ascii_case(w))
                })
                .collect();
            match found {
                Some(found) if !found.is_empty() => Ok(found.join(" ")),
                _ => Err(format!(
                    "argument(s) must be one of the following: {}",
                    names.join(", ")
                )),
            }
        }
        Check::Num {
            min,
            max,
            unsigned,
            memory,
            percent,
        } => {
            let parsed = number(value, memory, percent).ok_or_else(|| {
                match (memory, percent) {
                    (true, true) => "argument must be a memory or percent value",
                    (true, false) => "argument must be a memory value",
                    _ => "argument couldn't be parsed into an integer",
                }
                .to_string()
            })?;
            if percent && parsed < 0 {
                if parsed < min {
                    return Err(format!(
                        "percentage argument must be less or equal to {}",
                        -min
                    ));
                }
                return Ok(format!("{}%", -parsed));
            }
            // Redis checks unsigned types on the value as an unsigned one.
            let v = if unsigned && parsed < 0 {
                parsed + (1 << 64)
            } else {
                parsed
            };
            if v < min || v > max {
                return Err(format!(
                    "argument must be between {min} and {max} inclusive"
                ));
            }
            Ok(v.to_string())
        }
    }
}

/// Redis's `memtoull` (when `memory`), then `N%` (when `percent`), else
/// `string2ll`. A percent comes back negative, as Redis stores it.
fn number(value: &[u8], memory: bool, percent: bool) -> Option<i128> {
    if memory {
        if let Some(v) = memtoull(value) {
            return Some(i128::from(v));
        }
    }
    if percent {
        if let Some(digits) = value.strip_suffix(b"%") {
            if let Some(v) = crate::kv::resp::string2ll(digits).filter(|v| *v >= 0) {
                return Some(-i128::from(v));
            }
        }
    }
    if !memory && !percent {
        return crate::kv::resp::string2ll(value).map(i128::from);
    }
    None
}

/// Redis's `memtoull`: digits, then an optional unit (`b`, `k` = 1000,
/// `kb` = 1024, `m`, `mb`, `g`, `gb`, any case). Wraps on overflow as
/// Redis's does.
pub fn memtoull(value: &[u8]) -> Option<u64> {
    let digits = value.iter().take_while(|b| b.is_ascii_digit()).count();
    let mul: u64 = match value[digits..].to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits >= 128 {
        return None;
    }
    // strtoull saturates on overflow; an empty number is 0.
    let n = std::str::from_utf8(&value[..digits]).ok()?;
    let v = if n.is_empty() {
        0
    } else {
        n.parse::<u64>().unwrap_or(u64::MAX)
    };
    Some(v.wrapping_mul(mul))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_and_printed_as_redis_does() {
        assert_eq!(check("maxmemory", b"1gb").unwrap(), "1073741824");
        assert_eq!(check("maxmemory", b"100K").unwrap(), "100000");
        assert_eq!(
            check("maxmemory", b"bla").unwrap_err(),
            "argument must be a memory value"
        );
        assert_eq!(
            check("maxmemory", b"-1").unwrap_err(),
            "argument must be a memory value"
        );
        assert_eq!(
            check("maxmemory-policy", b"ALLKEYS-LRU").unwrap(),
            "allkeys-lru"
        );
        assert!(check("maxmemory-policy", b"lru")
            .unwrap_err()
            .starts_with("argument(s) must be one of the following: volatile-lru, "));
        assert_eq!(check("appendonly", b"YES").unwrap(), "yes");
        assert_eq!(
            check("appendonly", b"1").unwrap_err(),
            "argument must be 'yes' or 'no'"
        );
        assert_eq!(
            check("maxmemory-samples", b"0").unwrap_err(),
            "argument must be between 1 and 2147483647 inclusive"
        );
        assert_eq!(
            check("hz", b"01").unwrap_err(),
            "argument couldn't be parsed into an integer"
        );
        assert_eq!(check("maxmemory-clients", b"10%").unwrap(), "10%");
        assert_eq!(check("dir", b"anything").unwrap(), "anything");
    }
}
