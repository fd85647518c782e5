//! Client connections and adopted sockets (L2): `create_connection` by
//! address, by Unix path, or from an already connected socket.

use std::io;

use crate::error::LoopError;
use std::net::ToSocketAddrs;
use std::path::Path;
use std::rc::Rc;

use mio::{Interest, Registry};

use super::connection::Connection;
use super::driver::Driven as _;
use super::server::ServerShared;
use super::{token_of, ConnectionHandle, Core, EntryKey, EventLoop};
use crate::protocol::{DynProtocol, Protocol};
use crate::transport::flow::FlowControl;
use crate::transport::socket::{Address, ConnectedSocket, Stream};
use crate::transport::tls_session::TlsSession;
use crate::transport::Transport;
use std::time::Duration;

/// A non-blocking connect in progress.
pub(crate) struct Connecting {
    stream: Stream,
    result: Option<io::Result<()>>,
    /// The task awaiting it (`open_connection`), woken on completion.
    waker: Option<std::task::Waker>,
}

impl Connecting {
    /// Any event on a connecting socket may mean completion: the pending
    /// socket error tells failure, a peer address tells success.
    pub(crate) fn on_event(&mut self, _ev: &super::ready::Ready) {
        if self.result.is_some() {
            return;
        }
        self.result = match self.stream.take_error() {
            Ok(Some(e)) | Err(e) => Some(Err(e)),
            Ok(None) => match self.stream.peer_addr() {
                Ok(_) => Some(Ok(())),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => None,
                Err(e) => Some(Err(e)),
            },
        };
        if self.result.is_some() {
            if let Some(w) = self.waker.take() {
                w.wake();
            }
        }
    }
}

impl EventLoop {
    /// Connects to `addr` (each resolved address in turn) and runs the loop
    /// until the connection is established or fails, as asyncio's
    /// `run_until_complete(create_connection(...))`. On success the protocol
    /// from `factory` has received `connection_made`; a refused connection is
    /// returned as the error, and no callback runs. Like asyncio's
    /// `run_until_complete`, it cannot be called from a callback of the loop
    /// it runs (that returns an "already running" error).
    pub fn create_connection<P: Protocol>(
        &mut self,
        factory: impl FnOnce() -> P,
        addr: impl ToSocketAddrs,
    ) -> io::Result<ConnectionHandle> {
        let mut last_err = None;
        for a in addr.to_socket_addrs()? {
            let connected =
                mio::net::TcpStream::connect(a).and_then(|s| self.finish_connect(Stream::Tcp(s)));
            match connected {
                Ok(stream) => return self.adopt_client(stream, Some(Address::Inet(a)), factory),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| LoopError::NoAddress("the address".into()).into()))
    }

    /// Connects to the Unix stream socket at `path`, as `create_connection`.
    pub fn create_unix_connection<P: Protocol>(
        &mut self,
        factory: impl FnOnce() -> P,
        path: impl AsRef<Path>,
    ) -> io::Result<ConnectionHandle> {
        let path = path.as_ref();
        let stream = self.finish_connect(Stream::Unix(mio::net::UnixStream::connect(path)?))?;
        self.adopt_client(
            stream,
            Some(Address::Unix(Some(path.to_path_buf()))),
            factory,
        )
    }

    /// Wraps an already connected socket — TCP, or Unix such as one end of a
    /// socketpair — in a transport (asyncio's `create_connection(sock=...)`;
    /// the seed's register-socket example). `connection_made` is called
    /// before this returns.
    pub fn create_connection_with_socket<P: Protocol>(
        &mut self,
        factory: impl FnOnce() -> P,
        socket: impl Into<ConnectedSocket>,
    ) -> io::Result<ConnectionHandle> {
        let stream = Stream::from_connected(socket.into())?;
        let peer = stream.peer_addr().ok();
        self.adopt_client(stream, peer, factory)
    }

    /// Wraps the read end of a pipe in a stream transport (L3, asyncio's
    /// `connect_read_pipe`): its protocol gets `data_received` as data
    /// arrives, then `eof_received` and `connection_lost(None)` when the
    /// writer closes. `pause_reading`/`resume_reading` work as on sockets.
    /// The descriptor is set non-blocking and owned by the transport from
    /// here on. `connection_made` is called before this returns.
    pub fn connect_read_pipe<P: Protocol>(
        &mut self,
        factory: impl FnOnce() -> P,
        pipe: impl Into<std::os::fd::OwnedFd>,
    ) -> io::Result<ConnectionHandle> {
        let pipe = mio::unix::pipe::Receiver::from(pipe.into());
        pipe.set_nonblocking(true)?;
        self.adopt_client(Stream::ReadPipe(pipe), None, factory)
    }

    /// Wraps the write end of a pipe in a stream transport (L3, asyncio's
    /// `connect_write_pipe`): `write`, `writelines` and flow control as on
    /// sockets; `write_eof()` or `close()` flushes, then closes the pipe.
    /// When the reader goes away, `connection_lost` follows — with a
    /// broken-pipe error if data was still queued, `None` otherwise. (Writing
    /// to a pipe without a reader raises SIGPIPE, which Rust programs ignore
    /// from startup, as Python does; a host program that restores it must
    /// ignore it too.)
    pub fn connect_write_pipe<P: Protocol>(
        &mut self,
        factory: impl FnOnce() -> P,
        pipe: impl Into<std::os::fd::OwnedFd>,
    ) -> io::Result<ConnectionHandle> {
        let pipe = mio::unix::pipe::Sender::from(pipe.into());
        pipe.set_nonblocking(true)?;
        self.adopt_client(Stream::WritePipe(pipe), None, factory)
    }

