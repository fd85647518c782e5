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

use super::connection::Ctx;
use crate::transport::lifecycle::Lifecycle;

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

#[inline(never)]
fn settle_changes<D: Driven + ?Sized>(d: &mut D, ctx: &mut Ctx<'_>) {
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
