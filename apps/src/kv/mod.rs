//! `kv`: a key-value server speaking the Redis protocol (RESP2 and RESP3),
//! its keyspace sharded over the shards, in memory or persisted ([`aof`]).
//!
//! # Design
//!
//! * **Each shard owns the keys that hash to it** (`fxhash(key) % shards`);
//!   its part of the keyspace ([`db::Db`]) lives in a thread-local of the
//!   shard's thread and is touched by that thread only: no lock, no atomic.
//! * **A connection lives on one shard** and sends each command to the
//!   shard that owns its key: run at once when that is its own shard, else
//!   posted there with [`LoopHandle::post`](shardloop::LoopHandle::post)
//!   (batched per destination per loop iteration: one message, one wake-up)
//!   and answered the same way. Replies leave in request order — each
//!   request has a slot in the connection's reply queue, filled when its
//!   answer arrives — and every ready reply of a read leaves in one write.
//! * **Multi-shard commands are transactions** (MSET, MGET, DEL/EXISTS of
//!   several keys, RENAME, SINTER/SUNION/SDIFF, MSETNX, MULTI/EXEC),
//!   scheduled VLL-style as Dragonfly does (`txn` has the design and its
//!   proof sketch): placed in one global order in every involved shard's
//!   queue at once (`order`), they lock only the keys they name (`gate`);
//!   MSET, MGET, DEL, UNLINK, EXISTS and TOUCH run their parts where the
//!   keys are (`split`), the rest run on copies fetched in parallel. The
//!   common path — a command on keys no transaction holds — takes no lock
//!   at all: one `is_empty` check while nothing is pending.
//! * **Per-connection order**: a connection's commands on one key always
//!   run on one shard, in the order sent (one FIFO per destination); a
//!   multi-shard command waits until the connection's earlier commands are
//!   answered and holds its later ones until it is (a barrier), so a
//!   connection always reads its own writes.
//! * **Expiry** is lazy on access plus an active sweep per shard (every
//!   100 ms, a bounded sample of the keys with an expiry, as Redis).
//! * **Limits as Redis**: bulk strings ≤ 512 MiB (rejected before
//!   allocating, with Redis's error text, then the connection closes) and
//!   a query buffer of `max_query_buffer`. Protocol garbage gets
//!   Redis's `-ERR Protocol error…` text and a close.
//! * **Costs linear in the work.** The parser keeps where it stopped in a
//!   request that arrives in many reads ([`resp::Cursor`]), so a command
//!   of a million arguments is parsed once; a multi-shard command groups
//!   its keys by owner with a set, not a scan of the keys so far.
//! * **Bounded by what is in flight, not by what a client sends.** A
//!   connection whose replies pass the transport's high-water mark stops
//!   being read (the echo app's pattern); one with 1,024 commands awaiting
//!   replies from other shards or a transaction
//!   (`MAX_IN_FLIGHT`) too, until half are answered; one
//!   whose output queue passes `max_output_buffer` is closed; one whose
//!   command has been arriving for `command_timeout` is closed.
//! * **Redis-exact.** Replies and errors are redis-server 7.0's byte for
//!   byte, checked by a seeded differential test of 100,000 commands.
//!   Integers are read as Redis's `string2ll`; floats through the C
//!   library Redis uses ([`float`]: `strtod`, `"%.17g"`, and INCRBYFLOAT's
//!   long double), since Rust has no long double and prints shortest
//!   forms.
//! * **Each command is declared once**, in [`cmd::COMMANDS`], as Redis
//!   declares its commands in `src/commands/*.json`: name, arity, key
//!   positions, whether it writes, where it runs (on the connection, on
//!   the shards owning its keys, or on every shard with the way the
//!   shards' parts make one reply: [`cmd::Gather`]) and its handler, a
//!   function of the keyspace and the arguments. Dispatch is typed: one
//!   lookup of the name, then the handler or the enum the spec names; what
//!   MULTI queues follows from the spec. A new command is its declaration
//!   and its handler.
//! * **Pub/sub** (`pubsub`): each shard keeps its own connections'
//!   subscriptions; PUBLISH visits every shard as DBSIZE does, each shard
//!   pushing the message to its subscribers.
//! * **Blocking pops** (`blocking`): BLPOP and its kin wait on the
//!   shards owning their keys, queued per key in arrival order; a write
//!   that makes a key poppable serves its queue; one shard (or the
//!   timeout) wins each wait.
//! * **A command that panics** (a bug) answers its client with an error
//!   rather than leaving it without a reply; the shard serves on.
//! * **Persistence** ([`aof`]): with `appendonly = true`, an append-only
//!   log per shard in Redis's AOF format, synced as `appendfsync` says,
//!   rewritten in place without fork, loaded at start and across a
//!   takeover. Off by default, like `redis-server --save ''
//!   --appendonly no`: then nothing is written to disk.

