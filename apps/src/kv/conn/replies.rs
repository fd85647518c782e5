//! A connection's replies: each request's slot filled when its answer
//! arrives (from this shard, another one, or a transaction), the ready
//! ones taken in order, and written in one write per read.

use super::*;

impl KvConn {
    /// A reply computed elsewhere arrived for slot `seq`.
    pub(in crate::kv) fn fill(&mut self, t: &mut Transport, seq: u64, bytes: Vec<u8>) {
        reply::set_protocol(self.proto);
        if let Some(slot) = seq
            .checked_sub(self.first_seq)
            .and_then(|i| self.slots.get_mut(i as usize))
        {
            match slot {
                Slot::Trying(_) if blocked::is_nil(&bytes) => {
                    // Nothing to pop on any of its shards: it blocks now.
                    if let Slot::Trying(p) = std::mem::replace(slot, Slot::Waiting) {
                        self.start_block(t, seq, *p);
                    }
                }
                _ => *slot = Slot::Ready(bytes),
            }
        }
        self.flush(t);
        self.unpark(t);
    }

    /// The replies of a batch sent to another shard arrived: `marks` are
    /// (slot, range of `out`). A reply for the oldest slot goes straight to
    /// the output.
    pub(in crate::kv) fn fill_many(
        &mut self,
        t: &mut Transport,
        out: &[u8],
        marks: &[(u64, Range<usize>)],
    ) {
        reply::set_protocol(self.proto);
        for (seq, r) in marks {
            if *seq == self.first_seq && matches!(self.slots.front(), Some(Slot::Waiting)) {
                self.slots.pop_front();
                self.first_seq += 1;
                if !self.is_muted(*seq) {
                    self.out.extend_from_slice(&out[r.clone()]);
                }
                self.take_ready();
            } else if let Some(slot) = seq
                .checked_sub(self.first_seq)
                .and_then(|i| self.slots.get_mut(i as usize))
            {
                *slot = Slot::Ready(out[r.clone()].to_vec());
            }
        }
        self.flush(t);
        self.unpark(t);
    }

    /// One shard's piece of an all-shard command arrived.
    pub(in crate::kv) fn gathered(
        &mut self,
        t: &mut Transport,
        seq: u64,
        shard: usize,
        part: Vec<u8>,
    ) {
        reply::set_protocol(self.proto);
        self.gathered_part(seq, shard, part);
        self.flush(t);
        self.unpark(t);
    }

    /// Half the commands in flight are answered: read again, and handle
    /// what waited in the query buffer.
    pub(super) fn unpark(&mut self, t: &mut Transport) {
        if !self.parked || self.slots.len() + self.held.len() > MAX_IN_FLIGHT / 2 {
            return;
        }
        self.parked = false;
        if !self.write_paused {
            t.resume_reading();
        }
        self.feed(t, &[]);
    }

    /// Records one shard's piece; the slot is ready once all are in.
    pub(super) fn gathered_part(&mut self, seq: u64, shard: usize, part: Vec<u8>) {
        let Some(slot) = seq
            .checked_sub(self.first_seq)
            .and_then(|i| self.slots.get_mut(i as usize))
        else {
            return;
        };
        if let Slot::Gathering {
            spec,
            args,
            parts,
            left,
        } = slot
        {
            if parts[shard].replace(part).is_none() {
                *left -= 1;
            }
            if *left == 0 {
                let bytes = combine(
                    spec.gather().expect("an all-shard command"),
                    &args.args(),
                    parts,
                );
                *slot = Slot::Ready(bytes);
            }
        }
    }

    /// Moves the ready prefix of the reply queue to `out`.
    pub(super) fn take_ready(&mut self) {
        while matches!(self.slots.front(), Some(Slot::Ready(_))) {
            if let Some(Slot::Ready(r)) = self.slots.pop_front() {
                if !self.is_muted(self.first_seq) {
                    self.out.extend_from_slice(&r);
                }
            }
            self.first_seq += 1;
        }
    }

    /// Whether the reply of slot `seq` (leaving the queue now) is dropped
    /// (CLIENT REPLY OFF or SKIP when its command came).
    #[inline]
    fn is_muted(&mut self, seq: u64) -> bool {
        if self.muted.is_empty() {
            return false;
        }
        while self.muted.front().is_some_and(|&m| m < seq) {
            self.muted.pop_front();
        }
        if self.muted.front() == Some(&seq) {
            self.muted.pop_front();
            return true;
        }
        false
    }

    /// Moves the ready prefix of the queue out, lifts a finished barrier and
    /// handles what it held, and writes everything ready in one call.
    pub(super) fn flush(&mut self, t: &mut Transport) {
        self.take_ready();
        if self.barrier.is_some_and(|seq| seq < self.first_seq) {
            self.barrier = None;
        }
        if self.barrier.is_none() && !self.held.is_empty() {
            self.drain_held(t);
            self.take_ready();
        }
        self.write_out(t);
        if self.closing && self.slots.is_empty() && self.held.is_empty() && !self.write_deferred {
            t.close();
        }
    }

    /// Writes the ready replies; closes a client whose unsent replies are
    /// over `max_output_buffer`. When the shard logs, they leave after
    /// the log's next sync (`after_sync`): nothing is acknowledged before
    /// it is logged.
    pub(super) fn write_out(&mut self, t: &mut Transport) {
        if self.out.is_empty() {
            return;
        }
        if crate::kv::aof::on() {
            if !self.write_deferred {
                self.write_deferred = true;
                let h = t.handle();
                crate::kv::after_sync(t.get_loop(), move |lp| {
                    lp.with_connection(h, |p: &mut KvConn, t| p.deferred_write(t));
                });
            }
            return;
        }
        self.write_now(t);
    }

    /// The replies held for the log's sync leave.
    fn deferred_write(&mut self, t: &mut Transport) {
        self.write_deferred = false;
        self.write_now(t);
        if self.closing && self.slots.is_empty() && self.held.is_empty() {
            t.close();
        } else if !self.inbuf.is_empty() && !self.write_paused && !t.is_closing() {
            // Requests left in the query buffer while replies were held.
            self.feed(t, &[]);
        }
    }

    fn write_now(&mut self, t: &mut Transport) {
        if !self.out.is_empty() {
            let _ = t.write(&self.out);
            self.out.clear();
            if t.get_write_buffer_size() > self.options.max_output_buffer {
                tracing::warn!(
                    peer = %t.peername().map(|p| p.to_string()).unwrap_or_default(),
                    "kv client output buffer over its limit: closed"
                );
                t.abort();
            }
        }
    }
}
