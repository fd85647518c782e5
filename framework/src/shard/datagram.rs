//! UDP endpoints on a loop: `create_datagram_endpoint` and the driver that
//! receives datagrams, flushes the send queue and acts after callbacks.

use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::os::fd::AsRawFd;

use mio::Registry;
use socket2::{Domain, Socket, Type};

use super::driver::Ctx;
use super::driver::{AfterLost, Deferred, Driven, Guarded};
use super::{token_of, ConnectionHandle, EntryKey, EventLoop};
use crate::protocol::{DatagramProtocol, DynDatagramProtocol};
use crate::sys::{SendBatch, UdpBatch};
use crate::transport::flow::FlowControl;
use crate::transport::lifecycle::Lifecycle;
use crate::transport::DatagramTransport;

/// Options of [`EventLoop::create_datagram_endpoint`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatagramOptions {
    /// `SO_REUSEPORT` (and `SO_REUSEADDR`): several sockets — one per shard
    /// — may bind the same address; the kernel spreads flows over them.
    pub reuse_port: bool,
    /// `SO_BROADCAST`: allow sending to broadcast addresses.
    pub allow_broadcast: bool,
    /// `SO_RCVBUF` in bytes; `None` keeps the kernel's default (about
    /// 208 KiB on Linux, too small for bursts of large datagrams).
    pub recv_buffer: Option<usize>,
    /// `SO_SNDBUF` in bytes; `None` keeps the kernel's default.
    pub send_buffer: Option<usize>,
}

pub(crate) struct DgramConn {
    pub(crate) transport: DatagramTransport,
    pub(crate) protocol: Box<dyn DynDatagramProtocol>,
}

impl Guarded for DgramConn {
    type Protocol = dyn DynDatagramProtocol;
    type Transport = DatagramTransport;

    fn parts(&mut self) -> (&mut dyn DynDatagramProtocol, &mut DatagramTransport) {
        (&mut *self.protocol, &mut self.transport)
    }

    fn panicked(&mut self, e: io::Error) {
        self.transport.fail(e);
    }
}

impl Driven for DgramConn {
    fn life(&mut self) -> &mut Lifecycle {
        self.transport.life_mut()
    }

    fn pause_writing(&mut self) {
        self.invoke("pause_writing", |p, t| p.pause_writing(t));
    }

    /// `error_received` for failed sends first (P7, after the callback
    /// that sent), then close transitions and WRITABLE interest (a corked
    /// queue is flushed right after its batch, not on WRITABLE).
    fn settle_state(&mut self, ctx: &mut Ctx<'_>) {
        let errors = self.transport.take_send_errors();
        if !errors.is_empty() {
            for e in errors {
                self.invoke("error_received", |p, t| p.error_received(t, e));
            }
            return;
        }
        let key = self.transport.handle().0;
        if self.transport.settle_interest(ctx.registry, token_of(key)) {
            ctx.deferred.push(key);
        }
    }
}

impl DgramConn {
    /// A settle pass with the loop's registry and deferred list. Usually
    /// nothing changed: that check comes first, inlined.
    #[inline(always)]
    fn settle_with(&mut self, reg: &Registry, deferred: &mut Vec<EntryKey>) {
        if !self.transport.life().needs_settle() {
            return;
        }
        let mut ctx = Ctx {
            registry: reg,
            read_buf: &mut [],
            deferred,
        };
        self.settle(&mut ctx);
    }

    pub(crate) fn on_event(
        &mut self,
        reg: &Registry,
        batch: &mut UdpBatch,
        deferred: &mut Vec<EntryKey>,
        ev: &super::ready::Ready,
    ) {
        if ev.is_readable() || ev.is_error() {
            self.receive(reg, batch, deferred);
        }
        if ev.is_writable() && self.transport.has_queued() {
            self.flush(reg, &mut batch.send, deferred);
        }
    }

