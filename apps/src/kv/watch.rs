//! WATCH: optimistic locking for MULTI/EXEC.
//!
//! A connection's watch is one flag ([`Watch`]) shared with the shards
//! owning the keys it watches; each shard keeps, per watched key, the
//! flags of the connections watching it (weakly: an UNWATCH or a closed
//! connection leaves nothing alive). A write command on a watched key (on
//! the shard, by a transaction's write-back, a FLUSHALL/FLUSHDB of the
//! shard) sets the flags of its watchers. EXEC checks the flag once the
//! transaction holds every shard it touches: set, it answers nil and runs
//! nothing. The flag is set by any write command naming the key that
//! found it or left it, even one that changed nothing (Redis sets it
//! only when the value changed; a DEL of a key already expired sets it
//! in neither). A key watched while live that expires before EXEC sets
//! it too, read or not, as Redis 7.0 fails such an EXEC: a timer per
//! shard fires at the nearest such expiry.
//!
//! A connection keeps its flag and its keys in a [`Watching`]. When it lets
//! go (UNWATCH, EXEC, DISCARD, a close), the owners forget its entries,
//! once no transaction holds the flag any more, so WATCH of ever new keys
//! leaves nothing behind (INFO's `total_watched_keys` counts what stays).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use super::{owner, when_free, ReplyTo, Shard, SHARD};
use shardloop::{EventLoop, LoopHandle};

/// A connection's watch: set once a watched key was written.
#[derive(Debug, Default)]
pub struct Watch {
    dirty: AtomicBool,
}

impl Watch {
    /// A watched key was written.
    pub fn touch(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    /// Whether EXEC must fail.
    pub fn dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }
}

/// A connection's watch: its flag and the keys it watches.
#[derive(Debug, Default)]
pub struct Watching {
    flag: Arc<Watch>,
    keys: std::collections::HashSet<Vec<u8>, super::db::Fx>,
}

impl Watching {
    /// The flag, for EXEC to check.
    pub fn flag(&self) -> &Arc<Watch> {
        &self.flag
    }

    /// The connection lets go: the owners of its keys drop its entries
    /// (after any transaction still holding the flag has let go too).
    pub fn release(self, lp: &LoopHandle) {
        let weak = Arc::downgrade(&self.flag);
        drop(self.flag);
        for (shard, keys) in by_owner(lp.shard_count(), self.keys)
            .into_iter()
            .enumerate()
        {
            if keys.is_empty() {
                continue;
            }
            let weak = weak.clone();
            lp.post(shard, move |lp| forget(lp, weak, keys));
        }
    }
}

fn by_owner(shards: usize, keys: impl IntoIterator<Item = Vec<u8>>) -> Vec<Vec<Vec<u8>>> {
    let mut by_shard: Vec<Vec<Vec<u8>>> = vec![Vec::new(); shards];
    for k in keys {
        by_shard[owner(&k, shards)].push(k);
    }
    by_shard
}

/// On an owner: drops the entries of a watcher that let go, or tries again
/// in a millisecond while a transaction still holds its flag.
fn forget(lp: &mut EventLoop, w: Weak<Watch>, keys: Vec<Vec<u8>>) {
    if w.strong_count() > 0 {
        let again = std::time::Duration::from_millis(1);
        lp.call_later(again, move |lp| forget(lp, w, keys));
        return;
    }
    SHARD.with(|s| {
        let mut s = s.borrow_mut();
        for k in &keys {
            if let Some(list) = s.watched.get_mut(k.as_slice()) {
                list.retain(|w| w.strong_count() > 0);
                if list.is_empty() {
                    s.watched.remove(k.as_slice());
                    if let Some(t) = s.watch_expiries.remove(k.as_slice()) {
                        s.watch_deadlines.remove(&(t, k.clone()));
                    }
                }
            }
        }
    });
}

