//! The loop's connections seen from outside their protocols: counters
//! ([`EventLoop::stats`], [`EventLoop::listener_stats`]), counts, reaching
//! one connection's transport or protocol, and closing them all (abort,
//! graceful drain).

use std::rc::Rc;

use super::connection::Connection;
use super::driver::Ctx;
use super::driver::Driven as _;
use super::driver::Guarded as _;
use super::{ConnectionHandle, Entry, EntryKey, EventLoop};
use crate::protocol::Protocol;
use crate::stats::{ListenerStats, ShardStats};
use crate::transport::Transport;
use slotmap::Key as _;

impl EventLoop {
    /// A snapshot of this loop's counters.
    pub fn stats(&self) -> ShardStats {
        // The cells hold the bytes of lost connections; live ones keep
        // their own count until then.
        let mut s = self.core.handle.sched.stats.snapshot();
        for entry in self.core.entries.values() {
            if let Entry::Conn(c) = entry {
                if !c.transport.life().is_lost() {
                    let (bytes_in, bytes_out) = c.transport.byte_counts();
                    s.bytes_in += bytes_in;
                    s.bytes_out += bytes_out;
                }
            }
        }
        s.active = self.connection_count() as u64;
        s
    }

    /// This shard's counters of every runtime listener it serves, by
    /// listener id (the order `Runtime::listen*` calls were made in).
    pub fn listener_stats(&self) -> Vec<(u64, ListenerStats)> {
        let mut by_id: Vec<(u64, ListenerStats)> = Vec::new();
        let servers = self
            .runtime_groups
            .values()
            .cloned()
            .chain(self.runtime_servers.values().map(|s| Rc::clone(s.shared())));
        for shared in servers {
            if let Some(id) = shared.listener_id() {
                by_id.push((id, shared.counters()));
            }
        }
        for entry in self.core.entries.values() {
            let Entry::Conn(c) = entry else { continue };
            let Some(id) = c.server.as_ref().and_then(|s| s.listener_id()) else {
                continue;
            };
            if let Some((_, stats)) = by_id.iter_mut().find(|(i, _)| *i == id) {
                let (bytes_in, bytes_out) = c.transport.byte_counts();
                stats.add_bytes(bytes_in, bytes_out);
            }
        }
        by_id.sort_by_key(|(id, _)| *id);
        by_id
    }

    /// Number of connections alive (from `connection_made` to
    /// `connection_lost`).
    pub fn connection_count(&self) -> usize {
        self.core
            .entries
            .values()
            .filter(|e| matches!(e, Entry::Conn(c) if c.is_made()))
            .count()
    }

    /// Stream connections this loop still holds a socket for: live ones
    /// (handshakes in progress included), those flushing after `close()`,
    /// and those in their lingering close (T3) after `connection_lost`. A
    /// graceful drain waits for this to reach zero: exiting earlier makes
    /// the kernel reset the lingering ones and destroy what they had not
    /// delivered yet.
    pub fn open_connections(&self) -> usize {
        self.core
            .entries
            .values()
            .filter(|e| matches!(e, Entry::Conn(_)))
            .count()
    }

    /// Aborts every live connection (T6: queued data dropped,
    /// `connection_lost` follows on the next iteration) and drops the
    /// sockets of those lingering. Returns how many it cut: what
    /// [`open_connections`](Self::open_connections) counted.
    pub fn abort_all(&mut self) -> usize {
        let cut = self.open_connections();
        self.for_each_connection(|t| t.abort());
        self.core
            .entries
            .retain(|_, e| !matches!(e, Entry::Conn(c) if c.transport.life().is_lost()));
        cut
    }

