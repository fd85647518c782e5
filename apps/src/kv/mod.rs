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
pub mod evict;
mod gate;
mod notify;
mod order;
mod pubsub;
mod split;
mod stats;
mod txn;
mod watch;

use txn::txn_start;
pub mod db;
pub mod float;
pub mod rdb;
pub mod resp;

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

/// Runs `f` now if nothing is locked or waiting on this shard, else once
/// everything that arrived before it is done (a claim on every key: see
/// `gate`).
fn when_free(lp: &mut EventLoop, f: impl FnOnce(&mut EventLoop) + 'static) {
    gate::run(lp, gate::Claim::all(), f);
}

thread_local! {
    /// The lock that holds this shard while its log loads.
    static LOADING: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Holds this shard until its log is loaded: commands queue as behind a
/// transaction.
fn hold() {
    let id = gate::with(|g| g.hold(gate::Claim::all()));
    LOADING.with(|l| l.set(Some(id)));
}

/// This shard's keys and log, loaded.
fn install(db: Db, log: aof::Log) {
    SHARD.with(|s| {
        let mut s = s.borrow_mut();
        s.db = db;
        s.aof = Some(log);
    });
}

/// Lets a loaded shard go: what queued runs.
fn release(lp: &mut EventLoop) {
    ensure_sweep(lp.handle());
    if let Some(id) = LOADING.with(std::cell::Cell::take) {
        gate::release(lp, id);
    }
}

/// Runs `f` on this shard's log and keys, if it logs.
fn with_log<T>(f: impl FnOnce(&mut aof::Log, &mut Db) -> T) -> Option<T> {
    SHARD.with(|s| {
        let mut s = s.borrow_mut();
        let s = &mut *s;
        s.aof.as_mut().map(|log| f(log, &mut s.db))
    })
}

/// Writes (and with `always` syncs) what this shard logged: before its
/// replies leave.
pub(crate) fn sync_log() {
    if aof::on() {
        with_log(|log, db| {
            log.evictions(db);
            log.sync();
        });
    }
}

/// What waits for this shard's next log sync.
type AfterSync = Vec<Box<dyn FnOnce(&mut EventLoop)>>;

thread_local! {
    static AFTER_SYNC: RefCell<AfterSync> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` (a reply leaving) once what this shard has logged so far is
/// written, and synced with `always`: at the loop's next turn, one write
/// and one sync for every reply queued meanwhile — a group commit, as
/// Redis writes its log once per event-loop iteration before replying.
pub(crate) fn after_sync(lp: &LoopHandle, f: impl FnOnce(&mut EventLoop) + 'static) {
    let first = AFTER_SYNC.with(|q| {
        let mut q = q.borrow_mut();
        q.push(Box::new(f));
        q.len() == 1
    });
    if first {
        lp.call_soon(run_after_sync);
    }
}

fn run_after_sync(lp: &mut EventLoop) {
    sync_log();
    let waiting = AFTER_SYNC.with(|q| std::mem::take(&mut *q.borrow_mut()));
    for f in waiting {
        f(lp);
    }
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

/// Starts this shard's active expiry sweep, once.
fn ensure_sweep(lp: &LoopHandle) {
    let start = SHARD.with(|s| {
        let mut s = s.borrow_mut();
        s.lp.get_or_insert_with(|| lp.clone());
        s.db.notify = true;
        !std::mem::replace(&mut s.sweeping, true)
    });
    if start {
        lp.call_later(Duration::from_millis(100), sweep);
    }
}

/// DEBUG SET-ACTIVE-EXPIRE: the sweep runs (lazy expiry always does).
static ACTIVE_EXPIRE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

pub(crate) fn set_active_expire(on: bool) {
    ACTIVE_EXPIRE.store(on, std::sync::atomic::Ordering::Relaxed);
}

fn sweep(lp: &mut EventLoop) {
    let now = now_ms(lp.handle());
    SHARD.with(|s| {
        let mut s = s.borrow_mut();
        if gate::idle() && ACTIVE_EXPIRE.load(std::sync::atomic::Ordering::Relaxed) {
            // Redis's cycle: sample, and go again while a quarter expired.
            for _ in 0..16 {
                if s.db.sweep(now, 20) < 5 {
                    break;
                }
            }
            let s = &mut *s;
            s.db.shrink();
            if let Some(log) = &mut s.aof {
                log.evictions(&mut s.db);
            }
            if !s.db.events.is_empty() {
                publish_events(s);
            }
        }
        if gate::idle() && evict::limited() {
            evict_here(&mut s, now);
        }
    });
    lp.call_later(Duration::from_millis(100), sweep);
}

/// What a shard over `maxmemory` could do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Room {
    /// The process is under the limit, or keys of this shard went.
    Made,
    /// Other shards hold more than this one of the keys the policy may
    /// take: they evict.
    Elsewhere,
    /// Nothing the policy may take is left anywhere (or it is
    /// `noeviction`).
    None,
}

/// Evicts this shard's keys while the process is over `maxmemory`, if
/// this shard holds its share of what the policy may take (see `evict`),
/// then does what an eviction owes: WATCHes touched, `DEL`s logged,
/// `evicted` events published. A shard holding less than its share leaves
/// the eviction to the others: the connections' buffers, counted too, sit
/// on the shards that read them, and would otherwise make those shards
/// give up all their keys.
fn evict_here(s: &mut Shard, now: u64) -> Room {
    let me = s.lp.as_ref().map_or(0, |lp| lp.shard_id().unwrap_or(0));
    evict::note_candidates(me, &s.db);
    if !evict::over() {
        return Room::Made;
    }
    if evict::policy() == evict::Policy::NoEviction {
        return Room::None;
    }
    let elsewhere = evict::candidates_elsewhere(me);
    if elsewhere && !evict::fair_share(me) {
        return Room::Elsewhere;
    }
    // The evicted keys' names, for the watchers.
    let mut gone = (!s.watched.is_empty()).then(Vec::new);
    let made = evict::make_room(&mut s.db, now, gone.as_mut());
    for k in gone.unwrap_or_default() {
        watch::touched(s, &k);
    }
    if let Some(log) = &mut s.aof {
        if !s.db.evicted.is_empty() {
            log.evictions(&mut s.db);
        }
    }
    if !s.db.events.is_empty() {
        publish_events(s);
    }
    match (made, elsewhere) {
        (true, _) => Room::Made,
        (false, true) => Room::Elsewhere,
        (false, false) => Room::None,
    }
}

/// Before a command that may grow memory runs on shard `s`: room made
/// (see [`evict_here`]). Returns whether the command may run; when the
/// other shards are to evict, they are asked (at most once a
/// millisecond) and the command runs.
fn make_room(s: &mut Shard, now: u64) -> bool {
    match evict_here(s, now) {
        Room::Made => true,
        Room::None => false,
        Room::Elsewhere => {
            if std::mem::replace(&mut s.nudged, now) != now {
                if let Some(lp) = &s.lp {
                    let me = lp.shard_id();
                    evict_on(lp, (0..lp.shard_count()).filter(|&k| Some(k) != me));
                }
            }
            true
        }
    }
}

/// Every shard evicts at once (CONFIG SET lowered `maxmemory`).
pub(crate) fn evict_everywhere(lp: &LoopHandle) {
    evict_on(lp, 0..lp.shard_count());
}

/// The `shards` evict what they should, now.
fn evict_on(lp: &LoopHandle, shards: impl Iterator<Item = usize>) {
    for shard in shards {
        lp.post(shard, |lp| {
            when_free(lp, |lp| {
                let now = now_ms(lp.handle());
                SHARD.with(|s| evict_here(&mut s.borrow_mut(), now));
            })
        });
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

/// Where a reply goes: a connection on a shard, and its slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplyTo {
    shard: usize,
    conn: ConnectionHandle,
    seq: u64,
    /// The connection's protocol (2 or 3): what the reply is written in,
    /// on whichever shard it is computed.
    proto: u8,
}

impl ReplyTo {
    /// Sends `bytes` to the slot, from whatever shard this runs on.
    fn send(self, lp: &mut EventLoop, bytes: Vec<u8>) {
        lp.post(self.shard, move |lp| deliver(lp, self, bytes));
    }
}

/// A reply arrived on the connection's shard: fill its slot.
pub(crate) fn deliver(lp: &mut EventLoop, to: ReplyTo, bytes: Vec<u8>) {
    lp.with_connection(to.conn, |p: &mut KvConn, t| p.fill(t, to.seq, bytes));
}

/// Commands of one connection for one other shard, gathered during one read
/// and sent as one message; their replies come back as one message too.
#[derive(Default)]
pub(crate) struct RemoteBatch {
    buf: Vec<u8>,
    ranges: Vec<std::ops::Range<usize>>,
    /// Each command: its spec, its arguments (a range of `ranges`), its
    /// reply slot.
    cmds: Vec<(&'static Spec, std::ops::Range<usize>, u64)>,
    /// The connection's protocol (2 or 3).
    proto: u8,
}

impl RemoteBatch {
    pub(crate) fn push(&mut self, spec: &'static Spec, a: &Args<'_>, seq: u64, proto: u8) {
        self.proto = proto;
        let first = self.ranges.len();
        for i in 0..a.len() {
            let s = a.get(i);
            self.ranges.push(self.buf.len()..self.buf.len() + s.len());
            self.buf.extend_from_slice(s);
        }
        self.cmds.push((spec, first..self.ranges.len(), seq));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// A claim on the keys its commands name.
    fn claim(&self) -> gate::Claim {
        let mut keys: Vec<&[u8]> = Vec::new();
        for (spec, r, _) in &self.cmds {
            let a = Args {
                buf: &self.buf,
                ranges: &self.ranges[r.clone()],
            };
            keys.extend(cmd::key_positions(spec, &a).map(|i| a.get(i)));
        }
        gate::Claim::keys(keys)
    }

    /// Sends the batch to `shard`; the replies go to `conn` on `home`.
    pub(crate) fn send(self, lp: &LoopHandle, shard: usize, home: usize, conn: ConnectionHandle) {
        lp.post(shard, move |lp| {
            order::catch_up(lp.handle());
            if gate::idle() {
                return self.run(lp, home, conn);
            }
            // Behind what locks its keys, and behind this connection's
            // commands already waiting here.
            let claim = self.claim().in_order_of(home, conn);
            gate::run(lp, claim, move |lp| self.run(lp, home, conn));
        });
    }

    /// Runs the batch on this shard and sends the replies back.
    fn run(self, lp: &mut EventLoop, home: usize, conn: ConnectionHandle) {
        let now = now_ms(lp.handle());
        reply::set_protocol(self.proto);
        let mut out = Vec::new();
        let mut marks = Vec::with_capacity(self.cmds.len());
        SHARD.with(|s| s.borrow_mut().hops += self.cmds.len() as u64);
        for (spec, r, seq) in &self.cmds {
            let start = out.len();
            let a = Args {
                buf: &self.buf,
                ranges: &self.ranges[r.clone()],
            };
            exec_here(spec, &a, now, &mut out);
            marks.push((*seq, start..out.len()));
        }
        let reply = move |lp: &mut EventLoop| {
            lp.post(home, move |lp| {
                lp.with_connection(conn, |p: &mut KvConn, t| p.fill_many(t, &out, &marks));
            });
        };
        if aof::on() {
            after_sync(lp.handle(), reply);
        } else {
            reply(lp);
        }
    }
}

/// A command that visits every shard (DBSIZE, KEYS, SCAN, FLUSHALL,
/// INFO): each shard's piece comes back to the connection, which puts them
/// together once all are in.
fn all_shards(lp: &LoopHandle, spec: &'static Spec, args: OwnedArgs, to: ReplyTo) {
    for shard in (0..lp.shard_count()).filter(|&s| s != to.shard) {
        let args = args.clone();
        lp.post(shard, move |lp| {
            when_free(lp, move |lp| {
                let gather = spec.gather().expect("an all-shard command");
                let part = shard_part(gather, &args.args(), now_ms(lp.handle()), lp.handle());
                lp.post(to.shard, move |lp| gathered(lp, to, shard, part));
            });
        });
    }
}

/// One shard's piece of an all-shard command, back on the connection's
/// shard.
fn gathered(lp: &mut EventLoop, to: ReplyTo, shard: usize, part: Vec<u8>) {
    lp.with_connection(to.conn, |p: &mut KvConn, t| {
        p.gathered(t, to.seq, shard, part)
    });
}

/// One shard's piece of an all-shard command, serialised as raw values:
/// counts as 8-byte little-endian integers, key lists as length-prefixed
/// bytes.
pub(crate) fn shard_part(gather: Gather, a: &Args<'_>, now: u64, lp: &LoopHandle) -> Vec<u8> {
    match gather {
        Gather::Publish => {
            return pubsub::publish_here(lp, a.get(1), a.get(2))
                .to_le_bytes()
                .to_vec()
        }
        Gather::Channels => {
            let mut out = Vec::new();
            push_keys(&mut out, pubsub::channels_here(a));
            return out;
        }
        Gather::Numsub => {
            return pubsub::numsub_here(a)
                .into_iter()
                .flat_map(u64::to_le_bytes)
                .collect()
        }
        Gather::Numpat => {
            let mut out = Vec::new();
            push_keys(&mut out, pubsub::patterns_here());
            return out;
        }
        _ => {}
    }
    if let Gather::Rewrite = gather {
        aof::start_rewrite(lp);
        return Vec::new();
    }
    if let Gather::Unblock = gather {
        let done = cmd::unblock_args(a).is_ok_and(|(id, error)| blocking::unblock(lp, id, error));
        return (done as u64).to_le_bytes().to_vec();
    }
    SHARD.with(|s| {
        let mut s = s.borrow_mut();
        s.commands += 1;
        match gather {
            Gather::Info => return info_part(&s),
            Gather::Clients => return clients_part(&s, a, now),
            _ => {}
        }
        let s = &mut *s;
        if let Gather::Flush = gather {
            watch::touched_all(s, now);
        }
        if let (Gather::Flush, Some(log)) = (gather, s.aof.as_mut()) {
            log.flush(&mut s.db);
            s.db.clear();
            log.sync();
            return Vec::new();
        }
        part_of(&mut s.db, gather, a, now)
    })
}

/// An all-shard command's part over one keyspace (a shard's, or a
/// transaction's copies).
pub(crate) fn part_of(db: &mut Db, gather: Gather, a: &Args<'_>, now: u64) -> Vec<u8> {
    let mut out = Vec::new();
    match gather {
        Gather::Count => out.extend_from_slice(&(db.len() as u64).to_le_bytes()),
        Gather::Flush => db.clear(),
        Gather::Keys { select, .. } => push_keys(&mut out, select(db, a, now)),
        Gather::RandomKey => out = random_key_part(db, now, |_| true),
        _ => {}
    }
    out
}

/// RANDOMKEY's part of keyspace `db`: how many live keys `keep` admits,
/// then one of them drawn at random (none when there are none). Linear in
/// the keys: kv's keyspace has no random access.
fn random_key_part(db: &Db, now: u64, keep: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let live = || db.keys(now).filter(|(k, _)| keep(k));
    let count = live().count() as u64;
    let mut out = count.to_le_bytes().to_vec();
    if count > 0 {
        let pick = (cmd::random() % count) as usize;
        if let Some((k, _)) = live().nth(pick) {
            push_keys(&mut out, vec![k.clone()]);
        }
    }
    out
}

/// This shard's part of an all-shard command inside a transaction that
/// holds it: over the keys the transaction did not fetch (`touched`, of
/// which `present` exist). Changes nothing: the transaction's FLUSHDB
/// happens at its write-back.
pub(crate) fn shard_part_untouched(
    gather: Gather,
    a: &Args<'_>,
    touched: &std::collections::HashSet<&[u8], db::Fx>,
    present: u64,
    now: u64,
) -> Vec<u8> {
    SHARD.with(|s| {
        let s = s.borrow();
        let mut out = Vec::new();
        match gather {
            Gather::Count => {
                out.extend_from_slice(&(s.db.len() as u64).saturating_sub(present).to_le_bytes())
            }
            Gather::Keys { select, .. } => {
                let keys = select(&s.db, a, now)
                    .into_iter()
                    .filter(|k| !touched.contains(k.as_slice()))
                    .collect();
                push_keys(&mut out, keys);
            }
            Gather::Info => out = info_part(&s),
            Gather::Clients => out = clients_part(&s, a, now),
            Gather::RandomKey => {
                out = random_key_part(&s.db, now, |k| !touched.contains(k));
            }
            _ => {}
        }
        out
    })
}

/// CLIENT LIST's lines of this shard's connections, oldest first.
fn clients_part(s: &Shard, a: &Args<'_>, now: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let Ok(filter) = clients::list_filter(a) else {
        return out; // checked before any shard was asked
    };
    let mut clients: Vec<_> = s.clients.values().filter(|c| filter.admits(c)).collect();
    clients.sort_by_key(|c| c.id);
    for c in clients {
        c.line(now, &mut out);
    }
    out
}

/// One shard's counters for INFO.
fn info_part(s: &Shard) -> Vec<u8> {
    let mut out = Vec::new();
    for n in [
        s.db.len() as u64,
        s.db.volatile_len() as u64,
        s.commands,
        s.hops,
        s.db.expired,
        s.connections,
    ]
    .into_iter()
    .chain(s.aof.as_ref().map_or([0; 4], aof::Log::info))
    .chain([
        s.blocks.iter().filter(|b| !b.done()).count() as u64,
        s.blocked.len() as u64,
        s.watched.len() as u64,
        s.db.evicted_keys,
    ])
    .chain(stats::snapshot())
    {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out
}

fn push_keys(out: &mut Vec<u8>, keys: Vec<Vec<u8>>) {
    for k in keys {
        out.extend_from_slice(&(k.len() as u64).to_le_bytes());
        out.extend_from_slice(&k);
    }
}

fn read_keys(mut part: &[u8]) -> Vec<&[u8]> {
    let mut keys = Vec::new();
    while part.len() >= 8 {
        let n = u64::from_le_bytes(part[..8].try_into().expect("8 bytes")) as usize;
        keys.push(&part[8..8 + n]);
        part = &part[8 + n..];
    }
    keys
}

fn read_u64s(part: &[u8]) -> Vec<u64> {
    part.chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
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
