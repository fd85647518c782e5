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

/// One command of a group.
struct Cmd {
    how: Split,
    /// How many keys it names.
    keys: usize,
    /// Its reply slot on the connection.
    seq: u64,
}

/// One command's piece on one shard: the command on that shard's keys.
struct Sub {
    spec: &'static Spec,
    /// The command's place in the group.
    cmd: usize,
    /// Its arguments: a range of the part's argument ranges.
    args: std::ops::Range<usize>,
    /// Its keys' places among the command's keys.
    places: Vec<usize>,
    /// The command is counted here (its first piece).
    counted: bool,
}

/// What a group runs on one shard.
struct Part {
    args: OwnedArgs,
    subs: Vec<Sub>,
    claim: Claim,
    write: bool,
}

/// Consecutive split commands of one connection, run as one transaction
/// (Dragonfly's squashing): one message per shard and one reply message
/// for all of them.
pub(crate) struct Group {
    cmds: Vec<Cmd>,
    /// Per shard.
    parts: Vec<Option<Part>>,
}

/// A piece that ran: its command, its keys' places, its reply's range
/// in its part's output.
type Ran = (usize, Vec<usize>, std::ops::Range<usize>);

/// A group in flight: each part's replies, filled in as parts finish.
struct Flight {
    left: usize,
    cmds: Vec<Cmd>,
    /// Per part: its subs' (command, places) and its output with each
    /// sub's range.
    done: Vec<Vec<Ran>>,
    outs: Vec<Vec<u8>>,
    /// Locks the writing parts keep until the last part: shard, id.
    kept: Vec<(usize, u64)>,
    to: ReplyTo,
}

/// Appends one argument.
fn push_arg(o: &mut OwnedArgs, s: &[u8]) {
    o.ranges.push(o.buf.len()..o.buf.len() + s.len());
    o.buf.extend_from_slice(s);
}

impl Group {
    /// An empty group for a runtime of `shards` shards.
    pub(crate) fn new(shards: usize) -> Self {
        Self {
            cmds: Vec::new(),
            parts: (0..shards).map(|_| None).collect(),
        }
    }

    /// Adds `spec` (which splits `how`), answered in slot `seq`.
    pub(crate) fn push(&mut self, spec: &'static Spec, how: Split, a: &Args<'_>, seq: u64) {
        let c = self.cmds.len();
        let shards = self.parts.len();
        let step = how.step();
        let mut keys = 0;
        // The command's own bytes (`a.buf` may hold the rest of the read).
        let span = match (a.ranges.first(), a.ranges.last()) {
            (Some(f), Some(l)) => l.end.saturating_sub(f.start),
            _ => 0,
        };
        let mut counted = false;
        for i in (1..a.len()).step_by(step) {
            let k = a.get(i);
            let part = self.parts[owner(k, shards)].get_or_insert_with(|| Part {
                args: OwnedArgs {
                    buf: Vec::with_capacity(span),
                    ranges: Vec::with_capacity(a.len()),
                },
                subs: Vec::new(),
                claim: Claim::default(),
                write: false,
            });
            if part.subs.last().is_none_or(|s| s.cmd != c) {
                let at = part.args.ranges.len();
                push_arg(&mut part.args, a.get(0));
                // Counted once, by its first piece.
                part.subs.push(Sub {
                    spec,
                    cmd: c,
                    args: at..at + 1,
                    places: Vec::new(),
                    counted: !counted,
                });
                counted = true;
            }
            for j in i..i + step {
                push_arg(&mut part.args, a.get(j));
            }
            let sub = part.subs.last_mut().expect("just pushed");
            sub.args.end = part.args.ranges.len();
            sub.places.push(keys);
            part.claim.push_key(k);
            part.write |= spec.write;
            keys += 1;
        }
        self.cmds.push(Cmd { how, keys, seq });
    }

    /// Runs the group: its parts through the global order; the replies to
    /// `to`'s connection, each in its slot.
    pub(crate) fn start(self, lp: &LoopHandle, to: ReplyTo) {
        let parts: Vec<(usize, Part)> = self
            .parts
            .into_iter()
            .enumerate()
            .filter_map(|(s, p)| p.map(|p| (s, p)))
            .collect();
        let n = parts.len();
        let state = Arc::new(Mutex::new(Flight {
            left: n,
            cmds: self.cmds,
            done: (0..n).map(|_| Vec::new()).collect(),
            outs: vec![Vec::new(); n],
            kept: Vec::new(),
            to,
        }));
        let requests: Vec<(usize, Claim, Grant)> = parts
            .into_iter()
            .enumerate()
            .map(|(j, (shard, mut part))| {
                let claim = std::mem::take(&mut part.claim);
                let state = Arc::clone(&state);
                let grant: Grant = Box::new(move |lp: &mut EventLoop, id: u64| {
                    run_part(lp, part, j, shard, id, state);
                });
                (shard, claim, grant)
            })
            .collect();
        submit(lp, requests);
    }
}