    /// One step of a graceful drain, what `Runtime::shutdown` runs on
    /// every shard until its connections are gone. Every open connection
    /// that has received input — or every open one, once `close_silent` —
    /// first reads and delivers what the kernel already holds for it (so a
    /// request that arrived before the drain is answered, not discarded by
    /// the lingering close), then is told the drain started
    /// ([`Protocol::drain_started`], once;
    /// by default it `close()`s: its queue flushed, a FIN, then input
    /// discarded until the peer closes, T3). A connection that has not
    /// received its first byte is left alone until `close_silent`: its
    /// client may have connected just before the listeners closed and be
    /// sending its request now (Go's `http.Server.Shutdown` treats new
    /// connections the same way). Returns how many were left untold.
    pub fn drain_connections(&mut self, close_silent: bool) -> usize {
        let mut silent = 0;
        let keys: Vec<EntryKey> = self
            .core
            .entries
            .iter()
            .filter_map(|(k, e)| match e {
                Entry::Conn(c)
                    if c.transport.life().is_open() && !c.transport.life().drain_told() =>
                {
                    let spoken = c.transport.bytes_received() > 0 && c.is_made();
                    if spoken || close_silent {
                        Some(k)
                    } else {
                        silent += 1;
                        None
                    }
                }
                _ => None,
            })
            .collect();
        for key in keys {
            let core = &mut self.core;
            let Some(conn) = core.entries.of_mut::<Connection>(key) else {
                continue;
            };
            let mut ctx = Ctx {
                registry: self.poll.registry(),
                read_buf: &mut core.read_buf,
                deferred: &mut core.deferred,
            };
            if conn.transport.delivers_input() {
                // (A panic in data_received fails this connection.)
                core.current = key;
                conn.read(&mut ctx, true);
            }
            if conn.transport.life().is_open() && conn.transport.life_mut().tell_drain() {
                if conn.is_made() {
                    // (Guarded: a panic fails this connection only.)
                    conn.invoke("drain_started", |p, t| p.drain_started(t));
                } else {
                    // A TLS handshake still under way: its protocol has
                    // not been told of the connection (P2).
                    conn.transport.close();
                }
            }
            conn.settle(&mut ctx);
        }
        self.core.current = EntryKey::null();
        silent
    }

    /// Calls `f` with every live connection's transport (e.g. to close them
    /// all at shutdown), acting on what each call triggers.
    pub fn for_each_connection(&mut self, mut f: impl FnMut(&mut Transport)) {
        let keys: Vec<EntryKey> = self
            .core
            .entries
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Conn(c) if !c.transport.life().is_lost()))
            .map(|(k, _)| k)
            .collect();
        for key in keys {
            self.with_transport(ConnectionHandle(key), &mut f);
        }
    }

    /// Whether the connection is alive: `connection_made` was delivered and
    /// `connection_lost` not yet.
    pub fn is_connected(&self, handle: ConnectionHandle) -> bool {
        match self.core.entries.get(handle.0) {
            Some(Entry::Conn(c)) => c.is_made(),
            Some(Entry::Dgram(d)) => !d.transport.life().is_lost(),
            _ => false,
        }
    }

    /// Calls `f` with the connection's transport, from outside its protocol
    /// (a timer, another connection). Whatever `f` triggers — a
    /// `pause_writing`, a close — is acted on before this returns. `None`
    /// when the connection is gone.
    pub fn with_transport<R>(
        &mut self,
        handle: ConnectionHandle,
        f: impl FnOnce(&mut Transport) -> R,
    ) -> Option<R> {
        self.with_connection_dyn(handle, |_, t| f(t))
    }

    /// Calls `f` with the connection's protocol, downcast to `P`, and its
    /// transport. `None` when the connection is gone or its protocol is not
    /// a `P`.
    pub fn with_connection<P: Protocol, R>(
        &mut self,
        handle: ConnectionHandle,
        f: impl FnOnce(&mut P, &mut Transport) -> R,
    ) -> Option<R> {
        self.with_connection_dyn(handle, |p, t| {
            p.as_any_mut().downcast_mut::<P>().map(|p| f(p, t))
        })
        .flatten()
    }

    fn with_connection_dyn<R>(
        &mut self,
        handle: ConnectionHandle,
        f: impl FnOnce(&mut dyn crate::protocol::DynProtocol, &mut Transport) -> R,
    ) -> Option<R> {
        let core = &mut self.core;
        let conn = core.entries.of_mut::<Connection>(handle.0)?;
        if conn.transport.life().is_lost() {
            return None;
        }
        let r = f(&mut *conn.protocol, &mut conn.transport);
        let mut ctx = Ctx {
            registry: self.poll.registry(),
            read_buf: &mut core.read_buf,
            deferred: &mut core.deferred,
        };
        conn.settle(&mut ctx);
        Some(r)
    }
}
