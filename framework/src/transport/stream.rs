//! The stream [`Transport`]: what a [`Protocol`](crate::Protocol) calls to
//! write, close and control flow on its TCP, Unix or TLS connection
//! (T3–T13).
//!
//! Methods here never call back into the protocol (P10). They record what
//! happened; the loop acts on it as soon as the current callback returns.

use std::io::{self};
use std::net::Shutdown;
use std::os::fd::AsRawFd;

use super::flow::{resolve_limits, FlowControl, FlowEvent};
use super::socket::{Address, Stream};
use super::tls_session::TlsSession;
use super::write_buffer::WriteBuffer;
use super::ExtraInfo;
use super::{lifecycle::Lifecycle, timeouts::IdleWatch};
use crate::base::{ConnectionHandle, LoopRef};
use crate::error::TransportError;

/// Whether `write_eof` was asked for, and whether the socket is shut yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EofWrite {
    No,
    /// Shut down the write side once the queue drains.
    Pending,
    Done,
}

/// Most parts `writelines` hands to one `writev`; bigger lists take several.
pub(crate) const MAX_IOV: usize = 64;

/// A stream transport over TCP or a Unix socket, owned by its shard's loop.
///
/// Made by the loop (`create_server`, `create_connection`…), never by user
/// code (T1), and handed to every [`Protocol`](crate::Protocol) callback as
/// `&mut Transport`. It is `!Send` (T2): it can never leave its shard.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<shardloop::Transport>();
/// ```
#[derive(Debug)]
pub struct Transport {
    pub(super) io: Option<Stream>,
    handle: ConnectionHandle,
    pub(super) lp: LoopRef,
    /// Open, closing, finishing, lost; the error for `connection_lost`.
    pub(super) life: Lifecycle,
    pub(super) eof_write: EofWrite,
    pub(super) buffer: WriteBuffer,
    pub(super) flow: FlowControl,
    pub(super) writable_registered: bool,
    /// Bytes received and sent on this connection: the shard's counters and
    /// the idle sweep read them; plain fields, nothing shared per message.
    pub(super) bytes_in: u64,
    pub(super) bytes_out: u64,
    /// The idle timeout's bookkeeping.
    pub(super) idle: IdleWatch,
    peer: Option<Address>,
    /// The TLS layer, if this is a TLS connection (boxed: plain TCP pays
    /// one pointer).
    pub(super) tls: Option<Box<TlsSession>>,
}

impl Transport {
    pub(crate) fn new(
        io: Stream,
        handle: ConnectionHandle,
        lp: LoopRef,
        flow: FlowControl,
        peer: Option<Address>,
    ) -> Self {
        Self {
            io: Some(io),
            handle,
            lp,
            life: Lifecycle::new(),
            eof_write: EofWrite::No,
            buffer: WriteBuffer::default(),
            flow,
            writable_registered: false,
            bytes_in: 0,
            bytes_out: 0,
            idle: IdleWatch::new(),
            peer,
            tls: None,
        }
    }

    /// This connection's handle, for reaching it later from a loop callback
    /// ([`EventLoop::with_transport`](crate::EventLoop::with_transport)).
    pub fn handle(&self) -> ConnectionHandle {
        self.handle
    }

