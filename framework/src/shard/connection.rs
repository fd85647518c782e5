//! One stream connection as the loop drives it: the transport, the user's
//! protocol, and the event handling between them (reads, flushes, and the
//! follow-up after every callback).
//!
//! Hot path: a readable event reads into the shard's one read
//! buffer and hands a slice of it to `data_received`; a short read means the
//! socket is drained (epoll reports every later arrival as a new edge), so
//! one request costs one `read`, and the protocol's `write` costs one
//! `write`. Nothing here allocates, locks or touches an atomic per message.

use std::io;
use std::rc::Rc;

use super::driver::{read_stream, AfterLost, Ctx, Deferred, Driven, Guarded, StreamReading};
use super::server::ServerShared;
use crate::protocol::DynProtocol;
use crate::transport::lifecycle::{Lifecycle, State};
use crate::transport::timeouts::LingerMark;
use crate::transport::Transport;

/// What the loop must do with the entry after an event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    Keep,
    /// Remove the entry (a lingering close finished).
    Remove,
}

pub(crate) struct Connection {
    pub(crate) transport: Transport,
    pub(crate) protocol: Box<dyn DynProtocol>,
    /// The server that accepted it, whose live count it holds.
    pub(crate) server: Option<Rc<ServerShared>>,
}

impl Connection {
    /// Between `connection_made` and `connection_lost`: alive, and over TLS
    /// past its handshake.
    pub(crate) fn is_made(&self) -> bool {
        !self.transport.life().is_lost() && self.transport.handshake_done()
    }

    /// Delivers `connection_made` (T1, P2).
    pub(crate) fn made(&mut self, ctx: &mut Ctx<'_>) {
        tracing::debug!(peer = %peer_text(&self.transport), "connection made");
        self.invoke("connection_made", |p, t| p.connection_made(t));
        self.settle(ctx);
    }

    /// Handles one readiness event.
    #[inline(always)]
    pub(crate) fn on_event(&mut self, ctx: &mut Ctx<'_>, ev: &super::ready::Ready) -> Next {
        let readable = ev.wants_read();
        match self.transport.life().state() {
            State::Open | State::Closing => {}
            State::Finishing | State::Lost => return self.on_ended_event(ctx, readable),
        }
        if readable {
            if self.transport.delivers_input() {
                // After the peer's FIN was seen, read to the end even if a
                // read comes back short: no later edge would report it.
                // (The read notes what it leaves in the kernel.)
                self.read(ctx, ev.read_to_end());
            } else {
                // Paused: delivered on resume.
                self.transport.life_mut().set_read_ready(true);
            }
        }
        // (Usually nothing is queued: that test first.)
        if self.transport.has_queued() && (ev.is_writable() || ev.is_write_closed()) {
            self.flush(ctx);
        }
        Next::Keep
    }

    /// An event of a connection past its flush: out of line, the hot path
    /// tests the state once.
    #[cold]
    #[inline(never)]
    fn on_ended_event(&mut self, ctx: &mut Ctx<'_>, readable: bool) -> Next {
        match self.transport.life().state() {
            State::Lost if readable => self.linger_drain(ctx),
            State::Finishing if readable => {
                // Flushed, `connection_lost` due: a readable edge now (the
                // peer's FIN, maybe) will not come again, so the lingering
                // close that follows reads at once (T3).
                self.transport.life_mut().readable_unread();
                Next::Keep
            }
            _ => Next::Keep,
        }
    }

    /// Reads and delivers input until the socket is drained, reading is
    /// paused, or the transport closes. With `to_would_block` it reads until
    /// `WouldBlock` even after a short read.
    #[inline(always)]
    pub(crate) fn read(&mut self, ctx: &mut Ctx<'_>, to_would_block: bool) {
        #[cfg(feature = "tls")]
        if self.transport.is_tls() {
            return self.read_tls(ctx, to_would_block);
        }
        read_stream(self, ctx, to_would_block);
    }

    /// The peer's EOF (P5): `eof_received`, then close unless it asked to
    /// stay half-open — which TLS cannot.
    pub(super) fn deliver_eof(&mut self, ctx: &mut Ctx<'_>) {
        self.transport.life_mut().eof_read();
        let keep = self.invoke("eof_received", |p, t| p.eof_received(t));
        if Lifecycle::closes_after_eof(keep, self.transport.can_half_open()) {
            self.transport.close();
        }
        self.settle(ctx);
    }

    /// Sends what is queued (one vectored write per attempt), then applies
    /// what a drain implies: a pending `write_eof`, a pending close, and
    /// `resume_writing` once at or under the low mark.
    fn flush(&mut self, ctx: &mut Ctx<'_>) {
        if self.transport.drain_queue() {
            self.invoke("resume_writing", |p, t| p.resume_writing(t));
        }
        self.settle(ctx);
    }
}

impl Guarded for Connection {
    type Protocol = dyn DynProtocol;
    type Transport = Transport;

    #[inline(always)]
    fn parts(&mut self) -> (&mut dyn DynProtocol, &mut Transport) {
        (&mut *self.protocol, &mut self.transport)
    }

    fn panicked(&mut self, e: io::Error) {
        self.transport.fail(e);
    }
}