pub mod access;
pub mod aof;
mod blocking;
mod clients;
pub mod cmd;
pub mod config;
mod conn;
pub mod db;
pub mod evict;
pub mod float;
mod gate;
mod gather;
mod notify;
mod order;
mod persist;
mod pubsub;
pub mod rdb;
mod remote;
pub mod resp;
mod split;
mod stats;
mod txn;
mod upkeep;
mod watch;

use gather::{all_shards, gathered, read_keys, read_u64s};
pub(crate) use gather::{part_of, shard_part, shard_part_untouched};
pub(crate) use persist::after_sync;
use persist::{hold, install, release, when_free, with_log};
pub(crate) use remote::{deliver, RemoteBatch, ReplyTo};
use txn::txn_start;
use upkeep::{ensure_sweep, make_room};
pub(crate) use upkeep::{evict_everywhere, set_active_expire};

pub use conn::KvConn;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shardloop::app::AppOptions;
use shardloop::{ConnectionHandle, EventLoop, LoopHandle};

use cmd::{Args, Gather, OwnedArgs, Spec};
use db::{now_ms, Db, Entry};
use resp::reply;

/// `[listener.kv]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KvOptions {
    /// Most bytes of unparsed requests held per connection (Redis's
    /// `client-query-buffer-limit`, 1 GiB).
    #[serde(with = "shardloop::config::size")]
    pub max_query_buffer: usize,
    /// A connection whose unsent replies pass this many bytes is closed
    /// (Redis's `client-output-buffer-limit` for normal clients is off; a
    /// server must bound it anyway). Default 256 MiB.
    #[serde(with = "shardloop::config::size")]
    pub max_output_buffer: usize,
    /// How long a command may take to arrive once its first byte is in: a
    /// client that trickles a command (a huge bulk string a byte at a
    /// time, or a command it never finishes) is closed after this, so it
    /// holds its query buffer and its connection no longer (the idle
    /// timeout, reset by every byte, would not cut it). `0s`: no limit, as
    /// Redis. Default 60 s.
    #[serde(with = "shardloop::config::duration")]
    pub command_timeout: Duration,
    /// Keep an append-only log per shard, loaded at start (Redis's
    /// `appendonly`). Default false: in memory only. Read at start; a
    /// reload that changes a persistence option takes effect at the next
    /// start or takeover.
    pub appendonly: bool,
    /// When the log reaches the disk: `"always"` (before each reply),
    /// `"everysec"` (default) or `"no"` (Redis's `appendfsync`).
    pub appendfsync: aof::Fsync,
    /// The folder of `appendonlydir/` (Redis's `dir`), relative to the
    /// configuration file. Default: the configuration file's folder.
    pub dir: std::path::PathBuf,
    /// Rewrite a shard's log once its incremental files grew by this
    /// percentage of its base (Redis's `auto-aof-rewrite-percentage`;
    /// 0: never by itself). Default 100.
    pub auto_aof_rewrite_percentage: u64,
    /// …and are at least this big (`auto-aof-rewrite-min-size`). Default
    /// 64 MiB.
    #[serde(with = "shardloop::config::size")]
    pub auto_aof_rewrite_min_size: usize,
    /// Heap bytes the process may use before kv evicts keys or refuses
    /// writes (Redis's `maxmemory`; see `evict`). Default 0: no limit.
    /// CONFIG SET changes it until the next start or reload.
    #[serde(with = "shardloop::config::size")]
    pub maxmemory: usize,
    /// What happens over `maxmemory` (Redis's `maxmemory-policy` and its
    /// names): `"noeviction"` (default: writes are refused),
    /// `"allkeys-lru"`, `"allkeys-lfu"`, `"allkeys-random"`,
    /// `"volatile-lru"`, `"volatile-lfu"`, `"volatile-random"`,
    /// `"volatile-ttl"`.
    pub maxmemory_policy: evict::Policy,
}

impl Default for KvOptions {
    fn default() -> Self {
        Self {
            max_query_buffer: 1 << 30,
            max_output_buffer: 256 << 20,
            command_timeout: Duration::from_secs(60),
            appendonly: false,
            appendfsync: aof::Fsync::Everysec,
            dir: std::path::PathBuf::from("."),
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 << 20,
            maxmemory: 0,
            maxmemory_policy: evict::Policy::NoEviction,
        }
    }
}

