//! kv's persistence: an append-only log per shard, in Redis's AOF format
//! and Redis 7's multi-part layout, so acknowledged writes survive a crash
//! and a restart (a takeover included).
//!
//! # What is written, and when
//!
//! * **One log per shard**, in `dir/appendonlydir/`: shard `k` of `n`
//!   keeps `appendonly-KofN.aof.manifest`, which names a base file and
//!   the incremental files after it, as Redis 7 does
//!   (`file appendonly-0of2.aof.1.base.aof seq 1 type b`, …). Each file is
//!   RESP commands, so `redis-check-aof` reads a shard's manifest, and a
//!   one-shard log loads into `redis-server --appendonly yes
//!   --appendfilename appendonly-0of1.aof`.
//! * **Every command that changed the keyspace is logged, in a form whose
//!   replay gives the same keyspace** (the spec's [`Log`](super::cmd::Log)
//!   says which): most verbatim; a relative expiry (SET … EX, SETEX,
//!   EXPIRE, GETEX…) as the absolute state it left (`SET k v PXAT t`,
//!   `PEXPIREAT k t`), so replaying later sets the same instant; SPOP as
//!   the SREM of the members it popped, since a set's order is not kept
//!   across a rewrite. A key that expiry removes (on access or in the
//!   sweep) is logged as a `DEL`, and the log is replayed with expiry off,
//!   so replay is a function of the log alone. A command that failed
//!   changed nothing and is not logged.
//! * **A multi-shard transaction** is logged by each shard it wrote as the
//!   state it left of its keys, inside `MULTI`/`EXEC`: a log cut inside a
//!   transaction loads without any of that shard's part (as Redis drops an
//!   unfinished `MULTI` at a truncated end). Across shards the parts are
//!   separate files: a crash between two shards' writes can keep one
//!   part; with `always` no such transaction was ever acknowledged.
//! * **Durability**, Redis's `appendfsync`:
//!   - the log is written (`write(2)`) before the replies of the commands
//!     it holds leave: on the connection's shard before its one write per
//!     read, on another shard before its replies are posted back. A
//!     process crash (`kill -9`) loses nothing acknowledged, whatever the
//!     policy; the policy is about the machine crashing;
//!   - `always`: `fdatasync` at the same point, so an acknowledged write
//!     is on disk. A multi-shard transaction is answered after every shard
//!     it wrote has synced;
//!   - `everysec`: a helper thread syncs each shard's file once a second;
//!   - `no`: the kernel syncs when it likes.
//!
//!   A write to the log that fails stops the server with `always` (an
//!   acknowledgement would be a lie), as Redis does; with the others,
//!   write commands are refused with `-MISCONF` until a write succeeds.
//! * **Loading** happens before a shard runs anything: the shards are
//!   held (commands queue, as behind a transaction) until every shard has
//!   replayed its files. A log cut short by a crash loads up to its last
//!   complete command and is truncated there, as Redis's
//!   `aof-load-truncated yes`; anything else that is not a known command
//!   in RESP stops start-up with the file and the byte offset named.
//! * **One server per folder**: the process holds an exclusive `flock` on
//!   `appendonlydir/kv.lock`. A second server on the folder waits for it.
//!   That is also how a **takeover** keeps the keyspace: the new process
//!   serves the sockets at once but holds its shards until the old one has
//!   drained, synced its logs and let the lock go, then loads them.
//! * **The shard count may change**: the layout file (`kv.layout`) names
//!   the count the logs were written with. With another count each shard
//!   replays every old log, keeps the keys it owns now, and writes them as
//!   a new base; `kv.layout` is then replaced (atomically), and the old
//!   files removed. A crash before that loads the old layout again.
//!
//! # Rewriting without fork
//!
//! The incremental files grow with every write; a rewrite replaces them by
//! a base holding the keyspace as it is. Redis forks to get a frozen copy;
//! a shard does it in place, by copy-on-write per key:
//!
//! 1. At the rewrite's start (time T), the shard opens a new incremental
//!    file and logs every later write there; the manifest names the old
//!    base, the old incremental files and the new one (a crash now loads
//!    them all). It lists the keys it holds at T.
//! 2. A timer writes the listed keys' states to the new base, a slice per
//!    loop iteration, so the shard keeps serving.
//! 3. A write to a listed key not yet written first writes that key's
//!    state to the base: the base holds every key as it was at T, and the
//!    new incremental file every change after T. A key deleted by expiry
//!    before its turn is simply not written (its `DEL` is in the new
//!    file).
//! 4. Once done: the base is synced and renamed into place, the manifest
//!    names the new base and the new incremental file only, and the old
//!    files are removed.
//!
//! The price is the key list (a copy of the keys) while a rewrite runs.
//! A rewrite starts by `BGREWRITEAOF`, or by itself when the incremental
//! files pass `auto_aof_rewrite_min_size` and grew by
//! `auto_aof_rewrite_percentage` of the base, Redis's rule.
//!
//! RDB snapshots (SAVE/BGSAVE) are not built: the multi-part AOF gives the
//! compaction an RDB base would, in a format Redis reads too, without a
//! second encoder of every type.