/// The shards' watchers of `keys` (by owner), then `OK` to `to` once all
/// have registered them.
pub fn watch(lp: &LoopHandle, w: &mut Watching, keys: Vec<Vec<u8>>, to: ReplyTo) {
    let shards = lp.shard_count();
    w.keys.extend(keys.iter().cloned());
    let w = &w.flag;
    let by_shard = by_owner(shards, keys);
    let involved = by_shard.iter().filter(|k| !k.is_empty()).count();
    let left = Arc::new(std::sync::atomic::AtomicUsize::new(involved));
    for (shard, keys) in by_shard.into_iter().enumerate() {
        if keys.is_empty() {
            continue;
        }
        let (w, left) = (Arc::downgrade(w), Arc::clone(&left));
        lp.post(shard, move |lp| {
            when_free(lp, move |lp| {
                let now = super::db::now_ms(lp.handle());
                SHARD.with(|s| {
                    let mut s = s.borrow_mut();
                    for k in keys {
                        let expires = s.db.peek(&k).and_then(|e| e.expires_at);
                        if let Some(t) = expires.filter(|&t| t > now) {
                            expire_later(lp.handle(), &mut s, &k, t, now);
                        }
                        let list = s.watched.entry(k).or_default();
                        list.retain(|w| w.strong_count() > 0);
                        list.push(w.clone());
                    }
                });
                if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                    let mut out = Vec::new();
                    super::resp::reply::set_protocol(to.proto);
                    super::resp::reply::ok(&mut out);
                    lp.post(to.shard, move |lp| super::deliver(lp, to, out));
                }
            });
        });
    }
}

/// A watched key that is live now expires at `t`: its expiry will count
/// as a write for its watchers (Redis 7.0 fails EXEC when a key watched
/// live has expired since, read or not). One timer per shard, for the
/// nearest such expiry; a key's entry goes when its watchers do.
fn expire_later(lp: &LoopHandle, s: &mut Shard, key: &[u8], t: u64, now: u64) {
    if let Some(old) = s.watch_expiries.insert(key.to_vec(), t) {
        s.watch_deadlines.remove(&(old, key.to_vec()));
    }
    s.watch_deadlines.insert((t, key.to_vec()));
    if s.watch_timer.is_none_or(|armed| t < armed) {
        s.watch_timer = Some(t);
        let wait = std::time::Duration::from_millis(t.saturating_sub(now));
        lp.call_later(wait, move |lp| expiries_due(lp, t));
    }
}

/// The timer armed for `armed`: watched keys whose expiry came are
/// touched; the timer is armed again for the next.
fn expiries_due(lp: &mut EventLoop, armed: u64) {
    let now = super::db::now_ms(lp.handle());
    SHARD.with(|s| {
        let mut s = s.borrow_mut();
        if s.watch_timer != Some(armed) {
            return; // An earlier one was armed since, and re-arms.
        }
        s.watch_timer = None;
        while let Some((t, key)) = s.watch_deadlines.first().cloned() {
            if t > now {
                s.watch_timer = Some(t);
                let wait = std::time::Duration::from_millis(t - now);
                lp.call_later(wait, move |lp| expiries_due(lp, t));
                break;
            }
            s.watch_deadlines.pop_first();
            s.watch_expiries.remove(&key);
            let expired =
                s.db.peek(&key)
                    .is_some_and(|e| e.expires_at.is_some_and(|t| t <= now));
            if expired {
                touched(&mut s, &key);
            }
        }
    });
}

/// `key` was written on shard `s`: its watchers' flags are set.
pub fn touched(s: &mut Shard, key: &[u8]) {
    if let Some(list) = s.watched.remove(key) {
        for w in list.iter().filter_map(Weak::upgrade) {
            w.touch();
        }
        if let Some(t) = s.watch_expiries.remove(key) {
            s.watch_deadlines.remove(&(t, key.to_vec()));
        }
    }
}

/// Every key of shard `s` is about to go (FLUSHALL, FLUSHDB): the
/// watchers of the keys that exist are touched (a watched key that did not
/// exist, or had expired, is not changed by the flush, as in Redis).
pub fn touched_all(s: &mut Shard, now: u64) {
    let watched = std::mem::take(&mut s.watched);
    for (key, list) in watched {
        let live =
            s.db.peek(&key)
                .is_some_and(|e| e.expires_at.is_none_or(|t| t > now));
        if live {
            for w in list.iter().filter_map(Weak::upgrade) {
                w.touch();
            }
        } else {
            s.watched.insert(key, list);
        }
    }
}
