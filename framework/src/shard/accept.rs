//! Servers on a loop: binding listeners, accepting until `WouldBlock`,
//! backing off when out of descriptors, closing (L2).

use std::cell::RefCell;
use std::io;

use crate::error::LoopError;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::rc::Rc;

use mio::Registry;

use super::server::SendFactory;
use super::server::{Server, ServerShared};
use super::{token_of, Core, Entry, EntryKey, EventLoop};
use crate::protocol::{DynProtocol, Protocol};
use crate::stats::Gauges;
use crate::tls::TlsServerConfig;
use crate::transport::listener::{AcceptError, ListenSocket};
use crate::transport::socket::Stream;
use crate::transport::tls_session::TlsSession;
use crate::transport::Address;

/// Makes one protocol instance per accepted connection.
pub(crate) type Factory = Rc<RefCell<dyn FnMut() -> Box<dyn DynProtocol>>>;

pub(crate) struct Listener {
    socket: ListenSocket,
    factory: Factory,
    server: Rc<ServerShared>,
    /// TLS to run on every accepted connection before `connection_made`.
    tls: Option<TlsServerConfig>,
    /// Out of descriptors: a timer will try again.
    backing_off: bool,
}

impl EventLoop {
    /// Serves TCP on every address `addr` resolves to (L2): each accepted
    /// connection gets `factory()` as its protocol, and `connection_made` on
    /// this loop. Port 0 binds a free port, readable from
    /// [`Server::sockets`]. Failing to bind (address in use…) is returned
    /// here, naming the address, and nothing stays bound.
    pub fn create_server<P, F>(
        &mut self,
        factory: F,
        addr: impl ToSocketAddrs,
    ) -> io::Result<Server>
    where
        P: Protocol,
        F: FnMut() -> P + 'static,
    {
        let sockets = self.bind_tcp_all(addr)?;
        self.serve(sockets, boxed(factory), Vec::new(), None, None)
    }

    pub(super) fn bind_tcp_all(
        &mut self,
        addr: impl ToSocketAddrs,
    ) -> io::Result<Vec<ListenSocket>> {
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
        if addrs.is_empty() {
            return Err(LoopError::NoAddress("the server address".into()).into());
        }
        let backlog = self.core.config.backlog;
        addrs
            .iter()
            .map(|a| {
                ListenSocket::bind_tcp(*a, backlog, false).map_err(|source| {
                    LoopError::Bind {
                        address: a.to_string(),
                        source,
                    }
                    .into()
                })
            })
            .collect()
    }

    /// Serves a Unix stream socket at `path` (L2). A stale socket file is
    /// replaced; the file is removed when the server closes.
    pub fn create_unix_server<P, F>(
        &mut self,
        factory: F,
        path: impl AsRef<Path>,
    ) -> io::Result<Server>
    where
        P: Protocol,
        F: FnMut() -> P + 'static,
    {
        let path = path.as_ref();
        let socket = ListenSocket::bind_unix(path, self.core.config.backlog).map_err(|source| {
            io::Error::from(LoopError::Bind {
                address: format!("unix:{}", path.display()),
                source,
            })
        })?;
        self.serve(
            sockets_of(socket),
            boxed(factory),
            vec![path.to_path_buf()],
            None,
            None,
        )
    }

    /// Serves TCP on a listener that is already bound (the admin endpoint
    /// binds first, so a bind error is reported before its thread starts).
    pub(crate) fn serve_bound<P, F>(
        &mut self,
        listener: std::net::TcpListener,
        factory: F,
    ) -> io::Result<Server>
    where
        P: Protocol,
        F: FnMut() -> P + 'static,
    {
        listener.set_nonblocking(true)?;
        // std binds with a backlog of 128; take the loop's (listen again
        // on a listening socket only changes its backlog).
        socket2::SockRef::from(&listener).listen(self.core.config.backlog as i32)?;
        let socket = ListenSocket::Tcp(mio::net::TcpListener::from_std(listener));
        self.serve(sockets_of(socket), boxed(factory), Vec::new(), None, None)
    }