    /// Bytes received on this connection so far (what `data_received`
    /// got, and what a lingering close discarded). A protocol can tell from
    /// it, at a timer, whether its peer sent anything since it last looked.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_in
    }

    /// A writable event: sends what is queued, then applies what a drain
    /// implies — a pending `write_eof`, a settle pass for a pending close —
    /// and returns whether `resume_writing` is due (at or under the low
    /// mark; never after a fatal error, which also empties the queue but
    /// is no drain: `connection_lost` comes next).
    pub(crate) fn drain_queue(&mut self) -> bool {
        self.send_queue();
        if self.buffer.is_empty() {
            self.life.touch();
            if self.eof_write == EofWrite::Pending {
                self.eof_write = EofWrite::Done;
                if let Some(Err(e)) = self.io.as_ref().map(|io| io.shutdown(Shutdown::Write)) {
                    self.fail(e);
                }
            }
        }
        !self.life.is_finishing() && self.flow.after_drain(self.buffered()) == FlowEvent::Resume
    }

    /// Keeps WRITABLE interest registered exactly while something is
    /// queued (DESIGN §3). An error is the caller's to fail the transport
    /// with.
    pub(crate) fn sync_writable_interest(&mut self, registry: &mio::Registry) -> io::Result<()> {
        let want = !self.buffer.is_empty();
        if want == self.writable_registered {
            return Ok(());
        }
        let token = crate::base::token_of(self.handle.0);
        let interest = if want {
            mio::Interest::READABLE | mio::Interest::WRITABLE
        } else {
            mio::Interest::READABLE
        };
        if let Some(io) = self.io.as_mut() {
            io.reregister(registry, token, interest)?;
            self.writable_registered = want;
        }
        Ok(())
    }

    /// Bytes the protocol wrote that the kernel has not taken: the queue,
    /// or over TLS the plaintext whose ciphertext is not wholly sent.
    #[inline]
    pub(crate) fn buffered(&self) -> usize {
        match &self.tls {
            None => self.buffer.len(),
            Some(tls) => tls.pending_plain(),
        }
    }

    /// Shuts down the write side once everything queued is sent; data can
    /// still be received (T13). A second call does nothing. On a write
    /// pipe it closes the transport once the queue is flushed (asyncio's
    /// write pipes do the same).
    ///
    /// Errors: [`TransportError::Unsupported`] over TLS, which cannot
    /// half-close (T7); [`TransportError::Closed`] on a closing or lost
    /// transport.
    pub fn write_eof(&mut self) -> Result<(), TransportError> {
        if self.tls.is_some() {
            return Err(TransportError::Unsupported("write_eof() over TLS"));
        }
        if !self.life.is_open() {
            return Err(TransportError::Closed);
        }
        if self.io.as_ref().is_some_and(Stream::is_pipe) {
            // A pipe's end of data is its closing, as in asyncio.
            self.close();
            return Ok(());
        }
        if self.eof_write != EofWrite::No {
            return Ok(());
        }
        if self.buffer.is_empty() {
            self.eof_write = EofWrite::Done;
            if let Some(Err(e)) = self.io.as_ref().map(|io| io.shutdown(Shutdown::Write)) {
                self.fail(e);
            }
        } else {
            self.eof_write = EofWrite::Pending;
        }
        Ok(())
    }

    /// True for TCP and Unix sockets, which can half-close, and for write
    /// pipes; false for TLS (T7).
    pub fn can_write_eof(&self) -> bool {
        self.tls.is_none()
    }

    /// Closes the transport (T3): receiving stops at once; what is queued is
    /// flushed; then `connection_lost(None)` is called once, on a later loop
    /// iteration. A second call does nothing.
    ///
    /// After the flush the write side is shut down and input is discarded
    /// until the peer closes or a short linger time passes, so the kernel
    /// never answers unread input with a reset that would destroy the tail
    /// of what was just sent: the peer receives every byte, then a clean FIN.
    /// Over TLS, close_notify follows the data, before the FIN.
    pub fn close(&mut self) {
        if self.life.close() {
            if let Some(tls) = self.tls.as_mut().filter(|t| t.is_established()) {
                tls.close_notify(&mut self.buffer);
            }
        }
    }

    /// Closes at once (T6): queued data is dropped, nothing more is
    /// received, and `connection_lost(None)` follows on a later loop
    /// iteration — never inside `abort()`.
    pub fn abort(&mut self) {
        if self.life.abort() {
            self.drop_queue();
        }
    }

    /// Ended: what was queued will never be sent.
    fn drop_queue(&mut self) {
        self.buffer.clear();
        if let Some(tls) = self.tls.as_mut() {
            tls.discard_pending();
        }
    }

    /// Whether `eof_received` returning true may keep the connection
    /// half-open: not over TLS, nor on a pipe, which carries one direction.
    pub(crate) fn can_half_open(&self) -> bool {
        self.tls.is_none() && !self.io.as_ref().is_some_and(Stream::is_pipe)
    }

    /// A read failed. On a write pipe that means its reader went away: with
    /// nothing queued that is a plain close, as asyncio's write pipes do;
    /// anything else is fatal.
    pub(crate) fn fail_on_read(&mut self, e: io::Error) {
        if matches!(self.io, Some(Stream::WritePipe(_))) && self.buffer.is_empty() {
            self.abort();
        } else {
            self.fail(e);
        }
    }

    /// Records a fatal error: like `abort`, but `connection_lost` gets `e`.
    pub(crate) fn fail(&mut self, e: io::Error) {
        if self.life.fail(e) {
            self.drop_queue();
        }
    }

    /// True from `close()` or `abort()` on, and once the connection is lost.
    pub fn is_closing(&self) -> bool {
        !self.life.is_open()
    }

    /// Stops `data_received` (and `eof_received`) until
    /// [`resume_reading`](Self::resume_reading) (T5). Whatever arrives
    /// meanwhile stays in the kernel and is delivered after resuming, in
    /// order. Idempotent.
    pub fn pause_reading(&mut self) {
        self.life.pause_reading();
    }

    /// Resumes delivery (T5): data and EOF that arrived while paused are
    /// delivered on a later loop iteration, in order. Idempotent; does
    /// nothing on a closing transport.
    pub fn resume_reading(&mut self) {
        self.life.resume_reading();
    }

    /// Whether data is being delivered: not paused and not closing.
    pub fn is_reading(&self) -> bool {
        self.life.is_reading()
    }

    /// Whether received data may be delivered to the protocol now.
    #[inline]
    pub(crate) fn delivers_input(&self) -> bool {
        self.life.delivers_input()
    }

    /// Bytes queued and not yet handed to the kernel (T8). Over TLS:
    /// plaintext whose ciphertext the kernel has not wholly taken, including
    /// what rustls holds.
    pub fn get_write_buffer_size(&self) -> usize {
        self.buffered()
    }

    /// The write-buffer limits as `(low, high)` (T9).
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.flow.limits()
    }

    /// Sets the flow-control marks (T10): no high and no low → 64 KiB and
    /// 16 KiB; only low → high = 4 × low; only high → low = high / 4, so a
    /// high of 0 forces low to 0 (then `pause_writing` fires whenever the
    /// buffer is non-empty). Low above high is an error and changes nothing.
    /// The buffer is re-checked at once, which may pause.
    pub fn set_write_buffer_limits(
        &mut self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> Result<(), TransportError> {
        let (high, low) = resolve_limits(high, low)?;
        if self.flow.set_limits(high, low, self.buffered()) == FlowEvent::Pause {
            self.life.pause_due();
        }
        Ok(())
    }

    /// Optional transport information (T4), as asyncio's
    /// `get_extra_info(name, default)`: `"peername"` and `"sockname"` give an
    /// [`ExtraInfo::Address`], `"socket"` the raw descriptor
    /// ([`ExtraInfo::Socket`]); on a pipe transport `"pipe"`
    /// ([`ExtraInfo::Pipe`]) instead. Over TLS also `"cipher"`, `"peercert"`,
    /// `"compression"` (always `Compression(None)`), `"sslcontext"`,
    /// `"alpn_protocol"` and `"server_hostname"`. An unknown name — or
    /// information not available, such as the socket after `abort` or a
    /// peer certificate that was never sent — returns `default`.
    pub fn get_extra_info(&self, name: &str, default: Option<ExtraInfo>) -> Option<ExtraInfo> {
        let found = match name {
            "peername" => self.peername().map(ExtraInfo::Address),
            "sockname" => self.sockname().map(ExtraInfo::Address),
            "socket" => self
                .io
                .as_ref()
                .filter(|io| !io.is_pipe() && !self.life.aborted())
                .map(|io| ExtraInfo::Socket(io.as_raw_fd())),
            "pipe" => self
                .io
                .as_ref()
                .filter(|io| io.is_pipe())
                .map(|io| ExtraInfo::Pipe(io.as_raw_fd())),
            other => self.tls.as_ref().and_then(|t| t.extra_info(other)),
        };
        found.or(default)
    }

    /// The remote address, remembered from when the connection was made.
    pub fn peername(&self) -> Option<Address> {
        self.peer.clone()
    }

    /// The local address of the socket; still known after `abort()` or a
    /// reset, in `connection_lost` too (`None` on a pipe).
    pub fn sockname(&self) -> Option<Address> {
        self.io.as_ref().and_then(|io| io.local_addr().ok())
    }
}

/// Errors after which the socket is still fine: try again later.
#[inline]
pub(crate) fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