/// Runs part `j` on this shard (its lock `id` just granted).
fn run_part(
    lp: &mut EventLoop,
    part: Part,
    j: usize,
    shard: usize,
    id: u64,
    state: Arc<Mutex<Flight>>,
) {
    let proto = state.lock().to.proto;
    reply::set_protocol(proto);
    let now = now_ms(lp.handle());
    let mut out = Vec::new();
    let mut done = Vec::with_capacity(part.subs.len());
    for sub in part.subs {
        let a = Args {
            buf: &part.args.buf,
            ranges: &part.args.ranges[sub.args.clone()],
        };
        let start = out.len();
        exec_here(sub.spec, &a, now, &mut out);
        if !sub.counted {
            // The command counts once, not once per shard.
            SHARD.with(|s| s.borrow_mut().commands -= 1);
        }
        done.push((sub.cmd, sub.places, start..out.len()));
    }
    let keep = part.write;
    if !keep {
        gate::release(lp, id);
    }
    let finish =
        move |lp: &mut EventLoop| part_done(lp, &state, j, out, done, keep.then_some((shard, id)));
    if keep && aof::on() {
        // Logged (and synced, with `always`) before anyone learns of it.
        after_sync(lp.handle(), finish);
    } else {
        finish(lp);
    }
}

/// Part `j` has run: the last one answers and lets the kept locks go.
fn part_done(
    lp: &mut EventLoop,
    state: &Mutex<Flight>,
    j: usize,
    out: Vec<u8>,
    done: Vec<Ran>,
    kept: Option<(usize, u64)>,
) {
    let finished = {
        let mut f = state.lock();
        f.outs[j] = out;
        f.done[j] = done;
        f.kept.extend(kept);
        f.left -= 1;
        (f.left == 0).then(|| {
            let (bytes, marks) = replies(&f);
            (bytes, marks, std::mem::take(&mut f.kept), f.to)
        })
    };
    let Some((bytes, marks, kept, to)) = finished else {
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
    lp.post(to.shard, move |lp| {
        lp.with_connection(to.conn, |p: &mut super::KvConn, t| {
            p.fill_many(t, &bytes, &marks)
        });
    });
}

/// Every command's reply, one after the other, with each one's slot and
/// range.
#[allow(clippy::type_complexity)]
fn replies(f: &Flight) -> (Vec<u8>, Vec<(u64, std::ops::Range<usize>)>) {
    reply::set_protocol(f.to.proto);
    let mut per: Vec<(Vec<&[u8]>, Vec<&[usize]>)> =
        f.cmds.iter().map(|_| Default::default()).collect();
    for (out, done) in f.outs.iter().zip(&f.done) {
        for (c, places, r) in done {
            per[*c].0.push(&out[r.clone()]);
            per[*c].1.push(places);
        }
    }
    let mut bytes = Vec::new();
    let mut marks = Vec::with_capacity(f.cmds.len());
    for (cmd, (replies, places)) in f.cmds.iter().zip(per) {
        let start = bytes.len();
        combine(cmd.how, &replies, &places, cmd.keys, &mut bytes);
        marks.push((cmd.seq, start..bytes.len()));
    }
    (bytes, marks)
}

/// The command's reply from its pieces', appended to `out`.
fn combine(how: Split, replies: &[&[u8]], places: &[&[usize]], keys: usize, out: &mut Vec<u8>) {
    if let Some(e) = replies.iter().find(|r| r.first() == Some(&b'-')) {
        out.extend_from_slice(e);
        return;
    }
    match how {
        Split::Ok => reply::ok(out),
        Split::Sum => {
            let n: i64 = replies.iter().map(|r| int_reply(r).unwrap_or(0)).sum();
            reply::int(out, n);
        }
        Split::Values => {
            let mut values: Vec<&[u8]> = vec![&[]; keys];
            for (r, places) in replies.iter().zip(places) {
                for (v, &at) in elements(r).into_iter().zip(places.iter()) {
                    values[at] = v;
                }
            }
            reply::array(out, keys);
            for v in values {
                out.extend_from_slice(v);
            }
        }
    }
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
        let mut out = Vec::new();
        combine(Split::Values, &[&a, &b], &[&[0, 2], &[1]], 3, &mut out);
        assert_eq!(out, b"*3\r\n$1\r\nx\r\n$3\r\nyyy\r\n$-1\r\n".to_vec());
        let resp3 = b"*2\r\n_\r\n$0\r\n\r\n".to_vec();
        assert_eq!(elements(&resp3), vec![&b"_\r\n"[..], b"$0\r\n\r\n"]);
    }

    #[test]
    fn counts_add_up_and_an_error_wins() {
        let mut out = Vec::new();
        combine(Split::Sum, &[b":2\r\n", b":3\r\n"], &[], 0, &mut out);
        assert_eq!(out, b":5\r\n");
        let err: &[u8] = b"-OOM command not allowed\r\n";
        let mut out = Vec::new();
        combine(Split::Ok, &[b"+OK\r\n", err], &[], 0, &mut out);
        assert_eq!(out, err);
    }
}
