//! Multi-key commands split by shard and run where their keys are (step 3
//! of the design in `txn`): MSET, MGET, DEL, UNLINK, EXISTS and TOUCH.
//!
//! Each shard's part is the same command on that shard's keys only. It
//! runs the moment the part's lock is granted, on the shard's own keys —
//! nothing is copied to another shard. A reading part lets its lock go at
//! once; a writing part keeps it until every part has run, so no client
//! sees one part's writes without the others'. The last part to finish,
//! on whichever shard, puts the reply together (OK, a sum, or MGET's
//! values back in the order of the keys), lets the kept locks go and
//! sends the reply to the connection's shard.

use std::sync::Arc;

use parking_lot::Mutex;
use shardloop::{EventLoop, LoopHandle};

use super::cmd::{Args, OwnedArgs, Spec};
use super::db::now_ms;
use super::gate::{self, Claim};
use super::order::{submit, Grant};
use super::resp::reply;
use super::{after_sync, aof, exec_here, owner, ReplyTo, SHARD};

/// How the parts' replies make the command's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Split {
    /// MSET: OK once every part is.
    Ok,
    /// DEL, UNLINK, EXISTS, TOUCH: the parts' counts added.
    Sum,
    /// MGET: the parts' values, each at its key's place.
    Values,
}

impl Split {
    /// How `spec` splits, if it does and these arguments are well formed
    /// (else it runs whole, on copies, and answers its error as Redis).
    pub(super) fn of(spec: &Spec, a: &Args<'_>) -> Option<Split> {
        let how = match spec.name {
            "mset" => Split::Ok,
            "del" | "unlink" | "exists" | "touch" => Split::Sum,
            "mget" => Split::Values,
            _ => return None,
        };
        let pairs_whole = how != Split::Ok || (a.len() - 1) % 2 == 0;
        (a.len() >= 2 && pairs_whole).then_some(how)
    }

    /// Arguments per key: MSET's key and value, the others' key.
    fn step(self) -> usize {
        if self == Split::Ok {
            2
        } else {
            1
        }
    }
}

/// The parts of one command, filled in as they finish.
struct Parts {
    how: Split,
    left: usize,
    /// Each part's reply.
    replies: Vec<Vec<u8>>,
    /// Each part's keys, by their place among the command's keys.
    places: Vec<Vec<usize>>,
    keys: usize,
    /// Locks the writing parts keep until the last part: shard, id.
    kept: Vec<(usize, u64)>,
    to: ReplyTo,
}

/// Appends one argument.
fn push_arg(o: &mut OwnedArgs, s: &[u8]) {
    o.ranges.push(o.buf.len()..o.buf.len() + s.len());
    o.buf.extend_from_slice(s);
}

/// Runs `spec` (which splits `how`) on every shard its keys live on.
pub(super) fn start(lp: &LoopHandle, spec: &'static Spec, how: Split, a: &Args<'_>, to: ReplyTo) {
    let shards = lp.shard_count();
    // Each shard's part: its arguments, its keys' places, its claim.
    type Part = (OwnedArgs, Vec<usize>, Claim);
    let mut by: Vec<Option<Part>> = (0..shards).map(|_| None).collect();
    let step = how.step();
    let mut keys = 0;
    for i in (1..a.len()).step_by(step) {
        let k = a.get(i);
        let part = by[owner(k, shards)].get_or_insert_with(|| {
            let mut o = OwnedArgs {
                buf: Vec::with_capacity(a.buf.len()),
                ranges: Vec::with_capacity(a.len()),
            };
            push_arg(&mut o, a.get(0));
            (o, Vec::new(), Claim::default())
        });
        for j in i..i + step {
            push_arg(&mut part.0, a.get(j));
        }
        part.1.push(keys);
        part.2.push_key(k);
        keys += 1;
    }
    let mut places = Vec::with_capacity(2);
    let mut requests: Vec<(usize, Claim, Grant)> = Vec::with_capacity(2);
    let mut subs = Vec::with_capacity(2);
    for (shard, part) in by.into_iter().enumerate() {
        if let Some((sub, at, claim)) = part {
            places.push(at);
            subs.push((shard, sub, claim));
        }
    }
    let state = Arc::new(Mutex::new(Parts {
        how,
        left: subs.len(),
        replies: vec![Vec::new(); subs.len()],
        places,
        keys,
        kept: Vec::new(),
        to,
    }));
    for (j, (shard, sub, claim)) in subs.into_iter().enumerate() {
        let state = Arc::clone(&state);
        let grant: Grant = Box::new(move |lp: &mut EventLoop, id: u64| {
            run_part(lp, spec, &sub, j, shard, id, state);
        });
        requests.push((shard, claim, grant));
    }
    submit(lp, requests);
}

