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

/// Runs `args` on this shard as a command (logged if the shard logs);
/// returns its reply.
fn run(s: &mut Shard, args: &[&[u8]], now: u64, proto: u8) -> Vec<u8> {
    let owned = owned(args);
    let a = owned.args();
    let spec = cmd::lookup(a.get(0)).expect("a command of the table");
    reply::set_protocol(proto);
    let mut out = Vec::new();
    super::exec_on(s, spec, &a, now, &mut out);
    out
}

fn owned(args: &[&[u8]]) -> OwnedArgs {
    let mut buf = Vec::new();
    let mut ranges = Vec::new();
    for a in args {
        ranges.push(buf.len()..buf.len() + a.len());
        buf.extend_from_slice(a);
    }
    OwnedArgs { buf, ranges }
}

/// `b` won on this shard and `key` holds what it pops: pop, and reply.
fn serve(s: &mut Shard, b: &Arc<Block>, key: &[u8], now: u64) {
    let proto = b.to.proto;
    match b.pop {
        Pop::List { left } => {
            let popped = run(s, &[if left { b"LPOP" } else { b"RPOP" }, key], now, proto);
            let mut out = Vec::new();
            reply::set_protocol(proto);
            reply::array(&mut out, 2);
            reply::bulk(&mut out, key);
            out.extend_from_slice(&popped);
            let undo = element(&popped).map(|e| {
                let cmd: &[u8] = if left { b"LPUSH" } else { b"RPUSH" };
                vec![cmd.to_vec(), key.to_vec(), e]
            });
            send(s, b, out, undo);
        }
        Pop::Zset { min } => {
            let popped = run(
                s,
                &[if min { b"ZPOPMIN" } else { b"ZPOPMAX" }, key],
                now,
                proto,
            );
            // ZPOPMIN's [member, score] after the key.
            let items = popped.splitn(2, |&c| c == b'\n').nth(1).unwrap_or_default();
            let mut out = Vec::new();
            reply::set_protocol(proto);
            reply::array(&mut out, 3);
            reply::bulk(&mut out, key);
            out.extend_from_slice(items);
            send(s, b, out, None);
        }
        Pop::ListMany { left, count } => {
            let n = count.to_string();
            let end: &[u8] = if left { b"LPOP" } else { b"RPOP" };
            let popped = run(s, &[end, key, n.as_bytes()], now, proto);
            let mut out = Vec::new();
            reply::set_protocol(proto);
            reply::array(&mut out, 2);
            reply::bulk(&mut out, key);
            out.extend_from_slice(&popped);
            send(s, b, out, None);
        }
        Pop::ZsetMany { min, count } => {
            let n = count.to_string();
            let end: &[u8] = if min { b"ZPOPMIN" } else { b"ZPOPMAX" };
            // Popped in RESP2 (member, score, member, score…), answered in
            // BZMPOP's nested pairs.
            let popped = run(s, &[end, key, n.as_bytes()], now, 2);
            let items = super::aof::bulk_strings(&popped);
            let mut out = Vec::new();
            reply::set_protocol(proto);
            reply::array(&mut out, 2);
            reply::bulk(&mut out, key);
            reply::array(&mut out, items.len() / 2);
            for pair in items.chunks(2) {
                reply::array(&mut out, 2);
                reply::bulk(&mut out, pair[0]);
                reply::double(&mut out, super::float::parse(pair[1]).unwrap_or(0.0));
            }
            send(s, b, out, None);
        }
        Pop::Move { from_left, to_left } => {
            let dst = b.dst.clone().expect("a move has a destination");
            let side = |l: bool| -> &[u8] {
                if l {
                    b"LEFT"
                } else {
                    b"RIGHT"
                }
            };
            let here = s.lp.as_ref().map(|lp| lp.shard_id().unwrap_or(0));
            let shards = s.lp.as_ref().map_or(1, LoopHandle::shard_count);
            let dst_shard = owner(&dst, shards);
            if Some(dst_shard) == here {
                let out = run(
                    s,
                    &[b"LMOVE", key, &dst, side(from_left), side(to_left)],
                    now,
                    proto,
                );
                return send(s, b, out, None);
            }
            // The destination lives on another shard: pop here, push there,
            // answer from there.
            let popped = run(
                s,
                &[if from_left { b"LPOP" } else { b"RPOP" }, key],
                now,
                proto,
            );
            let Some(e) = element(&popped) else {
                return;
            };
            let (b, lp) = (Arc::clone(b), s.lp.clone().expect("a shard's loop"));
            let (src, src_shard) = (key.to_vec(), lp.shard_id().unwrap_or(0));
            lp.post(dst_shard, move |lp| {
                // Behind a transaction that holds the destination.
                let claim = super::gate::Claim::keys([dst.as_slice()]);
                super::gate::run(lp, claim, move |lp| {
                    let now = super::db::now_ms(lp.handle());
                    let push: &[u8] = if to_left { b"LPUSH" } else { b"RPUSH" };
                    SHARD.with(|s| {
                        let mut s = s.borrow_mut();
                        let s = &mut *s;
                        s.lp.get_or_insert_with(|| lp.handle().clone());
                        let pushed = run(s, &[push, &dst, &e], now, b.to.proto);
                        let mut out = Vec::new();
                        reply::set_protocol(b.to.proto);
                        if pushed.first() == Some(&b'-') {
                            // WRONGTYPE at the destination: the client gets the
                            // error and the element goes back where it was, as
                            // Redis, which checks before it pops, leaves it.
                            out = pushed;
                            let back: &[u8] = if from_left { b"LPUSH" } else { b"RPUSH" };
                            let undo = [back.to_vec(), src, e];
                            lp.post(src_shard, move |lp| {
                                let now = super::db::now_ms(lp.handle());
                                SHARD.with(|s| {
                                    let args: Vec<&[u8]> = undo.iter().map(Vec::as_slice).collect();
                                    run(&mut s.borrow_mut(), &args, now, 2);
                                });
                            });
                        } else {
                            reply::bulk(&mut out, &e);
                        }
                        send(s, &b, out, None);
                    });
                });
            });
        }
    }
}

