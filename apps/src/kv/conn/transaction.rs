//! MULTI/EXEC/DISCARD on a connection, and a multi-shard command's parts
//! combined into one reply.

use super::*;

/// Puts the pieces of an all-shard command together.
pub(crate) fn combine(gather: Gather, a: &Args<'_>, parts: &[Option<Vec<u8>>]) -> Vec<u8> {
    let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_deref().unwrap_or(&[])).collect();
    let mut out = Vec::new();
    match gather {
        Gather::Count => {
            let n: u64 = parts.iter().flat_map(|p| read_u64s(p)).sum();
            reply::int(&mut out, n as i64);
        }
        Gather::Flush => reply::ok(&mut out),
        Gather::Rewrite => reply::simple(&mut out, "Background append only file rewriting started"),
        Gather::Keys { cursor, .. } => {
            let keys: Vec<&[u8]> = parts.iter().flat_map(|p| read_keys(p)).collect();
            if cursor {
                reply::array(&mut out, 2);
                reply::bulk(&mut out, b"0");
            }
            reply::array(&mut out, keys.len());
            for k in keys {
                reply::bulk(&mut out, k);
            }
        }
        Gather::Publish => {
            let n: u64 = parts.iter().flat_map(|p| read_u64s(p)).sum();
            reply::int(&mut out, n as i64);
        }
        Gather::Channels | Gather::Numpat => {
            let mut seen = std::collections::HashSet::new();
            let names: Vec<&[u8]> = parts
                .iter()
                .flat_map(|p| read_keys(p))
                .filter(|n| seen.insert(*n))
                .collect();
            if let Gather::Numpat = gather {
                reply::int(&mut out, names.len() as i64);
            } else {
                reply::array(&mut out, names.len());
                for n in names {
                    reply::bulk(&mut out, n);
                }
            }
        }
        Gather::Numsub => {
            let per: Vec<Vec<u64>> = parts.iter().map(|p| read_u64s(p)).collect();
            reply::array(&mut out, 2 * (a.len() - 2));
            for (i, ch) in a.iter_from(2).enumerate() {
                let n: u64 = per.iter().map(|v| v.get(i).copied().unwrap_or(0)).sum();
                reply::bulk(&mut out, ch);
                reply::int(&mut out, n as i64);
            }
        }
        Gather::RandomKey => {
            // Each part: its live keys' count, then one of them.
            let drawn: Vec<(u64, Option<&[u8]>)> = parts
                .iter()
                .filter(|p| p.len() >= 8)
                .map(|p| {
                    let n = u64::from_le_bytes(p[..8].try_into().expect("8 bytes"));
                    (n, read_keys(&p[8..]).first().copied())
                })
                .collect();
            let total: u64 = drawn.iter().map(|(n, _)| n).sum();
            let mut pick = if total > 0 { cmd::random() % total } else { 0 };
            let key = drawn.iter().find_map(|(n, k)| {
                if pick < *n {
                    return *k;
                }
                pick -= n;
                None
            });
            reply::opt_bulk(&mut out, key);
        }
        Gather::Unblock => {
            let n: u64 = parts.iter().flat_map(|p| read_u64s(p)).sum();
            reply::int(&mut out, n as i64);
        }
        Gather::Clients => {
            let lines: Vec<u8> = parts.concat();
            reply::verbatim(&mut out, &lines);
        }
        Gather::Info => {
            let sections: Vec<String> = a
                .iter_from(1)
                .map(|s| String::from_utf8_lossy(s).to_lowercase())
                .collect();
            reply::verbatim(&mut out, info(&parts, &sections).as_bytes());
        }
    }
    out
}

