//! The connection as a protocol: the callbacks, the feed of requests
//! through the flow control, and the end of a drain.

use super::*;

impl Protocol for KvConn {
    fn connection_made(&mut self, t: &mut Transport) {
        crate::kv::ensure_sweep(t.get_loop());
        let client = super::super::clients::Client::new(t, super::super::db::now_ms(t.get_loop()));
        SHARD.with(|s| {
            let mut s = s.borrow_mut();
            s.connections += 1;
            s.clients.insert(client.id, std::rc::Rc::clone(&client));
        });
        self.client = Some(client);
    }

    fn data_received(&mut self, t: &mut Transport, data: &[u8]) {
        self.feed(t, data);
    }

    fn eof_received(&mut self, t: &mut Transport) -> bool {
        // A blocked client that hangs up is gone, as in Redis: nothing is
        // popped for it, and the connection closes now.
        if self.blocks.iter().any(|b| !b.done()) {
            self.cancel_blocks(t);
            return false;
        }
        // Answer what was asked before the EOF, then close.
        self.closing = true;
        !self.slots.is_empty()
    }

    /// The server drains (P11): answer every complete command received,
    /// then close (part of a command is dropped).
    fn drain_started(&mut self, t: &mut Transport) {
        self.draining = true;
        self.feed(t, &[]);
        self.finish_drain(t);
    }

    fn connection_lost(&mut self, t: &mut Transport, _e: Option<std::io::Error>) {
        self.cancel_blocks(t);
        self.unwatch(t);
        self.unsubscribe_all(t);
        SHARD.with(|s| {
            let mut s = s.borrow_mut();
            s.connections -= 1;
            if let Some(c) = &self.client {
                s.clients.remove(&c.id);
            }
        });
        if let Some(h) = self.command_timer.take() {
            h.cancel();
        }
    }

    fn pause_writing(&mut self, t: &mut Transport) {
        // A client that pipelines without reading: stop reading its
        // requests until it reads our replies (the echo app's pattern).
        self.write_paused = true;
        t.pause_reading();
    }

    fn resume_writing(&mut self, t: &mut Transport) {
        self.write_paused = false;
        if !self.parked {
            t.resume_reading();
        }
        // Requests parked in the query buffer while the replies queued.
        if !self.inbuf.is_empty() {
            self.feed(t, &[]);
        }
    }
}

impl KvConn {
    /// Takes in `data` (none: just what the query buffer holds), handles
    /// every complete request the flow control lets through, and writes.
    pub(super) fn feed(&mut self, t: &mut Transport, data: &[u8]) {
        reply::set_protocol(self.proto);
        if self.closing {
            return;
        }
        if data.is_empty() && self.inbuf.is_empty() {
            return;
        }
        if self.inbuf.is_empty() {
            let used = self.process(t, data);
            self.inbuf.extend_from_slice(&data[used..]);
        } else {
            self.inbuf.extend_from_slice(data);
            let buf = std::mem::take(&mut self.inbuf);
            let used = self.process(t, &buf);
            self.inbuf = buf;
            self.inbuf.drain(..used);
        }
        if self.inbuf.len() > self.options.max_query_buffer {
            tracing::warn!("kv client query buffer over its limit: closed");
            self.inbuf = Vec::new();
            self.ready(|out| reply::error(out, "ERR Protocol error: query buffer limit exceeded"));
            self.closing = true;
        }
        if self.parked && t.is_reading() {
            t.pause_reading();
        }
        if self.inbuf.is_empty() && self.inbuf.capacity() > 64 << 10 {
            self.inbuf = Vec::new();
        }
        self.flush(t);
        // After a burst, give back what the queues grew to.
        if self.slots.is_empty() && self.slots.capacity() > MAX_IN_FLIGHT {
            self.slots = VecDeque::new();
        }
        if self.out.is_empty() && self.out.capacity() > 256 << 10 {
            self.out = Vec::new();
        }
        self.finish_drain(t);
    }

    /// Draining, and every complete command received was handled (what is
    /// left is part of one, or nothing): close once the replies are out.
    pub(super) fn finish_drain(&mut self, t: &mut Transport) {
        if self.draining && !self.closing && (self.inbuf.is_empty() || self.rest_partial) {
            self.closing = true;
            self.inbuf = Vec::new();
            self.flush(t);
        }
    }
}
