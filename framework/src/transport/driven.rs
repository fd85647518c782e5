//! The crate-internal interface through which the loop's driver
//! (`shard/`) works a stream [`Transport`]: reads counted where they
//! happen, the write side's state, the socket's end (FIN, lingering
//! close, idle sweep) and, over TLS, the session. The transport's fields
//! stay private to `transport/`; each rule they carry is kept here or in
//! the module that owns it ([`Lifecycle`], the write queue, the TLS
//! session), and the driver only asks and tells.

use std::io;
use std::net::Shutdown;

use mio::{Interest, Registry, Token};

use super::lifecycle::Lifecycle;
use super::timeouts::LingerMark;
use super::Transport;
use crate::base::LoopRef;

impl Transport {
    /// The handle of the loop this transport belongs to.
    #[inline(always)]
    pub(crate) fn loop_ref(&self) -> &LoopRef {
        &self.lp
    }

    /// The transport's state machine (open, closing, finishing, lost) and
    /// its read bookkeeping.
    #[inline(always)]
    pub(crate) fn life(&self) -> &Lifecycle {
        &self.life
    }

    /// The state machine, to feed it what the loop saw.
    #[inline(always)]
    pub(crate) fn life_mut(&mut self) -> &mut Lifecycle {
        &mut self.life
    }

    /// Whether bytes wait in the write queue.
    #[inline(always)]
    pub(crate) fn has_queued(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// Registers the socket with the loop's poll, for reading.
    pub(crate) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        match self.io.as_mut() {
            Some(io) => io.register(registry, token, Interest::READABLE),
            None => Err(io::Error::from(io::ErrorKind::NotConnected)),
        }
    }

    /// Takes the socket or pipe out of the loop's poll (a pipe closing).
    pub(crate) fn deregister(&mut self, registry: &Registry) {
        if let Some(io) = self.io.as_mut() {
            let _ = io.deregister(registry);
        }
    }

    /// One `read(2)` into `buf`, as the raw syscall result (bytes read, 0 at
    /// the end, negative on error); what it read counts in
    /// [`bytes_received`](Transport::bytes_received). `None` once the
    /// socket is gone.
    #[inline(always)]
    pub(crate) fn read_raw(&mut self, buf: &mut [u8]) -> Option<isize> {
        let io = self.io.as_mut()?;
        let got = io.read_raw(buf);
        if got > 0 {
            self.bytes_in += got as u64;
        }
        Some(got)
    }

    /// One read into `buf` (TLS ciphertext, a lingering close's discarded
    /// input), counted as [`read_raw`](Self::read_raw) counts. `None` once
    /// the socket is gone.
    pub(crate) fn read_counted(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        let io = self.io.as_mut()?;
        let got = io.read(buf);
        if let Ok(n) = got {
            self.bytes_in += n as u64;
        }
        Some(got)
    }

    /// Bytes received and sent so far.
    pub(crate) fn byte_counts(&self) -> (u64, u64) {
        (self.bytes_in, self.bytes_sent())
    }

    /// Bytes handed to the kernel so far.
    pub(crate) fn bytes_sent(&self) -> u64 {
        self.bytes_out
    }

    /// The settle pass's end of a close: once the queue is empty and a
    /// close is pending, the write side is shut (FIN).
    pub(crate) fn finish_if_flushed(&mut self) {
        if self.life.flushed(self.buffer.is_empty()) {
            if let Some(io) = &self.io {
                let _ = io.shutdown(Shutdown::Write);
            }
        }
    }

    /// After `connection_lost`: an aborted transport's socket, kept until
    /// then only for `get_extra_info("sockname")`, closes now.
    pub(crate) fn close_socket(&mut self) {
        self.io = None;
    }

    /// Whether the closed socket should linger (T3): a socket, not a pipe,
    /// whose peer has not closed yet, since unread input would make the
    /// kernel answer our FIN with a reset.
    pub(crate) fn should_linger(&self) -> bool {
        let socket = self.io.as_ref().is_some_and(|io| !io.is_pipe());
        socket && !self.life.eof_seen()
    }

    /// Where a lingering close stands: input discarded so far, and what
    /// the kernel still holds unacknowledged.
    pub(crate) fn linger_mark(&self) -> LingerMark {
        let unacked = self
            .io
            .as_ref()
            .and_then(|io| crate::sys::unacked_bytes(std::os::fd::AsRawFd::as_raw_fd(io)).ok())
            .unwrap_or(0);
        LingerMark::new(self.bytes_in, unacked)
    }

    /// One idle sweep: whether neither byte count moved for
    /// `IdleWatch::SWEEPS` sweeps (the connection is idle). Only a live
    /// transport is idle.
    pub(crate) fn idle_sweep(&mut self) -> bool {
        self.life.is_live() && self.idle.sweep(self.bytes_in + self.bytes_out)
    }

    /// Not TLS, or TLS past its handshake: the protocol has heard
    /// `connection_made` (or will) and hears `connection_lost`.
    #[inline(always)]
    pub(crate) fn handshake_done(&self) -> bool {
        self.tls.as_ref().is_none_or(|tls| tls.is_established())
    }

    /// Whether this is a TLS connection.
    #[inline(always)]
    pub(crate) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// A TLS connection whose handshake failed: who is to hear why (an
    /// awaited connect), once.
    pub(crate) fn take_handshake_failure(&mut self) -> Option<Box<dyn FnOnce(io::Error)>> {
        self.tls.as_mut().and_then(|tls| tls.take_on_failure())
    }
}
