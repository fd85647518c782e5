//! CONFIG GET and CONFIG SET: Redis's parameters as kv reports them.
//!
//! kv's own settings live in its TOML configuration (`[listener.kv]`);
//! CONFIG GET reports them under Redis's names (`appendonly`,
//! `appendfsync`, `dir`, `databases`…). So that clients and Redis's test
//! suite that set Redis's parameters before they start run, CONFIG SET
//! accepts every modifiable parameter of Redis 7.0 and CONFIG GET returns
//! what was set (each value checked as Redis 7.0 checks it: see
//! `checks`), but **none changes what kv does** except
//! `notify-keyspace-events` (keyspace notifications, see `notify`) and
//! `maxmemory`, `maxmemory-policy`, `maxmemory-samples`, `lfu-log-factor`
//! and `lfu-decay-time` (see `evict`): encodings (the `*-max-*` sizes) do not
//! exist in kv, replication is out of its scope, and persistence and
//! limits are chosen in the TOML file. A name Redis does not know, or one
//! of its immutable parameters, is refused with Redis's error.

use std::collections::BTreeMap;

use parking_lot::Mutex;

mod checks;
pub use checks::memtoull;

/// Every parameter of redis-server 7.0 (`src/config.c`'s table, aliases
/// included), its default there, and whether CONFIG SET may change it
/// (the others are Redis's immutable ones).
#[rustfmt::skip]
const PARAMS: &[(&str, &str, bool)] = &[
    ("acl-pubsub-default", "resetchannels", true),
    ("aclfile", "", false),
    ("acllog-max-len", "128", true),
    ("active-defrag-cycle-max", "25", true),
    ("active-defrag-cycle-min", "1", true),
    ("active-defrag-ignore-bytes", "", true),
    ("active-defrag-max-scan-fields", "1000", true),
    ("active-defrag-threshold-lower", "10", true),
    ("active-defrag-threshold-upper", "100", true),
    ("active-expire-effort", "1", true),
    ("activedefrag", "no", true),
    ("activerehashing", "yes", true),
    ("always-show-logo", "no", false),
    ("aof-disable-auto-gc", "no", true),
    ("aof-load-truncated", "yes", true),
    ("aof-rewrite-incremental-fsync", "yes", true),
    ("aof-timestamp-enabled", "no", true),
    ("aof-use-rdb-preamble", "yes", true),
    ("aof_rewrite_cpulist", "", false),
    ("appenddirname", "appendonlydir", false),
    ("appendfilename", "appendonly.aof", false),
    ("appendfsync", "everysec", true),
    ("appendonly", "no", true),
    ("auto-aof-rewrite-min-size", "", true),
    ("auto-aof-rewrite-percentage", "100", true),
    ("bgsave_cpulist", "", false),
    ("bind", "", true),
    ("bind-source-addr", "", true),
    ("bio_cpulist", "", false),
    ("busy-reply-threshold", "5000", true),
    ("lua-time-limit", "5000", true),
    ("client-output-buffer-limit", "", true),
    ("client-query-buffer-limit", "1073741824", true),
    ("cluster-allow-pubsubshard-when-down", "yes", true),
    ("cluster-allow-reads-when-down", "no", true),
    ("cluster-allow-replica-migration", "yes", true),
    ("cluster-announce-bus-port", "0", true),
    ("cluster-announce-hostname", "", true),
    ("cluster-announce-ip", "", true),
    ("cluster-announce-port", "0", true),
    ("cluster-announce-tls-port", "0", true),
    ("cluster-config-file", "nodes.conf", false),
    ("cluster-enabled", "no", false),
    ("cluster-link-sendbuf-limit", "0", true),
    ("cluster-migration-barrier", "1", true),
    ("cluster-node-timeout", "15000", true),
    ("cluster-port", "0", false),
    ("cluster-preferred-endpoint-type", "ip", true),
    ("cluster-replica-no-failover", "no", true),
    ("cluster-slave-no-failover", "no", true),
    ("cluster-replica-validity-factor", "10", true),
    ("cluster-slave-validity-factor", "10", true),
    ("cluster-require-full-coverage", "yes", true),
    ("crash-log-enabled", "yes", true),
    ("crash-memcheck-enabled", "yes", true),
    ("daemonize", "no", false),
    ("databases", "1", false),
    ("dbfilename", "dump.rdb", true),
    ("dir", ".", true),
    ("disable-thp", "yes", false),
    ("dynamic-hz", "yes", true),
    ("enable-debug-command", "no", false),
    ("enable-module-command", "no", false),
    ("enable-protected-configs", "no", false),
    ("hash-max-listpack-entries", "512", true),
    ("hash-max-ziplist-entries", "512", true),
    ("hash-max-listpack-value", "64", true),
    ("hash-max-ziplist-value", "64", true),
    ("hll-sparse-max-bytes", "3000", true),
    ("hz", "10", true),
    ("ignore-warnings", "", true),
    ("io-threads", "1", false),
    ("io-threads-do-reads", "no", false),
    ("jemalloc-bg-thread", "yes", true),
    ("key-load-delay", "0", true),
    ("latency-monitor-threshold", "0", true),
    ("latency-tracking", "yes", true),
    ("latency-tracking-info-percentiles", "", true),
    ("lazyfree-lazy-eviction", "no", true),
    ("lazyfree-lazy-expire", "no", true),
    ("lazyfree-lazy-server-del", "no", true),
    ("lazyfree-lazy-user-del", "no", true),
    ("lazyfree-lazy-user-flush", "no", true),
    ("lfu-decay-time", "1", true),
    ("lfu-log-factor", "10", true),
    ("list-compress-depth", "0", true),
    ("list-max-listpack-size", "-2", true),
    ("list-max-ziplist-size", "-2", true),
    ("loading-process-events-interval-bytes", "", true),
    ("logfile", "", false),
    ("loglevel", "notice", true),
    ("masterauth", "", true),
    ("masteruser", "", true),
    ("maxclients", "10000", true),
    ("maxmemory", "0", true),
    ("maxmemory-clients", "0", true),
    ("maxmemory-eviction-tenacity", "10", true),
    ("maxmemory-policy", "noeviction", true),
    ("maxmemory-samples", "5", true),
    ("min-replicas-max-lag", "10", true),
    ("min-slaves-max-lag", "10", true),
    ("min-replicas-to-write", "0", true),
    ("min-slaves-to-write", "0", true),
    ("no-appendfsync-on-rewrite", "no", true),
    ("notify-keyspace-events", "", true),
    ("oom-score-adj", "no", true),
    ("oom-score-adj-values", "", true),
    ("pidfile", "", false),
    ("port", "6379", true),
    ("proc-title-template", "CONFIG_DEFAULT_PROC_TITLE_TEMPLATE", true),
    ("propagation-error-behavior", "ignore", true),
    ("protected-mode", "yes", true),
    ("proto-max-bulk-len", "", true),
    ("rdb-del-sync-files", "no", true),
    ("rdb-key-save-delay", "0", true),
    ("rdb-save-incremental-fsync", "yes", true),
    ("rdbchecksum", "yes", false),
    ("rdbcompression", "yes", true),
    ("repl-backlog-size", "1048576", true),
    ("repl-backlog-ttl", "3600", true),
    ("repl-disable-tcp-nodelay", "no", true),
    ("repl-diskless-load", "disabled", true),
    ("repl-diskless-sync", "yes", true),
    ("repl-diskless-sync-delay", "5", true),
    ("repl-diskless-sync-max-replicas", "0", true),
    ("repl-ping-replica-period", "10", true),
    ("repl-ping-slave-period", "10", true),
    ("repl-timeout", "60", true),
    ("replica-announce-ip", "", true),
    ("slave-announce-ip", "", true),
    ("replica-announce-port", "0", true),
    ("slave-announce-port", "0", true),
    ("replica-announced", "yes", true),
    ("replica-ignore-disk-write-errors", "no", true),
    ("replica-ignore-maxmemory", "yes", true),
    ("slave-ignore-maxmemory", "yes", true),
    ("replica-lazy-flush", "no", true),
    ("slave-lazy-flush", "no", true),
    ("replica-priority", "100", true),
    ("slave-priority", "100", true),
    ("replica-read-only", "yes", true),
    ("slave-read-only", "yes", true),
    ("replica-serve-stale-data", "yes", true),
    ("slave-serve-stale-data", "yes", true),
    ("replicaof", "", false),
    ("slaveof", "", false),
    ("requirepass", "", true),
    ("sanitize-dump-payload", "no", true),
    ("save", "", true),
    ("server_cpulist", "", false),
    ("set-max-intset-entries", "512", true),
    ("set-proc-title", "yes", false),
    ("shutdown-on-sigint", "default", true),
    ("shutdown-on-sigterm", "default", true),
    ("shutdown-timeout", "10", true),
    ("slowlog-log-slower-than", "10000", true),
    ("slowlog-max-len", "128", true),
    ("socket-mark-id", "0", false),
    ("stop-writes-on-bgsave-error", "yes", true),
    ("stream-node-max-bytes", "4096", true),
    ("stream-node-max-entries", "100", true),
    ("supervised", "no", false),
    ("syslog-enabled", "no", false),
    ("syslog-facility", "local0", false),
    ("syslog-ident", "redis", false),
    ("tcp-backlog", "511", false),
    ("tcp-keepalive", "300", true),
    ("timeout", "0", true),
    ("tls-auth-clients", "", true),
    ("tls-ca-cert-dir", "", true),
    ("tls-ca-cert-file", "", true),
    ("tls-cert-file", "", true),
    ("tls-ciphers", "", true),
    ("tls-ciphersuites", "", true),
    ("tls-client-cert-file", "", true),
    ("tls-client-key-file", "", true),
    ("tls-client-key-file-pass", "", true),
    ("tls-cluster", "no", true),
    ("tls-dh-params-file", "", true),
    ("tls-key-file", "", true),
    ("tls-key-file-pass", "", true),
    ("tls-port", "0", true),
    ("tls-prefer-server-ciphers", "no", true),
    ("tls-protocols", "", true),
    ("tls-replication", "no", true),
    ("tls-session-cache-size", "20480", true),
    ("tls-session-cache-timeout", "300", true),
    ("tls-session-caching", "yes", true),
    ("tracking-table-max-keys", "1000000", true),
    ("unixsocket", "", false),
    ("unixsocketperm", "0", false),
    ("use-exit-on-panic", "no", true),
    ("watchdog-period", "0", true),
    ("zset-max-listpack-entries", "128", true),
    ("zset-max-ziplist-entries", "128", true),
    ("zset-max-listpack-value", "64", true),
    ("zset-max-ziplist-value", "64", true),
];

