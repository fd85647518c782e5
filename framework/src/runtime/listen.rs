//! A [`Runtime`]'s listeners: TCP, TLS, Unix and inherited sockets (UDP in
//! `listen_udp.rs`),
//! served through the acceptor or with `SO_REUSEPORT` on every shard;
//! their names, closing one, and the write-buffer defaults of new
//! connections.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::acceptor::Acceptor;
use super::{Distribution, Runtime};
use crate::error::LoopError;
use crate::protocol::Protocol;
use crate::shard::server::{service, SendFactory};
use crate::stats::Gauges;
use crate::transport::listener::ListenSocket;

impl Runtime {
    /// Serves TCP on `addr` with `distribution`; every connection gets a
    /// protocol built by `factory` on the shard that owns it. Binding errors
    /// (address in use…) are returned here. Returns the bound address (port
    /// 0 resolved).
    pub fn listen<P, F>(
        &mut self,
        addr: SocketAddr,
        distribution: Distribution,
        backlog: u32,
        factory: F,
    ) -> io::Result<SocketAddr>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.listen_service(addr, distribution, backlog, service(factory, None))
    }

    /// Serves TLS on `addr`, as [`listen`](Self::listen): the acceptor only
    /// accepts; each shard runs the handshake of the connections it owns,
    /// bounded by the configuration's handshake timeout, and calls
    /// `connection_made` once it has completed. A failed or timed-out
    /// handshake is logged and counted (`tls_handshake_failures`) and never
    /// reaches the protocol.
    #[cfg(feature = "tls")]
    pub fn listen_tls<P, F>(
        &mut self,
        addr: SocketAddr,
        distribution: Distribution,
        backlog: u32,
        tls: crate::tls::TlsServerConfig,
        factory: F,
    ) -> io::Result<SocketAddr>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.listen_service(addr, distribution, backlog, service(factory, Some(tls)))
    }

    /// The listeners this runtime serves (TCP, TLS and Unix), by id, with
    /// their names.
    pub fn listeners(&self) -> Vec<(u64, String)> {
        self.listener_names.lock().clone()
    }

    /// Closes listener `id` at once (its socket, on every shard for a
    /// `reuseport` one, and its Unix socket file): new connections are
    /// refused, the connections it accepted go on. Returns once the
    /// sockets are closed, so the address can be bound again.
    pub fn close_listener(&mut self, id: u64) -> io::Result<()> {
        if let Some(acceptor) = &self.acceptor {
            acceptor.unlisten(id)?;
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        for s in &self.shards {
            let tx = tx.clone();
            let _ = s.handle.submit(move |lp| {
                lp.close_runtime_server(id);
                let _ = tx.send(());
            });
        }
        for _ in &self.shards {
            rx.recv_timeout(Duration::from_secs(10))
                .map_err(|_| io::Error::from(LoopError::Gone("a shard".into())))?;
        }
        self.listener_names.lock().retain(|(i, _)| *i != id);
        self.shard_sockets.lock().retain(|l| l.id != Some(id));
        if let Some(pos) = self.unix_listeners.iter().position(|(i, _)| *i == id) {
            let (_, path) = self.unix_listeners.remove(pos);
            self.unix_paths.retain(|p| *p != path);
            let _ = std::fs::remove_file(&path);
        }
        Ok(())
    }

    /// Sets the write-buffer marks every shard gives the connections it
    /// makes from now on (existing ones keep theirs). Invalid marks (low
    /// above high) are an `InvalidSetting` error.
    pub fn set_write_buffer_limits(&mut self, high: usize, low: usize) -> io::Result<()> {
        crate::transport::flow::resolve_limits(Some(high), Some(low))
            .map_err(|e| io::Error::from(LoopError::InvalidSetting(e.to_string())))?;
        let (tx, rx) = crossbeam_channel::unbounded();
        for s in &self.shards {
            let tx = tx.clone();
            let _ = s.handle.submit(move |lp| {
                lp.set_default_write_buffer_limits(high, low);
                let _ = tx.send(());
            });
        }
        for _ in &self.shards {
            rx.recv_timeout(Duration::from_secs(10))
                .map_err(|_| io::Error::from(LoopError::Gone("a shard".into())))?;
        }
        Ok(())
    }

    /// Counts a configuration reload (`shardloop_config_reloads_total`,
    /// labelled `result="applied"` or `"failed"`).
    pub fn count_reload(&self, applied: bool) {
        let c = if applied {
            &self.gauges.reloads_applied
        } else {
            &self.gauges.reloads_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Names the listener the next `listen*` call binds: its metrics carry
    /// `listener="NAME"`. Unnamed listeners are labelled with their
    /// address.
    pub fn name_next_listener(&mut self, name: impl Into<String>) {
        self.next_name = Some(name.into());
    }

    /// A new listener id, labelled with the pending name or `address`.
    fn new_listener(&mut self, address: impl FnOnce() -> String) -> u64 {
        let id = self.next_listener;
        self.next_listener += 1;
        let name = self.next_name.take().unwrap_or_else(address);
        self.listener_names.lock().push((id, name));
        id
    }

    fn listen_service(
        &mut self,
        addr: SocketAddr,
        distribution: Distribution,
        backlog: u32,
        factory: SendFactory,
    ) -> io::Result<SocketAddr> {
        match distribution {
            Distribution::ReusePort => self.listen_reuseport(addr, backlog, factory, Vec::new()),
            _ => {
                let socket = ListenSocket::bind_tcp(addr, backlog, false).map_err(|source| {
                    io::Error::from(LoopError::Bind {
                        address: addr.to_string(),
                        source,
                    })
                })?;
                let bound = socket.local_addr()?.as_inet().expect("TCP listener");
                let id = self.new_listener(|| bound.to_string());
                self.serve_or_hold(move |rt| {
                    rt.acceptor()?.add(socket, distribution, factory, id)
                })?;
                Ok(bound)
            }
        }
    }

    /// Serves listening sockets this process inherited (systemd socket
    /// activation: see [`inherited_listeners`](super::inherited_listeners);
    /// a takeover: see [`take_over`](super::take_over)) as
    /// [`listen`](Self::listen) does with one it binds. With `ReusePort` and sockets that have
    /// `SO_REUSEPORT` set (a takeover hands over one per old shard), every
    /// shard serves its share of them, and shards left without one bind
    /// the address alongside with `backlog`: nothing queued in the old
    /// sockets is lost. Otherwise the acceptor serves the first socket
    /// (one socket: `ReusePort` becomes `RoundRobin`) and the others are
    /// closed. Returns the sockets' address.
    pub fn listen_inherited<P, F>(
        &mut self,
        fds: Vec<std::os::fd::OwnedFd>,
        distribution: Distribution,
        backlog: u32,
        factory: F,
    ) -> io::Result<String>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.listen_inherited_with(fds, distribution, backlog, None, factory)
    }

    /// As [`listen_inherited`](Self::listen_inherited), serving TLS: each
    /// connection's handshake runs first, as [`listen_tls`](Self::listen_tls)'s.
    #[cfg(feature = "tls")]
    pub fn listen_inherited_tls<P, F>(
        &mut self,
        fds: Vec<std::os::fd::OwnedFd>,
        distribution: Distribution,
        backlog: u32,
        tls: crate::tls::TlsServerConfig,
        factory: F,
    ) -> io::Result<String>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.listen_inherited_with(fds, distribution, backlog, Some(tls), factory)
    }

    pub(crate) fn listen_inherited_with<P, F>(
        &mut self,
        fds: Vec<std::os::fd::OwnedFd>,
        distribution: Distribution,
        backlog: u32,
        tls: Option<crate::tls::TlsServerConfig>,
        factory: F,
    ) -> io::Result<String>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let mut sockets = fds
            .into_iter()
            .map(ListenSocket::from_fd)
            .collect::<io::Result<Vec<_>>>()?;
        let Some(first) = sockets.first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no inherited socket",
            ));
        };
        let bound = first.local_addr()?;
        let factory = service(factory, tls);
        let shared = matches!(first, ListenSocket::Tcp(_))
            && socket2::SockRef::from(first).reuse_port().unwrap_or(false);
        if distribution == Distribution::ReusePort && shared {
            let addr = bound.as_inet().expect("TCP listener");
            return Ok(self
                .listen_reuseport(addr, backlog, factory, sockets)?
                .to_string());
        }
        if sockets.len() > 1 {
            tracing::warn!(address = %bound, closed = sockets.len() - 1, "more inherited sockets than the listener serves; closed the others");
        }
        let socket = sockets.swap_remove(0);
        let distribution = match distribution {
            // One socket: the acceptor spreads it.
            Distribution::ReusePort => Distribution::RoundRobin,
            d => d,
        };
        let bound = bound.to_string();
        let id = self.new_listener(|| bound.clone());
        self.serve_or_hold(move |rt| rt.acceptor()?.add(socket, distribution, factory, id))?;
        Ok(bound)
    }

    /// Serves a Unix stream socket at `path` through the acceptor
    /// (`RoundRobin` or `LeastConnections`; `ReusePort` needs TCP).
    pub fn listen_unix<P, F>(
        &mut self,
        path: &std::path::Path,
        distribution: Distribution,
        backlog: u32,
        factory: F,
    ) -> io::Result<()>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        if distribution == Distribution::ReusePort {
            return Err(LoopError::InvalidSetting("reuseport needs a TCP address".into()).into());
        }
        let factory = service(factory, None);
        let id = self.new_listener(|| format!("unix:{}", path.display()));
        let socket = ListenSocket::bind_unix(path, backlog).map_err(|source| {
            io::Error::from(LoopError::Bind {
                address: format!("unix:{}", path.display()),
                source,
            })
        })?;
        self.unix_paths.push(path.to_path_buf());
        self.unix_listeners.push((id, path.to_path_buf()));
        self.serve_or_hold(move |rt| rt.acceptor()?.add(socket, distribution, factory, id))
    }

    /// Keeps a second descriptor of each of a listener's shard-served
    /// sockets, which a takeover hands to the new process.
    pub(super) fn keep_for_takeover(
        &mut self,
        id: Option<u64>,
        name: String,
        udp: bool,
        sockets: &[impl std::os::fd::AsFd],
    ) -> io::Result<()> {
        let fds = sockets
            .iter()
            .map(|s| s.as_fd().try_clone_to_owned())
            .collect::<io::Result<Vec<_>>>()?;
        self.shard_sockets
            .lock()
            .push(super::takeover::ShardSockets { id, name, udp, fds });
        Ok(())
    }

    /// Serves `sockets` (inherited; none when binding afresh) and as many
    /// more bound on `addr` as it takes to give every shard one, each with
    /// `SO_REUSEPORT`; shard K serves sockets K, K + shards, …
    fn listen_reuseport(
        &mut self,
        addr: SocketAddr,
        backlog: u32,
        factory: SendFactory,
        mut sockets: Vec<ListenSocket>,
    ) -> io::Result<SocketAddr> {
        let mut bound = addr;
        while sockets.len() < self.shards.len() {
            let socket = ListenSocket::bind_tcp(bound, backlog, true).map_err(|source| {
                io::Error::from(LoopError::Bind {
                    address: bound.to_string(),
                    source,
                })
            })?;
            bound = socket.local_addr()?.as_inet().expect("TCP listener");
            sockets.push(socket);
        }
        let id = self.new_listener(|| bound.to_string());
        let name = self.listener_names.name(id);
        self.keep_for_takeover(Some(id), name, false, &sockets)?;
        let per_shard = spread(sockets, self.shards.len());
        self.serve_or_hold(move |rt| {
            for (shard, sockets) in rt.shards.iter().zip(per_shard) {
                let gauges = Gauges {
                    shard: Arc::clone(&shard.live),
                    runtime: Arc::clone(&rt.gauges),
                    counted_at_accept: false,
                    listener: id,
                };
                let factory = Arc::clone(&factory);
                shard
                    .handle
                    .submit(move |lp| {
                        if let Err(e) = lp.serve_shared(sockets, factory, gauges, id) {
                            tracing::error!(error = %e, "shard cannot serve its reuseport listener");
                        }
                    })
                    .map_err(|_| io::Error::from(LoopError::Gone("a shard".into())))?;
            }
            Ok(())
        })?;
        Ok(bound)
    }

    pub(super) fn acceptor(&mut self) -> io::Result<&Acceptor> {
        if self.acceptor.is_none() {
            let shards = self
                .shards
                .iter()
                .map(|s| (s.handle.clone(), Arc::clone(&s.live)))
                .collect();
            let acceptor = Acceptor::start(
                shards,
                Arc::clone(&self.gauges),
                self.config.loop_config.accept_backoff,
            )?;
            let _ = self.gauges.acceptor.set(acceptor.waker());
            self.acceptor = Some(acceptor);
        }
        Ok(self.acceptor.as_ref().expect("just started"))
    }
}

/// Deals `sockets` out to `shards` shards: shard K gets sockets K,
/// K + shards, …
pub(super) fn spread<T>(sockets: Vec<T>, shards: usize) -> Vec<Vec<T>> {
    let mut per_shard: Vec<Vec<T>> = (0..shards).map(|_| Vec::new()).collect();
    for (k, s) in sockets.into_iter().enumerate() {
        per_shard[k % shards].push(s);
    }
    per_shard
}