/// The element of a bulk reply (`$n\r\nE\r\n`), if it is one.
fn element(bulk: &[u8]) -> Option<Vec<u8>> {
    let eol = memchr::memchr(b'\n', bulk)?;
    let n: usize = std::str::from_utf8(bulk.get(1..eol - 1)?)
        .ok()?
        .parse()
        .ok()?;
    bulk.get(eol + 1..eol + 1 + n).map(<[u8]>::to_vec)
}

/// Sends `b`'s reply once the shard's log holds what it popped; if its
/// connection closed meanwhile, `undo` puts the element back.
fn send(s: &mut Shard, b: &Arc<Block>, out: Vec<u8>, undo: Option<Vec<Vec<u8>>>) {
    let Some(lp) = s.lp.clone() else {
        return;
    };
    let to = b.to;
    let origin = lp.shard_id().unwrap_or(0);
    let arrive = move |lp: &mut EventLoop| {
        let delivered = lp
            .with_connection(to.conn, |p: &mut super::KvConn, t| p.fill(t, to.seq, out))
            .is_some();
        if let (false, Some(undo)) = (delivered, undo) {
            lp.post(origin, move |lp| {
                let now = super::db::now_ms(lp.handle());
                SHARD.with(|s| {
                    let args: Vec<&[u8]> = undo.iter().map(Vec::as_slice).collect();
                    run(&mut s.borrow_mut(), &args, now, to.proto);
                });
            });
        }
    };
    if super::aof::on() {
        super::after_sync(&lp, move |lp| lp.post(to.shard, arrive));
    } else {
        lp.post(to.shard, arrive);
    }
}