impl KvConn {
    /// Starts a multi-shard transaction once this connection's earlier
    /// commands are done; later ones wait until it is (see `barrier`).
    pub(super) fn transaction(
        &mut self,
        t: &mut Transport,
        cmds: Vec<(&'static Spec, OwnedArgs)>,
        exec: bool,
        a: &Args<'_>,
    ) {
        if !self.slots.is_empty() {
            // Not yet: handled again when the replies before it are in.
            if exec {
                self.multi = Some(cmds);
            }
            // Counted again when handled again.
            crate::kv::stats::uncount(a.get(0));
            self.held.push_front(OwnedArgs::from_args(a));
            return;
        }
        let to = self.slot(t, Slot::Waiting);
        self.barrier = Some(to.seq);
        self.send_outgoing(t);
        // EXEC lets go of the watch, whatever it answers.
        let watch = if exec { self.watch.take() } else { None };
        let flag = watch.as_ref().map(|w| Arc::clone(w.flag()));
        txn_start(t.get_loop(), cmds, exec, to, flag);
        if let Some(w) = watch {
            w.release(t.get_loop());
        }
    }

    /// A multi-key command split by shard (see `split`): joins the group
    /// of split commands of this read (sent at its end as one
    /// transaction), or opens one once this connection's earlier commands
    /// are done.
    pub(super) fn split(
        &mut self,
        t: &mut Transport,
        spec: &'static Spec,
        how: crate::kv::split::Split,
        a: &Args<'_>,
    ) {
        if self.squash.is_none() && !self.slots.is_empty() {
            // Not yet: handled again when the replies before it are in,
            // and counted again then.
            crate::kv::stats::uncount(a.get(0));
            self.held.push_front(OwnedArgs::from_args(a));
            return;
        }
        let to = self.slot(t, Slot::Waiting);
        self.barrier = Some(to.seq);
        let shards = t.get_loop().shard_count();
        self.squash
            .get_or_insert_with(|| crate::kv::split::Group::new(shards))
            .push(spec, how, a, to.seq);
    }

    /// Sends the group of split commands gathered so far, if any.
    pub(super) fn send_squash(&mut self, t: &mut Transport) {
        if let Some(group) = self.squash.take() {
            self.send_outgoing(t);
            let to = ReplyTo {
                shard: t.get_loop().shard_id().unwrap_or(0),
                conn: t.handle(),
                seq: 0,
                proto: self.proto,
            };
            group.start(t.get_loop(), to);
        }
    }

    /// While a group of split commands gathers, a command that cannot
    /// join it waits until the group is answered (handled, and counted,
    /// again then).
    pub(super) fn hold_behind_squash(&mut self, a: &Args<'_>) {
        crate::kv::stats::uncount(a.get(0));
        self.held.push_front(OwnedArgs::from_args(a));
    }

    /// Handles held commands in order until one sets a barrier (or must
    /// wait again).
    pub(super) fn drain_held(&mut self, t: &mut Transport) {
        while (self.barrier.is_none() || self.squash.is_some()) && !self.closing {
            let Some(cmd) = self.held.pop_front() else {
                break;
            };
            let before = self.held.len();
            self.handle(t, &cmd.args());
            if self.held.len() > before {
                break;
            }
        }
        self.send_outgoing(t);
        self.send_squash(t);
    }

    pub(super) fn transaction_command(&mut self, t: &mut Transport, c: TxnCmd) {
        self.transaction_step(t, c);
        if let Some(client) = &self.client {
            client
                .multi
                .set(self.multi.as_ref().map_or(-1, |q| q.len() as i64));
        }
    }

    fn transaction_step(&mut self, t: &mut Transport, c: TxnCmd) {
        match (c, self.multi.take()) {
            (TxnCmd::Multi, None) => {
                self.multi = Some(Vec::new());
                self.multi_failed = false;
                self.ready(reply::ok);
            }
            (TxnCmd::Multi, Some(q)) => {
                // Refused alone: the transaction goes on (Redis 7.0).
                self.multi = Some(q);
                self.ready(|out| reply::error(out, "ERR MULTI calls can not be nested"));
            }
            (TxnCmd::Discard, Some(_)) => {
                self.unwatch(t);
                self.ready(reply::ok)
            }
            (TxnCmd::Discard, None) => self.error("ERR DISCARD without MULTI"),
            (TxnCmd::Exec, None) => self.error("ERR EXEC without MULTI"),
            (TxnCmd::Exec, Some(_)) if self.multi_failed => {
                self.unwatch(t);
                self.error("EXECABORT Transaction discarded because of previous errors.")
            }
            (TxnCmd::Exec, Some(q)) if q.is_empty() => {
                let dirty = self.watch.as_ref().is_some_and(|w| w.flag().dirty());
                self.unwatch(t);
                self.ready(|out| {
                    if dirty {
                        reply::nil_array(out)
                    } else {
                        reply::array(out, 0)
                    }
                })
            }
            (TxnCmd::Exec, Some(q)) => {
                let exec = std::iter::once(0..4).collect::<Vec<_>>();
                let a = Args {
                    buf: b"EXEC",
                    ranges: &exec,
                };
                self.transaction(t, q, true, &a);
            }
        }
    }
}
