//! The thread-per-core runtime: N shards, one pinned OS thread each, each
//! running its own [`EventLoop`]; an acceptor thread that only accepts and
//! hands sockets to shards over their mailboxes; or `SO_REUSEPORT`
//! listeners owned by every shard.
//!
//! Protocol instances are built *on* their shard by a `Send + Sync`
//! factory, so protocol types never need to be `Send`.

mod acceptor;
mod metrics;
mod takeover;

pub use metrics::{register_shard_metric, ShardMetric};
pub use takeover::{take_over, ControlSocket, TakenOver};

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;

use crate::error::LoopError;
use crate::protocol::Protocol;
use crate::server::{service, SendFactory};
use crate::shard::{EventLoop, LoopConfig, ShardHandle};
use crate::stats::{Gauges, RuntimeGauges};
use crate::transport::listener::ListenSocket;
use acceptor::Acceptor;

/// How accepted connections are spread over shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Distribution {
    /// The acceptor hands connections to shards in turn.
    #[default]
    RoundRobin,
    /// The acceptor hands each connection to the shard with the fewest live
    /// connections; ties go to the next shard in turn.
    LeastConnections,
    /// Every shard owns an `SO_REUSEPORT` listener; the kernel spreads
    /// connections and no acceptor runs.
    ReusePort,
}

impl std::fmt::Display for Distribution {
    /// The configuration's spelling: `round-robin`, `least-connections`,
    /// `reuseport`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Distribution::RoundRobin => "round-robin",
            Distribution::LeastConnections => "least-connections",
            Distribution::ReusePort => "reuseport",
        })
    }
}

/// Settings of a [`Runtime`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// Number of shards; [`auto_shards`] by default.
    pub shards: usize,
    /// Pin shard K to the K-th core this process may run on.
    pub pin_cores: bool,
    /// Settings of every shard's loop.
    pub loop_config: LoopConfig,
    /// Most connections alive at once over the whole runtime; 0 for no
    /// limit. At the cap the acceptor stops accepting (the kernel backlog
    /// holds the rest) and resumes as soon as a connection closes.
    /// `ReusePort` listeners accept on their shards, without the acceptor,
    /// and are not held to this cap (their connections are still counted).
    pub max_connections: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            shards: auto_shards(),
            pin_cores: true,
            loop_config: LoopConfig::default(),
            max_connections: 0,
        }
    }
}

