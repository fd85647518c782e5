//! Serving a block: the pop or move a written key allows, run as a command
//! (logged), its reply sent to the blocked connection's shard, and the
//! timeout's reply.

use super::*;

/// Runs `args` on this shard as a command (logged if the shard logs);
/// returns its reply.
pub(super) fn run(s: &mut Shard, args: &[&[u8]], now: u64, proto: u8) -> Vec<u8> {
    let owned = owned(args);
    let a = owned.args();
    let spec = cmd::lookup(a.get(0)).expect("a command of the table");
    reply::set_protocol(proto);
    let mut out = Vec::new();
    super::super::exec_on(s, spec, &a, now, &mut out);
    out
}

pub(super) fn owned(args: &[&[u8]]) -> OwnedArgs {
    let mut buf = Vec::new();
    let mut ranges = Vec::new();
    for a in args {
        ranges.push(buf.len()..buf.len() + a.len());
        buf.extend_from_slice(a);
    }
    OwnedArgs { buf, ranges }
}

/// `b` won on this shard and `key` holds what it pops: pop, and reply.
pub(super) fn serve(s: &mut Shard, b: &Arc<Block>, key: &[u8], now: u64) {
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
            let items = super::super::aof::bulk_strings(&popped);
            let mut out = Vec::new();
            reply::set_protocol(proto);
            reply::array(&mut out, 2);
            reply::bulk(&mut out, key);
            reply::array(&mut out, items.len() / 2);
            for pair in items.chunks(2) {
                reply::array(&mut out, 2);
                reply::bulk(&mut out, pair[0]);
                reply::double(&mut out, super::super::float::parse(pair[1]).unwrap_or(0.0));
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
                let claim = super::super::gate::Claim::keys([dst.as_slice()]);
                super::super::gate::run(lp, claim, move |lp| {
                    let now = super::super::db::now_ms(lp.handle());
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
                                let now = super::super::db::now_ms(lp.handle());
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
pub(super) fn element(bulk: &[u8]) -> Option<Vec<u8>> {
    let eol = memchr::memchr(b'\n', bulk)?;
    let n: usize = std::str::from_utf8(bulk.get(1..eol - 1)?)
        .ok()?
        .parse()
        .ok()?;
    bulk.get(eol + 1..eol + 1 + n).map(<[u8]>::to_vec)
}

/// Sends `b`'s reply once the shard's log holds what it popped; if its
/// connection closed meanwhile, `undo` puts the element back.
pub(super) fn send(s: &mut Shard, b: &Arc<Block>, out: Vec<u8>, undo: Option<Vec<Vec<u8>>>) {
    let Some(lp) = s.lp.clone() else {
        return;
    };
    let to = b.to;
    let origin = lp.shard_id().unwrap_or(0);
    let arrive = move |lp: &mut EventLoop| {
        let delivered = lp
            .with_connection(to.conn, |p: &mut super::super::KvConn, t| {
                p.fill(t, to.seq, out)
            })
            .is_some();
        if let (false, Some(undo)) = (delivered, undo) {
            lp.post(origin, move |lp| {
                let now = super::super::db::now_ms(lp.handle());
                SHARD.with(|s| {
                    let args: Vec<&[u8]> = undo.iter().map(Vec::as_slice).collect();
                    run(&mut s.borrow_mut(), &args, now, to.proto);
                });
            });
        }
    };
    if super::super::aof::on() {
        super::super::after_sync(&lp, move |lp| lp.post(to.shard, arrive));
    } else {
        lp.post(to.shard, arrive);
    }
}

/// The timeout of `b` (on the shard that queued it last): answers nil if
/// nothing served it, and clears it from the shards' queues.
pub(super) fn time_out(lp: &mut EventLoop, b: Arc<Block>) {
    if !b.win() {
        return;
    }
    let out = timeout_reply(&b);
    let to = b.to;
    lp.post(to.shard, move |lp| super::super::deliver(lp, to, out));
    unqueue(lp.handle(), &b);
}

/// What a block answers when its time is up: a nil array, for a move too
/// (Redis 7.0's replyToBlockedClientTimedOut answers every list and
/// sorted-set block so: `*-1` in RESP2).
pub(super) fn timeout_reply(b: &Block) -> Vec<u8> {
    let mut out = Vec::new();
    reply::set_protocol(b.to.proto);
    reply::nil_array(&mut out);
    out
}