/// The timeout of `b` (on the shard that queued it last): answers nil if
/// nothing served it, and clears it from the shards' queues.
fn time_out(lp: &mut EventLoop, b: Arc<Block>) {
    if !b.win() {
        return;
    }
    let out = timeout_reply(&b);
    let to = b.to;
    lp.post(to.shard, move |lp| super::deliver(lp, to, out));
    unqueue(lp.handle(), &b);
}

/// What a block answers when its time is up: a nil array, for a move too
/// (Redis 7.0's replyToBlockedClientTimedOut answers every list and
/// sorted-set block so: `*-1` in RESP2).
fn timeout_reply(b: &Block) -> Vec<u8> {
    let mut out = Vec::new();
    reply::set_protocol(b.to.proto);
    reply::nil_array(&mut out);
    out
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

/// A blocking command's timeout argument in milliseconds (0: none), as
/// Redis 7.0's getTimeoutFromObjectOrReply reads it: a float of seconds,
/// truncated to milliseconds (so below 1 ms is 0, no timeout); what does
/// not fit an i64 (inf) becomes i64::MIN, as C's conversion does on x86,
/// and so is negative.
pub fn timeout_ms(arg: &[u8], now: u64) -> Result<u64, String> {
    let t = super::float::parse(arg)
        .filter(|t| !t.is_nan())
        .ok_or("ERR timeout is not a float or out of range")?;
    let ms = t * 1000.0;
    let ms = if ms.is_finite() && ms.abs() < 9.223_372_036_854_775e18 {
        ms as i64
    } else {
        i64::MIN
    };
    if ms < 0 {
        return Err("ERR timeout is negative".into());
    }
    if ms > i64::MAX - now as i64 {
        return Err("ERR timeout is out of range".into());
    }
    Ok(ms as u64)
}

/// A blocking command read: what it pops, its keys, a move's
/// destination.
pub type Parsed = (Pop, Vec<Vec<u8>>, Option<Vec<u8>>);

/// The blocking commands, by what they pop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockCmd {
    Blpop,
    Brpop,
    Bzpopmin,
    Bzpopmax,
    Blmove,
    Brpoplpush,
    Blmpop,
    Bzmpop,
}

impl BlockCmd {
    /// Reads the arguments in Redis 7.0's order (the timeout first, but
    /// BLMOVE's ends and BLMPOP's and BZMPOP's arguments before it): what
    /// it pops, its keys, a move's
    /// destination, and the timeout in milliseconds (0: none).
    pub fn read(self, a: &Args<'_>, now: u64) -> Result<(Parsed, u64), cmd::Msg> {
        let side = |i: usize| match a.get(i).to_ascii_lowercase().as_slice() {
            b"left" => Ok(true),
            b"right" => Ok(false),
            _ => Err(cmd::Msg(b"ERR syntax error".to_vec())),
        };
        let last = a.len() - 1;
        let keys = |from: usize, to: usize| (from..to).map(|i| a.get(i).to_vec()).collect();
        Ok(match self {
            Self::Blmove => {
                let pop = Pop::Move {
                    from_left: side(3)?,
                    to_left: side(4)?,
                };
                let t = timeout_ms(a.get(last), now)?;
                ((pop, vec![a.get(1).to_vec()], Some(a.get(2).to_vec())), t)
            }
            Self::Brpoplpush => {
                let t = timeout_ms(a.get(last), now)?;
                let pop = Pop::Move {
                    from_left: false,
                    to_left: true,
                };
                ((pop, vec![a.get(1).to_vec()], Some(a.get(2).to_vec())), t)
            }
            Self::Blmpop | Self::Bzmpop => {
                let list = self == Self::Blmpop;
                let ends: [&[u8]; 2] = if list {
                    [b"left", b"right"]
                } else {
                    [b"min", b"max"]
                };
                let m = cmd::mpop_args(a, 2, ends)?;
                let t = timeout_ms(a.get(1), now)?;
                let pop = if list {
                    Pop::ListMany {
                        left: m.first_end,
                        count: m.count,
                    }
                } else {
                    Pop::ZsetMany {
                        min: m.first_end,
                        count: m.count,
                    }
                };
                let keys = m.keys.iter().map(|k| k.to_vec()).collect();
                ((pop, keys, None), t)
            }
            _ => {
                let t = timeout_ms(a.get(last), now)?;
                let pop = match self {
                    Self::Blpop => Pop::List { left: true },
                    Self::Brpop => Pop::List { left: false },
                    Self::Bzpopmin => Pop::Zset { min: true },
                    _ => Pop::Zset { min: false },
                };
                ((pop, keys(1, last), None), t)
            }
        })
    }
}