/// Runs part `j` on this shard (its lock `id` just granted).
fn run_part(
    lp: &mut EventLoop,
    spec: &'static Spec,
    sub: &OwnedArgs,
    j: usize,
    shard: usize,
    id: u64,
    state: Arc<Mutex<Parts>>,
) {
    let proto = state.lock().to.proto;
    reply::set_protocol(proto);
    let mut out = Vec::new();
    exec_here(spec, &sub.args(), now_ms(lp.handle()), &mut out);
    if j > 0 {
        // The command counts once, not once per part.
        SHARD.with(|s| s.borrow_mut().commands -= 1);
    }
    let keep = spec.write;
    if !keep {
        gate::release(lp, id);
    }
    let done = move |lp: &mut EventLoop| part_done(lp, &state, j, out, keep.then_some((shard, id)));
    if keep && aof::on() {
        // Logged (and synced, with `always`) before anyone learns of it.
        after_sync(lp.handle(), done);
    } else {
        done(lp);
    }
}

/// Part `j` has run: the last one answers and lets the kept locks go.
fn part_done(
    lp: &mut EventLoop,
    state: &Mutex<Parts>,
    j: usize,
    out: Vec<u8>,
    kept: Option<(usize, u64)>,
) {
    let finished = {
        let mut p = state.lock();
        p.replies[j] = out;
        p.kept.extend(kept);
        p.left -= 1;
        (p.left == 0).then(|| {
            let reply = combine(p.how, &p.replies, &p.places, p.keys, p.to.proto);
            (reply, std::mem::take(&mut p.kept), p.to)
        })
    };
    let Some((reply, kept, to)) = finished else {
        return;
    };
    let me = lp.shard_id().unwrap_or(0);
    for (shard, id) in kept {
        if shard == me {
            gate::release(lp, id);
        } else {
            lp.post(shard, move |lp| gate::release(lp, id));
        }
    }
    to.send(lp, reply);
}

/// The command's reply from its parts'.
fn combine(
    how: Split,
    replies: &[Vec<u8>],
    places: &[Vec<usize>],
    keys: usize,
    proto: u8,
) -> Vec<u8> {
    reply::set_protocol(proto);
    let mut out = Vec::new();
    if let Some(e) = replies.iter().find(|r| r.first() == Some(&b'-')) {
        out.extend_from_slice(e);
        return out;
    }
    match how {
        Split::Ok => reply::ok(&mut out),
        Split::Sum => {
            let n: i64 = replies.iter().map(|r| int_reply(r).unwrap_or(0)).sum();
            reply::int(&mut out, n);
        }
        Split::Values => {
            let mut values: Vec<&[u8]> = vec![&[]; keys];
            for (r, places) in replies.iter().zip(places) {
                for (v, &at) in elements(r).into_iter().zip(places) {
                    values[at] = v;
                }
            }
            reply::array(&mut out, keys);
            for v in values {
                out.extend_from_slice(v);
            }
        }
    }
    out
}

/// The number of an integer reply (`:n\r\n`).
fn int_reply(r: &[u8]) -> Option<i64> {
    let body = r.strip_prefix(b":")?.strip_suffix(b"\r\n")?;
    std::str::from_utf8(body).ok()?.parse().ok()
}

/// The elements of an array reply of bulk strings and nulls, each as its
/// encoded bytes.
fn elements(r: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let line_end = |s: &[u8]| memchr::memchr(b'\n', s).map(|i| i + 1);
    let Some(head) = line_end(r) else {
        return out;
    };
    let mut rest = &r[head..];
    while !rest.is_empty() {
        let Some(nl) = line_end(rest) else {
            break;
        };
        let len = match rest[0] {
            b'$' => std::str::from_utf8(&rest[1..nl - 2])
                .ok()
                .and_then(|n| n.parse::<i64>().ok())
                .map_or(nl, |n| if n < 0 { nl } else { nl + n as usize + 2 }),
            _ => nl,
        };
        let len = len.min(rest.len());
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mget_values_go_back_to_their_keys_places() {
        let a = b"*2\r\n$1\r\nx\r\n$-1\r\n".to_vec();
        let b = b"*1\r\n$3\r\nyyy\r\n".to_vec();
        let out = combine(Split::Values, &[a, b], &[vec![0, 2], vec![1]], 3, 2);
        assert_eq!(out, b"*3\r\n$1\r\nx\r\n$3\r\nyyy\r\n$-1\r\n".to_vec());
        let resp3 = b"*2\r\n_\r\n$0\r\n\r\n".to_vec();
        assert_eq!(elements(&resp3), vec![&b"_\r\n"[..], b"$0\r\n\r\n"]);
    }

    #[test]
    fn counts_add_up_and_an_error_wins() {
        let out = combine(
            Split::Sum,
            &[b":2\r\n".to_vec(), b":3\r\n".to_vec()],
            &[],
            0,
            2,
        );
        assert_eq!(out, b":5\r\n");
        let err = b"-OOM command not allowed\r\n".to_vec();
        let out = combine(Split::Ok, &[b"+OK\r\n".to_vec(), err.clone()], &[], 0, 2);
        assert_eq!(out, err);
    }
}
