//! Blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN, BZPOPMAX,
//! BLMPOP, BZMPOP.
//!
//! * A blocked command is a [`Block`]: where its reply goes, what it pops,
//!   and a `served` flag that exactly one shard (or the timeout) wins.
//! * The connection posts it to every shard owning one of its keys. Each
//!   shard first tries to serve it at once (keys in the command's order);
//!   if it cannot, it queues the block behind each of those keys, in
//!   arrival order.
//! * After a write on a key with blocks queued (on the shard, or by a
//!   transaction's write-back), the shard serves the queue in order while
//!   the key holds what the front block pops: the winner of `served` pops
//!   (as LPOP, RPOP, LMOVE or ZPOPMIN would, and logged so), and the reply
//!   goes to its connection. A block another shard or the timeout won is
//!   dropped from the queue.
//! * The timeout runs on the connection's shard, on the loop's timers; it
//!   wins `served` or finds it won. A connection that closes wins its
//!   blocks' flags, so nothing is popped for it afterwards; an element
//!   popped for a connection that closed meanwhile is pushed back.
//! * Across shards: a command whose keys live on several shards is first
//!   run as a transaction over all of them (its non-blocking run: the
//!   first key in order that holds something is popped, or the first of
//!   the wrong type answers WRONGTYPE, as in Redis); only a nil answer
//!   blocks it. Once blocked, whichever shard gets an element first
//!   serves it. BLMOVE whose destination lives on another shard pops,
//!   then pushes on that shard: the element is in neither list for that
//!   moment.
//! * Inside MULTI they do not block (Redis's rule): their handlers pop
//!   what is there or answer nil.

mod parse;
mod serve;
use serve::{owned, send, serve, time_out, timeout_reply};

pub use parse::{blmove, blmpop, blpop, brpop, brpoplpush, bzmpop, bzpopmax, bzpopmin, BlockCmd};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use shardloop::{EventLoop, LoopHandle};

use super::cmd::{self, Args, OwnedArgs};
use super::db::{Db, Entry, Value};
use super::resp::reply;
use super::{owner, when_free, ReplyTo, Shard, SHARD};

/// What a blocked command pops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pop {
    /// BLPOP (`left`) and BRPOP.
    List { left: bool },
    /// BZPOPMIN (`min`) and BZPOPMAX.
    Zset { min: bool },
    /// BLMPOP: up to `count` elements.
    ListMany { left: bool, count: usize },
    /// BZMPOP: up to `count` members.
    ZsetMany { min: bool, count: usize },
    /// BLMOVE and BRPOPLPUSH: pop from one end of the source, push to one
    /// end of `dst`.
    Move { from_left: bool, to_left: bool },
}

/// A blocked command.
pub struct Block {
    served: AtomicBool,
    to: ReplyTo,
    pop: Pop,
    /// Its keys in order (the source only, for a move).
    keys: Vec<Vec<u8>>,
    /// A move's destination.
    dst: Option<Vec<u8>>,
    /// Milliseconds to wait once queued everywhere (0: for ever).
    timeout: u64,
    /// Shards still to queue it: the last one starts the timeout, so a
    /// short timeout cannot win before every key was looked at.
    unqueued: std::sync::atomic::AtomicUsize,
    /// The blocked connection's client id (CLIENT UNBLOCK names it).
    client: u64,
}

impl Block {
    pub fn new(
        to: ReplyTo,
        client: u64,
        pop: Pop,
        keys: Vec<Vec<u8>>,
        dst: Option<Vec<u8>>,
        timeout: u64,
    ) -> Arc<Self> {
        Arc::new(Self {
            served: AtomicBool::new(false),
            to,
            pop,
            keys,
            dst,
            timeout,
            unqueued: std::sync::atomic::AtomicUsize::new(usize::MAX),
            client,
        })
    }

    /// Takes the block: true for the one caller that serves it.
    fn win(&self) -> bool {
        !self.served.swap(true, Ordering::AcqRel)
    }

    /// Whether someone took it.
    pub fn done(&self) -> bool {
        self.served.load(Ordering::Acquire)
    }
}

/// `b`'s connection closed: nothing is popped for it any more, and the
/// owners of its keys drop it from their queues.
pub fn cancel(lp: &LoopHandle, b: &Arc<Block>) {
    if b.win() {
        unqueue(lp, b);
    }
}

/// Posts to each owner of `b`'s keys to drop it (and any other block
/// already served) from their queues.
fn unqueue(lp: &LoopHandle, b: &Arc<Block>) {
    let shards = lp.shard_count();
    let mut seen = Vec::new();
    for k in &b.keys {
        let shard = owner(k, shards);
        if seen.contains(&shard) {
            continue;
        }
        seen.push(shard);
        let keys = b.keys.clone();
        lp.post(shard, move |_| {
            SHARD.with(|s| {
                let mut s = s.borrow_mut();
                for k in &keys {
                    if let Some(q) = s.blocked.get_mut(k) {
                        q.retain(|b| !b.done());
                        if q.is_empty() {
                            s.blocked.remove(k);
                        }
                    }
                }
            });
        });
    }
}

