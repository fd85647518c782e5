//! Transactions over several shards (MULTI/EXEC with keys on more than one
//! shard, and multi-key commands): the keys locked and fetched on each
//! owning shard in ascending order (see `gate`), the commands run on the
//! copies, written back, the locks let go.
//!
//! A transaction that holds an all-shard command (DBSIZE, KEYS, SCAN,
//! FLUSHDB, FLUSHALL, INFO) locks every shard, and each shard sends, with
//! its copies, its part of each such command computed over the keys the
//! transaction does not touch (which nothing changes until the unlock).
//! The command's answer inside the transaction is those parts plus what
//! the copies hold at that point; a FLUSHDB empties the copies and drops
//! the untouched parts, and the write-back then clears each shard before
//! putting the copies back.

use super::*;

/// A transaction over several shards (see the module docs): lock and fetch
/// each shard in ascending order, then run `cmds` on the copies, then write
/// back and unlock.
struct Txn {
    cmds: Vec<(&'static Spec, OwnedArgs)>,
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
    watch: Option<std::sync::Arc<super::watch::Watch>>,
    /// The locks taken so far: shard, lock id.
    locks: Vec<(usize, u64)>,
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
    watch: Option<std::sync::Arc<super::watch::Watch>>,
) {
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
    let every = cmds.iter().any(|(spec, _)| all_shard(spec));
    let keys: Vec<(usize, Vec<Vec<u8>>)> = by_shard
        .into_iter()
        .enumerate()
        .filter(|(_, ks)| every || !ks.is_empty())
        .collect();
    let txn = Txn {
        cmds,
        exec,
        keys,
        fetched: Vec::new(),
        bases: Vec::new(),
        to,
        watch,
        locks: Vec::new(),
    };
    txn_lock_next(lp, txn, 0);
}

/// Locks shard number `i` of the transaction (or runs it when all are).
fn txn_lock_next(lp: &LoopHandle, txn: Txn, i: usize) {
    let Some((shard, keys)) = txn.keys.get(i).cloned() else {
        lp.call_soon(move |lp| txn_run(lp, txn));
        return;
    };
    let home = txn.to.shard;
    let claim = if txn.cmds.iter().any(|(spec, _)| all_shard(spec)) {
        super::gate::Claim::all()
    } else {
        super::gate::Claim {
            keys: keys.clone(),
            conn: None,
            all: false,
        }
    };
    lp.post(shard, move |lp| {
        super::gate::lock(lp, claim, move |lp, id| {
            let now = now_ms(lp.handle());
            let copies: Vec<(Vec<u8>, Option<Entry>)> = SHARD.with(|s| {
                let mut s = s.borrow_mut();
                keys.iter()
                    .map(|k| (k.clone(), s.db.snapshot(k, now)))
                    .collect()
            });
            let bases: Vec<(usize, Vec<u8>)> = {
                let touched: std::collections::HashSet<&[u8], db::Fx> =
                    keys.iter().map(Vec::as_slice).collect();
                let present = copies.iter().filter(|(_, e)| e.is_some()).count() as u64;
                txn.cmds
                    .iter()
                    .enumerate()
                    .filter_map(|(j, (spec, args))| {
                        let gather = spec.gather()?;
                        let part = super::shard_part_untouched(
                            gather,
                            &args.args(),
                            &touched,
                            present,
                            now,
                        );
                        Some((j, part))
                    })
                    .collect()
            };
            lp.post(home, move |lp| {
                let mut txn = txn;
                txn.fetched.extend(copies);
                txn.bases.extend(bases);
                txn.locks.push((shard, id));
                let handle = lp.handle().clone();
                txn_lock_next(&handle, txn, i + 1);
            });
        });
    });
}

/// Every shard is locked and its copies are here: run, write back, unlock.
fn txn_run(lp: &mut EventLoop, txn: Txn) {
    let now = now_ms(lp.handle());
    reply::set_protocol(txn.to.proto);
    if txn.watch.as_ref().is_some_and(|w| w.dirty()) {
        // A watched key was written: nothing runs, every shard goes.
        for &(shard, id) in &txn.locks {
            lp.post(shard, move |lp| super::gate::release(lp, id));
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
    // With a log, the reply waits until every shard has logged its part
    // (and synced it, with `always`): the last one sends it.
    let logged = super::aof::on();
    let to = txn.to;
    let reply = std::sync::Arc::new(parking_lot::Mutex::new(Some(out)));
    let left = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(txn.keys.len()));
    for ((shard, keys), (_, id)) in txn.keys.into_iter().zip(txn.locks) {
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
            super::gate::release(lp, id);
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