impl AppOptions for KvOptions {
    fn paths_mut(&mut self) -> Vec<&mut std::path::PathBuf> {
        vec![&mut self.dir]
    }

    fn validate(&self) -> Result<(), (String, String)> {
        if !(1 << 20..=4 << 30).contains(&self.max_query_buffer) {
            return Err((
                "max_query_buffer".into(),
                format!("{} is not allowed: 1 MiB to 4 GiB", self.max_query_buffer),
            ));
        }
        if self.command_timeout > Duration::from_secs(24 * 3600) {
            return Err((
                "command_timeout".into(),
                format!(
                    "{} is not allowed: 0s (none) to 24h",
                    humantime::format_duration(self.command_timeout)
                ),
            ));
        }
        if !(64 << 10..=4 << 30).contains(&self.max_output_buffer) {
            return Err((
                "max_output_buffer".into(),
                format!("{} is not allowed: 64 KiB to 4 GiB", self.max_output_buffer),
            ));
        }
        Ok(())
    }
}

/// Starts kv's part of a `serve` (and of each reload): its memory limit
/// and policy from `[listener.kv]` (as CONFIG SET would set them), then
/// persistence (`aof::start`).
pub fn start(o: &KvOptions, rt: &shardloop::Runtime) -> std::io::Result<()> {
    let maxmemory = o.maxmemory.to_string();
    let policy = o.maxmemory_policy.name();
    config::set(&[
        (b"maxmemory", maxmemory.as_bytes()),
        (b"maxmemory-policy", policy.as_bytes()),
    ])
    .map_err(std::io::Error::other)?;
    // Each shard knows its loop and sweeps (expiry, eviction) from the
    // start, connections or not.
    for k in 0..rt.shard_count() {
        let _ = rt.shard(k).submit(|lp| ensure_sweep(lp.handle()));
    }
    aof::start(o, rt)
}

/// One shard's part of kv.
#[derive(Default)]
struct Shard {
    db: Db,
    /// The expiry sweep is armed.
    sweeping: bool,
    commands: u64,
    hops: u64,
    connections: u64,
    /// What this shard's connections subscribed to.
    pubsub: pubsub::Registry,
    /// This shard's connections, by client id (CLIENT LIST).
    clients: std::collections::HashMap<u64, std::rc::Rc<clients::Client>, db::Fx>,
    /// This shard's append-only log, when kv persists.
    aof: Option<aof::Log>,
    /// Blocked commands by key, in arrival order (see `blocking`).
    blocked: std::collections::HashMap<Vec<u8>, VecDeque<std::sync::Arc<blocking::Block>>, db::Fx>,
    /// Keys written that blocked commands wait on, to serve.
    ready: VecDeque<Vec<u8>>,
    /// The blocked commands are being served (`ready` is drained by the
    /// outermost call).
    serving: bool,
    /// The shard's loop (known once a block or a connection came).
    lp: Option<LoopHandle>,
    /// WATCHed keys of this shard, and their watchers (see `watch`).
    watched: std::collections::HashMap<Vec<u8>, Vec<std::sync::Weak<watch::Watch>>, db::Fx>,
    /// Watched keys that were live when watched and have an expiry: when
    /// (see `watch`), by key and in order, and the timer armed.
    watch_expiries: std::collections::HashMap<Vec<u8>, u64, db::Fx>,
    watch_deadlines: std::collections::BTreeSet<(u64, Vec<u8>)>,
    watch_timer: Option<u64>,
    /// When this shard last asked the others to evict (ms).
    nudged: u64,
    /// The blocks this shard's connections started (INFO's
    /// `blocked_clients` counts those still waiting).
    blocks: Vec<std::sync::Arc<blocking::Block>>,
}

thread_local! {
    static SHARD: RefCell<Shard> = RefCell::new(Shard::default());
}

/// The shard that owns `key`. A hash tag decides as in Redis Cluster: when
/// the key holds `{…}` with something between the first `{` and the next
/// `}`, only that part is hashed, so `user:{42}:name` and `user:{42}:age`
/// live on one shard and a command on both runs there, not as a
/// transaction across shards.
pub fn owner(key: &[u8], shards: usize) -> usize {
    (db::Fx::default().hash_one(hash_tag(key)) % shards as u64) as usize
}

