//! The protocol traits — the callbacks a user implements: stream
//! [`Protocol`] (P1–P6, P8, P10) and [`DatagramProtocol`] (P1, P2, P7, P8).

use std::any::Any;
use std::io;
use std::net::SocketAddr;

use crate::transport::{DatagramTransport, SubprocessTransport, Transport};

/// A streaming protocol, as asyncio's `asyncio.Protocol`: one instance per
/// connection, driven by the loop that owns the connection (TCP, Unix
/// sockets, TLS, pipes).
///
/// Every callback has an empty default (P1), so implement only what you
/// need. Each receives `&mut` access to the connection's [`Transport`]
/// instead of storing it as asyncio protocols do: the transport is owned by
/// the loop, and a protocol is never re-entered from inside one of its own
/// transport calls (P10).
///
/// **State machine (P6)**, enforced by the loop:
/// `connection_made → data_received* → eof_received? → connection_lost`.
/// `connection_made` and `connection_lost` are called exactly once per
/// successful connection; every other callback comes between them (P2).
///
/// A panic inside a callback is caught: it is logged, the connection is
/// aborted and `connection_lost` receives an error; the shard serves on.
pub trait Protocol: 'static {
    /// The connection is established. Called once, first (P2).
    fn connection_made(&mut self, transport: &mut Transport) {
        let _ = transport;
    }

    /// Some data arrived (P4): never empty, always in order, chunked
    /// arbitrarily. The slice borrows the shard's read buffer; copy what you
    /// need to keep. Never called after `eof_received` (P5) nor while
    /// reading is paused (T5).
    fn data_received(&mut self, transport: &mut Transport, data: &[u8]) {
        let _ = (transport, data);
    }

    /// The peer will send no more data (it shut down its write side).
    /// Called at most once (P5).
    ///
    /// Return `false` (the default) and the transport closes itself; return
    /// `true` to keep the connection half-open and close it yourself later.
    /// Transports that cannot half-close (TLS) close regardless.
    fn eof_received(&mut self, transport: &mut Transport) -> bool {
        let _ = transport;
        false
    }

    /// The connection is closed. Called exactly once, last (P2).
    ///
    /// `error` is `None` after a regular EOF or a local `close`/`abort`; it
    /// holds the cause otherwise — reset, timeout, a panic in a callback
    /// (P3). The transport is already closing: writes are dropped.
    fn connection_lost(&mut self, transport: &mut Transport, error: Option<io::Error>) {
        let _ = (transport, error);
    }

    /// The write buffer went *strictly over* the high-water mark (P8).
    /// Called once; not again, however far the buffer grows, until
    /// `resume_writing`. When triggered by a `write` inside another
    /// callback, it is delivered as soon as that callback returns, before any
    /// other event of the connection (P10).
    fn pause_writing(&mut self, transport: &mut Transport) {
        let _ = transport;
    }

    /// The write buffer drained to the low-water mark *or under* (P8).
    /// Called once per `pause_writing`, always after it.
    fn resume_writing(&mut self, transport: &mut Transport) {
        let _ = transport;
    }

    /// The server started a graceful drain (SIGTERM, or a takeover by a new
    /// process): no new connection comes, and this one should end at a
    /// boundary of the protocol's own (P11). Called at most once, after the
    /// input the kernel already held for the connection was delivered;
    /// for a connection that has not sent its first byte yet, only once
    /// the drain's grace for such connections has passed.
    ///
    /// The default closes the transport (T3: what is queued is flushed,
    /// then a FIN). A protocol with framing closes where a request ends
    /// instead: an HTTP server finishes the request being received and
    /// answers it with `Connection: close`, a Redis server answers every
    /// complete command it holds. Whatever is still open when the drain's
    /// deadline comes is aborted.
    fn drain_started(&mut self, transport: &mut Transport) {
        transport.close();
    }
}