/// Posts `b` to every shard owning one of its keys.
pub fn start(lp: &LoopHandle, b: Arc<Block>) {
    let shards = lp.shard_count();
    let mut by_shard: Vec<Vec<Vec<u8>>> = vec![Vec::new(); shards];
    for k in &b.keys {
        let mine = &mut by_shard[owner(k, shards)];
        if !mine.contains(k) {
            mine.push(k.clone());
        }
    }
    let shards_of_keys = by_shard.iter().filter(|k| !k.is_empty()).count();
    b.unqueued.store(shards_of_keys, Ordering::Release);
    for (shard, keys) in by_shard.into_iter().enumerate() {
        if keys.is_empty() {
            continue;
        }
        let b = Arc::clone(&b);
        lp.post(shard, move |lp| {
            when_free(lp, move |lp| register(lp, b, keys));
        });
    }
}

/// On a shard owning some of `b`'s keys: serve it now if one holds what
/// it pops, else queue it behind each.
fn register(lp: &mut EventLoop, b: Arc<Block>, keys: Vec<Vec<u8>>) {
    let now = super::db::now_ms(lp.handle());
    SHARD.with(|s| {
        let mut s = s.borrow_mut();
        let s = &mut *s;
        s.lp.get_or_insert_with(|| lp.handle().clone());
        for k in &keys {
            if b.done() {
                return;
            }
            match state(&mut s.db, k, b.pop, now) {
                State::Ready => {
                    if b.win() {
                        serve(s, &b, k, now);
                    }
                    return;
                }
                State::WrongType => {
                    if b.win() {
                        let mut out = Vec::new();
                        reply::set_protocol(b.to.proto);
                        reply::error(&mut out, cmd::WRONGTYPE);
                        send(s, &b, out, None);
                    }
                    return;
                }
                State::Empty => {}
            }
        }
        for k in keys {
            s.blocked.entry(k).or_default().push_back(Arc::clone(&b));
        }
    });
    if b.unqueued.fetch_sub(1, Ordering::AcqRel) == 1 && b.timeout > 0 && !b.done() {
        let wait = std::time::Duration::from_millis(b.timeout);
        lp.call_later(wait, move |lp| time_out(lp, b));
    }
}

enum State {
    Ready,
    Empty,
    WrongType,
}

fn state(db: &mut Db, key: &[u8], pop: Pop, now: u64) -> State {
    match (db.get(key, now), pop) {
        (None, _) => State::Empty,
        (
            Some(Entry {
                value: Value::List(_),
                ..
            }),
            Pop::List { .. } | Pop::Move { .. } | Pop::ListMany { .. },
        )
        | (
            Some(Entry {
                value: Value::ZSet(_),
                ..
            }),
            Pop::Zset { .. } | Pop::ZsetMany { .. },
        ) => State::Ready, // (an empty aggregate is never kept)
        _ => State::WrongType,
    }
}

/// After a write on `key`: serves the blocks queued behind it, in order,
/// while it holds what they pop.
pub fn key_written(s: &mut Shard, key: &[u8], now: u64) {
    loop {
        let Some(queue) = s.blocked.get_mut(key) else {
            return;
        };
        let Some(b) = queue.front().cloned() else {
            s.blocked.remove(key);
            return;
        };
        if b.done() {
            queue.pop_front();
            continue;
        }
        if !matches!(state(&mut s.db, key, b.pop, now), State::Ready) {
            return;
        }
        if let Some(q) = s.blocked.get_mut(key) {
            q.pop_front();
        }
        if b.win() {
            serve(s, &b, key, now);
        }
    }
}

/// CLIENT UNBLOCK on this shard: the waiting block of client `id` (whose
/// connection lives here), if any, answers now as if its time were up,
/// or with an UNBLOCKED error; whether there was one.
pub fn unblock(lp: &LoopHandle, id: u64, error: bool) -> bool {
    let found = SHARD.with(|s| {
        let s = s.borrow();
        s.blocks
            .iter()
            .find(|b| b.client == id && !b.done())
            .cloned()
    });
    let Some(b) = found.filter(|b| b.win()) else {
        return false;
    };
    let out = if error {
        let mut out = Vec::new();
        reply::set_protocol(b.to.proto);
        reply::error(&mut out, "UNBLOCKED client unblocked via CLIENT UNBLOCK");
        out
    } else {
        timeout_reply(&b)
    };
    let to = b.to;
    lp.post(to.shard, move |lp| super::deliver(lp, to, out));
    unqueue(lp, &b);
    true
}