    /// Serves a listener bound by the runtime (this shard's sockets of a
    /// `reuseport` listener) whose connections keep the runtime's gauges.
    pub(crate) fn serve_shared(
        &mut self,
        sockets: Vec<ListenSocket>,
        factory: SendFactory,
        gauges: Gauges,
        id: u64,
    ) -> io::Result<()> {
        let tls = factory.tls.clone();
        let make: Factory = Rc::new(RefCell::new(move || (factory.make)()));
        let server = self.serve(sockets, make, Vec::new(), Some(gauges), tls)?;
        self.runtime_servers.insert(id, server);
        Ok(())
    }

    /// Takes over a connection the acceptor handed to this shard: builds its
    /// protocol here and calls `connection_made`.
    pub(crate) fn adopt_handed_off(
        &mut self,
        stream: Stream,
        peer: Address,
        factory: SendFactory,
        gauges: Gauges,
        id: u64,
    ) {
        let group = Rc::clone(self.runtime_groups.entry(id).or_insert_with(|| {
            Rc::new(ServerShared::new(
                Vec::new(),
                Vec::new(),
                Some(gauges.clone()),
            ))
        }));
        let protocol = match panic::catch_unwind(AssertUnwindSafe(|| (factory.make)())) {
            Ok(p) => p,
            Err(_) => {
                tracing::error!(%peer, "protocol factory panicked; connection dropped");
                gauges.closed();
                return;
            }
        };
        let adopted = server_session(factory.tls.as_ref()).and_then(|tls| {
            self.core.adopt(
                self.poll.registry(),
                stream,
                Some(peer.clone()),
                protocol,
                Some(group),
                tls,
            )
        });
        if let Err(e) = adopted {
            tracing::warn!(%peer, error = %e, "cannot register handed-off connection");
            gauges.closed();
        }
    }

    /// Closes this shard's `reuseport` listener of runtime listener `id`,
    /// if it has one.
    pub(crate) fn close_runtime_server(&mut self, id: u64) {
        if let Some(server) = self.runtime_servers.remove(&id) {
            server.close();
            let shared = Rc::clone(server.shared());
            self.close_listeners(&shared);
        }
    }

    /// Closes every listening socket of this loop (shutdown): drops the
    /// descriptors, without `shutdown(2)`, which would stop the socket
    /// itself from listening in every process that holds it — after a
    /// takeover, the new one serves this loop's `reuseport` sockets.
    pub fn close_all_listeners(&mut self) {
        self.runtime_servers.clear();
        self.core.entries.retain(|_, e| match e {
            Entry::Listener(l) => {
                l.server.listeners_dropped();
                l.server.listeners.borrow_mut().clear();
                false
            }
            _ => true,
        });
    }

    pub(super) fn serve(
        &mut self,
        sockets: Vec<ListenSocket>,
        factory: Factory,
        unix_paths: Vec<std::path::PathBuf>,
        gauges: Option<Gauges>,
        tls: Option<TlsServerConfig>,
    ) -> io::Result<Server> {
        let addresses = sockets
            .iter()
            .map(ListenSocket::local_addr)
            .collect::<io::Result<Vec<_>>>()?;
        let shared = Rc::new(ServerShared::new(addresses, unix_paths, gauges));
        for socket in sockets {
            let (key, l) = self.core.entries.add(|_| Listener {
                socket,
                factory: Rc::clone(&factory),
                server: Rc::clone(&shared),
                tls: tls.clone(),
                backing_off: false,
            });
            if let Err(e) = l.socket.register(self.poll.registry(), token_of(key)) {
                self.core.entries.remove(key);
                self.close_listeners(&shared);
                return Err(e);
            }
            shared.listeners.borrow_mut().push(key);
            shared.listening_fds.borrow_mut().push(l.socket.raw_fd());
        }
        Ok(Server::new(shared, self.core.handle.clone()))
    }

