//! WATCH: optimistic locking for MULTI/EXEC.
//!
//! A connection's watch is one flag ([`Watch`]) shared with the shards
//! owning the keys it watches; each shard keeps, per watched key, the
//! flags of the connections watching it (weakly: an UNWATCH or a closed
//! connection leaves nothing alive). A write command on a watched key (on
//! the shard, by a transaction's write-back, a FLUSHALL/FLUSHDB of the
//! shard) sets the flags of its watchers. EXEC checks the flag once the
//! transaction holds every shard it touches: set, it answers nil and runs
//! nothing. The flag is set by any write command naming the key, even
//! one that changed nothing (Redis sets it only when the value changed).
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
                SHARD.with(|s| {
                    let mut s = s.borrow_mut();
                    for k in keys {
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

/// `key` was written on shard `s`: its watchers' flags are set.
pub fn touched(s: &mut Shard, key: &[u8]) {
    if let Some(list) = s.watched.remove(key) {
        for w in list.iter().filter_map(Weak::upgrade) {
            w.touch();
        }
    }
}

/// Every key of shard `s` is about to go (FLUSHALL, FLUSHDB): the
/// watchers of the keys that exist are touched (a watched key that did not
/// exist is not changed by the flush, as in Redis).
pub fn touched_all(s: &mut Shard) {
    let watched = std::mem::take(&mut s.watched);
    for (key, list) in watched {
        if s.db.peek(&key).is_some() {
            for w in list.iter().filter_map(Weak::upgrade) {
                w.touch();
            }
        } else {
            s.watched.insert(key, list);
        }
    }
}
