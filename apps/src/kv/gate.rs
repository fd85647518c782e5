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

use shardloop::{ConnectionHandle, EventLoop};

use super::db::Fx;

/// What an item claims: keys, and the connection it came from (so that a
/// connection's commands keep their order on this shard), or every key.
#[derive(Default)]
pub(crate) struct Claim {
    pub keys: Vec<Vec<u8>>,
    /// The connection whose order it keeps ([`Claim::conn`]).
    pub conn: Option<u64>,
    /// Every key of the shard.
    pub all: bool,
}

impl Claim {
    /// A connection's name in a claim: its home shard and handle, hashed
    /// (two that collide only keep each other's order too).
    pub fn conn(home: usize, conn: ConnectionHandle) -> u64 {
        use std::hash::BuildHasher;
        Fx::default().hash_one((home, conn))
    }

    /// A claim on every key of the shard.
    pub fn all() -> Self {
        Self {
            all: true,
            ..Self::default()
        }
    }
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
    /// How many pending items claim each key.
    keys: HashMap<Vec<u8>, u32, Fx>,
    conns: HashMap<u64, u32, Fx>,
    /// How many pending items claim every key.
    alls: u32,
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
        c.keys.iter().all(|k| !self.keys.contains_key(k))
            && c.conn.is_none_or(|h| !self.conns.contains_key(&h))
    }

    fn add(&mut self, claim: Claim, work: Option<Work>) -> u64 {
        let id = self.next;
        self.next += 1;
        if claim.all {
            self.alls += 1;
        }
        for k in &claim.keys {
            *self.keys.entry(k.clone()).or_default() += 1;
        }
        if let Some(h) = claim.conn {
            *self.conns.entry(h).or_default() += 1;
        }
        self.items.push_back(Item { id, claim, work });
        id
    }

    fn forget(&mut self, claim: &Claim) {
        if claim.all {
            self.alls -= 1;
        }
        for k in &claim.keys {
            if let Some(n) = self.keys.get_mut(k) {
                *n -= 1;
                if *n == 0 {
                    self.keys.remove(k);
                }
            }
        }
        if let Some(h) = claim.conn {
            if let Some(n) = self.conns.get_mut(&h) {
                *n -= 1;
                if *n == 0 {
                    self.conns.remove(&h);
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
    fn next_runnable(&self) -> Option<usize> {
        let mut keys: HashSet<&[u8], Fx> = HashSet::default();
        let mut conns: HashSet<u64, Fx> = HashSet::default();
        for (i, item) in self.items.iter().enumerate() {
            let c = &item.claim;
            if c.all {
                // It runs once first; nothing after it runs before it ends.
                return (i == 0 && item.work.is_some()).then_some(0);
            }
            let clear = item.work.is_some()
                && c.keys.iter().all(|k| !keys.contains(k.as_slice()))
                && c.conn.is_none_or(|h| !conns.contains(&h));
            if clear {
                return Some(i);
            }
            keys.extend(c.keys.iter().map(Vec::as_slice));
            conns.extend(c.conn);
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
        !g.idle() && (g.alls > 0 || g.keys.contains_key(key))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ks: &[&str]) -> Claim {
        Claim {
            keys: ks.iter().map(|k| k.as_bytes().to_vec()).collect(),
            ..Claim::default()
        }
    }

    fn wait(g: &mut Gate, c: Claim) -> u64 {
        g.add(c, Some(Work::Once(Box::new(|_| {}))))
    }

    fn release(g: &mut Gate, id: u64) {
        let i = g.items.iter().position(|it| it.id == id).expect("pending");
        let item = g.items.remove(i).expect("present");
        g.forget(&item.claim);
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
        assert!(g.idle() && g.free(&keys(&["a"])) && g.keys.is_empty());
    }

    #[test]
    fn waiting_work_runs_first_come_first_served_per_key() {
        let mut g = Gate::default();
        let t = g.hold(keys(&["a"]));
        let w1 = wait(&mut g, keys(&["a", "b"]));
        // Behind w1 on b, though nothing holds b.
        assert!(!g.free(&keys(&["b"])));
        let w2 = wait(&mut g, keys(&["b"]));
        assert_eq!(g.next_runnable(), None);
        release(&mut g, t);
        assert_eq!(g.items[g.next_runnable().unwrap()].id, w1);
        release(&mut g, w1);
        assert_eq!(g.items[g.next_runnable().unwrap()].id, w2);
    }

    #[test]
    fn a_connection_keeps_its_order_across_keys() {
        let mut g = Gate::default();
        let h = 7;
        let _t = g.hold(keys(&["a"]));
        let mut c1 = keys(&["a"]);
        c1.conn = Some(h);
        let _w1 = wait(&mut g, c1);
        let mut c2 = keys(&["z"]);
        c2.conn = Some(h);
        assert!(!g.free(&c2), "behind its own connection's waiting command");
        assert!(g.free(&keys(&["z"])), "another connection's goes through");
    }

    #[test]
    fn a_claim_on_every_key_waits_for_all_before_it_and_holds_all_after() {
        let mut g = Gate::default();
        let t = g.hold(keys(&["a"]));
        let all = wait(&mut g, Claim::all());
        let w = wait(&mut g, keys(&["q"]));
        assert_eq!(g.next_runnable(), None);
        release(&mut g, t);
        assert_eq!(g.items[g.next_runnable().unwrap()].id, all);
        release(&mut g, all);
        assert_eq!(g.items[g.next_runnable().unwrap()].id, w);
    }
}