    /// Closes a server's listening sockets and removes its socket files.
    pub(crate) fn close_listeners(&mut self, shared: &ServerShared) {
        shared.listeners_dropped();
        for key in shared.listeners.borrow_mut().drain(..) {
            self.core.entries.remove(key);
        }
        for path in shared.unix_paths() {
            let _ = std::fs::remove_file(path);
        }
    }

    fn resume_accepting(&mut self, key: EntryKey) {
        if let Some(l) = self.core.entries.of_mut::<Listener>(key) {
            l.backing_off = false;
            self.core.accept_ready(self.poll.registry(), key);
        }
    }
}

pub(super) fn boxed<P: Protocol>(mut factory: impl FnMut() -> P + 'static) -> Factory {
    Rc::new(RefCell::new(move || {
        Box::new(factory()) as Box<dyn DynProtocol>
    }))
}

/// A fresh server-side TLS session for one accepted connection, with its
/// handshake timeout.
fn server_session(
    tls: Option<&TlsServerConfig>,
) -> io::Result<Option<(TlsSession, std::time::Duration)>> {
    #[cfg(feature = "tls")]
    return tls
        .map(|c| Ok((TlsSession::server(c.rustls())?, c.handshake_timeout())))
        .transpose();
    #[cfg(not(feature = "tls"))]
    tls.map(TlsServerConfig::session).transpose()
}

fn sockets_of(socket: ListenSocket) -> Vec<ListenSocket> {
    vec![socket]
}

impl Core {
    /// Accepts until `WouldBlock`. An error of one connection skips it; a
    /// shortage of descriptors or memory stops accepting for
    /// `accept_backoff` (the kernel backlog holds the rest); a socket that
    /// stopped listening is closed — never a busy loop, never a dead
    /// listener kept.
    pub(crate) fn accept_ready(&mut self, registry: &Registry, key: EntryKey) {
        let (factory, server, tls) = match self.entries.of::<Listener>(key) {
            Some(l) if !l.backing_off && !l.server.is_closed() => {
                (Rc::clone(&l.factory), Rc::clone(&l.server), l.tls.clone())
            }
            _ => return,
        };
        loop {
            let Some(l) = self.entries.of_mut::<Listener>(key) else {
                return;
            };
            match l.socket.accept() {
                Ok((stream, peer)) => {
                    let made = panic::catch_unwind(AssertUnwindSafe(|| (factory.borrow_mut())()));
                    let Ok(protocol) = made else {
                        tracing::error!(%peer, "protocol factory panicked; connection dropped");
                        continue;
                    };
                    let adopted = server_session(tls.as_ref()).and_then(|tls| {
                        self.adopt(
                            registry,
                            stream,
                            Some(peer.clone()),
                            protocol,
                            Some(Rc::clone(&server)),
                            tls,
                        )
                    });
                    if let Err(e) = adopted {
                        tracing::warn!(%peer, error = %e, "cannot register accepted connection");
                    }
                }
                Err(e) => match AcceptError::classify(&e) {
                    AcceptError::Drained => return,
                    AcceptError::Connection => {
                        tracing::debug!(error = %e, "accept failed for one connection; skipped");
                    }
                    AcceptError::Dead => {
                        tracing::error!(error = %e, "a listening socket stopped listening; closed it");
                        server.listeners.borrow_mut().retain(|k| *k != key);
                        let fd = l.socket.raw_fd();
                        server.listening_fds.borrow_mut().retain(|f| *f != fd);
                        if let Some(mut l) = self.entries.take::<Listener>(key) {
                            let _ = l.socket.deregister(registry);
                        }
                        if server.listeners.borrow().is_empty() {
                            server.listeners_dropped();
                        }
                        return;
                    }
                    AcceptError::Resources => {
                        l.backing_off = true;
                        crate::stats::add(&self.handle.sched.stats.accept_backoffs, 1);
                        let delay = self.config.accept_backoff;
                        tracing::warn!(error = %e, delay = %humantime::format_duration(delay), "out of resources while accepting; backing off");
                        self.handle
                            .call_later(delay, move |lp| lp.resume_accepting(key));
                        return;
                    }
                },
            }
        }
    }
}
