//! [`StreamWriter`]: asyncio's `StreamWriter` — writes go straight to the
//! connection's [`Transport`]; `drain` waits on its flow control.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Context;
use std::task::Poll;

use super::protocol::Shared;
use crate::error::TransportError;
use crate::shard::with_current_loop;
use crate::transport::{ExtraInfo, Transport};

/// The writing half of a stream connection (asyncio's `StreamWriter`).
///
/// Its methods are called from a task on the connection's shard (where
/// its reader and writer are handed out); each acts on the transport at
/// once, as [`Transport`]'s own methods do. Rules (see [`crate::contract`]):
/// - `write` queues what the kernel does not take; `drain().await`
///   returns at once unless the transport paused writing, then on
///   `resume_writing` — so a peer that does not read holds the writer at
///   the high-water mark, never more (S5);
/// - `drain` fails once the connection is lost (S6);
/// - dropping the writer closes the connection (as `close()`), so a task
///   that ends or is cancelled never leaks its socket (K3).
pub struct StreamWriter {
    shared: Rc<Shared>,
    /// A write found the transport closing or closed.
    write_failed: bool,
}

impl std::fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamWriter")
            .field("closing", &self.is_closing())
            .finish()
    }
}

impl StreamWriter {
    pub(crate) fn new(shared: Rc<Shared>) -> Self {
        Self {
            shared,
            write_failed: false,
        }
    }

    /// Runs `f` on the transport: `None` when the connection is gone or
    /// this is not called from a task of its shard.
    fn transport<R>(&self, f: impl FnOnce(&mut Transport) -> R) -> Option<R> {
        let h = self.shared.handle.get()?;
        with_current_loop(|lp| lp.with_transport(h, f)).flatten()
    }

    /// Writes `data` (T6–T8 of the transport): what the kernel does not
    /// take at once is queued. Fails when the connection is closing or
    /// lost ([`TransportError::Closed`]) or after `write_eof`.
    pub fn write(&mut self, data: &[u8]) -> Result<(), TransportError> {
        let r = self
            .transport(|t| t.write(data))
            .unwrap_or(Err(TransportError::Closed));
        self.write_failed |= r.is_err();
        r
    }

    /// Writes every part in order, as one `writev` where it can.
    pub fn writelines<B: AsRef<[u8]>>(&mut self, parts: &[B]) -> Result<(), TransportError> {
        self.transport(|t| t.writelines(parts))
            .unwrap_or(Err(TransportError::Closed))
    }

    /// Closes the write side once the queue is flushed; reading goes on.
    pub fn write_eof(&mut self) -> Result<(), TransportError> {
        self.transport(|t| t.write_eof())
            .unwrap_or(Err(TransportError::Closed))
    }

    /// Whether [`write_eof`](Self::write_eof) is possible (false over TLS).
    pub fn can_write_eof(&self) -> bool {
        self.transport(|t| t.can_write_eof()).unwrap_or(false)
    }

    /// Waits until it is fine to write more: at once unless the transport
    /// paused writing, else until it resumes. Fails if the connection was
    /// lost (with its error, or `ConnectionReset` "connection lost").
    pub fn drain(&mut self) -> Drain<'_> {
        // Closing (or a write found it closed): yield once, so that a
        // `connection_lost` due is delivered before we answer (as asyncio's
        // `drain` does).
        let yield_once = self.shared.closing.get() || self.write_failed;
        Drain {
            shared: &self.shared,
            yield_once,
        }
    }

    /// Ready when a write may go on: at once unless the transport paused
    /// writing, else once it resumes; an error once the connection is
    /// lost. The poll form of [`drain`](Self::drain) without its yield.
    pub(crate) fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let s = &self.shared;
        if s.lost.get() {
            return Poll::Ready(Err(s.error_copy().unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::ConnectionReset, "connection lost")
            })));
        }
        if !s.write_paused.get() {
            return Poll::Ready(Ok(()));
        }
        s.wait_state(cx.waker());
        Poll::Pending
    }

    /// Closes the connection: the queue is flushed, then a FIN (T3). The
    /// reader sees EOF. [`wait_closed`](Self::wait_closed) waits for the
    /// end.
    pub fn close(&mut self) {
        self.shared.closing.set(true);
        self.shared.on_transport(|t| t.close());
    }

    /// Whether the connection is closing or closed.
    pub fn is_closing(&self) -> bool {
        self.shared.closing.get()
            || self.shared.lost.get()
            || self.transport(|t| t.is_closing()).unwrap_or(false)
    }

    /// Waits until the connection is lost (`connection_lost` delivered).
    pub async fn wait_closed(&mut self) {
        let s = &self.shared;
        poll_fn(|cx| {
            if s.lost.get() {
                return Poll::Ready(());
            }
            s.wait_state(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// The transport's extra information (`"peername"`, `"sockname"`,
    /// `"socket"`, TLS keys…), as [`Transport::get_extra_info`]. After the
    /// connection is lost, `"peername"` and `"sockname"` are still known.
    pub fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        if let Some(v) = self.transport(|t| t.get_extra_info(name, None)) {
            return v;
        }
        let s = &self.shared;
        match name {
            "peername" => s.peername.borrow().clone().map(ExtraInfo::Address),
            "sockname" => s.sockname.borrow().clone().map(ExtraInfo::Address),
            _ => None,
        }
    }

    /// Bytes queued and not yet taken by the kernel.
    pub fn get_write_buffer_size(&self) -> usize {
        self.transport(|t| t.get_write_buffer_size()).unwrap_or(0)
    }

    /// Sets the transport's write-buffer marks (see
    /// [`Transport::set_write_buffer_limits`]).
    pub fn set_write_buffer_limits(
        &mut self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> Result<(), TransportError> {
        self.transport(|t| t.set_write_buffer_limits(high, low))
            .unwrap_or(Err(TransportError::Closed))
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        if !self.shared.closing.get() && !self.shared.lost.get() {
            self.close();
        }
    }
}

/// What [`StreamWriter::drain`] returns.
#[must_use = "futures do nothing unless awaited"]
pub struct Drain<'a> {
    shared: &'a Shared,
    yield_once: bool,
}

impl std::fmt::Debug for Drain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drain")
            .field("paused", &self.shared.write_paused.get())
            .finish()
    }
}

impl Future for Drain<'_> {
    type Output = io::Result<()>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let s = self.shared;
        if !s.write_paused.get() && !s.lost.get() && !self.yield_once {
            return Poll::Ready(Ok(()));
        }
        if s.lost.get() {
            return Poll::Ready(Err(s.error_copy().unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::ConnectionReset, "connection lost")
            })));
        }
        if std::mem::take(&mut self.yield_once) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if !s.write_paused.get() {
            return Poll::Ready(Ok(()));
        }
        s.wait_state(cx.waker());
        Poll::Pending
    }
}
