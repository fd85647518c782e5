//! Transactions over several shards: multi-key commands whose keys live
//! on more than one shard, and MULTI/EXEC.
//!
//! # Design
//!
//! VLL-style scheduling (Ren, Thomson and Abadi, 2012), as Dragonfly runs
//! it: no lock is held across a message round trip by anything but a
//! transaction's own keys, and no shard copies data to another to run a
//! command it can run itself.
//!
//! 1. **One global order.** A transaction puts one request per shard it
//!    involves into that shard's queue of [`ORDER`], all under one
//!    mutex, and posts each shard a wake-up (batched with the
//!    iteration's other messages). Whatever shard takes its queue takes
//!    the requests in that order, so every shard sees any two
//!    transactions in the same relative order.
//! 2. **Key locks in that order.** A shard turns each request into a
//!    lock on the keys the transaction names there (`gate`: first come
//!    first served per key; a claim on every key for all-shard commands
//!    inside MULTI). Commands on keys no transaction holds run at once;
//!    a command on a held key waits behind it in the shard's queue.
//! 3. **Parts run where the keys are.** MSET, MGET, DEL, UNLINK, EXISTS
//!    and TOUCH split by shard: each shard runs its part on its own keys
//!    the moment its lock is granted — no copies — and sends the part's
//!    reply. A reading part lets its lock go at once; a writing part
//!    keeps it until every part has run. The last part to finish puts
//!    the reply together and lets the kept locks go. Consecutive such
//!    commands of one connection's read travel as one group (Dragonfly's
//!    squashing): one request per shard and one reply message for all.
//! 4. **Everything else runs on copies.** MULTI/EXEC, RENAME, MSETNX,
//!    the set operations and the rest: each shard sends copies of its
//!    keys when granted; once all are in, the connection's shard runs the
//!    commands on them, sends each shard its results, and each writes
//!    them back and lets its lock go. A transaction that only reads
//!    (SUNION, SINTER, MULTI of reads…) lets each lock go as soon as the
//!    copies are taken and writes nothing back: its copies are a view in
//!    the global order already.
//!
//! # Why it holds (proof sketch)
//!
//! * **Atomic.** A transaction's writes on a shard become visible to
//!   others only when its lock there goes, and it lets a writing lock go
//!   only once every part has run (copies: once the results are back),
//!   so a client that sees one of its writes and then reads another of
//!   its keys waits for (or finds) that one too: no client observes half
//!   of one. Tests: `kv_txn.rs`, `kv.rs`'s MSET against readers.
//! * **Serializable.** Two transactions that share a key are ordered the
//!   same way on every shard (1, 2), and each runs its part on a shard
//!   only when everything before it there on those keys is done: the
//!   history is equivalent to running them one by one in the global
//!   order. Test: `kv_txn.rs`'s random transfers, whose every snapshot
//!   sums to the total and whose final balances count every committed
//!   transfer once.
//! * **No deadlock.** On a shard, a transaction waits only for items that
//!   came before it: transactions earlier in the global order, and plain
//!   commands, which hold nothing and themselves wait only for what came
//!   before them. So every chain of waits leads to earlier transactions
//!   in one total order, and the earliest one waiting is never blocked.
//!   Test: `kv_txn.rs`'s transfers cross the same keys both ways on four
//!   shards.
//! * **A connection closing mid-way.** The transaction does not belong to
//!   the connection: its parts, copies and write-backs run to the end
//!   and let their locks go; only the reply finds no one. Test:
//!   `kv_txn.rs`'s clients that leave before their replies.
//! * **Real time.** Before a shard serves a read of a socket or a batch
//!   from another shard, it takes the requests placed in the global order
//!   so far (`order::catch_up`: one atomic load when there are none). So
//!   a command that arrives after a transaction began — a client's second
//!   SET, sent once its first was answered — is queued behind it on every
//!   shard it shares keys with, and no transaction sees the second
//!   without the first. Test: `kv_txn.rs`'s MGET and MULTI of GETs
//!   against a client's SETs in a row.
//! * **A connection's own order.** A connection starts a transaction only
//!   once its earlier commands are answered, and holds its later ones
//!   until it is (the barrier in `conn`); split commands that follow one
//!   another in one read go as one group, run in order on each shard.
//!   Test: `kv_txn.rs`'s pipelined MSET/MGET/DEL/EXISTS.
//!
//! A transaction that holds an all-shard command (DBSIZE, KEYS, SCAN,
//! FLUSHDB, FLUSHALL, INFO) claims every key of every shard, and each
//! shard sends, with its copies, its part of each such command computed
//! over the keys the transaction does not touch (which nothing changes
//! until the write-back). The command's answer inside the transaction is
//! those parts plus what the copies hold at that point; a FLUSHDB empties
//! the copies and drops the untouched parts, and the write-back then
//! clears each shard before putting the copies back.

