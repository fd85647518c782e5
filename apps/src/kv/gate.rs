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
//! Order is first come, first served per lock: an item runs when no item
//! still pending that arrived before it shares a key (or its connection)
//! with it — VLL's counter, per item, of the locks on which something
//! before it comes first. Transactions arrive on every shard in one
//! global order (`order`), so a transaction only ever waits for
//! transactions before it in that order, or for plain commands, which
//! hold nothing across messages: no cycle of waits, so no deadlock (see
//! `txn`).

use std::collections::{HashMap, VecDeque};
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

    /// Adds a key to the claim.
    pub fn push_key(&mut self, key: &[u8]) {
        self.locks.push(key_lock(key));
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
    /// On how many of its locks an item before it comes first (VLL's
    /// counter): it may run at 0.
    ahead: u32,
}

/// The items claiming one lock, in arrival order: the first holds it (or
/// may take it). Most locks have one claimer, which costs no allocation.
struct Line {
    head: u64,
    rest: VecDeque<u64>,
}

/// One shard's locks and queue.
#[derive(Default)]
pub(crate) struct Gate {
    next: u64,
    /// Pending items (locks held, work waiting), by id: arrival order.
    items: VecDeque<Item>,
    /// Per lock, the pending items claiming it, in arrival order: the
    /// first one holds it (or may take it).
    queues: HashMap<u64, Line, Fx>,
    /// The pending items that claim every key, in arrival order.
    alls: VecDeque<u64>,
    /// How many pending items wait (the rest hold their locks).
    waiting: usize,
    /// Items that may run now that something before them went.
    check: Vec<u64>,
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
        if c.all || !self.alls.is_empty() {
            return false;
        }
        c.locks.iter().all(|l| !self.queues.contains_key(l))
    }

    fn add(&mut self, mut claim: Claim, work: Option<Work>) -> u64 {
        let id = self.next;
        self.next += 1;
        if claim.all {
            self.alls.push_back(id);
        }
        // Each lock once (a key named twice is one lock).
        claim.locks.sort_unstable();
        claim.locks.dedup();
        let mut ahead = 0;
        for &l in &claim.locks {
            match self.queues.entry(l) {
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    e.get_mut().rest.push_back(id);
                    ahead += 1;
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(Line {
                        head: id,
                        rest: VecDeque::new(),
                    });
                }
            }
        }
        self.waiting += usize::from(work.is_some());
        self.items.push_back(Item {
            id,
            claim,
            work,
            ahead,
        });
        id
    }

    fn index(&self, id: u64) -> Option<usize> {
        self.items.binary_search_by_key(&id, |it| it.id).ok()
    }

    /// Whether a waiting item may run: it comes first on each of its
    /// locks and after every claim on every key (or, claiming every key
    /// itself, it comes first of all).
    fn runnable(&self, item: &Item) -> bool {
        if item.work.is_none() {
            return false;
        }
        if item.claim.all {
            return self.items.front().map(|f| f.id) == Some(item.id);
        }
        if self.alls.front().is_some_and(|&a| a < item.id) {
            return false;
        }
        item.ahead == 0
    }

    /// Removes item `id` (run, or its lock let go) and notes what may run
    /// after it.
    fn remove(&mut self, id: u64) {
        let Some(i) = self.index(id) else {
            return;
        };
        let item = self.items.remove(i).expect("present");
        self.waiting -= usize::from(item.work.is_some());
        for l in &item.claim.locks {
            let Some(q) = self.queues.get_mut(l) else {
                continue;
            };
            if q.head != id {
                if let Some(at) = q.rest.iter().position(|&x| x == id) {
                    q.rest.remove(at);
                }
                continue;
            }
            match q.rest.pop_front() {
                Some(next) => {
                    q.head = next;
                    // First on one more of its locks.
                    if let Some(j) = self.index(next) {
                        let it = &mut self.items[j];
                        it.ahead -= 1;
                        if it.ahead == 0 {
                            self.check.push(next);
                        }
                    }
                }
                None => {
                    self.queues.remove(l);
                }
            }
        }
        if item.claim.all {
            self.alls.retain(|&a| a != id);
            // Everything after it may run now.
            let waiting = self.items.iter().filter(|it| it.work.is_some());
            self.check.extend(waiting.map(|it| it.id));
        }
        if let Some(f) = self.items.front() {
            if f.claim.all {
                self.check.push(f.id);
            }
        }
    }

    /// Takes a lock at once (the caller checked [`free`](Self::free)).
    pub fn hold(&mut self, claim: Claim) -> u64 {
        self.add(claim, None)
    }

    /// A waiting item that may run now, taken out of the waiting: its id
    /// and work.
    fn take_runnable(&mut self) -> Option<(u64, Work)> {
        while let Some(id) = self.check.pop() {
            let Some(i) = self.index(id) else {
                continue;
            };
            if !self.runnable(&self.items[i]) {
                continue;
            }
            let work = self.items[i].work.take().expect("waiting");
            self.waiting -= 1;
            return Some((id, work));
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

/// Runs `f` now when nothing pending claims any of `claim`, else once
/// nothing that arrived before it does.
pub(crate) fn run(lp: &mut EventLoop, claim: Claim, f: impl FnOnce(&mut EventLoop) + 'static) {
    let mut f = Some(f);
    GATE.with(|g| {
        let mut g = g.borrow_mut();
        if !g.free(&claim) {
            let f = f.take().expect("not yet moved");
            g.add(claim, Some(Work::Once(Box::new(f))));
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

/// Lets lock `id` go and runs what may run now.
pub(crate) fn release(lp: &mut EventLoop, id: u64) {
    GATE.with(|g| g.borrow_mut().remove(id));
    pump(lp);
}

/// Runs every waiting item that may run, one at a time (each may lock,
/// release or queue more).
pub(crate) fn pump(lp: &mut EventLoop) {
    loop {
        let next = GATE.with(|g| {
            let mut g = g.borrow_mut();
            let (id, work) = g.take_runnable()?;
            if let Work::Once(_) = work {
                // Done once run: what waits behind it may run too.
                g.remove(id);
            }
            Some((id, work))
        });
        match next {
            // A lock stays held (no work left) until released.
            Some((id, Work::Lock(f))) => f(lp, id),
            Some((_, Work::Once(f))) => f(lp),
            None => break,
        }
    }
}

/// Places a lock request in the queue without taking it now (the caller
/// pumps at the loop's next turn): `f` gets the lock once nothing before
/// it claims any of `claim`.
pub(crate) fn enqueue(claim: Claim, f: impl FnOnce(&mut EventLoop, u64) + 'static) {
    GATE.with(|g| {
        let mut g = g.borrow_mut();
        let id = g.add(claim, Some(Work::Lock(Box::new(f))));
        g.check.push(id);
    });
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
        !g.idle() && (!g.alls.is_empty() || g.queues.contains_key(&key_lock(key)))
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
        g.remove(id);
    }

    /// The first waiting item that may run (the same rule as the
    /// candidates `pump` looks at).
    fn next(g: &mut Gate) -> Option<u64> {
        g.items.iter().find(|it| g.runnable(it)).map(|it| it.id)
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
        assert!(g.idle() && g.free(&keys(&["a"])) && g.queues.is_empty());
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

    #[test]
    fn a_release_hands_each_lock_to_the_next_in_line_only() {
        let mut g = Gate::default();
        let t = g.hold(keys(&["a"]));
        let w1 = wait(&mut g, keys(&["a", "b"]));
        let w2 = wait(&mut g, keys(&["b"]));
        let w3 = wait(&mut g, keys(&["a"]));
        assert!(g.take_runnable().is_none());
        g.remove(t);
        let (id, _) = g.take_runnable().expect("w1 is next on a");
        assert_eq!(id, w1);
        assert!(g.take_runnable().is_none(), "w2 and w3 wait behind w1");
        g.remove(w1);
        let mut next: Vec<u64> =
            std::iter::from_fn(|| g.take_runnable().map(|(id, _)| id)).collect();
        next.sort();
        assert_eq!(next, vec![w2, w3], "b to w2 and a to w3, together");
        g.remove(w2);
        g.remove(w3);
        assert!(g.idle() && g.queues.is_empty() && g.waiting == 0);
    }
}
