//! The [`DatagramTransport`]: what a [`DatagramProtocol`](crate::DatagramProtocol)
//! calls to send and close on its UDP endpoint (T3, T4, T6, T8–T10, T14).
//!
//! As for streams, methods here never call back into the protocol (P10):
//! they record what happened and the loop acts when the callback returns.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use mio::net::UdpSocket;

use super::datagram_queue::DatagramQueue;
use super::flow::{resolve_limits, FlowControl, FlowEvent};
use super::lifecycle::Lifecycle;
use super::stream::is_transient;
use super::{Address, ExtraInfo};
use crate::base::{ConnectionHandle, LoopRef};
use crate::error::TransportError;

/// A UDP endpoint, owned by its shard's loop and handed to every
/// [`DatagramProtocol`](crate::DatagramProtocol) callback. `!Send` (T2).
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<shardloop::DatagramTransport>();
/// ```
#[derive(Debug)]
pub struct DatagramTransport {
    pub(super) socket: Option<UdpSocket>,
    handle: ConnectionHandle,
    pub(super) lp: LoopRef,
    remote: Option<SocketAddr>,
    /// The local address, recorded when the endpoint was made (asyncio
    /// does the same), so it still answers after `abort()`.
    local: Option<SocketAddr>,
    /// Open, closing, finishing, lost (the same machine as streams').
    pub(super) life: Lifecycle,
    /// Datagrams the kernel refused for now (or corked), with their target
    /// (`None`: the connected remote).
    pub(super) queue: DatagramQueue,
    /// Set while the loop delivers a batch of received datagrams: sends
    /// are queued and leave together in one `sendmmsg` after the batch.
    pub(super) corked: bool,
    pub(super) flow: FlowControl,
    pub(super) writable_registered: bool,
    /// Send errors to deliver to `error_received` after the callback.
    pub(super) errors: Vec<io::Error>,
}

impl DatagramTransport {
    pub(crate) fn new(
        socket: UdpSocket,
        handle: ConnectionHandle,
        lp: LoopRef,
        remote: Option<SocketAddr>,
        flow: FlowControl,
    ) -> Self {
        Self {
            local: socket.local_addr().ok(),
            socket: Some(socket),
            handle,
            lp,
            remote,
            life: Lifecycle::new(),
            queue: DatagramQueue::default(),
            corked: false,
            flow,
            writable_registered: false,
            errors: Vec::new(),
        }
    }

    /// This endpoint's handle, for reaching it from a loop callback.
    pub fn handle(&self) -> ConnectionHandle {
        self.handle
    }

    /// Sends one datagram without blocking (T14). `addr` `None` sends to the
    /// remote address given at creation; on a connected endpoint any other
    /// address is [`TransportError::WrongAddress`], and on an unconnected one
    /// `None` is [`TransportError::NoAddress`].
    ///
    /// When the kernel says `WouldBlock` the datagram is queued and sent when
    /// the socket is writable; the queue obeys flow control as streams do
    /// (P8). Inside `datagram_received` for a batch of several datagrams
    /// (`recvmmsg`), sends are queued and all leave in one `sendmmsg` as
    /// soon as the batch has been delivered, in order. A send that fails (e.g. connection refused, reported by ICMP)
    /// drops that datagram and is delivered to `error_received` as soon as
    /// the current callback returns; the endpoint stays usable (P7).
    /// After `close`/`abort` the datagram is dropped:
    /// [`TransportError::Closed`].
    pub fn sendto(&mut self, data: &[u8], addr: Option<SocketAddr>) -> Result<(), TransportError> {
        if !self.life.is_open() {
            return Err(TransportError::Closed);
        }
        let target = match (self.remote, addr) {
            (Some(remote), Some(given)) if given != remote => {
                return Err(TransportError::WrongAddress { given, remote })
            }
            (Some(_), _) => None,
            (None, Some(a)) => Some(a),
            (None, None) => return Err(TransportError::NoAddress),
        };
        if self.queue.is_empty() && !self.corked {
            match self.send_one(data, target) {
                Ok(_) => return Ok(()),
                Err(e) if is_transient(&e) => {}
                Err(e) => {
                    self.errors.push(e);
                    self.life.touch();
                    return Ok(());
                }
            }
        }
        self.queue.push(data, target);
        if self.flow.after_grow(self.queue.bytes()) == FlowEvent::Pause {
            self.life.pause_due();
        }
        self.life.touch();
        Ok(())
    }

    fn send_one(&self, data: &[u8], target: Option<SocketAddr>) -> io::Result<usize> {
        let Some(socket) = &self.socket else {
            return Err(io::Error::from(io::ErrorKind::NotConnected));
        };
        match target {
            Some(a) => socket.send_to(data, a),
            None => socket.send(data),
        }
    }

    /// Closes the endpoint (T3): nothing more is received; queued datagrams
    /// are sent; then `connection_lost(None)` is called once, on a later
    /// loop iteration. A second call does nothing.
    pub fn close(&mut self) {
        self.life.close();
    }

    /// Closes at once (T6): queued datagrams are dropped and
    /// `connection_lost(None)` follows on a later iteration.
    pub fn abort(&mut self) {
        if self.life.abort() {
            self.drop_queue();
        }
    }

    /// A fatal error: as `abort`, and `connection_lost` reports `e`.
    pub(crate) fn fail(&mut self, e: io::Error) {
        if self.life.fail(e) {
            self.drop_queue();
        }
    }

    fn drop_queue(&mut self) {
        self.queue.clear();
        self.socket = None;
    }

    /// True from `close()`/`abort()` on.
    pub fn is_closing(&self) -> bool {
        !self.life.is_open()
    }

    /// Bytes of datagrams queued and not yet handed to the kernel (T8).
    pub fn get_write_buffer_size(&self) -> usize {
        self.queue.bytes()
    }

    /// `(low, high)` (T9).
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.flow.limits()
    }

    /// Sets the flow-control marks with the same rules as streams (T10).
    pub fn set_write_buffer_limits(
        &mut self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> Result<(), TransportError> {
        let (high, low) = resolve_limits(high, low)?;
        if self.flow.set_limits(high, low, self.queue.bytes()) == FlowEvent::Pause {
            self.life.pause_due();
        }
        Ok(())
    }

    /// `"sockname"`, `"peername"` and `"socket"` (T4); anything else gives
    /// `default`. As in asyncio, `"peername"` is always present: on an
    /// unconnected endpoint it is [`ExtraInfo::NoPeer`] (asyncio's `None`),
    /// not `default`.
    pub fn get_extra_info(&self, name: &str, default: Option<ExtraInfo>) -> Option<ExtraInfo> {
        let found = match name {
            "sockname" => self
                .sockname()
                .map(|a| ExtraInfo::Address(Address::Inet(a))),
            "peername" => Some(
                self.remote
                    .map_or(ExtraInfo::NoPeer, |a| ExtraInfo::Address(Address::Inet(a))),
            ),
            "socket" => self
                .socket
                .as_ref()
                .map(|s| ExtraInfo::Socket(s.as_raw_fd())),
            _ => None,
        };
        found.or(default)
    }

    /// The local address, as bound when the endpoint was made (still
    /// known after `abort()`).
    pub fn sockname(&self) -> Option<SocketAddr> {
        self.local
    }

    /// The remote address given at creation, if connected.
    pub fn peername(&self) -> Option<SocketAddr> {
        self.remote
    }
}