mod format;
mod load;
mod rewrite;

mod log;
pub(crate) use log::Log;

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use shardloop::{EventLoop, LoopHandle, Runtime};

use super::cmd::{Args, Log as LogForm, Spec};
use super::db::Db;
use super::KvOptions;
pub use format::{bulk_strings, FileInfo, Manifest};

/// Redis's `appendfsync`: when the log reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// Before the reply of every write leaves.
    Always,
    /// Once a second, by a helper thread.
    #[default]
    Everysec,
    /// When the kernel flushes.
    No,
}

/// What a process persists with: read at start; a reload that changes it
/// takes effect at the next start or takeover.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    dir: PathBuf,
    fsync: Fsync,
    auto_percentage: u64,
    auto_min_size: u64,
}

impl Settings {
    fn of(o: &KvOptions) -> Self {
        Self {
            dir: o.dir.join("appendonlydir"),
            fsync: o.appendfsync,
            auto_percentage: o.auto_aof_rewrite_percentage,
            auto_min_size: o.auto_aof_rewrite_min_size as u64,
        }
    }

    /// Shard `k` of `n`'s file name prefix.
    fn prefix(k: usize, n: usize) -> String {
        format!("appendonly-{k}of{n}.aof")
    }

    fn manifest_path(&self, k: usize, n: usize) -> PathBuf {
        self.manifest_path_of(&Self::prefix(k, n))
    }

    fn manifest_path_of(&self, prefix: &str) -> PathBuf {
        self.dir.join(format!("{prefix}.manifest"))
    }
}

/// The process's persistence: its settings, and the folder's lock while
/// some shard's log is open.
struct Global {
    settings: Settings,
    lock: Option<File>,
}

static GLOBAL: Mutex<Option<Global>> = Mutex::new(None);
/// Shards whose log is open: the last to close lets the folder's lock go.
static OPEN: AtomicUsize = AtomicUsize::new(0);
/// kv served a listener already (persistence is chosen then).
static SERVED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

thread_local! {
    /// This shard logs (a cheap test on the hot path).
    static ON: Cell<bool> = const { Cell::new(false) };
}

/// Whether this shard logs its writes.
pub fn on() -> bool {
    ON.with(Cell::get)
}

/// Whether this process persists kv (BGREWRITEAOF's check).
pub fn enabled() -> bool {
    GLOBAL.lock().is_some()
}

