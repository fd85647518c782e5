//! A connection's blocking commands (BLPOP…): its reply slot, the block
//! posted to the shards owning its keys, its timeout on the loop's timers.

use super::*;
use crate::kv::blocking::{self, Block, BlockCmd, Pop};

/// A blocking command read, not blocked yet.
pub(super) struct Pending {
    pop: Pop,
    keys: Vec<Vec<u8>>,
    dst: Option<Vec<u8>>,
    /// Milliseconds; 0: none.
    timeout: u64,
}

/// Whether a reply is nil (RESP2's null array or bulk, RESP3's null):
/// what a blocking command's non-blocking run answers when nothing was
/// there.
pub(super) fn is_nil(reply: &[u8]) -> bool {
    matches!(reply, b"*-1\r\n" | b"$-1\r\n" | b"_\r\n")
}

impl KvConn {
    /// A blocking command outside MULTI: once this connection's earlier
    /// commands are answered, block on the keys; later commands wait
    /// until it is answered (a blocked client runs nothing else, as in
    /// Redis).
    pub(super) fn blocking(
        &mut self,
        t: &mut Transport,
        c: BlockCmd,
        spec: &'static Spec,
        a: &Args<'_>,
    ) {
        if !self.slots.is_empty() {
            // Counted again when handled again.
            crate::kv::stats::uncount(a.get(0));
            self.held.push_front(OwnedArgs::from_args(a));
            return;
        }
        let now = crate::kv::db::now_ms(t.get_loop());
        let ((pop, keys, dst), timeout) = match c.read(a, now) {
            Ok(p) => p,
            Err(e) => return self.ready(|out| reply::error_bytes(out, &e.0)),
        };
        let pending = Pending {
            pop,
            keys,
            dst,
            timeout,
        };
        let shards = t.get_loop().shard_count();
        let owners: std::collections::HashSet<usize> = pending
            .keys
            .iter()
            .map(|k| crate::kv::owner(k, shards))
            .collect();
        if owners.len() > 1 {
            // Keys on several shards: first a transaction over all of them,
            // which pops from the first that holds something (or answers
            // the first key's error), in the command's order, as Redis.
            let to = self.slot(t, Slot::Trying(Box::new(pending)));
            self.barrier = Some(to.seq);
            self.send_outgoing(t);
            txn_start(
                t.get_loop(),
                vec![(spec, OwnedArgs::from_args(a))],
                false,
                to,
                None,
            );
            return;
        }
        let to = self.slot(t, Slot::Waiting);
        self.barrier = Some(to.seq);
        self.send_outgoing(t);
        self.start_block(t, to.seq, pending);
    }

    /// Blocks slot `seq` on its keys' shards, with its timeout.
    pub(super) fn start_block(&mut self, t: &mut Transport, seq: u64, p: Pending) {
        let to = ReplyTo {
            shard: t.get_loop().shard_id().unwrap_or(0),
            conn: t.handle(),
            seq,
            proto: self.proto,
        };
        let client = self.client.as_ref().map_or(0, |c| c.id);
        let block = Block::new(to, client, p.pop, p.keys, p.dst, p.timeout);
        self.blocks.retain(|b| !b.done());
        self.blocks.push(std::sync::Arc::clone(&block));
        SHARD.with(|s| {
            let mut s = s.borrow_mut();
            s.blocks.retain(|b| !b.done());
            s.blocks.push(std::sync::Arc::clone(&block));
        });
        blocking::start(t.get_loop(), block);
    }

    /// The connection closes: nothing is popped for its blocks any more,
    /// and the owners of their keys drop them from their queues.
    pub(super) fn cancel_blocks(&mut self, t: &mut Transport) {
        for b in self.blocks.drain(..) {
            blocking::cancel(t.get_loop(), &b);
        }
    }

    /// Lets go of the watch (UNWATCH, DISCARD, EXEC, a close).
    pub(super) fn unwatch(&mut self, t: &mut Transport) {
        if let Some(w) = self.watch.take() {
            w.release(t.get_loop());
        }
    }
}