impl Driven for Connection {
    #[inline(always)]
    fn life(&mut self) -> &mut Lifecycle {
        self.transport.life_mut()
    }

    fn pause_writing(&mut self) {
        crate::stats::add(&self.transport.get_loop().sched.stats.pause_writing, 1);
        self.invoke("pause_writing", |p, t| p.pause_writing(t));
    }

    /// Finishes a close whose queue is empty (FIN), schedules
    /// `connection_lost` or a resumed read, and keeps WRITABLE interest
    /// registered exactly while something is queued.
    fn settle_state(&mut self, ctx: &mut Ctx<'_>) {
        let t = &mut self.transport;
        // Flushed: send FIN now; connection_lost follows next iteration.
        t.finish_if_flushed();
        match t.life().state() {
            State::Finishing => ctx.deferred.push(t.handle().0),
            State::Open if t.life_mut().take_read_resumed() => ctx.deferred.push(t.handle().0),
            _ => {}
        }
        if let Err(e) = t.sync_writable_interest(ctx.registry) {
            t.fail(e);
            ctx.deferred.push(t.handle().0);
        }
    }
}

impl Connection {
    /// Delivers `connection_lost` (P2, P3) if it is due. Returns whether the
    /// socket should linger (T3) rather than be dropped with the entry.
    fn deliver_lost(&mut self) -> Option<bool> {
        let lost = self.transport.life_mut().deliver_lost()?;
        let (bytes_in, bytes_out) = self.transport.byte_counts();
        let stats = &self.transport.get_loop().sched.stats;
        crate::stats::add(&stats.bytes_in, bytes_in);
        crate::stats::add(&stats.bytes_out, bytes_out);
        let error = lost.error;
        tracing::debug!(
            peer = %peer_text(&self.transport),
            bytes_in,
            bytes_out,
            error = ?error,
            "connection lost"
        );
        // A TLS connection whose handshake never completed was never made:
        // its protocol hears nothing (P2).
        if self.transport.handshake_done() {
            self.invoke("connection_lost", |p, t| p.connection_lost(t, error));
        } else if let Some(tell) = self.transport.take_handshake_failure() {
            tell(error.unwrap_or_else(|| io::Error::other("the TLS handshake failed")));
        }
        if let Some(server) = self.server.take() {
            server.connection_closed(bytes_in, bytes_out);
            crate::stats::add(&self.transport.get_loop().sched.stats.closed, 1);
        }
        if lost.aborted {
            // Kept until now only for `sockname`: close it.
            self.transport.close_socket();
        }
        // Input we never read would make the kernel answer the FIN with a
        // reset: keep draining it unless the peer already closed.
        Some(self.transport.should_linger())
    }

    /// Reads and discards input of a lingering close until the peer closes.
    /// What it discards still counts in `bytes_in` (the shard's counters
    /// took their share at `connection_lost`), so the linger check can see
    /// that the peer is alive.
    fn linger_drain(&mut self, ctx: &mut Ctx<'_>) -> Next {
        loop {
            match self.transport.read_counted(ctx.read_buf) {
                None | Some(Ok(0)) => return Next::Remove,
                Some(Ok(_)) => {}
                Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Some(Err(_)) => return Next::Remove,
            }
        }
    }
}

impl Connection {
    /// Where this lingering close stands now.
    pub(crate) fn linger_mark(&self) -> LingerMark {
        self.transport.linger_mark()
    }
}

impl Deferred for Connection {
    fn run_deferred(&mut self, ctx: &mut Ctx<'_>) -> Option<AfterLost> {
        match self.deliver_lost() {
            Some(true) => {
                // Input (or the peer's FIN) that came while the transport
                // no longer read: its edge is spent, so read now rather
                // than wait for one that will not come.
                if self.transport.life().read_ready() && self.linger_drain(ctx) == Next::Remove {
                    return Some(AfterLost::Remove);
                }
                Some(AfterLost::Linger(self.linger_mark()))
            }
            Some(false) => Some(AfterLost::Remove),
            None => {
                let t = &self.transport;
                if t.life().read_ready() && t.delivers_input() {
                    self.read(ctx, true);
                }
                None
            }
        }
    }
}

impl StreamReading for Connection {
    #[inline(always)]
    fn stream(&mut self) -> Option<&mut Transport> {
        Some(&mut self.transport)
    }

    #[inline(always)]
    fn deliver(&mut self, data: &[u8]) {
        // Unguarded: a panic here unwinds to the loop's one guard per run,
        // which fails this connection (the loop's `current`) and dispatches
        // the rest.
        self.protocol.data_received(&mut self.transport, data);
    }

    fn at_eof(&mut self, ctx: &mut Ctx<'_>) {
        self.deliver_eof(ctx);
    }

    fn read_failed(&mut self, e: io::Error, ctx: &mut Ctx<'_>) {
        self.transport.fail_on_read(e);
        self.settle(ctx);
    }
}

/// The peer's address for a debug log line (only built when it is logged).
fn peer_text(t: &Transport) -> String {
    t.peername()
        .map_or_else(|| "-".to_string(), |a| a.to_string())
}
