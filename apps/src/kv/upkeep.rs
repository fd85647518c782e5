//! A shard's upkeep: the active expiry sweep every 100 ms, and eviction
//! under `maxmemory` (on the write, on the tick, and when asked by a
//! shard over the limit).

use super::*;

/// Starts this shard's active expiry sweep, once.
pub(super) fn ensure_sweep(lp: &LoopHandle) {
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
pub(super) static ACTIVE_EXPIRE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(true);

pub(crate) fn set_active_expire(on: bool) {
    ACTIVE_EXPIRE.store(on, std::sync::atomic::Ordering::Relaxed);
}

pub(super) fn sweep(lp: &mut EventLoop) {
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
pub(super) enum Room {
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
pub(super) fn evict_here(s: &mut Shard, now: u64) -> Room {
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
pub(super) fn make_room(s: &mut Shard, now: u64) -> bool {
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
pub(super) fn evict_on(lp: &LoopHandle, shards: impl Iterator<Item = usize>) {
    for shard in shards {
        lp.post(shard, |lp| {
            when_free(lp, |lp| {
                let now = now_ms(lp.handle());
                SHARD.with(|s| evict_here(&mut s.borrow_mut(), now));
            })
        });
    }
}
