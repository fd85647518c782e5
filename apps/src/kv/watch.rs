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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use super::{owner, when_free, ReplyTo, Shard, SHARD};

/// A connection's watch: set once a watched key was written.
#[derive(Debug, Default)]
pub struct Watch {
    dirty: AtomicBool,
}

impl Watch {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// A watched key was written.
    pub fn touch(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    /// Whether EXEC must fail.
    pub fn dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }
}

/// The shards' watchers of `keys` (by owner), then `OK` to `to` once all
/// have registered them.
pub fn watch(lp: &shardloop::LoopHandle, w: &Arc<Watch>, keys: Vec<Vec<u8>>, to: ReplyTo) {
    let shards = lp.shard_count();
    let mut by_shard: Vec<Vec<Vec<u8>>> = vec![Vec::new(); shards];
    for k in keys {
        by_shard[owner(&k, shards)].push(k);
    }
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