/// The cores this process may run on (its scheduler affinity: a cgroup
/// cpuset or `taskset` narrows it).
pub fn available_cores() -> Vec<usize> {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// The listening sockets systemd passed this process (`LISTEN_FDS`, for
/// this `LISTEN_PID`), with the address each listens on; the variables are
/// cleared so children do not inherit them. Empty without socket
/// activation.
pub fn inherited_listeners() -> io::Result<Vec<(std::os::fd::OwnedFd, crate::Address)>> {
    let mut out = Vec::new();
    for raw in sd_notify::listen_fds()? {
        let fd = crate::sys::inherited_fd(raw)?;
        let addr = {
            let sock = socket2::SockRef::from(&fd);
            let local = sock.local_addr()?;
            match local.as_socket() {
                Some(a) => crate::Address::Inet(a),
                None => crate::Address::Unix(local.as_pathname().map(std::path::PathBuf::from)),
            }
        };
        out.push((fd, addr));
    }
    Ok(out)
}

/// How many shards `shards = "auto"` runs: one per core this process may
/// run on, and no more than its cgroup's CPU quota allows (`cpu.max`,
/// rounded up: a Kubernetes pod with a 2-CPU limit runs 2 shards even on a
/// 64-core node). At least 1.
pub fn auto_shards() -> usize {
    let cores = available_cores().len().max(1);
    match cgroup_cpu_quota() {
        Some(quota) => cores.min(quota.max(1)),
        None => cores,
    }
}

/// The CPU quota of this process's cgroup (v2 `cpu.max`, or v1
/// `cpu.cfs_quota_us`/`cpu.cfs_period_us`), in whole CPUs rounded up;
/// `None` when unlimited or unknown.
fn cgroup_cpu_quota() -> Option<usize> {
    let v2 = std::fs::read_to_string("/sys/fs/cgroup/cpu.max").ok();
    let (quota, period) = match v2 {
        Some(text) => {
            let mut parts = text.split_whitespace();
            let quota = parts.next()?;
            let period: f64 = parts.next()?.parse().ok()?;
            (quota.parse::<f64>().ok()?, period)
        }
        None => {
            let q = std::fs::read_to_string("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").ok()?;
            let p = std::fs::read_to_string("/sys/fs/cgroup/cpu/cpu.cfs_period_us").ok()?;
            let q: f64 = q.trim().parse().ok()?;
            if q < 0.0 {
                return None;
            }
            (q, p.trim().parse().ok()?)
        }
    };
    (period > 0.0).then(|| (quota / period).ceil() as usize)
}

struct Shard {
    handle: ShardHandle,
    core: Option<usize>,
    live: Arc<AtomicUsize>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// A running set of shards (DESIGN.md §1).
pub struct Runtime {
    shards: Vec<Shard>,
    gauges: Arc<RuntimeGauges>,
    acceptor: Option<Acceptor>,
    config: RuntimeConfig,
    next_listener: u64,
    /// The `listener` label of each listener's metrics, by id.
    listener_names: metrics::Names,
    /// Set by [`name_next_listener`](Runtime::name_next_listener).
    next_name: Option<String>,
    /// The metrics endpoint, if served: closed after the shards stop.
    metrics: Option<metrics::MetricsServer>,
    /// Set by a [`DrainCutter`]: the drain aborts what remains.
    cut: Arc<AtomicBool>,
    /// Set when a drain starts (`/ready` turns 503).
    draining: Arc<AtomicBool>,
    /// Set once listeners serve (`/ready` turns 200).
    serving: Arc<AtomicBool>,
    /// While [`hold_serving`](Runtime::hold_serving) is in force: the
    /// listeners bound so far, waiting to be served.
    held: Option<Vec<Deferred>>,
    /// Unix socket files this runtime's listeners created, removed at
    /// shutdown.
    unix_paths: Vec<std::path::PathBuf>,
    /// The Unix listeners' socket files, by listener id.
    unix_listeners: Vec<(u64, std::path::PathBuf)>,
}

/// Serving a listener whose sockets are bound: hand them to the acceptor or
/// to the shards.
type Deferred = Box<dyn FnOnce(&mut Runtime) -> io::Result<()> + Send>;

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("shards", &self.shards.len())
            .field("live", &self.live_connections())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Starts `config.shards` shard threads, named `shard-K`, each pinned
    /// to its core when `pin_cores` is set, each running its loop.
    pub fn start(config: RuntimeConfig) -> io::Result<Self> {
        if config.shards == 0 {
            return Err(LoopError::InvalidSetting("shards must be at least 1".into()).into());
        }
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let gauges = Arc::new(RuntimeGauges {
            cap: config.max_connections,
            ..RuntimeGauges::default()
        });
        let mut shards = Vec::with_capacity(config.shards);
        for k in 0..config.shards {
            let core = if config.pin_cores && !cores.is_empty() {
                Some(cores[k % cores.len()])
            } else {
                None
            };
            let (tx, rx) = bounded(1);
            let loop_config = config.loop_config.clone();
            let thread = std::thread::Builder::new()
                .name(format!("shard-{k}"))
                .spawn(move || {
                    let pinned = core.map(core_affinity::set_for_current);
                    let setup = EventLoop::with_config(loop_config)
                        .and_then(|mut lp| lp.shard_handle().map(|h| (lp, h)));
                    match setup {
                        Ok((mut lp, h)) => {
                            let _ = tx.send(Ok(h));
                            match core {
                                Some(c) if pinned == Some(true) => {
                                    tracing::info!(shard = k, core = c.id, "shard running, pinned")
                                }
                                Some(c) => tracing::warn!(
                                    shard = k,
                                    core = c.id,
                                    "shard running, could not be pinned"
                                ),
                                None => tracing::info!(shard = k, "shard running, not pinned"),
                            }
                            lp.run_forever()
                        }
                        Err(e) => {
                            let _ = tx.send(Err(io::Error::from(LoopError::ShardStart {
                                shard: k,
                                source: io::Error::new(e.kind(), e.to_string()),
                            })));
                            Err(e)
                        }
                    }
                })?;
            let handle = rx
                .recv()
                .map_err(|_| io::Error::from(LoopError::ShardPanicked(k)))??;
            shards.push(Shard {
                handle,
                core: core.map(|c| c.id),
                live: Arc::new(AtomicUsize::new(0)),
                thread: Some(thread),
            });
        }
        // Every shard learns its index and its peers before anything is
        // served (its mailbox is FIFO): cross-shard calls need them.
        let peers: Arc<[ShardHandle]> = shards.iter().map(|s| s.handle.clone()).collect();
        for (k, s) in shards.iter().enumerate() {
            let peers = Arc::clone(&peers);
            s.handle
                .submit(move |lp| lp.join_runtime(k, peers))
                .map_err(|_| io::Error::from(LoopError::ShardPanicked(k)))?;
        }
        Ok(Self {
            shards,
            gauges,
            acceptor: None,
            config,
            next_listener: 0,
            listener_names: metrics::Names::default(),
            next_name: None,
            metrics: None,
            cut: Arc::new(AtomicBool::new(false)),
            draining: Arc::new(AtomicBool::new(false)),
            serving: Arc::new(AtomicBool::new(false)),
            held: None,
            unix_paths: Vec::new(),
            unix_listeners: Vec::new(),
        })
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The handle of shard `k`: runs closures on it from any thread.
    pub fn shard(&self, k: usize) -> &ShardHandle {
        &self.shards[k].handle
    }

    /// The core each shard is pinned to (`None` when not pinned).
    pub fn shard_cores(&self) -> Vec<Option<usize>> {
        self.shards.iter().map(|s| s.core).collect()
    }

    /// Live connections per shard, as the shards publish them.
    pub fn live_connections(&self) -> Vec<usize> {
        self.shards
            .iter()
            .map(|s| s.live.load(Ordering::Acquire))
            .collect()
    }

    /// Runs `f` on every shard (blocking while a mailbox is full).
    pub fn broadcast(&self, f: impl Fn(&mut EventLoop) + Send + Sync + 'static) {
        let f = Arc::new(f);
        for s in &self.shards {
            let f = Arc::clone(&f);
            let _ = s.handle.submit(move |lp| f(lp));
        }
    }

    /// From now on, `listen*` calls bind their sockets (and report binding
    /// errors) but serve nothing until [`serve_held`](Self::serve_held):
    /// a server binds every listener before it serves any, so a bind error
    /// stops it before a single connection was accepted. Connections that
    /// arrive meanwhile wait in the kernel's backlog.
    pub fn hold_serving(&mut self) {
        self.held.get_or_insert_with(Vec::new);
    }

    /// Starts serving every listener bound since
    /// [`hold_serving`](Self::hold_serving), in order; later `listen*`
    /// calls serve at once again.
    pub fn serve_held(&mut self) -> io::Result<()> {
        for serve in self.held.take().unwrap_or_default() {
            serve(self)?;
        }
        self.serving.store(true, Ordering::Release);
        Ok(())
    }

    /// Serves a bound listener now, or keeps it for `serve_held`.
    fn serve_or_hold(
        &mut self,
        serve: impl FnOnce(&mut Runtime) -> io::Result<()> + Send + 'static,
    ) -> io::Result<()> {
        match self.held.as_mut() {
            Some(held) => {
                held.push(Box::new(serve));
                Ok(())
            }
            None => {
                serve(self)?;
                self.serving.store(true, Ordering::Release);
                Ok(())
            }
        }
    }

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
            Distribution::ReusePort => self.listen_reuseport(addr, backlog, factory),
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

    /// Serves a listening socket this process inherited (systemd socket
    /// activation: see [`inherited_listeners`]) through the acceptor, as
    /// [`listen`](Self::listen) does with one it binds; `tls` runs the
    /// handshake first when given. Returns the socket's address.
    pub fn listen_inherited<P, F>(
        &mut self,
        fd: std::os::fd::OwnedFd,
        distribution: Distribution,
        tls: Option<crate::tls::TlsServerConfig>,
        factory: F,
    ) -> io::Result<String>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let socket = ListenSocket::from_fd(fd)?;
        let bound = socket.local_addr()?.to_string();
        let distribution = match distribution {
            // One socket: the acceptor spreads it.
            Distribution::ReusePort => Distribution::RoundRobin,
            d => d,
        };
        let id = self.new_listener(|| bound.clone());
        let factory = service(factory, tls);
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

    /// Serves UDP on `addr`: every shard binds its own `SO_REUSEPORT`
    /// socket on it, so the kernel spreads flows over the shards, and runs
    /// one protocol instance from `factory` for its socket. Returns the
    /// bound address (port 0 resolved). The sockets keep the kernel's
    /// default buffer sizes; [`listen_udp_with`](Self::listen_udp_with)
    /// sets them.
    pub fn listen_udp<P, F>(&mut self, addr: SocketAddr, factory: F) -> io::Result<SocketAddr>
    where
        P: crate::DatagramProtocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.listen_udp_with(addr, crate::DatagramOptions::default(), factory)
    }

    /// As [`listen_udp`](Self::listen_udp), with `options` for every
    /// shard's socket (`reuse_port` is always set): e.g. `recv_buffer` and
    /// `send_buffer`, so bursts of large datagrams are not dropped. The
    /// sizes the kernel granted are logged.
    pub fn listen_udp_with<P, F>(
        &mut self,
        addr: SocketAddr,
        mut options: crate::DatagramOptions,
        factory: F,
    ) -> io::Result<SocketAddr>
    where
        P: crate::DatagramProtocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        options.reuse_port = true;
        // UDP endpoints have no per-listener metrics: a pending name is
        // this listener's, not the next one's.
        self.next_name = None;
        let mut bound = addr;
        let mut sockets = Vec::with_capacity(self.shards.len());
        for _ in &self.shards {
            let socket = crate::shard::bind_udp(bound, &options)?;
            bound = socket.local_addr()?;
            sockets.push(socket);
        }
        if options.recv_buffer.is_some() || options.send_buffer.is_some() {
            if let Some(s) = sockets.first() {
                let s = socket2::SockRef::from(s);
                tracing::info!(
                    address = %bound,
                    recv_buffer = s.recv_buffer_size().unwrap_or(0),
                    send_buffer = s.send_buffer_size().unwrap_or(0),
                    "UDP socket buffers granted by the kernel (bytes; Linux counts its bookkeeping, doubling what was asked, and caps at net.core.rmem_max/wmem_max)"
                );
            }
        }
        let factory = Arc::new(factory);
        self.serve_or_hold(move |rt| {
            for (shard, socket) in rt.shards.iter().zip(sockets) {
                let factory = Arc::clone(&factory);
                shard
                    .handle
                    .submit(move |lp| {
                        if let Err(e) = lp.adopt_udp(socket, None, || factory()) {
                            tracing::error!(error = %e, "shard cannot serve its UDP socket");
                        }
                    })
                    .map_err(|_| io::Error::from(LoopError::Gone("a shard".into())))?;
            }
            Ok(())
        })?;
        Ok(bound)
    }

    fn listen_reuseport(
        &mut self,
        addr: SocketAddr,
        backlog: u32,
        factory: SendFactory,
    ) -> io::Result<SocketAddr> {
        let mut bound = addr;
        let mut sockets = Vec::with_capacity(self.shards.len());
        for _ in &self.shards {
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
        self.serve_or_hold(move |rt| {
            for (shard, socket) in rt.shards.iter().zip(sockets) {
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
                        if let Err(e) = lp.serve_shared(socket, factory, gauges, id) {
                            tracing::error!(error = %e, "shard cannot serve its reuseport listener");
                        }
                    })
                    .map_err(|_| io::Error::from(LoopError::Gone("a shard".into())))?;
            }
            Ok(())
        })?;
        Ok(bound)
    }

    fn acceptor(&mut self) -> io::Result<&Acceptor> {
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

    /// A `Send + Clone` handle that cuts a drain short from another thread
    /// (a second SIGTERM): see [`DrainCutter::cut`].
    pub fn drain_cutter(&self) -> DrainCutter {
        DrainCutter(Arc::clone(&self.cut))
    }

    /// Graceful shutdown: stop accepting and close every listener; `close()`
    /// every connection so queued data is flushed — after delivering the
    /// input it already received, and for a connection that has not sent
    /// its first byte yet, once it has or after a second (its request may
    /// be racing the drain: see [`EventLoop::drain_connections`]); wait until every
    /// connection has finished — its lingering close (T3) included, so a
    /// slow reader gets every byte and a clean FIN — or until `drain`
    /// passes (or [`DrainCutter::cut`] is called); abort what remains, stop
    /// the shards and join them. Logs at the start how many connections it
    /// waits for, and at the end how many it aborted.
    pub fn shutdown(self, drain: Duration) -> io::Result<DrainReport> {
        self.shutdown_after(Duration::ZERO, drain)
    }

    /// [`shutdown`](Self::shutdown) after a grace period: `/ready` turns
    /// 503 at once, the listeners keep accepting for `delay` (so load
    /// balancers that probe `/ready` stop sending before anything is
    /// refused), then the drain runs as in `shutdown`. A
    /// [`DrainCutter::cut`] ends the delay too.
    pub fn shutdown_after(mut self, delay: Duration, drain: Duration) -> io::Result<DrainReport> {
        self.draining.store(true, Ordering::Release);
        if !delay.is_zero() {
            tracing::info!(
                drain_delay = %humantime::format_duration(delay),
                "not ready any more; accepting until the delay ends"
            );
            let until = crate::shard::after(delay);
            while Instant::now() < until && !self.cut.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(10).min(until - Instant::now()));
            }
        }
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.stop();
        }
        let deadline = crate::shard::after(drain);
        let (tx, rx) = crossbeam_channel::unbounded();
        let cut = Arc::clone(&self.cut);
        let aborted = Arc::new(AtomicUsize::new(0));
        let shard_aborted = Arc::clone(&aborted);
        self.broadcast(move |lp| {
            lp.close_all_listeners();
            let silent_until = crate::shard::after(SILENT_GRACE).min(deadline);
            let _ = tx.send(lp.open_connections());
            drain_then_stop(
                lp,
                deadline,
                silent_until,
                Arc::clone(&cut),
                Arc::clone(&shard_aborted),
            );
        });
        let mut waited = 0;
        for _ in &self.shards {
            match rx.recv_timeout(drain.max(Duration::from_secs(1))) {
                Ok(n) => waited += n,
                Err(_) => break,
            }
        }
        tracing::info!(
            connections = waited,
            drain_timeout = %humantime::format_duration(drain),
            "drain started: waiting for the connections to finish"
        );
        let mut first_err = None;
        for (k, s) in self.shards.iter_mut().enumerate() {
            if let Some(t) = s.thread.take() {
                match t.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => first_err = first_err.or(Some(e)),
                    Err(_) => {
                        first_err = first_err.or(Some(io::Error::from(LoopError::ShardPanicked(k))))
                    }
                }
            }
        }
        self.remove_unix_files();
        if let Some(m) = self.metrics.take() {
            m.stop();
        }
        let report = DrainReport {
            waited,
            aborted: aborted.load(Ordering::Acquire),
            cut: self.cut.load(Ordering::Acquire),
        };
        tracing::info!(
            waited = report.waited,
            aborted = report.aborted,
            cut_short = report.cut,
            "drain finished"
        );
        first_err.map_or(Ok(report), Err)
    }
}