/// The part of `key` that decides its shard (Redis Cluster's rule).
fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = memchr::memchr(b'{', key) {
        if let Some(len) = memchr::memchr(b'}', &key[open + 1..]) {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// kv's per-shard metrics on the metrics endpoint.
pub fn register_metrics() {
    use shardloop::runtime::{register_shard_metric, ShardMetric};
    fn read(f: fn(&Shard) -> u64) -> u64 {
        SHARD.with(|s| f(&s.borrow()))
    }
    for m in [
        ShardMetric {
            name: "shardloop_kv_keys",
            help: "Keys held by the shard (expired ones not yet swept included).",
            kind: "gauge",
            read: || read(|s| s.db.len() as u64),
        },
        ShardMetric {
            name: "shardloop_kv_commands_total",
            help: "Commands the shard ran.",
            kind: "counter",
            read: || read(|s| s.commands),
        },
        ShardMetric {
            name: "shardloop_kv_cross_shard_hops_total",
            help: "Commands the shard ran for a connection of another shard.",
            kind: "counter",
            read: || read(|s| s.hops),
        },
        ShardMetric {
            name: "shardloop_kv_expired_keys_total",
            help: "Keys removed because they expired.",
            kind: "counter",
            read: || read(|s| s.db.expired),
        },
    ] {
        register_shard_metric(m);
    }
}

/// Runs one keyed command on this shard's own keys, at time `now`.
fn exec_here(spec: &Spec, a: &Args<'_>, now: u64, out: &mut Vec<u8>) {
    SHARD.with(|s| exec_on(&mut s.borrow_mut(), spec, a, now, out));
}

/// Runs one keyed command on the shard `s`: logged if the shard logs, and
/// the blocked commands its write can serve are served.
fn exec_on(s: &mut Shard, spec: &Spec, a: &Args<'_>, now: u64, out: &mut Vec<u8>) {
    s.commands += 1;
    if evict::limited() && spec.denyoom() && !make_room(s, now) {
        return reply::error(out, evict::OOM);
    }
    // Watched keys this write names, and whether each was there before:
    // a write that finds a key neither before nor after (a DEL of a key
    // that had expired) changes nothing a watcher sees.
    let watched: Vec<(&[u8], bool)> = if spec.write && !s.watched.is_empty() {
        let (list, db) = (&s.watched, &mut s.db);
        cmd::key_positions(spec, a)
            .map(|i| a.get(i))
            .filter(|k| list.contains_key(*k))
            .map(|k| (k, db.contains_untouched(k, now)))
            .collect()
    } else {
        Vec::new()
    };
    match s.aof.as_mut() {
        None => cmd::exec(&mut s.db, spec, a, now, out),
        Some(log) => {
            if let (true, Some(e)) = (spec.write, log.refusing()) {
                let msg = format!("MISCONF Errors writing to the AOF file: {e}");
                return reply::error(out, &msg);
            }
            log.before(&s.db, spec, a);
            let mark = out.len();
            cmd::exec(&mut s.db, spec, a, now, out);
            log.after(&mut s.db, spec, a, &out[mark..]);
        }
    }
    for (k, before) in watched {
        if before || s.db.peek(k).is_some() {
            watch::touched(s, k);
        }
    }
    if spec.write && !s.blocked.is_empty() {
        let keys = cmd::key_positions(spec, a).map(|i| a.get(i));
        written(s, keys, now);
    }
    if !s.db.events.is_empty() {
        publish_events(s);
    }
}

/// Publishes the keyspace events the shard's keyspace recorded.
#[cold]
fn publish_events(s: &mut Shard) {
    let events = std::mem::take(&mut s.db.events);
    if let Some(lp) = &s.lp {
        pubsub::publish_events(lp, events);
    }
}

/// Keys were written: serve the blocked commands waiting on them (and on
/// what serving them writes, in turn).
fn written<'k>(s: &mut Shard, keys: impl Iterator<Item = &'k [u8]>, now: u64) {
    for k in keys {
        if s.blocked.contains_key(k) {
            s.ready.push_back(k.to_vec());
        }
    }
    if s.serving {
        return;
    }
    s.serving = true;
    while let Some(k) = s.ready.pop_front() {
        blocking::key_written(s, &k, now);
    }
    s.serving = false;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_tag_decides_the_shard_as_in_redis_cluster() {
        assert_eq!(hash_tag(b"user:{42}:name"), b"42");
        assert_eq!(hash_tag(b"{a}{b}"), b"a");
        assert_eq!(hash_tag(b"{}x"), b"{}x", "an empty tag: the whole key");
        assert_eq!(hash_tag(b"x{y"), b"x{y", "no closing brace");
        assert_eq!(hash_tag(b"x}{y}"), b"y");
        for shards in [2, 3, 7] {
            assert_eq!(
                owner(b"user:{42}:name", shards),
                owner(b"user:{42}:age", shards)
            );
            assert_eq!(owner(b"{42}", shards), owner(b"42", shards));
        }
    }
}
