//! Replies and commands that cross shards: where a reply goes ([`ReplyTo`]),
//! and one connection's commands for one other shard, sent as one batch
//! ([`RemoteBatch`]).

use super::*;

/// Where a reply goes: a connection on a shard, and its slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplyTo {
    pub(super) shard: usize,
    pub(super) conn: ConnectionHandle,
    pub(super) seq: u64,
    /// The connection's protocol (2 or 3): what the reply is written in,
    /// on whichever shard it is computed.
    pub(super) proto: u8,
}

impl ReplyTo {
    /// Sends `bytes` to the slot, from whatever shard this runs on.
    pub(super) fn send(self, lp: &mut EventLoop, bytes: Vec<u8>) {
        lp.post(self.shard, move |lp| deliver(lp, self, bytes));
    }
}

/// A reply arrived on the connection's shard: fill its slot.
pub(crate) fn deliver(lp: &mut EventLoop, to: ReplyTo, bytes: Vec<u8>) {
    lp.with_connection(to.conn, |p: &mut KvConn, t| p.fill(t, to.seq, bytes));
}

/// Commands of one connection for one other shard, gathered during one read
/// and sent as one message; their replies come back as one message too.
#[derive(Default)]
pub(crate) struct RemoteBatch {
    pub(super) buf: Vec<u8>,
    pub(super) ranges: Vec<std::ops::Range<usize>>,
    /// Each command: its spec, its arguments (a range of `ranges`), its
    /// reply slot.
    pub(super) cmds: Vec<(&'static Spec, std::ops::Range<usize>, u64)>,
    /// The connection's protocol (2 or 3).
    pub(super) proto: u8,
}

impl RemoteBatch {
    pub(crate) fn push(&mut self, spec: &'static Spec, a: &Args<'_>, seq: u64, proto: u8) {
        self.proto = proto;
        let first = self.ranges.len();
        for i in 0..a.len() {
            let s = a.get(i);
            self.ranges.push(self.buf.len()..self.buf.len() + s.len());
            self.buf.extend_from_slice(s);
        }
        self.cmds.push((spec, first..self.ranges.len(), seq));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// A claim on the keys its commands name.
    pub(super) fn claim(&self) -> gate::Claim {
        let mut keys: Vec<&[u8]> = Vec::new();
        for (spec, r, _) in &self.cmds {
            let a = Args {
                buf: &self.buf,
                ranges: &self.ranges[r.clone()],
            };
            keys.extend(cmd::key_positions(spec, &a).map(|i| a.get(i)));
        }
        gate::Claim::keys(keys)
    }

    /// Sends the batch to `shard`; the replies go to `conn` on `home`.
    pub(crate) fn send(self, lp: &LoopHandle, shard: usize, home: usize, conn: ConnectionHandle) {
        lp.post(shard, move |lp| {
            order::catch_up(lp.handle());
            if gate::idle() {
                return self.run(lp, home, conn);
            }
            // Behind what locks its keys, and behind this connection's
            // commands already waiting here.
            let claim = self.claim().in_order_of(home, conn);
            gate::run(lp, claim, move |lp| self.run(lp, home, conn));
        });
    }

    /// Runs the batch on this shard and sends the replies back.
    pub(super) fn run(self, lp: &mut EventLoop, home: usize, conn: ConnectionHandle) {
        let now = now_ms(lp.handle());
        reply::set_protocol(self.proto);
        let mut out = Vec::new();
        let mut marks = Vec::with_capacity(self.cmds.len());
        SHARD.with(|s| s.borrow_mut().hops += self.cmds.len() as u64);
        for (spec, r, seq) in &self.cmds {
            let start = out.len();
            let a = Args {
                buf: &self.buf,
                ranges: &self.ranges[r.clone()],
            };
            exec_here(spec, &a, now, &mut out);
            marks.push((*seq, start..out.len()));
        }
        let reply = move |lp: &mut EventLoop| {
            lp.post(home, move |lp| {
                lp.with_connection(conn, |p: &mut KvConn, t| p.fill_many(t, &out, &marks));
            });
        };
        if aof::on() {
            after_sync(lp.handle(), reply);
        } else {
            reply(lp);
        }
    }
}
