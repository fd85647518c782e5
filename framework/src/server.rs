//! [`Server`]: what `create_server` returns (L2).

use std::cell::{Cell, RefCell};
use std::io;
use std::path::PathBuf;
use std::rc::Rc;

use crate::runtime::Gauges;
use crate::shard::{EntryKey, EventLoop, LoopHandle};
use crate::transport::Address;

/// State shared by a server's handle, its listeners and its connections.
#[derive(Debug, Default)]
pub(crate) struct ServerShared {
    closed: Cell<bool>,
    /// Connections accepted and not yet lost.
    active: Cell<usize>,
    /// Listener entries still open in the loop.
    pub(crate) listeners: RefCell<Vec<EntryKey>>,
    addresses: Vec<Address>,
    /// Socket files this server created, removed when it closes.
    unix_paths: Vec<PathBuf>,
    /// Live-connection counters shared with the runtime, if it runs one.
    gauges: Option<Gauges>,
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

    pub(crate) fn connection_opened(&self) {
        self.active.set(self.active.get() + 1);
        if let Some(g) = &self.gauges {
            g.opened();
        }
    }

    pub(crate) fn connection_closed(&self) {
        self.active.set(self.active.get() - 1);
        if let Some(g) = &self.gauges {
            g.closed();
        }
    }

    pub(crate) fn unix_paths(&self) -> &[PathBuf] {
        &self.unix_paths
    }

    fn is_done(&self) -> bool {
        self.closed.get() && self.active.get() == 0 && self.listeners.borrow().is_empty()
    }
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

    /// The addresses the server listens on, as bound: with port 0 asked for,
    /// the port the kernel chose (asyncio's `server.sockets[i].getsockname()`).
    pub fn sockets(&self) -> &[Address] {
        &self.shared.addresses
    }

    /// Whether the server still accepts connections.
    pub fn is_serving(&self) -> bool {
        !self.shared.is_closed()
    }

    /// Stops accepting at once and closes the listening sockets on the next
    /// loop iteration (removing Unix socket files it created). Connections
    /// already accepted are left alone. A second call does nothing.
    pub fn close(&self) {
        if self.shared.closed.replace(true) {
            return;
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
