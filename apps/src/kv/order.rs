//! The global order of kv's multi-shard transactions (step 1 of the
//! design in `txn`): a transaction's requests go into the queues of all
//! the shards it involves under one mutex, so every shard takes any two
//! transactions' requests in the same relative order, and turns each into
//! a key lock (`gate`) in that order.

use std::collections::VecDeque;

use parking_lot::Mutex;
use shardloop::{EventLoop, LoopHandle};

use super::gate::{self, Claim};

/// What a shard runs once a transaction's lock there is granted, given
/// the lock's id.
pub(super) type Grant = Box<dyn FnOnce(&mut EventLoop, u64) + Send>;

/// A transaction's request to one shard.
struct Request {
    claim: Claim,
    grant: Grant,
}

/// The global order: per shard, the requests not yet taken, pushed for
/// all of a transaction's shards under this one lock. (One kv keyspace
/// per process, as kv's configuration is.)
static ORDER: Mutex<Vec<VecDeque<Request>>> = Mutex::new(Vec::new());

thread_local! {
    /// This shard is taking its queue (a grant that runs at once must not
    /// take the requests behind it out of order).
    static DRAINING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Places a transaction's requests in the global order and wakes their
/// shards.
pub(super) fn submit(lp: &LoopHandle, parts: Vec<(usize, Claim, Grant)>) {
    let shards: Vec<usize> = parts.iter().map(|p| p.0).collect();
    {
        let mut order = ORDER.lock();
        let n = lp.shard_count();
        if order.len() < n {
            order.resize_with(n, VecDeque::new);
        }
        for (shard, claim, grant) in parts {
            order[shard].push_back(Request { claim, grant });
        }
    }
    for shard in shards {
        lp.post(shard, take_requests);
    }
}

/// Turns this shard's queued requests into locks, in order.
fn take_requests(lp: &mut EventLoop) {
    struct Draining;
    impl Drop for Draining {
        fn drop(&mut self) {
            DRAINING.with(|d| d.set(false));
        }
    }
    if DRAINING.with(|d| d.replace(true)) {
        return;
    }
    let _reset = Draining;
    let me = lp.shard_id().unwrap_or(0);
    loop {
        let requests = {
            let mut order = ORDER.lock();
            match order.get_mut(me) {
                Some(q) => std::mem::take(q),
                None => VecDeque::new(),
            }
        };
        if requests.is_empty() {
            break;
        }
        for r in requests {
            gate::lock(lp, r.claim, r.grant);
        }
    }
}