use super::*;

use std::sync::Arc;

use parking_lot::Mutex;

use super::gate::{self, Claim};
use super::order::{submit, Grant};

/// A transaction over several shards run on copies (see the module docs).
struct Txn {
    cmds: Arc<Vec<(&'static Spec, OwnedArgs)>>,
    /// EXEC (an array of replies) rather than one command.
    exec: bool,
    /// Keys by shard, shards ascending.
    keys: Vec<(usize, Vec<Vec<u8>>)>,
    /// Copies fetched so far.
    fetched: Vec<(Vec<u8>, Option<Entry>)>,
    /// For each all-shard command (by index in `cmds`): each shard's part
    /// over the keys not fetched.
    bases: Vec<(usize, Vec<u8>)>,
    to: ReplyTo,
    /// The connection's WATCH: set, EXEC answers nil and runs nothing.
    watch: Option<Arc<super::watch::Watch>>,
    /// Each shard's lock (by place in `keys`), once granted.
    locks: Vec<Option<u64>>,
    /// Shards whose copies are still to come.
    left: usize,
    /// Whether anything in it writes: a transaction that only reads lets
    /// each shard's lock go as soon as its copies are taken, and writes
    /// nothing back.
    writes: bool,
}

/// Whether a queued command visits every shard.
fn all_shard(spec: &Spec) -> bool {
    spec.gather().is_some()
}

pub(super) fn txn_start(
    lp: &LoopHandle,
    cmds: Vec<(&'static Spec, OwnedArgs)>,
    exec: bool,
    to: ReplyTo,
    watch: Option<Arc<super::watch::Watch>>,
) {
    let every = cmds.iter().any(|(spec, _)| all_shard(spec));
    if let ([(spec, args)], false, false) = (cmds.as_slice(), exec, every) {
        if let Some(how) = super::split::Split::of(spec, &args.args()) {
            let mut group = super::split::Group::new(lp.shard_count());
            group.push(spec, how, &args.args(), to.seq);
            return group.start(lp, to);
        }
    }
    let writes = every || cmds.iter().any(|(spec, _)| spec.write);
    let shards = lp.shard_count();
    // Each key once, by owner: linear in the keys (a set per shard, not a
    // scan of the keys so far).
    let mut by_shard: Vec<Vec<Vec<u8>>> = vec![Vec::new(); shards];
    let mut seen: std::collections::HashSet<&[u8], db::Fx> = Default::default();
    for (spec, args) in &cmds {
        let a = args.args();
        for i in cmd::key_positions(spec, &a) {
            let k = a.get(i);
            if seen.insert(k) {
                by_shard[owner(k, shards)].push(k.to_vec());
            }
        }
    }
    let keys: Vec<(usize, Vec<Vec<u8>>)> = by_shard
        .into_iter()
        .enumerate()
        .filter(|(_, ks)| every || !ks.is_empty())
        .collect();
    let n = keys.len();
    let txn = Txn {
        cmds: Arc::new(cmds),
        exec,
        keys,
        fetched: Vec::new(),
        bases: Vec::new(),
        to,
        watch,
        locks: vec![None; n],
        left: n,
        writes,
    };
    if n == 0 {
        lp.call_soon(move |lp| txn_run(lp, txn));
        return;
    }
    let home = to.shard;
    let cmds = Arc::clone(&txn.cmds);
    let places: Vec<(usize, Vec<Vec<u8>>)> = txn.keys.clone();
    let state = Arc::new(Mutex::new(Some(txn)));
    let parts: Vec<(usize, Claim, Grant)> = places
        .into_iter()
        .enumerate()
        .map(|(place, (shard, keys))| {
            let claim = if every {
                Claim::all()
            } else {
                Claim::keys(keys.iter().map(Vec::as_slice))
            };
            let (cmds, state) = (Arc::clone(&cmds), Arc::clone(&state));
            let grant: Grant = Box::new(move |lp: &mut EventLoop, id: u64| {
                let (copies, bases) = fetch(lp, &keys, &cmds);
                // Reading only: the copies are a consistent view in the
                // global order already, so the lock can go.
                let id = if writes {
                    Some(id)
                } else {
                    gate::release(lp, id);
                    None
                };
                lp.post(home, move |lp| {
                    fetched(lp, &state, place, id, copies, bases)
                });
            });
            (shard, claim, grant)
        })
        .collect();
    submit(lp, parts);
}

/// A shard's copies of a transaction's keys, and its parts of the
/// transaction's all-shard commands over the keys it does not touch.
#[allow(clippy::type_complexity)]
fn fetch(
    lp: &mut EventLoop,
    keys: &[Vec<u8>],
    cmds: &[(&'static Spec, OwnedArgs)],
) -> (Vec<(Vec<u8>, Option<Entry>)>, Vec<(usize, Vec<u8>)>) {
    let now = now_ms(lp.handle());
    let copies: Vec<(Vec<u8>, Option<Entry>)> = SHARD.with(|s| {
        let mut s = s.borrow_mut();
        keys.iter()
            .map(|k| (k.clone(), s.db.snapshot(k, now)))
            .collect()
    });
    let touched: std::collections::HashSet<&[u8], db::Fx> =
        keys.iter().map(Vec::as_slice).collect();
    let present = copies.iter().filter(|(_, e)| e.is_some()).count() as u64;
    let bases = cmds
        .iter()
        .enumerate()
        .filter_map(|(j, (spec, args))| {
            let gather = spec.gather()?;
            let part = super::shard_part_untouched(gather, &args.args(), &touched, present, now);
            Some((j, part))
        })
        .collect();
    (copies, bases)
}

/// A shard's copies are in (on the connection's shard): once all are,
/// the transaction runs.
fn fetched(
    lp: &mut EventLoop,
    state: &Mutex<Option<Txn>>,
    place: usize,
    id: Option<u64>,
    copies: Vec<(Vec<u8>, Option<Entry>)>,
    bases: Vec<(usize, Vec<u8>)>,
) {
    let ready = {
        let mut guard = state.lock();
        let Some(txn) = guard.as_mut() else {
            return;
        };
        txn.fetched.extend(copies);
        txn.bases.extend(bases);
        txn.locks[place] = id;
        txn.left -= 1;
        if txn.left == 0 {
            guard.take()
        } else {
            None
        }
    };
    if let Some(txn) = ready {
        txn_run(lp, txn);
    }
}

/// Every shard's copies are here (its keys locked while the transaction
/// writes): run, write back, let the locks go.
fn txn_run(lp: &mut EventLoop, txn: Txn) {
    let now = now_ms(lp.handle());
    reply::set_protocol(txn.to.proto);
    if txn.watch.as_ref().is_some_and(|w| w.dirty()) {
        // A watched key was written: nothing runs, every shard goes.
        for (&(shard, _), id) in txn.keys.iter().zip(&txn.locks) {
            if let Some(id) = *id {
                lp.post(shard, move |lp| gate::release(lp, id));
            }
        }
        let mut out = Vec::new();
        reply::nil_array(&mut out);
        return txn.to.send(lp, out);
    }
    let mut scratch = Db::default();
    for (k, e) in &txn.fetched {
        if let Some(e) = e {
            scratch.set(k, e.value.clone(), e.expires_at);
        }
    }
    // The copies' changes are events (their loading was not).
    scratch.notify = true;
    let mut out = Vec::new();
    if txn.exec {
        reply::array(&mut out, txn.cmds.len());
    }
    let mut flushed = false;
    for (j, (spec, args)) in txn.cmds.iter().enumerate() {
        let a = args.args();
        if !all_shard(spec) {
            cmd::exec(&mut scratch, spec, &a, now, &mut out);
            continue;
        }
        if let Err(e) = cmd::check_all_shards(spec, &a) {
            reply::error_bytes(&mut out, &e.0);
            continue;
        }
        let gather = spec.gather().expect("an all-shard command");
        if let cmd::Gather::Flush = gather {
            scratch.clear();
            flushed = true;
        }
        // The untouched keys' parts (none once flushed), then the copies'.
        let mut parts: Vec<Option<Vec<u8>>> = if flushed {
            Vec::new()
        } else {
            txn.bases
                .iter()
                .filter(|(i, _)| *i == j)
                .map(|(_, p)| Some(p.clone()))
                .collect()
        };
        if !matches!(gather, cmd::Gather::Info) {
            parts.push(Some(super::part_of(&mut scratch, gather, &a, now)));
        }
        out.extend_from_slice(&super::conn::combine(gather, &a, &parts));
    }
    SHARD.with(|s| s.borrow_mut().commands += txn.cmds.len() as u64);
    if !scratch.events.is_empty() {
        super::pubsub::publish_events(lp.handle(), std::mem::take(&mut scratch.events));
    }
    if !txn.writes {
        // Nothing to write back, no lock held.
        return txn.to.send(lp, out);
    }
    // With a log, the reply waits until every shard has logged its part
    // (and synced it, with `always`): the last one sends it.
    let logged = super::aof::on();
    let to = txn.to;
    let reply = std::sync::Arc::new(parking_lot::Mutex::new(Some(out)));
    let left = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(txn.keys.len()));
    for ((shard, keys), id) in txn.keys.into_iter().zip(txn.locks) {
        let results: Vec<(Vec<u8>, Option<Entry>)> = keys
            .into_iter()
            .map(|k| {
                let e = scratch.get(&k, now).cloned();
                (k, e)
            })
            .collect();
        let (reply, left) = (std::sync::Arc::clone(&reply), std::sync::Arc::clone(&left));
        lp.post(shard, move |lp| {
            write_back(flushed, results, now_ms(lp.handle()));
            if logged && left.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
                if let Some(out) = reply.lock().take() {
                    to.send(lp, out);
                }
            }
            if let Some(id) = id {
                gate::release(lp, id);
            }
        });
    }
    if !logged || left.load(std::sync::atomic::Ordering::Acquire) == 0 {
        if let Some(out) = reply.lock().take() {
            to.send(lp, out);
        }
    }
}

/// Puts back what a transaction left on this shard (logged, when the
/// shard logs).
fn write_back(flushed: bool, results: Vec<(Vec<u8>, Option<Entry>)>, now: u64) {
    SHARD.with(|s| {
        let mut s = s.borrow_mut();
        let s = &mut *s;
        let keys: Vec<Vec<u8>> = match (&s.aof, s.blocked.is_empty() && s.watched.is_empty()) {
            (None, true) => Vec::new(),
            _ => results.iter().map(|(k, _)| k.clone()).collect(),
        };
        if flushed && !s.watched.is_empty() {
            super::watch::touched_all(s, now);
        }
        let apply = move |db: &mut Db| {
            if flushed {
                db.clear();
            }
            for (k, e) in results {
                db.restore(&k, e);
            }
        };
        match s.aof.as_mut() {
            None => apply(&mut s.db),
            Some(log) => {
                log.write_back(&mut s.db, flushed, &keys, apply);
                log.sync();
            }
        }
        if !s.watched.is_empty() {
            for k in &keys {
                super::watch::touched(s, k);
            }
        }
        // What blocked commands wait for may be there now.
        if !s.blocked.is_empty() {
            super::written(s, keys.iter().map(Vec::as_slice), now);
        }
    });
}