/// Object-safe view of a protocol that can also be downcast to its concrete
/// type, so loop callbacks can reach a connection's protocol by handle.
pub(crate) trait DynProtocol: Protocol {
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<P: Protocol> DynProtocol for P {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A datagram protocol, as asyncio's `asyncio.DatagramProtocol` (P1, P2,
/// P7, P8): one instance per UDP endpoint, driven by the loop that owns it.
///
/// Every callback has an empty default. Callbacks receive `&mut` access to
/// the endpoint's [`DatagramTransport`]; the protocol is never re-entered
/// from inside one of its own transport calls (P10): an error reported by
/// `sendto` is delivered to `error_received` as soon as the calling
/// callback returns.
pub trait DatagramProtocol: 'static {
    /// The endpoint is ready. Called once, first (P2).
    fn connection_made(&mut self, transport: &mut DatagramTransport) {
        let _ = transport;
    }

    /// A datagram arrived from `addr` (P7). `data` is the whole datagram —
    /// never silently truncated — and may be empty (UDP allows it). It
    /// borrows the shard's buffer; copy what you keep.
    fn datagram_received(
        &mut self,
        transport: &mut DatagramTransport,
        data: &[u8],
        addr: SocketAddr,
    ) {
        let _ = (transport, data, addr);
    }

    /// A send or receive failed (P7) — for instance connection refused,
    /// reported by ICMP after sending to a closed port on a connected
    /// endpoint. The endpoint stays usable.
    fn error_received(&mut self, transport: &mut DatagramTransport, error: io::Error) {
        let _ = (transport, error);
    }

    /// The endpoint is closed. Called exactly once, last (P2); `None` after
    /// a local `close`/`abort` (P3).
    fn connection_lost(&mut self, transport: &mut DatagramTransport, error: Option<io::Error>) {
        let _ = (transport, error);
    }

    /// The send queue went strictly over the high-water mark (P8).
    fn pause_writing(&mut self, transport: &mut DatagramTransport) {
        let _ = transport;
    }

    /// The send queue drained to the low-water mark or under (P8).
    fn resume_writing(&mut self, transport: &mut DatagramTransport) {
        let _ = transport;
    }
}

/// Object-safe, downcastable view of a datagram protocol.
pub(crate) trait DynDatagramProtocol: DatagramProtocol {
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<P: DatagramProtocol> DynDatagramProtocol for P {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A subprocess protocol, as asyncio's `asyncio.SubprocessProtocol` (P1,
/// P2, P9): one instance per child process started by
/// [`EventLoop::subprocess_exec`](crate::EventLoop::subprocess_exec).
///
/// Every callback has an empty default. Order (P9): `connection_made`, then
/// `pipe_data_received` and `pipe_connection_lost` for each pipe and
/// `process_exited` in the order they happen, and `connection_lost` last —
/// only once the child has exited *and* every pipe is closed.
pub trait SubprocessProtocol: 'static {
    /// The child is running and its pipes are connected. Called once, first.
    fn connection_made(&mut self, transport: &mut SubprocessTransport) {
        let _ = transport;
    }

    /// The child wrote `data` to its stdout (`fd` 1) or stderr (`fd` 2).
    /// Never empty; in order per pipe.
    fn pipe_data_received(&mut self, transport: &mut SubprocessTransport, fd: i32, data: &[u8]) {
        let _ = (transport, fd, data);
    }

    /// Pipe `fd` closed: `None` at its end, the error otherwise.
    fn pipe_connection_lost(
        &mut self,
        transport: &mut SubprocessTransport,
        fd: i32,
        error: Option<io::Error>,
    ) {
        let _ = (transport, fd, error);
    }

    /// The child exited; its return code is in
    /// [`get_returncode`](SubprocessTransport::get_returncode).
    fn process_exited(&mut self, transport: &mut SubprocessTransport) {
        let _ = transport;
    }

    /// The child exited and every pipe is closed. Called once, last.
    fn connection_lost(&mut self, transport: &mut SubprocessTransport, error: Option<io::Error>) {
        let _ = (transport, error);
    }

    /// The stdin pipe's queue went strictly over its high-water mark (P8).
    fn pause_writing(&mut self, transport: &mut SubprocessTransport) {
        let _ = transport;
    }

    /// The stdin pipe's queue drained to its low-water mark or under (P8).
    fn resume_writing(&mut self, transport: &mut SubprocessTransport) {
        let _ = transport;
    }
}

/// Object-safe, downcastable view of a subprocess protocol.
pub(crate) trait DynSubprocessProtocol: SubprocessProtocol {
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<P: SubprocessProtocol> DynSubprocessProtocol for P {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
