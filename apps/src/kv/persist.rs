//! The shard's side of persistence: holding a shard while its log loads,
//! installing what loaded, and replies that wait for the log's next sync
//! (a group commit).

use super::*;

/// Runs `f` now if nothing is locked or waiting on this shard, else once
/// everything that arrived before it is done (a claim on every key: see
/// `gate`).
pub(super) fn when_free(lp: &mut EventLoop, f: impl FnOnce(&mut EventLoop) + 'static) {
    gate::run(lp, gate::Claim::all(), f);
}

thread_local! {
    /// The lock that holds this shard while its log loads.
    pub(super) static LOADING: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Holds this shard until its log is loaded: commands queue as behind a
/// transaction.
pub(super) fn hold() {
    let id = gate::with(|g| g.hold(gate::Claim::all()));
    LOADING.with(|l| l.set(Some(id)));
}

/// This shard's keys and log, loaded.
pub(super) fn install(db: Db, log: aof::Log) {
    SHARD.with(|s| {
        let mut s = s.borrow_mut();
        s.db = db;
        s.aof = Some(log);
    });
}

/// Lets a loaded shard go: what queued runs.
pub(super) fn release(lp: &mut EventLoop) {
    ensure_sweep(lp.handle());
    if let Some(id) = LOADING.with(std::cell::Cell::take) {
        gate::release(lp, id);
    }
}

/// Runs `f` on this shard's log and keys, if it logs.
pub(super) fn with_log<T>(f: impl FnOnce(&mut aof::Log, &mut Db) -> T) -> Option<T> {
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
pub(super) type AfterSync = Vec<Box<dyn FnOnce(&mut EventLoop)>>;

thread_local! {
    pub(super) static AFTER_SYNC: RefCell<AfterSync> = const { RefCell::new(Vec::new()) };
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

pub(super) fn run_after_sync(lp: &mut EventLoop) {
    sync_log();
    let waiting = AFTER_SYNC.with(|q| std::mem::take(&mut *q.borrow_mut()));
    for f in waiting {
        f(lp);
    }
}
