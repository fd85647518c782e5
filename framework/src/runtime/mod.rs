//! The thread-per-core runtime: N shards, one pinned OS thread each, each
//! running its own [`EventLoop`]; an acceptor thread that only accepts and
//! hands sockets to shards over their mailboxes; or `SO_REUSEPORT`
//! listeners owned by every shard.
//!
//! Protocol instances are built *on* their shard by a `Send + Sync`
//! factory, so protocol types never need to be `Send`.

mod acceptor;
mod admin;
mod cores;
mod listen;
mod listen_udp;
mod metrics;
mod shutdown;
mod takeover;

pub use cores::{auto_shards, available_cores, inherited_listeners};
pub use metrics::{register_shard_metric, ShardMetric};
pub use shutdown::{DrainCutter, DrainReport};
pub use takeover::{take_over, ControlSocket, TakenOver};

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::bounded;

use crate::error::LoopError;
use crate::shard::{EventLoop, LoopConfig, ShardHandle};
use crate::stats::RuntimeGauges;
use acceptor::Acceptor;

/// How accepted connections are spread over shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
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

struct Shard {
    handle: ShardHandle,
    core: Option<usize>,
    live: Arc<AtomicUsize>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// A running set of shards (the crate docs' *The shape*).
pub struct Runtime {
    shards: Vec<Shard>,
    gauges: Arc<RuntimeGauges>,
    acceptor: Option<Acceptor>,
    config: RuntimeConfig,
    next_listener: u64,
    /// The `listener` label of each listener's metrics, by id.
    listener_names: metrics::Names,
    /// The `reuseport` and UDP listeners' sockets, for a takeover.
    shard_sockets: takeover::ShardSocketList,
    /// Set by [`name_next_listener`](Runtime::name_next_listener).
    next_name: Option<String>,
    /// The metrics endpoint, if served: closed after the shards stop.
    metrics: Option<admin::AdminServer>,
    /// Set by a [`DrainCutter`]: the drain aborts what remains.
    cut: Arc<AtomicBool>,
    /// Set when a drain starts (`/ready` turns 503).
    draining: Arc<AtomicBool>,
    /// Set once listeners serve (`/ready` turns 200).
    serving: Arc<AtomicBool>,
    /// While [`hold_serving`](Runtime::hold_serving) is in force: the
    /// listeners bound so far, waiting to be served.
    held: Option<Vec<(bool, Deferred)>>,
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
            shard_sockets: takeover::ShardSocketList::default(),
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
        let held = self.held.take().unwrap_or_default();
        let (last, first): (Vec<_>, Vec<_>) = held.into_iter().partition(|(last, _)| *last);
        for (_, serve) in first {
            serve(self)?;
        }
        self.serving.store(true, Ordering::Release);
        // The metrics endpoint once every listener serves: its first
        // `/ready` is 200, which matters in a takeover, where it shares its
        // socket with the old server's endpoint (ready too).
        for (_, serve) in last {
            serve(self)?;
        }
        Ok(())
    }

    /// Serves a bound listener now, or keeps it for `serve_held`.
    fn serve_or_hold(
        &mut self,
        serve: impl FnOnce(&mut Runtime) -> io::Result<()> + Send + 'static,
    ) -> io::Result<()> {
        self.serve_or_hold_in_turn(false, serve)
    }

    /// As `serve_or_hold`; `last`: when held, served after the listeners
    /// (the metrics endpoint).
    fn serve_or_hold_in_turn(
        &mut self,
        last: bool,
        serve: impl FnOnce(&mut Runtime) -> io::Result<()> + Send + 'static,
    ) -> io::Result<()> {
        match self.held.as_mut() {
            Some(held) => {
                held.push((last, Box::new(serve)));
                Ok(())
            }
            None => {
                serve(self)?;
                self.serving.store(true, Ordering::Release);
                Ok(())
            }
        }
    }
}
