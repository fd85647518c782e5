//! A shard's key locks: what a multi-shard transaction holds on this
//! shard, and the work that waits for it, per key and in arrival order.
//!
//! A transaction locks the keys it names on each shard it touches (see
//! `txn`); a command arriving for a locked key — or behind waiting work of
//! its own connection — waits in this shard's queue and runs once nothing
//! that arrived before it claims any of its keys. Everything else runs at
//! once: while nothing is pending the check is one `is_empty`, and while
//! something is, a look-up per key. A claim on *every* key (an all-shard
//! command inside a transaction, a log being loaded, a command that lists
//! or counts the whole keyspace) waits for everything before it and holds
//! everything after it.
//!
//! Order is first come, first served per key: an item runs when no item
//! still pending that arrived before it shares a key (or its connection)
//! with it. Because transactions lock shards in ascending shard order and
//! each shard's part as one item, a transaction only ever waits for an
//! item on a shard above every shard where it holds locks, or for one that
//! came before it on the same shard: no cycle of waits, so no deadlock
//! (see `txn`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;

use shardloop::{ConnectionHandle, EventLoop};

use super::db::Fx;

/// What an item claims: locks named by 64-bit hashes — of its keys, and
/// of the connection it came from (so that a connection's commands keep
/// their order on this shard) — or every key. Two names that collide
/// only make their holders wait for each other: never less exclusion.
#[derive(Default)]
pub(crate) struct Claim {
    locks: Vec<u64>,
    /// Every key of the shard.
    all: bool,
}

impl Claim {
    /// A claim on these keys.
    pub fn keys<'k>(keys: impl IntoIterator<Item = &'k [u8]>) -> Self {
        Self {
            locks: keys.into_iter().map(key_lock).collect(),
            all: false,
        }
    }

    /// The same claim, in the order of this connection's commands (its
    /// home shard and handle).
    pub fn in_order_of(mut self, home: usize, conn: ConnectionHandle) -> Self {
        // Tagged apart from the keys' names.
        self.locks
            .push(Fx::default().hash_one((0xC0_77u16, home, conn)));
        self
    }

    /// A claim on every key of the shard.
    pub fn all() -> Self {
        Self {
            locks: Vec::new(),
            all: true,
        }
    }
}

/// A key's lock name.
#[inline]
fn key_lock(key: &[u8]) -> u64 {
    Fx::default().hash_one(key)
}

/// What a lock's holder runs once it has the lock, with its id.
type OnLock = Box<dyn FnOnce(&mut EventLoop, u64)>;

/// A waiting item's work.
enum Work {
    /// Runs once and is done.
    Once(Box<dyn FnOnce(&mut EventLoop)>),
    /// Takes the lock, which it keeps until [`release`]d.
    Lock(OnLock),
}

struct Item {
    id: u64,
    claim: Claim,
    /// `None` while it holds its lock.
    work: Option<Work>,
}

/// One shard's locks and queue.
#[derive(Default)]
pub(crate) struct Gate {
    next: u64,
    /// Pending items (locks held, work waiting), in arrival order.
    items: VecDeque<Item>,
    /// How many pending items claim each lock.
    counts: HashMap<u64, u32, Fx>,
    /// How many pending items claim every key.
    alls: u32,
    /// The locks claimed by the items before the one looked at (reused).
    before: HashSet<u64, Fx>,
}