/// Starts persistence for kv listeners with options `o` (a no-op when
/// `appendonly` is off, or when it started already): holds every shard,
/// takes the folder's lock, loads the logs, lets the shards go. When the
/// folder is free the load happens before this returns, and a corrupt log
/// is its error; when another process holds it (a takeover), a helper
/// thread waits for it and loads then, the shards queueing meanwhile.
pub fn start(o: &KvOptions, rt: &Runtime) -> io::Result<()> {
    if !SERVED.load(Ordering::Acquire) {
        // What CONFIG GET reports, under Redis's names.
        let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
        super::config::report("appendonly", yes(o.appendonly));
        super::config::report("appendfsync", format!("{:?}", o.appendfsync).to_lowercase());
        super::config::report("dir", o.dir.display().to_string());
        super::config::report(
            "auto-aof-rewrite-percentage",
            o.auto_aof_rewrite_percentage.to_string(),
        );
        super::config::report(
            "auto-aof-rewrite-min-size",
            o.auto_aof_rewrite_min_size.to_string(),
        );
        super::config::report("client-query-buffer-limit", o.max_query_buffer.to_string());
    }
    // Persistence is chosen when kv first serves: turning it on at a
    // reload would replace the keys in memory with the folder's.
    let served_before = SERVED.swap(true, Ordering::AcqRel);
    if o.appendonly && served_before && !enabled() {
        tracing::warn!(
            "kv: appendonly changed to true; it takes effect at the next start or takeover"
        );
        return Ok(());
    }
    if !o.appendonly {
        if enabled() {
            tracing::warn!("kv: appendonly changed to false; persistence stays on until a restart");
        }
        return Ok(());
    }
    let settings = Settings::of(o);
    {
        let mut g = GLOBAL.lock();
        if let Some(g) = &*g {
            if g.settings != settings {
                tracing::warn!(
                    "kv: persistence options changed; they take effect at the next start"
                );
            }
            return Ok(());
        }
        std::fs::create_dir_all(&settings.dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", settings.dir.display())))?;
        *g = Some(Global {
            settings: settings.clone(),
            lock: None,
        });
    }
    let shards: Vec<shardloop::ShardHandle> =
        (0..rt.shard_count()).map(|k| rt.shard(k).clone()).collect();
    // Hold every shard before anything is served.
    let (tx, rx) = crossbeam_channel::unbounded();
    for s in &shards {
        let tx = tx.clone();
        s.submit(move |_| {
            super::hold();
            let _ = tx.send(());
        })
        .map_err(|e| io::Error::other(format!("{e:?}")))?;
    }
    for _ in &shards {
        rx.recv().map_err(|_| io::Error::other("a shard stopped"))?;
    }
    let lock_path = settings.dir.join("kv.lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", lock_path.display())))?;
    match flock(&lock, false) {
        Ok(true) => load_all(&settings, lock, &shards).map_err(io::Error::other),
        Ok(false) => {
            tracing::info!(
                dir = %settings.dir.display(),
                "kv: another server holds the append-only logs; kv waits for it to let go (commands queue)"
            );
            std::thread::Builder::new()
                .name("kv-aof-wait".into())
                .spawn(move || {
                    if let Err(e) = flock(&lock, true) {
                        tracing::error!("kv: cannot lock {}: {e}", lock_path.display());
                        std::process::exit(1);
                    }
                    if let Err(e) = load_all(&settings, lock, &shards) {
                        tracing::error!("kv: {e}");
                        std::process::exit(1);
                    }
                })?;
            Ok(())
        }
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("{}: {e}", lock_path.display()),
        )),
    }
}

/// An exclusive `flock` on `f`: waits for it when `wait`, else returns
/// whether it was free.
fn flock(f: &File, wait: bool) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let op = if wait {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    loop {
        // SAFETY: flock on a descriptor this `File` owns; no memory is
        // passed.
        if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(e),
        }
    }
}

/// With the folder locked: every shard loads its part; the layout is
/// committed; the shards are let go.
fn load_all(
    settings: &Settings,
    lock: File,
    shards: &[shardloop::ShardHandle],
) -> Result<(), String> {
    let n = shards.len();
    let old = load::read_layout(&settings.dir)?;
    load::remove_temporaries(&settings.dir);
    let started = std::time::Instant::now();
    let (tx, rx) = crossbeam_channel::unbounded();
    for (k, s) in shards.iter().enumerate() {
        let tx = tx.clone();
        let settings = settings.clone();
        s.submit(move |lp| {
            let _ = tx.send(load::load_shard(lp, &settings, k, n, old));
        })
        .map_err(|e| format!("shard {k}: {e:?}"))?;
    }
    let mut keys = 0;
    for _ in 0..n {
        keys += rx
            .recv()
            .map_err(|_| "a shard stopped while loading".to_string())??;
    }
    if old != Some(n) {
        load::commit_layout(&settings.dir, n, old)?;
    }
    if let Some(g) = &mut *GLOBAL.lock() {
        g.lock = Some(lock);
    }
    tracing::info!(
        keys,
        shards = n,
        from_shards = old.unwrap_or(n),
        ms = started.elapsed().as_millis() as u64,
        dir = %settings.dir.display(),
        "kv: append-only logs loaded"
    );
    for s in shards {
        let _ = s.submit(super::release);
    }
    Ok(())
}

