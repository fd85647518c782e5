//! The commands that visit every shard (DBSIZE, KEYS, SCAN, FLUSHALL, INFO,
//! RANDOMKEY, CLIENT LIST…): each shard's part, serialised, and how the
//! connection puts the parts together.

use super::*;

/// A command that visits every shard (DBSIZE, KEYS, SCAN, FLUSHALL,
/// INFO): each shard's piece comes back to the connection, which puts them
/// together once all are in.
pub(super) fn all_shards(lp: &LoopHandle, spec: &'static Spec, args: OwnedArgs, to: ReplyTo) {
    for shard in (0..lp.shard_count()).filter(|&s| s != to.shard) {
        let args = args.clone();
        lp.post(shard, move |lp| {
            when_free(lp, move |lp| {
                let gather = spec.gather().expect("an all-shard command");
                let part = shard_part(gather, &args.args(), now_ms(lp.handle()), lp.handle());
                lp.post(to.shard, move |lp| gathered(lp, to, shard, part));
            });
        });
    }
}

/// One shard's piece of an all-shard command, back on the connection's
/// shard.
pub(super) fn gathered(lp: &mut EventLoop, to: ReplyTo, shard: usize, part: Vec<u8>) {
    lp.with_connection(to.conn, |p: &mut KvConn, t| {
        p.gathered(t, to.seq, shard, part)
    });
}

/// One shard's piece of an all-shard command, serialised as raw values:
/// counts as 8-byte little-endian integers, key lists as length-prefixed
/// bytes.
pub(crate) fn shard_part(gather: Gather, a: &Args<'_>, now: u64, lp: &LoopHandle) -> Vec<u8> {
    match gather {
        Gather::Publish => {
            return pubsub::publish_here(lp, a.get(1), a.get(2))
                .to_le_bytes()
                .to_vec()
        }
        Gather::Channels => {
            let mut out = Vec::new();
            push_keys(&mut out, pubsub::channels_here(a));
            return out;
        }
        Gather::Numsub => {
            return pubsub::numsub_here(a)
                .into_iter()
                .flat_map(u64::to_le_bytes)
                .collect()
        }
        Gather::Numpat => {
            let mut out = Vec::new();
            push_keys(&mut out, pubsub::patterns_here());
            return out;
        }
        _ => {}
    }
    if let Gather::Rewrite = gather {
        aof::start_rewrite(lp);
        return Vec::new();
    }
    if let Gather::Unblock = gather {
        let done = cmd::unblock_args(a).is_ok_and(|(id, error)| blocking::unblock(lp, id, error));
        return (done as u64).to_le_bytes().to_vec();
    }
    SHARD.with(|s| {
        let mut s = s.borrow_mut();
        s.commands += 1;
        match gather {
            Gather::Info => return info_part(&s),
            Gather::Clients => return clients_part(&s, a, now),
            _ => {}
        }
        let s = &mut *s;
        if let Gather::Flush = gather {
            watch::touched_all(s, now);
        }
        if let (Gather::Flush, Some(log)) = (gather, s.aof.as_mut()) {
            log.flush(&mut s.db);
            s.db.clear();
            log.sync();
            return Vec::new();
        }
        part_of(&mut s.db, gather, a, now)
    })
}

/// An all-shard command's part over one keyspace (a shard's, or a
/// transaction's copies).
pub(crate) fn part_of(db: &mut Db, gather: Gather, a: &Args<'_>, now: u64) -> Vec<u8> {
    let mut out = Vec::new();
    match gather {
        Gather::Count => out.extend_from_slice(&(db.len() as u64).to_le_bytes()),
        Gather::Flush => db.clear(),
        Gather::Keys { select, .. } => push_keys(&mut out, select(db, a, now)),
        Gather::RandomKey => out = random_key_part(db, now, |_| true),
        _ => {}
    }
    out
}

/// RANDOMKEY's part of keyspace `db`: how many live keys `keep` admits,
/// then one of them drawn at random (none when there are none). Linear in
/// the keys: kv's keyspace has no random access.
pub(super) fn random_key_part(db: &Db, now: u64, keep: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let live = || db.keys(now).filter(|(k, _)| keep(k));
    let count = live().count() as u64;
    let mut out = count.to_le_bytes().to_vec();
    if count > 0 {
        let pick = (cmd::random() % count) as usize;
        if let Some((k, _)) = live().nth(pick) {
            push_keys(&mut out, vec![k.clone()]);
        }
    }
    out
}

/// This shard's part of an all-shard command inside a transaction that
/// holds it: over the keys the transaction did not fetch (`touched`, of
/// which `present` exist). Changes nothing: the transaction's FLUSHDB
/// happens at its write-back.
pub(crate) fn shard_part_untouched(
    gather: Gather,
    a: &Args<'_>,
    touched: &std::collections::HashSet<&[u8], db::Fx>,
    present: u64,
    now: u64,
) -> Vec<u8> {
    SHARD.with(|s| {
        let s = s.borrow();
        let mut out = Vec::new();
        match gather {
            Gather::Count => {
                out.extend_from_slice(&(s.db.len() as u64).saturating_sub(present).to_le_bytes())
            }
            Gather::Keys { select, .. } => {
                let keys = select(&s.db, a, now)
                    .into_iter()
                    .filter(|k| !touched.contains(k.as_slice()))
                    .collect();
                push_keys(&mut out, keys);
            }
            Gather::Info => out = info_part(&s),
            Gather::Clients => out = clients_part(&s, a, now),
            Gather::RandomKey => {
                out = random_key_part(&s.db, now, |k| !touched.contains(k));
            }
            _ => {}
        }
        out
    })
}

/// CLIENT LIST's lines of this shard's connections, oldest first.
pub(super) fn clients_part(s: &Shard, a: &Args<'_>, now: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let Ok(filter) = clients::list_filter(a) else {
        return out; // checked before any shard was asked
    };
    let mut clients: Vec<_> = s.clients.values().filter(|c| filter.admits(c)).collect();
    clients.sort_by_key(|c| c.id);
    for c in clients {
        c.line(now, &mut out);
    }
    out
}

/// One shard's counters for INFO.
pub(super) fn info_part(s: &Shard) -> Vec<u8> {
    let mut out = Vec::new();
    for n in [
        s.db.len() as u64,
        s.db.volatile_len() as u64,
        s.commands,
        s.hops,
        s.db.expired,
        s.connections,
    ]
    .into_iter()
    .chain(s.aof.as_ref().map_or([0; 4], aof::Log::info))
    .chain([
        s.blocks.iter().filter(|b| !b.done()).count() as u64,
        s.blocked.len() as u64,
        s.watched.len() as u64,
        s.db.evicted_keys,
    ])
    .chain(stats::snapshot())
    {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out
}

pub(super) fn push_keys(out: &mut Vec<u8>, keys: Vec<Vec<u8>>) {
    for k in keys {
        out.extend_from_slice(&(k.len() as u64).to_le_bytes());
        out.extend_from_slice(&k);
    }
}

pub(super) fn read_keys(mut part: &[u8]) -> Vec<&[u8]> {
    let mut keys = Vec::new();
    while part.len() >= 8 {
        let n = u64::from_le_bytes(part[..8].try_into().expect("8 bytes")) as usize;
        keys.push(&part[8..8 + n]);
        part = &part[8 + n..];
    }
    keys
}

pub(super) fn read_u64s(part: &[u8]) -> Vec<u64> {
    part.chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}