impl Gate {
    /// Nothing is locked and nothing waits: everything runs at once.
    #[inline]
    pub fn idle(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether an item claiming `c` would run now (nothing pending claims
    /// any of it).
    pub fn free(&self, c: &Claim) -> bool {
        if self.items.is_empty() {
            return true;
        }
        if c.all || self.alls > 0 {
            return false;
        }
        c.locks.iter().all(|l| !self.counts.contains_key(l))
    }

    fn add(&mut self, claim: Claim, work: Option<Work>) -> u64 {
        let id = self.next;
        self.next += 1;
        if claim.all {
            self.alls += 1;
        }
        for &l in &claim.locks {
            *self.counts.entry(l).or_default() += 1;
        }
        self.items.push_back(Item { id, claim, work });
        id
    }

    fn forget(&mut self, claim: &Claim) {
        if claim.all {
            self.alls -= 1;
        }
        for l in &claim.locks {
            if let Some(n) = self.counts.get_mut(l) {
                *n -= 1;
                if *n == 0 {
                    self.counts.remove(l);
                }
            }
        }
    }

    /// Takes a lock at once (the caller checked [`free`](Self::free)).
    pub fn hold(&mut self, claim: Claim) -> u64 {
        self.add(claim, None)
    }

    /// The first waiting item that may run now: nothing before it that is
    /// still pending claims any of what it claims.
    fn next_runnable(&mut self) -> Option<usize> {
        self.before.clear();
        for (i, item) in self.items.iter().enumerate() {
            let c = &item.claim;
            if c.all {
                // It runs once first; nothing after it runs before it ends.
                return (i == 0 && item.work.is_some()).then_some(0);
            }
            if item.work.is_some() && c.locks.iter().all(|l| !self.before.contains(l)) {
                return Some(i);
            }
            self.before.extend(c.locks.iter().copied());
        }
        None
    }
}

thread_local! {
    static GATE: std::cell::RefCell<Gate> = std::cell::RefCell::new(Gate::default());
}

/// Runs `f` with this shard's gate.
pub(crate) fn with<T>(f: impl FnOnce(&mut Gate) -> T) -> T {
    GATE.with(|g| f(&mut g.borrow_mut()))
}

/// Nothing is locked or waiting on this shard.
#[inline]
pub(crate) fn idle() -> bool {
    GATE.with(|g| g.borrow().idle())
}

/// Runs `f` now when nothing pending claims any of `claim` (built only
/// when something is pending), else once nothing that arrived before it
/// does.
pub(crate) fn run(
    lp: &mut EventLoop,
    claim: impl FnOnce() -> Claim,
    f: impl FnOnce(&mut EventLoop) + 'static,
) {
    let mut f = Some(f);
    GATE.with(|g| {
        let mut g = g.borrow_mut();
        if g.idle() {
            return;
        }
        let c = claim();
        if !g.free(&c) {
            let f = f.take().expect("not yet moved");
            g.add(c, Some(Work::Once(Box::new(f))));
        }
    });
    if let Some(f) = f {
        f(lp);
    }
}

/// Locks `claim` on this shard: `f` gets the lock's id at once when
/// nothing pending claims any of it, else once nothing before it does.
/// The lock holds until [`release`].
pub(crate) fn lock(
    lp: &mut EventLoop,
    claim: Claim,
    f: impl FnOnce(&mut EventLoop, u64) + 'static,
) {
    let mut f = Some(f);
    let id = GATE.with(|g| {
        let mut g = g.borrow_mut();
        if g.free(&claim) {
            Some(g.hold(claim))
        } else {
            let f = f.take().expect("not yet moved");
            g.add(claim, Some(Work::Lock(Box::new(f))));
            None
        }
    });
    if let (Some(id), Some(f)) = (id, f) {
        f(lp, id);
    }
}

/// Lets lock `id` go and runs what may run now, in arrival order.
pub(crate) fn release(lp: &mut EventLoop, id: u64) {
    GATE.with(|g| {
        let mut g = g.borrow_mut();
        if let Some(i) = g.items.iter().position(|it| it.id == id) {
            let item = g.items.remove(i).expect("present");
            g.forget(&item.claim);
        }
    });
    pump(lp);
}

/// Runs every waiting item that may run, one at a time (each may lock,
/// release or queue more).
pub(crate) fn pump(lp: &mut EventLoop) {
    enum Next {
        Once(Box<dyn FnOnce(&mut EventLoop)>),
        Lock(OnLock, u64),
    }
    loop {
        let next = GATE.with(|g| {
            let mut g = g.borrow_mut();
            let i = g.next_runnable()?;
            // A lock stays as held (no work left); work once is done.
            match g.items[i].work.take().expect("waiting") {
                Work::Once(f) => {
                    let item = g.items.remove(i).expect("present");
                    g.forget(&item.claim);
                    Some(Next::Once(f))
                }
                Work::Lock(f) => Some(Next::Lock(f, g.items[i].id)),
            }
        });
        match next {
            Some(Next::Once(f)) => f(lp),
            Some(Next::Lock(f, id)) => f(lp, id),
            None => break,
        }
    }
}

/// Queues `f` behind what claims any of `claim` (the caller found it not
/// [`free`](Gate::free)); it runs when a release lets it.
pub(crate) fn queue(claim: Claim, f: impl FnOnce(&mut EventLoop) + 'static) {
    GATE.with(|g| {
        g.borrow_mut().add(claim, Some(Work::Once(Box::new(f))));
    });
}

/// Whether something pending on this shard claims `key` (or every key).
pub(crate) fn claimed(key: &[u8]) -> bool {
    GATE.with(|g| {
        let g = g.borrow();
        !g.idle() && (g.alls > 0 || g.counts.contains_key(&key_lock(key)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ks: &[&str]) -> Claim {
        Claim::keys(ks.iter().map(|k| k.as_bytes()))
    }

    fn wait(g: &mut Gate, c: Claim) -> u64 {
        g.add(c, Some(Work::Once(Box::new(|_| {}))))
    }

    fn release(g: &mut Gate, id: u64) {
        let i = g.items.iter().position(|it| it.id == id).expect("pending");
        let item = g.items.remove(i).expect("present");
        g.forget(&item.claim);
    }

    fn next(g: &mut Gate) -> Option<u64> {
        g.next_runnable().map(|i| g.items[i].id)
    }

    #[test]
    fn a_lock_holds_its_keys_only() {
        let mut g = Gate::default();
        assert!(g.idle() && g.free(&keys(&["a"])));
        let t = g.hold(keys(&["a", "b"]));
        assert!(!g.free(&keys(&["a"])) && !g.free(&keys(&["x", "b"])));
        assert!(g.free(&keys(&["c"])), "other keys go straight through");
        assert!(!g.free(&Claim::all()), "a claim on every key waits");
        release(&mut g, t);
        assert!(g.idle() && g.free(&keys(&["a"])) && g.counts.is_empty());
    }

    #[test]
    fn waiting_work_runs_first_come_first_served_per_key() {
        let mut g = Gate::default();
        let t = g.hold(keys(&["a"]));
        let w1 = wait(&mut g, keys(&["a", "b"]));
        // Behind w1 on b, though nothing holds b.
        assert!(!g.free(&keys(&["b"])));
        let w2 = wait(&mut g, keys(&["b"]));
        assert_eq!(next(&mut g), None);
        release(&mut g, t);
        assert_eq!(next(&mut g), Some(w1));
        release(&mut g, w1);
        assert_eq!(next(&mut g), Some(w2));
    }

    #[test]
    fn a_connection_keeps_its_order_across_keys() {
        let mut g = Gate::default();
        let _t = g.hold(keys(&["a"]));
        let tag = |c: Claim| {
            let mut c = c;
            c.locks.push(7);
            c
        };
        let _w1 = wait(&mut g, tag(keys(&["a"])));
        assert!(
            !g.free(&tag(keys(&["z"]))),
            "behind its own connection's waiting command"
        );
        assert!(g.free(&keys(&["z"])), "another connection's goes through");
    }

    #[test]
    fn a_claim_on_every_key_waits_for_all_before_it_and_holds_all_after() {
        let mut g = Gate::default();
        let t = g.hold(keys(&["a"]));
        let all = wait(&mut g, Claim::all());
        let w = wait(&mut g, keys(&["q"]));
        assert_eq!(next(&mut g), None);
        release(&mut g, t);
        assert_eq!(next(&mut g), Some(all));
        release(&mut g, all);
        assert_eq!(next(&mut g), Some(w));
    }
}
