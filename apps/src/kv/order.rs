//! The global order of kv's multi-shard transactions (step 1 of the
//! design in `txn`): a transaction's requests go into the queues of all
//! the shards it involves under one mutex, so every shard takes any two
//! transactions' requests in the same relative order, and turns each into
//! a key lock (`gate`) in that order.

use std::collections::VecDeque;

use std::sync::atomic::{AtomicU64, Ordering};

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

/// Which shards have requests waiting in [`ORDER`] (bit `shard % 64`):
/// set with the requests, cleared when a shard takes them (only with at
/// most 64 shards; beyond, a shard looks every time).
static QUEUED: AtomicU64 = AtomicU64::new(0);

fn bit(shard: usize) -> u64 {
    1 << (shard % 64)
}

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
        let mut bits = 0;
        for (shard, claim, grant) in parts {
            order[shard].push_back(Request { claim, grant });
            bits |= bit(shard);
        }
        QUEUED.fetch_or(bits, Ordering::Release);
    }
    for shard in shards {
        lp.post(shard, take_requests);
    }
}

/// This shard's requests, taken out of the global order.
fn take_mine(lp: &LoopHandle) -> VecDeque<Request> {
    let me = lp.shard_id().unwrap_or(0);
    let mut order = ORDER.lock();
    let taken = match order.get_mut(me) {
        Some(q) => std::mem::take(q),
        None => VecDeque::new(),
    };
    if lp.shard_count() <= 64 {
        QUEUED.fetch_and(!bit(me), Ordering::Release);
    }
    taken
}

/// Whether transactions placed their requests for this shard in the
/// global order since it last took them.
#[inline]
fn queued_here(lp: &LoopHandle) -> bool {
    QUEUED.load(Ordering::Acquire) & bit(lp.shard_id().unwrap_or(0)) != 0
}

/// Before a shard serves plain commands: the transactions placed in the
/// global order before now take their place in its queue first, so a
/// command that arrives after a transaction began (in real time) is
/// ordered after it on every shard — an MGET is never seen half before
/// and half after a client's two SETs in a row. Their locks are taken at
/// the loop's next turn (see [`gate::enqueue`]).
pub(super) fn catch_up(lp: &LoopHandle) {
    if lp.shard_count() == 1 || !queued_here(lp) || DRAINING.with(std::cell::Cell::get) {
        return;
    }
    let requests = take_mine(lp);
    if requests.is_empty() {
        return;
    }
    for r in requests {
        gate::enqueue(r.claim, r.grant);
    }
    lp.call_soon(gate::pump);
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
    loop {
        let requests = take_mine(lp.handle());
        if requests.is_empty() {
            break;
        }
        for r in requests {
            gate::lock(lp, r.claim, r.grant);
        }
    }
}
