//! Transactions over several shards (MULTI/EXEC with keys on more than one
//! shard, and multi-key commands): each owning shard locked and fetched in
//! ascending order, the commands run on the copies, written back, unlocked.

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
    to: ReplyTo,
}

pub(super) fn txn_start(
    lp: &LoopHandle,
    cmds: Vec<(&'static Spec, OwnedArgs)>,
    exec: bool,
    to: ReplyTo,
) {
    let shards = lp.shard_count();
    // Each key once, by owner: linear in the keys (a set per shard, not a
    // scan of the keys so far).
    let mut by_shard: Vec<Vec<Vec<u8>>> = vec![Vec::new(); shards];
    let mut seen: std::collections::HashSet<&[u8], db::Fx> = Default::default();
    for (spec, args) in &cmds {
        let a = args.args();
        for i in cmd::key_positions(spec, a.len()) {
            let k = a.get(i);
            if seen.insert(k) {
                by_shard[owner(k, shards)].push(k.to_vec());
            }
        }
    }
    let keys: Vec<(usize, Vec<Vec<u8>>)> = by_shard
        .into_iter()
        .enumerate()
        .filter(|(_, ks)| !ks.is_empty())
        .collect();
    let txn = Txn {
        cmds,
        exec,
        keys,
        fetched: Vec::new(),
        to,
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
    lp.post(shard, move |lp| {
        when_free(lp, move |lp| {
            let now = now_ms();
            let copies: Vec<(Vec<u8>, Option<Entry>)> = SHARD.with(|s| {
                let mut s = s.borrow_mut();
                s.locked = true;
                keys.iter()
                    .map(|k| (k.clone(), s.db.snapshot(k, now)))
                    .collect()
            });
            lp.post(home, move |lp| {
                let mut txn = txn;
                txn.fetched.extend(copies);
                let handle = lp.handle().clone();
                txn_lock_next(&handle, txn, i + 1);
            });
        });
    });
}

/// Every shard is locked and its copies are here: run, write back, unlock.
fn txn_run(lp: &mut EventLoop, txn: Txn) {
    let now = now_ms();
    let mut scratch = Db::default();
    for (k, e) in &txn.fetched {
        if let Some(e) = e {
            scratch.set(k, e.value.clone(), e.expires_at);
        }
    }
    let mut out = Vec::new();
    if txn.exec {
        reply::array(&mut out, txn.cmds.len());
    }
    for (spec, args) in &txn.cmds {
        cmd::exec(&mut scratch, spec, &args.args(), now, &mut out);
    }
    SHARD.with(|s| s.borrow_mut().commands += txn.cmds.len() as u64);
    for (shard, keys) in txn.keys {
        let results: Vec<(Vec<u8>, Option<Entry>)> = keys
            .into_iter()
            .map(|k| {
                let e = scratch.get(&k, now).cloned();
                (k, e)
            })
            .collect();
        lp.post(shard, move |lp| {
            SHARD.with(|s| {
                let mut s = s.borrow_mut();
                for (k, e) in results {
                    s.db.restore(&k, e);
                }
            });
            unlock(lp);
        });
    }
    txn.to.send(lp, out);
}
