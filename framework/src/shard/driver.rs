//! The steps the loop runs on every kind of entry that carries a protocol,
//! written once:
//!
//! - **invoke** a protocol callback, catching a panic so that it costs that
//!   entry only ([`Guarded`]);
//! - **settle** after every callback: a `pause_writing` the callback made
//!   due is delivered first (P10), then the kind's own state step — finish
//!   a flushed close, schedule `connection_lost` or a resumed read, keep
//!   WRITABLE interest in line with the queue ([`Driven`]).
//!
//! A stream connection (TCP, Unix, TLS), a datagram endpoint and each pipe
//! of a child process implement them; adding a kind of entry is
//! implementing these traits, not copying the loops. Reading stays with
//! each kind (a socket, a TLS session, `recvmmsg` differ in what a read
//! is), the lifecycle they settle is the one machine of
//! [`Lifecycle`](crate::transport::lifecycle::Lifecycle).

use std::io;
use std::panic::{self, AssertUnwindSafe};

use mio::Registry;

use super::EntryKey;
use crate::transport::lifecycle::Lifecycle;
use crate::transport::timeouts::LingerMark;
use crate::transport::Transport;

/// What the loop lends an entry while it handles one event.
pub(crate) struct Ctx<'a> {
    pub(crate) registry: &'a Registry,
    pub(crate) read_buf: &'a mut [u8],
    /// Connections to revisit at the start of the next iteration:
    /// `connection_lost` due, or reading resumed with input pending.
    pub(crate) deferred: &'a mut Vec<EntryKey>,
}

/// An entry whose protocol callbacks run guarded.
pub(crate) trait Guarded {
    /// The protocol, as the entry holds it (`dyn`).
    type Protocol: ?Sized;
    /// The transport its callbacks get.
    type Transport;

    /// The protocol and the transport, borrowed apart.
    fn parts(&mut self) -> (&mut Self::Protocol, &mut Self::Transport);

    /// A callback panicked: end this entry (only) with `e`.
    fn panicked(&mut self, e: io::Error);

    /// Runs one protocol callback; a panic is logged and ends this entry
    /// with an error (`connection_lost` reports it), and the shard serves
    /// on.
    #[inline]
    fn invoke<R>(
        &mut self,
        what: &'static str,
        f: impl FnOnce(&mut Self::Protocol, &mut Self::Transport) -> R,
    ) -> Option<R> {
        let (p, t) = self.parts();
        match guarded(what, || f(p, t)) {
            Ok(r) => Some(r),
            Err(e) => {
                self.panicked(e);
                None
            }
        }
    }
}

/// An entry the loop settles after every callback.
pub(crate) trait Driven: Guarded {
    /// The lifecycle the settle pass is about.
    fn life(&mut self) -> &mut Lifecycle;

    /// Delivers `pause_writing` (through [`Guarded::invoke`]).
    fn pause_writing(&mut self);

    /// The kind's own step of a settle pass; it may ask for another pass
    /// (`life().touch()`).
    fn settle_state(&mut self, ctx: &mut Ctx<'_>);

    /// Acts on what the last callback (or flush) changed. Usually nothing
    /// changed: that check is inlined, the work is not.
    #[inline(always)]
    fn settle(&mut self, ctx: &mut Ctx<'_>) {
        if self.life().needs_settle() {
            settle_changes(self, ctx);
        }
    }
}

/// The settle loop itself, for a kind that settles more than one
/// lifecycle at a time (a child process's pipes).
#[inline(never)]
pub(crate) fn settle_changes<D: Driven + ?Sized>(d: &mut D, ctx: &mut Ctx<'_>) {
    while d.life().take_settle() {
        if d.life().take_pause() {
            // Deliver first (P10), then come back for the state change
            // that the same write made (e.g. WRITABLE interest).
            d.life().touch();
            d.pause_writing();
            continue;
        }
        d.settle_state(ctx);
    }
}

/// An entry that reads a byte stream (a socket, a pipe) with the loop's
/// one read loop, [`read_stream`].
pub(crate) trait StreamReading: Driven {
    /// The stream transport being read; `None` once it is gone (a pipe
    /// closed by the last callback).
    fn stream(&mut self) -> Option<&mut Transport>;
    /// Hands `data` to the protocol.
    fn deliver(&mut self, data: &[u8]);
    /// The stream's end was read.
    fn at_eof(&mut self, ctx: &mut Ctx<'_>);
    /// A read failed.
    fn read_failed(&mut self, e: io::Error, ctx: &mut Ctx<'_>);
}

/// Reads and delivers input until the stream is drained, reading is
/// paused, or the transport closes, settling after each delivery. A short
/// read means drained (epoll reports every later arrival as a new edge),
/// so one request costs one `read`; with `to_would_block` it reads until
/// `WouldBlock` even after a short read (after the peer's FIN no later
/// edge would report the end).
#[inline(always)]
pub(crate) fn read_stream<R: StreamReading>(r: &mut R, ctx: &mut Ctx<'_>, to_would_block: bool) {
    while let Some(t) = r.stream().filter(|t| t.delivers_input()) {
        let Some(got) = t.read_raw(ctx.read_buf) else {
            return;
        };
        if got > 0 {
            let n = got as usize;
            let drained = n < ctx.read_buf.len() && !to_would_block;
            if drained {
                t.life_mut().set_read_ready(false);
            }
            r.deliver(&ctx.read_buf[..n]);
            r.settle(ctx);
            if drained {
                return;
            }
        } else if !read_ended(r, ctx, crate::sys::syscall_outcome(got)) {
            return;
        }
    }
    // Stopped before the stream ran dry (reading paused, or a callback
    // closed it): the kernel may hold more, for a resumed read.
    if let Some(t) = r.stream() {
        t.life_mut().set_read_ready(true);
    }
}

/// A read that brought no data: EOF, `WouldBlock`, an interruption
/// (whether to read again) or an error. Out of line: the hot loop only
/// sees data.
#[cold]
#[inline(never)]
fn read_ended<R: StreamReading>(r: &mut R, ctx: &mut Ctx<'_>, got: io::Result<usize>) -> bool {
    match got {
        Ok(_) => {
            r.at_eof(ctx);
            false
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            if let Some(t) = r.stream() {
                t.life_mut().set_read_ready(false);
            }
            false
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
        Err(e) => {
            r.read_failed(e, ctx);
            false
        }
    }
}

/// What becomes of an entry once its `connection_lost` was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterLost {
    /// Drop it (and its socket) now.
    Remove,
    /// Keep its socket for a lingering close (T3), checked from this mark.
    Linger(LingerMark),
}

/// The work an entry deferred to the start of the next iteration, one
/// signature for every kind.
pub(crate) trait Deferred {
    /// Delivers `connection_lost` if it is due (P2: once), and says what
    /// becomes of the entry; otherwise reads what `resume_reading` left
    /// pending.
    fn run_deferred(&mut self, ctx: &mut Ctx<'_>) -> Option<AfterLost>;
}

/// Runs a protocol callback, catching a panic: it is logged and returned as
/// the error the entry will be failed with, so only that entry is lost and
/// the shard serves on.
#[inline]
pub(crate) fn guarded<R>(what: &'static str, f: impl FnOnce() -> R) -> Result<R, io::Error> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let msg = super::panic_text(&*payload);
        tracing::error!(callback = what, panic = %msg, "protocol callback panicked; aborting its connection");
        io::Error::other(format!("protocol panicked in {what}: {msg}"))
    })
}