/// What a graceful [`Runtime::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainReport {
    /// Connections open when the drain started (lingering ones included).
    pub waited: usize,
    /// Connections still open at the deadline, or when the drain was cut
    /// short, and aborted then.
    pub aborted: usize,
    /// Whether [`DrainCutter::cut`] ended the drain before its deadline.
    pub cut: bool,
}

/// Cuts a running drain short, from any thread: every shard aborts what is
/// still open within one drain poll (10 ms) and stops.
#[derive(Debug, Clone)]
pub struct DrainCutter(Arc<AtomicBool>);

impl DrainCutter {
    /// Ends the drain now: what is still open is aborted and counted in
    /// [`DrainReport::aborted`]. Before a drain starts, makes the next one
    /// abort at once.
    pub fn cut(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Stops the loop once it holds no connection any more (lingering ones
/// included), or aborts what remains at `deadline` or when the drain is cut,
/// and stops right after.
/// How long a drain leaves open a connection that has not sent its first
/// byte (see [`EventLoop::drain_connections`]).
const SILENT_GRACE: Duration = Duration::from_secs(1);

/// Every 10 ms until the shard's connections are gone: close those that
/// have spoken since (the silent ones too once `silent_until` passes);
/// at `deadline` (or a cut) abort the rest; then stop the loop.
fn drain_then_stop(
    lp: &mut EventLoop,
    deadline: Instant,
    silent_until: Instant,
    cut: Arc<AtomicBool>,
    aborted: Arc<AtomicUsize>,
) {
    let now = Instant::now();
    lp.drain_connections(now >= silent_until);
    if lp.open_connections() == 0 {
        lp.stop();
    } else if now >= deadline || cut.load(Ordering::Acquire) {
        aborted.fetch_add(lp.abort_all(), Ordering::AcqRel);
        lp.call_soon(|lp| lp.stop());
    } else {
        lp.call_later(Duration::from_millis(10), move |lp| {
            drain_then_stop(lp, deadline, silent_until, cut, aborted)
        });
    }
}

impl Runtime {
    /// Removes the socket files of this runtime's Unix listeners (once
    /// their sockets are closed), so the next start finds no stale file.
    fn remove_unix_files(&mut self) {
        for path in self.unix_paths.drain(..) {
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove the Unix socket file");
                }
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.stop();
        }
        self.remove_unix_files();
        if let Some(m) = self.metrics.take() {
            m.stop();
        }
        for s in &mut self.shards {
            if let Some(t) = s.thread.take() {
                let _ = s.handle.submit(|lp| lp.stop());
                let _ = t.join();
            }
        }
    }
}