    fn adopt_client<P: Protocol>(
        &mut self,
        stream: Stream,
        peer: Option<Address>,
        factory: impl FnOnce() -> P,
    ) -> io::Result<ConnectionHandle> {
        let protocol: Box<dyn DynProtocol> = Box::new(factory());
        self.core
            .adopt(self.poll.registry(), stream, peer, protocol, None, None)
    }

    /// Runs the loop until the non-blocking connect of `stream` completes.
    pub(crate) fn finish_connect(&mut self, stream: Stream) -> io::Result<Stream> {
        let key = self.start_connect(stream)?;
        let ran = self.run_until(|lp| {
            lp.core
                .entries
                .of::<Connecting>(key)
                .is_none_or(|c| c.result.is_some())
        });
        let stopped = || io::Error::from(LoopError::Stopped("the connection"));
        let Some(mut c) = self.core.entries.take::<Connecting>(key) else {
            return Err(ran.err().unwrap_or_else(stopped));
        };
        let _ = c.stream.deregister(self.poll.registry());
        ran?;
        match c.result {
            Some(Ok(())) => Ok(c.stream),
            Some(Err(e)) => Err(e),
            None => Err(stopped()),
        }
    }

    /// Registers the non-blocking connect of `stream`; its completion is
    /// collected by [`poll_connect`](Self::poll_connect).
    pub(crate) fn start_connect(&mut self, stream: Stream) -> io::Result<EntryKey> {
        let (key, c) = self.core.entries.add(|_| Connecting {
            stream,
            result: None,
            waker: None,
        });
        if let Err(e) = c
            .stream
            .register(self.poll.registry(), token_of(key), Interest::WRITABLE)
        {
            self.core.entries.remove(key);
            return Err(e);
        }
        Ok(key)
    }

    /// The connected socket once the connect of `key` completed (the entry
    /// is gone then); until then `Pending`, and `waker` is woken on
    /// completion.
    pub(crate) fn poll_connect(
        &mut self,
        key: EntryKey,
        waker: &std::task::Waker,
    ) -> std::task::Poll<io::Result<Stream>> {
        if let Some(c) = self.core.entries.of_mut::<Connecting>(key) {
            if c.result.is_none() {
                if !c.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    c.waker = Some(waker.clone());
                }
                return std::task::Poll::Pending;
            }
        }
        // Done (its result is in), or gone.
        let Some(mut c) = self.core.entries.take::<Connecting>(key) else {
            return std::task::Poll::Ready(Err(LoopError::Stopped("the connection").into()));
        };
        let _ = c.stream.deregister(self.poll.registry());
        std::task::Poll::Ready(match c.result {
            Some(Ok(())) => Ok(c.stream),
            Some(Err(e)) => Err(e),
            None => Err(LoopError::Stopped("the connection").into()),
        })
    }

    /// Gives up the connect of `key` (its awaiting task was dropped).
    pub(crate) fn cancel_connect(&mut self, key: EntryKey) {
        if let Some(mut c) = self.core.entries.take::<Connecting>(key) {
            let _ = c.stream.deregister(self.poll.registry());
        }
    }

    /// Makes a connection of a connected client socket with `protocol`
    /// (a stream's protocol; `tls` starts the client handshake).
    pub(crate) fn adopt_connected(
        &mut self,
        stream: Stream,
        peer: Option<Address>,
        protocol: Box<dyn DynProtocol>,
        tls: Option<(TlsSession, Duration)>,
    ) -> io::Result<ConnectionHandle> {
        self.core
            .adopt(self.poll.registry(), stream, peer, protocol, None, tls)
    }
}

impl Core {
    /// Makes a connection of an open socket: slab entry, registration,
    /// `connection_made` — or, with `tls`, the start of the handshake
    /// (`connection_made` follows its completion) and its timer.
    pub(crate) fn adopt(
        &mut self,
        registry: &Registry,
        stream: Stream,
        peer: Option<Address>,
        protocol: Box<dyn DynProtocol>,
        server: Option<Rc<ServerShared>>,
        tls: Option<(TlsSession, Duration)>,
    ) -> io::Result<ConnectionHandle> {
        if self.config.tcp_nodelay {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
        }
        let flow =
            FlowControl::with_limits(self.config.write_buffer_high, self.config.write_buffer_low);
        let lp = self.handle.clone();
        let (key, conn) = self.entries.add(|k| Connection {
            transport: Transport::new(stream, ConnectionHandle(k), lp, flow, peer),
            protocol,
            server: None,
        });
        if let Err(e) = conn.transport.register(registry, token_of(key)) {
            self.entries.remove(key);
            return Err(e);
        }
        if let Some(server) = server {
            server.connection_opened();
            crate::stats::add(&self.handle.sched.stats.accepted, 1);
            conn.server = Some(server);
        }
        let mut ctx = Core::ctx(registry, &mut self.read_buf, &mut self.deferred);
        let Some((session, timeout)) = tls else {
            conn.made(&mut ctx);
            return Ok(ConnectionHandle(key));
        };
        #[cfg(not(feature = "tls"))]
        {
            let _ = timeout;
            match session {}
        }
        #[cfg(feature = "tls")]
        {
            let handle = ConnectionHandle(key);
            let timer = self
                .handle
                .call_later(timeout, move |lp| lp.expire_handshake(handle))
                .into_raw();
            // A client speaks first: its ClientHello leaves now.
            conn.transport.start_tls(session, timer);
            conn.settle(&mut ctx);
            Ok(handle)
        }
    }
}