    /// Receives with `recvmmsg` until the socket is drained, delivering each
    /// datagram whole and in order. A batch shorter than the buffer means
    /// drained (every later arrival is a new edge), as for stream reads.
    ///
    /// While a batch of several is delivered the transport is corked: what
    /// the protocol sends in answer is queued, then flushed with `sendmmsg`
    /// once the batch is done.
    fn receive(&mut self, reg: &Registry, batch: &mut UdpBatch, deferred: &mut Vec<EntryKey>) {
        while self.transport.life().is_open() {
            let Some(got) = self.transport.receive(&mut batch.recv) else {
                return;
            };
            match got {
                Ok(n) => {
                    self.transport.set_corked(n > 1);
                    for i in 0..n {
                        if !self.transport.life().is_open() {
                            break; // closed mid-batch: the rest is not delivered
                        }
                        let (data, addr) = batch.recv.datagram(i);
                        let Some(addr) = addr else { continue };
                        self.invoke("datagram_received", |p, t| {
                            p.datagram_received(t, data, addr)
                        });
                        self.settle_with(reg, deferred);
                    }
                    self.transport.set_corked(false);
                    if self.transport.needs_flush() {
                        self.flush(reg, &mut batch.send, deferred);
                    }
                    if n < batch.recv.slots() || !self.transport.life().is_open() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // An error queued on the socket (ICMP): report it; the
                // endpoint stays usable and reading goes on.
                Err(e) => {
                    self.invoke("error_received", |p, t| p.error_received(t, e));
                    self.settle_with(reg, deferred);
                }
            }
        }
    }

    /// Sends queued datagrams, several per `sendmmsg`, until the queue is
    /// empty or the kernel says `WouldBlock`; a datagram that fails is
    /// dropped and its error reported (P7).
    fn flush(&mut self, reg: &Registry, send: &mut SendBatch, deferred: &mut Vec<EntryKey>) {
        if self.transport.send_queued(send) {
            self.invoke("resume_writing", |p, t| p.resume_writing(t));
        }
        self.settle_with(reg, deferred);
    }
}

impl Deferred for DgramConn {
    /// `connection_lost` once due; then the entry goes.
    fn run_deferred(&mut self, _: &mut Ctx<'_>) -> Option<AfterLost> {
        let lost = self.transport.life_mut().deliver_lost()?;
        self.transport.close_socket();
        let error = lost.error;
        self.invoke("connection_lost", |p, t| p.connection_lost(t, error));
        Some(AfterLost::Remove)
    }
}

/// Sets the receive and send buffer sizes `options` asks for, if any.
/// Linux grants at most net.core.rmem_max/wmem_max (and reports double
/// what it grants); a privileged process may go past the cap.
pub(crate) fn set_udp_buffers(sock: &Socket, options: &DatagramOptions) -> io::Result<()> {
    if let Some(n) = options.recv_buffer {
        sock.set_recv_buffer_size(n)?;
        if sock.recv_buffer_size()? < n {
            let _ = crate::sys::force_buffer_size(sock.as_raw_fd(), true, n);
        }
    }
    if let Some(n) = options.send_buffer {
        sock.set_send_buffer_size(n)?;
        if sock.send_buffer_size()? < n {
            let _ = crate::sys::force_buffer_size(sock.as_raw_fd(), false, n);
        }
    }
    Ok(())
}

/// Binds a non-blocking UDP socket with the options set before `bind`.
pub(crate) fn bind_udp(local: SocketAddr, options: &DatagramOptions) -> io::Result<StdUdpSocket> {
    let sock = Socket::new(Domain::for_address(local), Type::DGRAM, None)?;
    if options.reuse_port {
        sock.set_reuse_address(true)?;
        sock.set_reuse_port(true)?;
    }
    if options.allow_broadcast {
        sock.set_broadcast(true)?;
    }
    set_udp_buffers(&sock, options)?;
    if local.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.bind(&local.into()).map_err(|source| {
        io::Error::from(crate::LoopError::Bind {
            address: local.to_string(),
            source,
        })
    })?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

impl EventLoop {
    /// Creates a UDP endpoint (L1; asyncio's `create_datagram_endpoint`),
    /// IPv4 or IPv6: bound to `local_addr` (or to an ephemeral port of the
    /// remote's family), connected to `remote_addr` if given. The protocol
    /// from `factory` receives `connection_made` before this returns.
    /// Binding errors (address in use…) are returned here.
    pub fn create_datagram_endpoint<P: DatagramProtocol>(
        &mut self,
        factory: impl FnOnce() -> P,
        local_addr: Option<SocketAddr>,
        remote_addr: Option<SocketAddr>,
        options: DatagramOptions,
    ) -> io::Result<ConnectionHandle> {
        let local = match (local_addr, remote_addr) {
            (Some(l), _) => l,
            (None, Some(SocketAddr::V4(_))) => "0.0.0.0:0".parse().expect("literal"),
            (None, Some(SocketAddr::V6(_))) => "[::]:0".parse().expect("literal"),
            (None, None) => {
                return Err(crate::LoopError::NoAddress(
                    "a datagram endpoint without a local or a remote address".into(),
                )
                .into())
            }
        };
        let sock = bind_udp(local, &options)?;
        if let Some(remote) = remote_addr {
            sock.connect(remote)?;
        }
        self.adopt_udp(sock, remote_addr, factory)
    }

    /// Makes an endpoint of a bound (maybe connected) non-blocking socket.
    pub(crate) fn adopt_udp<P: DatagramProtocol>(
        &mut self,
        sock: StdUdpSocket,
        remote_addr: Option<SocketAddr>,
        factory: impl FnOnce() -> P,
    ) -> io::Result<ConnectionHandle> {
        let socket = mio::net::UdpSocket::from_std(sock);
        if self.core.udp_batch.is_none() {
            self.core.udp_batch = Some(UdpBatch::new(self.core.config.udp_batch));
        }
        let flow = FlowControl::with_limits(
            self.core.config.write_buffer_high,
            self.core.config.write_buffer_low,
        );
        let lp = self.core.handle.clone();
        let protocol: Box<dyn DynDatagramProtocol> = Box::new(factory());
        let (key, conn) = self.core.entries.add(|k| {
            Box::new(DgramConn {
                transport: DatagramTransport::new(
                    socket,
                    ConnectionHandle(k),
                    lp,
                    remote_addr,
                    flow,
                ),
                protocol,
            })
        });
        let registry = self.poll.registry();
        if let Err(e) = conn.transport.register(registry, token_of(key)) {
            self.core.entries.remove(key);
            return Err(e);
        }
        conn.invoke("connection_made", |p, t| p.connection_made(t));
        conn.settle_with(registry, &mut self.core.deferred);
        Ok(ConnectionHandle(key))
    }

    /// Calls `f` with a datagram endpoint's protocol (downcast to `P`) and
    /// transport, then acts on what it triggered. `None` when the endpoint
    /// is gone or its protocol is not a `P`.
    pub fn with_datagram<P: DatagramProtocol, R>(
        &mut self,
        handle: ConnectionHandle,
        f: impl FnOnce(&mut P, &mut DatagramTransport) -> R,
    ) -> Option<R> {
        let conn = self.core.entries.of_mut::<Box<DgramConn>>(handle.0)?;
        if conn.transport.life().is_lost() {
            return None;
        }
        let p = conn.protocol.as_any_mut().downcast_mut::<P>()?;
        let r = f(p, &mut conn.transport);
        conn.settle_with(self.poll.registry(), &mut self.core.deferred);
        Some(r)
    }
}
