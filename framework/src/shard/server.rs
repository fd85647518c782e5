//! [`Server`]: what `create_server` returns (L2).

use std::cell::{Cell, RefCell};
use std::io;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use super::{EntryKey, EventLoop, LoopHandle};
use crate::protocol::{DynProtocol, Protocol};
use crate::stats::{Gauges, ListenerCells, ListenerStats};
use crate::transport::Address;

/// State shared by a server's handle, its listeners and its connections.
#[derive(Debug, Default)]
pub(crate) struct ServerShared {
    closed: Cell<bool>,
    /// Listener entries still open in the loop.
    pub(crate) listeners: RefCell<Vec<EntryKey>>,
    /// Their descriptors, open for as long as the entries exist.
    pub(crate) listening_fds: RefCell<Vec<std::os::fd::RawFd>>,
    addresses: Vec<Address>,
    /// Socket files this server created, removed when it closes.
    unix_paths: Vec<PathBuf>,
    /// Live-connection counters shared with the runtime, if it runs one.
    gauges: Option<Gauges>,
    /// Connections accepted, alive and closed, and the bytes of the
    /// closed ones (live ones keep their own count until they close).
    counters: ListenerCells,
}

impl ServerShared {
    pub(crate) fn new(
        addresses: Vec<Address>,
        unix_paths: Vec<PathBuf>,
        gauges: Option<Gauges>,
    ) -> Self {
        Self {
            addresses,
            unix_paths,
            gauges,
            ..Self::default()
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// The loop dropped the listening sockets (their descriptors may be
    /// reused from now on): closed for good.
    pub(crate) fn listeners_dropped(&self) {
        self.closed.set(true);
        self.listening_fds.borrow_mut().clear();
    }

    pub(crate) fn connection_opened(&self) {
        crate::stats::add(&self.counters.active, 1);
        crate::stats::add(&self.counters.accepted, 1);
        if let Some(g) = &self.gauges {
            g.opened();
        }
    }

    /// A connection is lost, having moved `bytes_in` and `bytes_out`.
    pub(crate) fn connection_closed(&self, bytes_in: u64, bytes_out: u64) {
        let c = &self.counters;
        crate::stats::sub(&c.active, 1);
        crate::stats::add(&c.closed, 1);
        crate::stats::add(&c.bytes_in, bytes_in);
        crate::stats::add(&c.bytes_out, bytes_out);
        if let Some(g) = &self.gauges {
            g.closed();
        }
    }

    /// The runtime listener this server (or group of handed-off
    /// connections) belongs to, if any.
    pub(crate) fn listener_id(&self) -> Option<u64> {
        self.gauges.as_ref().map(|g| g.listener)
    }

    /// This shard's counters of the listener, live connections' bytes not
    /// included.
    pub(crate) fn counters(&self) -> ListenerStats {
        self.counters.snapshot()
    }

    pub(crate) fn unix_paths(&self) -> &[PathBuf] {
        &self.unix_paths
    }

    fn is_done(&self) -> bool {
        self.closed.get() && self.counters.active.get() == 0 && self.listeners.borrow().is_empty()
    }
}

/// What a runtime listener serves: a factory that runs on any shard and
/// builds the protocol there, and the TLS configuration, if any, whose
/// handshake the shard runs before `connection_made`.
pub(crate) struct Service {
    pub(crate) make: Box<dyn Fn() -> Box<dyn DynProtocol> + Send + Sync>,
    pub(crate) tls: Option<crate::tls::TlsServerConfig>,
}

/// A listener's service, shared by the acceptor and every shard.
pub(crate) type SendFactory = Arc<Service>;

pub(crate) fn service<P, F>(factory: F, tls: Option<crate::tls::TlsServerConfig>) -> SendFactory
where
    P: Protocol,
    F: Fn() -> P + Send + Sync + 'static,
{
    Arc::new(Service {
        make: Box::new(move || Box::new(factory()) as Box<dyn DynProtocol>),
        tls,
    })
}

/// A listening server, as asyncio's `Server`: its bound addresses, `close`
/// and `wait_closed`. Each accepted connection gets a new protocol instance
/// from the factory given to `create_server`.
///
/// Dropping the handle does not stop the server (asyncio's neither); call
/// [`close`](Self::close).
pub struct Server {
    shared: Rc<ServerShared>,
    lp: LoopHandle,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("sockets", &self.shared.addresses)
            .field("serving", &self.is_serving())
            .finish()
    }
}

impl Server {
    pub(crate) fn new(shared: Rc<ServerShared>, lp: LoopHandle) -> Self {
        Self { shared, lp }
    }

    pub(crate) fn shared(&self) -> &Rc<ServerShared> {
        &self.shared
    }

    /// The addresses the server listens on, as bound: with port 0 asked for,
    /// the port the kernel chose (asyncio's `server.sockets[i].getsockname()`).
    /// Empty once the server is closed, as asyncio's.
    pub fn sockets(&self) -> &[Address] {
        if self.shared.is_closed() {
            &[]
        } else {
            &self.shared.addresses
        }
    }

    /// Whether the server still accepts connections.
    pub fn is_serving(&self) -> bool {
        !self.shared.is_closed()
    }

    /// Stops listening at once — a connection attempted right after is
    /// refused, as asyncio's `Server.close()` — and releases the sockets on
    /// the next loop iteration (removing Unix socket files it created).
    /// Connections already accepted are left alone. A second call does
    /// nothing.
    pub fn close(&self) {
        if self.shared.closed.replace(true) {
            return;
        }
        for fd in self.shared.listening_fds.borrow().iter() {
            crate::sys::stop_listening(*fd);
        }
        let shared = Rc::clone(&self.shared);
        self.lp.call_soon(move |lp| lp.close_listeners(&shared));
    }

    /// Runs the loop until the server is closed and every connection it
    /// accepted is lost (asyncio 3.12's `wait_closed`). Returns at once if
    /// that is already so; like asyncio's, waits for ever on a server that
    /// is never closed — or until the loop is stopped.
    pub fn wait_closed(&self, lp: &mut EventLoop) -> io::Result<()> {
        let shared = Rc::clone(&self.shared);
        lp.run_until(move |_| shared.is_done())
    }
}