/// The shard's once-a-second tick (armed when its log opens).
fn tick(lp: &mut EventLoop) {
    super::with_log(|log, db| log.tick(db));
    lp.call_later(Duration::from_secs(1), tick);
}

/// Starts a rewrite on this shard, unless one runs.
pub fn start_rewrite(lp: &LoopHandle) {
    let started = super::with_log(|log, db| {
        if log.rewrite.is_some() {
            return false;
        }
        match rewrite::Rewrite::start(log, db) {
            Ok(rw) => {
                log.rewrite = Some(rw);
                true
            }
            Err(e) => {
                tracing::error!(prefix = %log.prefix, "kv: cannot start an AOF rewrite: {e}");
                false
            }
        }
    });
    if started == Some(true) {
        lp.call_soon(rewrite_step);
    }
}

/// Writes the next slice of a rewrite's keys; finishes it when all are.
fn rewrite_step(lp: &mut EventLoop) {
    let more = super::with_log(|log, db| {
        let Some(rw) = &mut log.rewrite else {
            return false;
        };
        match rw.step(db, 2048) {
            Ok(true) => true,
            Ok(false) => {
                let rw = log.rewrite.take().expect("a rewrite");
                if let Err(e) = rw.finish(log) {
                    tracing::error!(prefix = %log.prefix, "kv: AOF rewrite failed: {e}");
                }
                false
            }
            Err(e) => {
                tracing::error!(prefix = %log.prefix, "kv: AOF rewrite failed: {e}");
                if let Some(rw) = log.rewrite.take() {
                    rw.abandon(log);
                }
                false
            }
        }
    });
    if more == Some(true) {
        lp.call_soon(rewrite_step);
    }
}

/// Replays a log's bytes into `db` (expiry off), as a start-up does:
/// returns how many bytes hold complete commands, or where and why it
/// cannot read them. For the fuzz target and tests.
pub fn replay(bytes: &[u8], db: &mut Db) -> Result<usize, (usize, String)> {
    load::replay(bytes, db)
}

/// The commands a rewrite writes for every key of `db`: what a base file
/// holds. For the fuzz target and tests.
pub fn rewrite(db: &Db) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, e) in db.entries() {
        format::key_state(&mut out, key, Some(e));
    }
    out
}

/// Opens `path` for appending.
fn open_append(path: &Path) -> io::Result<File> {
    File::options()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// The log of a shard that just loaded, on file `incr` of `manifest`.
fn open_log(
    lp: &LoopHandle,
    settings: &Settings,
    prefix: String,
    manifest: Manifest,
    sizes: (u64, u64),
) -> io::Result<Log> {
    let incr = manifest
        .files
        .iter()
        .rfind(|f| f.kind == 'i')
        .cloned()
        .ok_or_else(|| io::Error::other("a manifest without an incremental file"))?;
    let file = open_append(&settings.dir.join(&incr.name))?;
    let next_seq = manifest.files.iter().map(|f| f.seq).max().unwrap_or(0) + 1;
    OPEN.fetch_add(1, Ordering::AcqRel);
    ON.with(|on| on.set(true));
    lp.call_later(Duration::from_secs(1), tick);
    Ok(Log {
        settings: settings.clone(),
        prefix,
        manifest,
        file: Arc::new(file),
        buf: Vec::new(),
        unsynced: false,
        base_size: sizes.0,
        incr_size: sizes.1,
        next_seq,
        rewrite: None,
        error: None,
        lp: lp.clone(),
    })
}
