//! A connection's blocking commands (BLPOP…): its reply slot, the block
//! posted to the shards owning its keys, its timeout on the loop's timers.

use super::*;
use crate::kv::blocking::{self, Block, BlockCmd};

impl KvConn {
    /// A blocking command outside MULTI: once this connection's earlier
    /// commands are answered, block on the keys; later commands wait
    /// until it is answered (a blocked client runs nothing else, as in
    /// Redis).
    pub(super) fn blocking(&mut self, t: &mut Transport, c: BlockCmd, a: &Args<'_>) {
        if !self.slots.is_empty() {
            self.held.push_front(OwnedArgs::from_args(a));
            return;
        }
        let now = crate::kv::db::now_ms(t.get_loop());
        let parsed = c
            .parse(a)
            .map_err(|e| e.0)
            .and_then(|p| Ok((p, blocking::timeout_ms(a.get(a.len() - 1), now)?)));
        let ((pop, keys, dst), timeout) = match parsed {
            Ok(p) => p,
            Err(e) => return self.ready(|out| reply::error_bytes(out, &e)),
        };
        let to = self.slot(t, Slot::Waiting);
        self.barrier = Some(to.seq);
        self.send_outgoing(t);
        let block = Block::new(to, pop, keys, dst);
        self.blocks.retain(|b| !b.done());
        self.blocks.push(std::sync::Arc::clone(&block));
        SHARD.with(|s| {
            let mut s = s.borrow_mut();
            s.blocks.retain(|b| !b.done());
            s.blocks.push(std::sync::Arc::clone(&block));
        });
        blocking::start(t.get_loop(), std::sync::Arc::clone(&block));
        if timeout > 0 {
            t.get_loop()
                .call_later(std::time::Duration::from_millis(timeout), move |lp| {
                    blocking::time_out(lp, block)
                });
        }
    }

    /// The connection closes: nothing is popped for its blocks any more.
    pub(super) fn cancel_blocks(&mut self) {
        for b in self.blocks.drain(..) {
            b.cancel();
        }
    }
}
