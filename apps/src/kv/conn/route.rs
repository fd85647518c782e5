//! Where a connection's command runs: refused over `maxmemory`, on every
//! shard (a gathered reply), here at once, at its key's owner, or as a
//! transaction across shards.

use super::*;

impl KvConn {
    /// Over `maxmemory` with the `noeviction` policy, whether `spec` is
    /// refused (Redis's `processCommand`): a command that may grow memory,
    /// any command but EXEC, DISCARD and QUIT inside MULTI, and EXEC of a
    /// transaction holding one. (With an evicting policy, the shard a
    /// write lands on makes room for it: see `evict`.)
    pub(super) fn refused_over_maxmemory(&mut self, spec: &Spec) -> bool {
        use super::super::evict;
        if evict::policy() != evict::Policy::NoEviction || !evict::over() {
            return false;
        }
        let refusable = match (&self.multi, spec.kind) {
            (Some(_), Kind::Transaction(TxnCmd::Discard) | Kind::Connection(ConnCmd::Quit)) => {
                false
            }
            (Some(q), Kind::Transaction(TxnCmd::Exec)) => q.iter().any(|(s, _)| s.denyoom()),
            (Some(_), _) => true,
            (None, _) => spec.denyoom(),
        };
        refusable
    }

    /// A command every shard answers a part of (DBSIZE, KEYS, INFO, CLIENT
    /// LIST…): this shard's part now, the others' by message; the reply
    /// once all are in, in this connection's order.
    pub(super) fn gather_all(
        &mut self,
        t: &mut Transport,
        spec: &'static Spec,
        gather: Gather,
        a: &Args<'_>,
    ) {
        if let Err(e) = cmd::check_all_shards(spec, a) {
            return self.ready(|out| reply::error_bytes(out, &e.0));
        }
        let n = t.get_loop().shard_count();
        let args = OwnedArgs::from_args(a);
        let to = self.slot(
            t,
            Slot::Gathering {
                spec,
                args: args.clone(),
                parts: vec![None; n],
                left: n,
            },
        );
        self.send_outgoing(t);
        all_shards(t.get_loop(), spec, args.clone(), to);
        // This shard's piece now, in this connection's order (or
        // behind the transaction that holds the shard).
        if gate::idle() {
            let part = super::super::shard_part(
                gather,
                a,
                super::super::db::now_ms(t.get_loop()),
                t.get_loop(),
            );
            self.gathered_part(to.seq, to.shard, part);
        } else {
            gate::queue(gate::Claim::all(), move |lp| {
                let part = super::super::shard_part(
                    gather,
                    &args.args(),
                    super::super::db::now_ms(lp.handle()),
                    lp.handle(),
                );
                super::super::gathered(lp, to, to.shard, part);
            });
        }
    }

    /// A command on keys: here at once when they are this shard's and
    /// nothing is outstanding; otherwise to the owner, or as a transaction.
    pub(super) fn keyed(&mut self, t: &mut Transport, spec: &'static Spec, a: &Args<'_>) {
        let lp = t.get_loop();
        let shards = lp.shard_count();
        if shards == 1 {
            return self.local(t, spec, a);
        }
        let home = lp.shard_id().unwrap_or(0);
        let (first, single) = match spec.keys.single() {
            // One key (or none given: the handler answers the arity error).
            Some(i) if i < a.len() => (owner(a.get(i), shards), true),
            Some(_) => (home, true),
            None => {
                let mut keys = cmd::key_positions(spec, a);
                let first = keys.next().map_or(home, |i| owner(a.get(i), shards));
                (first, keys.all(|i| owner(a.get(i), shards) == first))
            }
        };
        let how = if single {
            None
        } else {
            super::super::split::Split::of(spec, a)
        };
        if self.squash.is_some() && how.is_none() {
            return self.hold_behind_squash(a);
        }
        if single && first == home {
            return self.local(t, spec, a);
        }
        if single {
            // Gathered with this read's other commands for that shard.
            let to = self.slot(t, Slot::Waiting);
            if self.outgoing.len() <= first {
                self.outgoing.resize_with(shards, Default::default);
            }
            self.outgoing[first].push(spec, a, to.seq, self.proto);
        } else if let Some(how) = how {
            self.split(t, spec, how, a);
        } else {
            let args = OwnedArgs::from_args(a);
            self.transaction(t, vec![(spec, args)], false, a);
        }
    }

    /// A command on this shard's own keys: run at once (its reply behind any
    /// still outstanding), or, while a transaction holds the shard, queued
    /// behind it in order. Never posted to itself: nothing of this
    /// connection can be waiting in this shard's queue unless the shard is
    /// held, and then this waits too.
    pub(super) fn local(&mut self, t: &mut Transport, spec: &'static Spec, a: &Args<'_>) {
        // Behind what this shard holds or queues, if any claims its keys.
        let waiting = if gate::idle() {
            None
        } else {
            Some(self.claim(t, spec, a)).filter(|c| gate::with(|g| !g.free(c)))
        };
        let Some(claim) = waiting else {
            // One clock read per read of the socket, as Redis caches its
            // time per event-loop iteration.
            let client = &self.client;
            let now = *self.now.get_or_insert_with(|| {
                let now = super::super::db::now_ms(t.get_loop());
                if let Some(c) = client {
                    c.last_ms.set(now);
                }
                now
            });
            if self.slots.is_empty() {
                return exec_here(spec, a, now, &mut self.out);
            }
            let mut r = Vec::new();
            exec_here(spec, a, now, &mut r);
            self.slots.push_back(Slot::Ready(r));
            return;
        };
        let args = OwnedArgs::from_args(a);
        let to = self.slot(t, Slot::Waiting);
        gate::queue(claim, move |lp| {
            reply::set_protocol(to.proto);
            let mut out = Vec::new();
            exec_here(
                spec,
                &args.args(),
                super::super::db::now_ms(lp.handle()),
                &mut out,
            );
            super::super::deliver(lp, to, out);
        });
    }

    /// What a command of this connection claims on this shard: its keys,
    /// and this connection's place in the queue.
    pub(super) fn claim(&self, t: &Transport, spec: &Spec, a: &Args<'_>) -> gate::Claim {
        gate::Claim::keys(cmd::key_positions(spec, a).map(|i| a.get(i)))
            .in_order_of(t.get_loop().shard_id().unwrap_or(0), t.handle())
    }
}