/// The handlers of the table: the non-blocking run (inside MULTI, and on
/// a transaction's copies).
macro_rules! handlers {
    ($($name:ident: $cmd:ident),+) => {
        $(
            pub fn $name(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> cmd::R {
                pop_now(BlockCmd::$cmd, db, a, now, out)
            }
        )+
    };
}

handlers!(
    blpop: Blpop,
    brpop: Brpop,
    bzpopmin: Bzpopmin,
    bzpopmax: Bzpopmax,
    blmove: Blmove,
    brpoplpush: Brpoplpush,
    blmpop: Blmpop,
    bzmpop: Bzmpop
);

/// Pops what is there, else answers nil (Redis's blocking commands inside
/// MULTI).
fn pop_now(c: BlockCmd, db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> cmd::R {
    let ((pop, keys, dst), _) = c.read(a, now)?;
    match pop {
        Pop::ListMany { left, count } | Pop::ZsetMany { min: left, count } => {
            let m = cmd::Mpop {
                keys: keys.iter().map(Vec::as_slice).collect(),
                first_end: left,
                count,
            };
            return if matches!(pop, Pop::ListMany { .. }) {
                cmd::lmpop_keys(db, &m, now, out)
            } else {
                cmd::zmpop_keys(db, &m, now, out)
            };
        }
        _ => {}
    }
    for k in &keys {
        match state(db, k, pop, now) {
            State::Empty => continue,
            State::WrongType => return Err(cmd::Msg(cmd::WRONGTYPE.as_bytes().to_vec())),
            State::Ready => {}
        }
        let mut inner = Vec::new();
        match pop {
            Pop::List { left } => {
                let args = owned(&[if left { b"LPOP" } else { b"RPOP" }, k]);
                cmd::exec(db, lookup(&args), &args.args(), now, &mut inner);
                reply::array(out, 2);
                reply::bulk(out, k);
                out.extend_from_slice(&inner);
            }
            Pop::Zset { min } => {
                let args = owned(&[if min { b"ZPOPMIN" } else { b"ZPOPMAX" }, k]);
                cmd::exec(db, lookup(&args), &args.args(), now, &mut inner);
                reply::array(out, 3);
                reply::bulk(out, k);
                out.extend_from_slice(inner.splitn(2, |&c| c == b'\n').nth(1).unwrap_or_default());
            }
            Pop::Move { from_left, to_left } => {
                let side = |l: bool| -> &[u8] {
                    if l {
                        b"LEFT"
                    } else {
                        b"RIGHT"
                    }
                };
                let dst = dst.as_deref().expect("a move's destination");
                let args = owned(&[b"LMOVE", k, dst, side(from_left), side(to_left)]);
                cmd::exec(db, lookup(&args), &args.args(), now, out);
            }
            Pop::ListMany { .. } | Pop::ZsetMany { .. } => unreachable!("answered above"),
        }
        return Ok(());
    }
    match pop {
        Pop::Move { .. } => reply::nil(out),
        _ => reply::nil_array(out),
    }
    Ok(())
}

fn lookup(args: &OwnedArgs) -> &'static cmd::Spec {
    cmd::lookup(args.args().get(0)).expect("a command of the table")
}