static SET: Mutex<BTreeMap<&'static str, String>> = Mutex::new(BTreeMap::new());

/// kv's values of its own settings, under Redis's names (set at start).
static OWN: Mutex<BTreeMap<&'static str, String>> = Mutex::new(BTreeMap::new());

/// Records one of kv's own settings under its Redis name (what CONFIG GET
/// reports for it).
pub fn report(name: &'static str, value: String) {
    OWN.lock().insert(name, value);
}

/// One of kv's own settings as reported at start (`None` before).
pub fn own(name: &str) -> Option<String> {
    OWN.lock().get(name).cloned()
}

/// CONFIG GET's pairs for `patterns` (globs), each parameter once.
pub fn get(patterns: &[&[u8]]) -> Vec<(&'static str, String)> {
    let (set, own) = (SET.lock(), OWN.lock());
    PARAMS
        .iter()
        .filter(|(name, _, _)| {
            patterns
                .iter()
                .any(|p| super::db::glob_match(&p.to_ascii_lowercase(), name.as_bytes()))
        })
        .map(|&(name, default, _)| {
            let v = own
                .get(name)
                .or_else(|| set.get(name))
                .cloned()
                .unwrap_or_else(|| default.to_string());
            (name, v)
        })
        .collect()
}

/// CONFIG SET of `pairs`: all are known, or none is set (Redis's
/// error names the first unknown one).
pub fn set(pairs: &[(&[u8], &[u8])]) -> Result<(), String> {
    let mut found = Vec::new();
    let mut notify = None;
    for (name, value) in pairs {
        let lower = name.to_ascii_lowercase();
        let Some((known, _, modifiable)) = PARAMS.iter().find(|(n, _, _)| n.as_bytes() == lower)
        else {
            return Err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                String::from_utf8_lossy(name)
            ));
        };
        if !modifiable {
            return Err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{}') - can't set immutable config",
                String::from_utf8_lossy(name)
            ));
        }
        if *known == "notify-keyspace-events" {
            // The one parameter kv acts on: kept as Redis prints it.
            let Some(classes) = super::notify::parse(value) else {
                return Err(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{}') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
                    String::from_utf8_lossy(name)
                ));
            };
            found.push((*known, super::notify::format(classes)));
            notify = Some(classes);
            continue;
        }
        if found.iter().any(|(k, _)| k == known) {
            return Err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{}') - duplicate parameter",
                String::from_utf8_lossy(name)
            ));
        }
        let value = checks::check(known, value).map_err(|why| {
            format!(
                "ERR CONFIG SET failed (possibly related to argument '{}') - {why}",
                String::from_utf8_lossy(name)
            )
        })?;
        found.push((*known, value));
    }
    if let Some(classes) = notify {
        super::notify::set(classes);
    }
    for (name, value) in &found {
        apply(name, value);
    }
    let mut set = SET.lock();
    for (k, v) in found {
        set.insert(k, v);
    }
    Ok(())
}

/// Puts a checked parameter kv acts on into effect.
fn apply(name: &str, value: &str) {
    use super::evict;
    match name {
        "maxmemory" => evict::set_maxmemory(value.parse().unwrap_or(0)),
        "maxmemory-policy" => {
            if let Some(p) = evict::Policy::parse(value) {
                evict::set_policy(p);
            }
        }
        "maxmemory-samples" => evict::set_samples(value.parse().unwrap_or(5)),
        "lfu-log-factor" => super::access::set_lfu_params(value.parse().ok(), None),
        "lfu-decay-time" => super::access::set_lfu_params(None, value.parse().ok()),
        _ => {}
    }
}
