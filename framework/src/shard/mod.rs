//! The single-threaded event loop of one shard, on `mio`.
//!
//! One [`EventLoop`] owns, outright: a `mio::Poll`, a generation-checked
//! slab of entries (connections, listeners, connections in progress), one
//! read buffer shared by every connection, and the shard's callbacks and
//! timers. Nothing in it is `Send`: the compiler keeps it on its thread.
//!
//! One iteration: deliver what the previous iteration deferred
//! (`connection_lost`, resumed reads), run the callbacks that were ready,
//! poll, dispatch readiness events, move due timers to the ready queue.

mod accept;
mod clock;
mod config;
mod connect;
mod connection;
mod cross;
mod datagram;
mod mailbox;
mod ready;
mod scheduler;
mod subprocess;
mod tasks;
mod tls;
mod watch;

use std::collections::HashMap;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use mio::{Poll, Registry, Token};
use ready::Ready;
use slotmap::{new_key_type, Key, KeyData, SlotMap};
use std::os::fd::AsRawFd as _;

pub use clock::Clock;
pub use config::LoopConfig;
pub(crate) use datagram::bind_udp;
pub use datagram::DatagramOptions;
pub use mailbox::{ShardHandle, SubmitError, Task, MAILBOX_CAPACITY};
pub(crate) use scheduler::after;
pub use scheduler::{Handle, LoopHandle};
pub use subprocess::SubprocessPipes;
pub(crate) use tasks::with_current_loop;
pub use tasks::{Elapsed, JoinHandle, Sleep, TaskError, TASK_BUDGET};

use crate::protocol::Protocol;
use crate::server::{Server, ServerShared};
use crate::stats::{ListenerStats, ShardStats};
use crate::transport::flow::resolve_limits;
use crate::transport::lifecycle::{linger_goes_on, IdleWatch, LingerMark};
use crate::transport::Transport;
use accept::Listener;
use connect::Connecting;
use connection::{Connection, Ctx, Next};
use mailbox::{Mailbox, WAKER_TOKEN};
use std::rc::Rc;

/// Idle sweeps per idle timeout (see [`IdleWatch`]).
const IDLE_SWEEPS_PER_TIMEOUT: u32 = IdleWatch::SWEEPS;

new_key_type! {
    /// Slab key of a loop entry; its generation makes stale keys miss.
    pub(crate) struct EntryKey;
}

#[inline]
pub(crate) fn token_of(key: EntryKey) -> Token {
    Token(key.data().as_ffi() as usize)
}

#[inline]
fn key_of(token: Token) -> EntryKey {
    KeyData::from_ffi(token.0 as u64).into()
}

/// Identifies one connection of a loop. Generation-checked: once the
/// connection is gone the handle matches nothing, even when its slot is
/// reused by a newer connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionHandle(pub(crate) EntryKey);

pub(crate) enum Entry {
    Conn(Connection),
    /// Boxed: endpoints are few (one per shard for a UDP service), and
    /// connections should not pay for their larger send queue.
    Dgram(Box<datagram::DgramConn>),
    Listener(Listener),
    Connecting(Connecting),
    /// `add_reader`/`add_writer` callbacks of one descriptor.
    Watcher(watch::Watcher),
    /// A child process, its pipes and its protocol; its token is its pidfd.
    Process(Box<subprocess::ProcessConn>),
    /// The token of pipe `fd` of a child process.
    ProcPipe {
        process: EntryKey,
        fd: usize,
    },
}

/// Everything but the poller, so event dispatch can borrow it mutably while
/// iterating the poller's events.
pub(crate) struct Core {
    entries: SlotMap<EntryKey, Entry>,
    read_buf: Box<[u8]>,
    deferred: Vec<EntryKey>,
    /// The batch `run_deferred` works through (empty between calls unless
    /// a panic cut it short); its allocation is reused.
    spare: Vec<EntryKey>,
    handle: LoopHandle,
    config: LoopConfig,
    /// `recvmmsg`/`sendmmsg` buffers, made with the first UDP endpoint.
    udp_batch: Option<crate::sys::UdpBatch>,
    /// The entry being handled (null between events), so a panic can be
    /// pinned on it.
    current: EntryKey,
}

/// The event loop of one shard (asyncio's event loop, L1–L2).
///
/// Runs callbacks (`call_soon`, `call_later`, `call_at`), servers
/// (`create_server`, `create_unix_server`) and client connections
/// (`create_connection`…), each connection driving one
/// [`Protocol`] instance. Everything it owns stays on its thread.
pub struct EventLoop {
    poll: Poll,
    /// The last poll's events: `events[..n_events]`.
    events: Vec<libc::epoll_event>,
    n_events: usize,
    core: Core,
    running: bool,
    /// Created by the first `shard_handle()`: cross-thread calls.
    mailbox: Option<Mailbox>,
    /// Connection groups of runtime listeners, by listener id.
    runtime_groups: HashMap<u64, Rc<ServerShared>>,
    /// This shard's own `reuseport` servers, by listener id.
    runtime_servers: HashMap<u64, Server>,
    /// `add_reader`/`add_writer` watchers, by descriptor.
    watchers: HashMap<std::os::fd::RawFd, EntryKey>,
    /// Dispatching the events of a poll: a panic in the middle leaves the
    /// rest to dispatch (`redispatch_from`).
    dispatching: bool,
    /// The event being dispatched (what a panic interrupted).
    dispatch_pos: usize,
    /// A panic interrupted the dispatch: the events from here on are
    /// still to be dispatched.
    redispatch_from: Option<usize>,
    /// The mailbox's waker was among the events being dispatched.
    woken: bool,
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("entries", &self.core.entries.len())
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}

impl EventLoop {
    /// A loop with the default [`LoopConfig`].
    pub fn new() -> io::Result<Self> {
        Self::with_config(LoopConfig::default())
    }

    /// A loop with `config`; invalid write-buffer limits (low above high)
    /// are an `InvalidInput` error.
    pub fn with_config(config: LoopConfig) -> io::Result<Self> {
        resolve_limits(
            Some(config.write_buffer_high),
            Some(config.write_buffer_low),
        )
        .map_err(|e| io::Error::from(crate::LoopError::InvalidSetting(e.to_string())))?;
        let idle = config.idle_timeout.filter(|t| !t.is_zero());
        let mut lp = Self {
            poll: Poll::new()?,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; config.events_capacity.max(1)],
            n_events: 0,
            core: Core {
                entries: SlotMap::with_key(),
                read_buf: vec![0; config.read_buffer_size.max(1)].into_boxed_slice(),
                deferred: Vec::new(),
                spare: Vec::new(),
                handle: LoopHandle::new(config.clock.clone()),
                config,
                udp_batch: None,
                current: EntryKey::null(),
            },
            running: false,
            mailbox: None,
            runtime_groups: HashMap::new(),
            runtime_servers: HashMap::new(),
            watchers: HashMap::new(),
            dispatching: false,
            dispatch_pos: 0,
            redispatch_from: None,
            woken: false,
        };
        if let Some(timeout) = idle {
            let period = (timeout / IDLE_SWEEPS_PER_TIMEOUT).max(Duration::from_millis(1));
            lp.call_later(period, move |lp| lp.sweep_idle(period));
        }
        // The mailbox: other threads' calls, and wakers of its tasks.
        lp.shard_handle()?;
        Ok(lp)
    }

    /// Fails every connection whose byte counts have not moved for
    /// `IDLE_SWEEPS_PER_TIMEOUT` sweeps; then schedules the next sweep.
    fn sweep_idle(&mut self, period: Duration) {
        let mut idle = Vec::new();
        for (key, entry) in self.core.entries.iter_mut() {
            let Entry::Conn(c) = entry else { continue };
            let t = &mut c.transport;
            if !t.life.is_live() {
                continue;
            }
            if t.idle.sweep(t.bytes_in + t.bytes_out) {
                idle.push(key);
            }
        }
        for key in idle {
            self.with_transport(ConnectionHandle(key), |t| {
                t.fail(io::Error::new(io::ErrorKind::TimedOut, "idle timeout"))
            });
        }
        self.call_later(period, move |lp| lp.sweep_idle(period));
    }

    /// Sets the write-buffer marks of the connections this loop makes
    /// from now on (existing ones keep theirs). The caller checked that
    /// `low <= high`.
    pub(crate) fn set_default_write_buffer_limits(&mut self, high: usize, low: usize) {
        self.core.config.write_buffer_high = high;
        self.core.config.write_buffer_low = low;
    }

    /// The loop's settings.
    pub fn config(&self) -> &LoopConfig {
        &self.core.config
    }

    /// A clonable handle for scheduling from places that cannot borrow the
    /// loop (protocol callbacks reach it as `transport.get_loop()`).
    pub fn handle(&self) -> &LoopHandle {
        &self.core.handle
    }

    /// Runs `f` on the next iteration (L1); see [`LoopHandle::call_soon`].
    pub fn call_soon(&self, f: impl FnOnce(&mut EventLoop) + 'static) -> Handle {
        self.core.handle.call_soon(f)
    }

    /// Runs `f` after `delay` (L1); the [`Handle`] cancels it.
    pub fn call_later(&self, delay: Duration, f: impl FnOnce(&mut EventLoop) + 'static) -> Handle {
        self.core.handle.call_later(delay, f)
    }

    /// Runs `f` at `when` (L1); the [`Handle`] cancels it.
    pub fn call_at(&self, when: Instant, f: impl FnOnce(&mut EventLoop) + 'static) -> Handle {
        self.core.handle.call_at(when, f)
    }

    /// Makes `run_forever` (or `run_until`) return after the current
    /// iteration. Called before the loop runs, the next run does one
    /// iteration and returns, as in asyncio.
    pub fn stop(&self) {
        self.core.handle.stop();
    }

    /// Runs until [`stop`](Self::stop) is called (L1).
    pub fn run_forever(&mut self) -> io::Result<()> {
        self.run_until(|_| false)
    }

    /// Runs until `done` returns true (checked before every iteration) or
    /// the loop is stopped: the way a client program runs until its work is
    /// done. Calling it from inside a callback of the same loop is an error,
    /// as asyncio's "This event loop is already running".
    pub fn run_until(&mut self, mut done: impl FnMut(&mut EventLoop) -> bool) -> io::Result<()> {
        if self.running {
            return Err(crate::LoopError::AlreadyRunning.into());
        }
        self.running = true;
        let result = loop {
            // A panic outside the protocol callbacks (which are guarded one
            // by one) — a protocol's `Drop`, a bug of ours — costs the
            // entry it concerns, never the loop (or the shard thread). One
            // guard for the whole run: nothing per iteration.
            let run = panic::catch_unwind(AssertUnwindSafe(|| loop {
                if let Some(end) = self.iterate(&mut done) {
                    break end;
                }
            }));
            match run {
                Ok(end) => break end,
                Err(payload) => self.recover(&*payload),
            }
        };
        self.running = false;
        result
    }

    /// One iteration; `Some` when the run is over.
    fn iterate(&mut self, done: &mut impl FnMut(&mut EventLoop) -> bool) -> Option<io::Result<()>> {
        if let Some(from) = self.redispatch_from.take() {
            self.dispatch_from(from);
        }
        if done(self) {
            return Some(Ok(()));
        }
        self.core.run_deferred(self.poll.registry());
        self.run_ready();
        self.run_tasks();
        self.flush_outbox();
        // Deferred work and callbacks may have finished the job: check
        // again before the poll that could block for ever.
        if done(self) {
            return Some(Ok(()));
        }
        match self.poll_once() {
            Ok(true) => Some(Ok(())),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// After a caught panic: the entry being handled, if any, fails (a
    /// connection gets `connection_lost` with the error); the events of the
    /// last poll after it are dispatched (they are edge-triggered: none may
    /// be lost); the loop goes on.
    #[cold]
    fn recover(&mut self, payload: &(dyn std::any::Any + Send)) {
        let msg = panic_text(payload);
        let key = std::mem::take(&mut self.core.current);
        tracing::error!(panic = %msg, "panic in the loop; failing the connection it concerned");
        if key.is_null() {
            return;
        }
        self.with_transport(ConnectionHandle(key), |t| {
            t.fail(io::Error::other(format!("panic in the loop: {msg}")))
        });
        if self.dispatching {
            // The events after it are dispatched at the start of the next
            // iteration, under the guard again (edge-triggered: none may
            // be lost, and another may panic too).
            self.dispatching = false;
            self.redispatch_from = Some(self.dispatch_pos + 1);
        }
    }

    /// Polls (without blocking when work is pending), dispatches the events
    /// and moves due timers to the ready queue. Returns whether `stop` was
    /// asked for. Inlined into the loop's iteration, with the dispatch
    /// inlined in it: the per-event path is one tight loop.
    #[inline(always)]
    fn poll_once(&mut self) -> io::Result<bool> {
        let timeout = if !self.core.deferred.is_empty()
            || !self.core.spare.is_empty()
            || tasks::tasks_ready()
        {
            Some(Duration::ZERO)
        } else if cross::outbox_pending() {
            // Cross-shard batches a full mailbox refused: retry soon.
            Some(Duration::from_millis(1))
        } else {
            self.core.handle.sched.poll_timeout()
        };
        // Milliseconds, rounded up (as mio does: a sub-millisecond timer
        // must not become a busy zero timeout); -1 waits for ever.
        let timeout_ms = timeout.map_or(-1, |to| {
            i32::try_from(
                to.checked_add(Duration::from_nanos(999_999))
                    .unwrap_or(to)
                    .as_millis(),
            )
            .unwrap_or(i32::MAX)
        });
        self.n_events = 0;
        match crate::sys::epoll_wait(self.poll.as_raw_fd(), &mut self.events, timeout_ms) {
            Ok(n) => self.n_events = n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        self.woken = false;
        self.dispatch_from(0);
        Ok(self.core.handle.sched.take_stop())
    }

    /// Dispatches the last poll's events from `start` on, then runs the
    /// mailbox if woken and moves due timers. A panic in a protocol
    /// callback unwinds out of here to the run's guard; [`recover`]
    /// (Self::recover) fails that connection and the next iteration comes
    /// back here for the events after it.
    #[inline(always)]
    fn dispatch_from(&mut self, start: usize) {
        let registry = self.poll.registry();
        self.dispatching = true;
        for i in start..self.n_events {
            self.dispatch_pos = i;
            let ev = Ready::from_epoll(&self.events[i]);
            if ev.token() == WAKER_TOKEN {
                self.woken = true;
            } else {
                self.core.dispatch(registry, &ev);
            }
        }
        self.dispatching = false;
        self.core.current = EntryKey::null();
        if std::mem::take(&mut self.woken) {
            self.run_mailbox();
        }
        self.core.handle.sched.collect_due_now();
    }

    /// A `Send + Clone` handle that runs closures on this loop from any
    /// thread (asyncio's `call_soon_threadsafe`). The first call sets up the
    /// mailbox and its waker.
    pub fn shard_handle(&mut self) -> io::Result<ShardHandle> {
        if self.mailbox.is_none() {
            let mailbox = Mailbox::new(self.poll.registry())?;
            let _ = self.core.handle.sched.shard.set(mailbox.handle().clone());
            self.mailbox = Some(mailbox);
        }
        Ok(self
            .mailbox
            .as_ref()
            .map(|m| m.handle().clone())
            .expect("just set"))
    }

    /// Runs the closures other threads queued before this wake-up.
    fn run_mailbox(&mut self) {
        let queued = self.mailbox.as_ref().map_or(0, Mailbox::arm);
        for _ in 0..queued {
            let Some(task) = self.mailbox.as_ref().and_then(Mailbox::try_recv) else {
                break;
            };
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| task(self))) {
                tracing::error!(panic = %panic_text(&*payload), "cross-shard call panicked");
            }
        }
    }

    /// Runs the callbacks ready at the start of this step; those they
    /// schedule wait for the next iteration. A panicking callback is logged
    /// and the loop goes on.
    fn run_ready(&mut self) {
        for _ in 0..self.core.handle.sched.ready_len() {
            let Some(entry) = self.core.handle.sched.pop_ready() else {
                break;
            };
            let Some(f) = entry else { continue }; // cancelled
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| f(self))) {
                tracing::error!(panic = %panic_text(&*payload), "loop callback panicked");
            }
        }
    }

    /// A snapshot of this loop's counters.
    pub fn stats(&self) -> ShardStats {
        // The cells hold the bytes of lost connections; live ones keep
        // their own count until then.
        let mut s = self.core.handle.sched.stats.snapshot();
        for entry in self.core.entries.values() {
            if let Entry::Conn(c) = entry {
                if !c.transport.life.is_lost() {
                    s.bytes_in += c.transport.bytes_in;
                    s.bytes_out += c.transport.bytes_out;
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
                stats.add_bytes(c.transport.bytes_in, c.transport.bytes_out);
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
            .retain(|_, e| !matches!(e, Entry::Conn(c) if c.transport.life.is_lost()));
        cut
    }

    /// One step of a graceful drain, what `Runtime::shutdown` runs on
    /// every shard until its connections are gone. Every open connection
    /// that has received input — or every open one, once `close_silent` —
    /// first reads and delivers what the kernel already holds for it (so a
    /// request that arrived before the drain is answered, not discarded by
    /// the lingering close), then is `close()`d (T3: its queue flushed, a
    /// FIN, then input discarded until the peer closes). A connection that
    /// has not received its first byte is left open until `close_silent`:
    /// its client may have connected just before the listeners closed and
    /// be sending its request now (Go's `http.Server.Shutdown` treats new
    /// connections the same way). Returns how many were left open.
    pub fn drain_connections(&mut self, close_silent: bool) -> usize {
        let mut silent = 0;
        let keys: Vec<EntryKey> = self
            .core
            .entries
            .iter()
            .filter_map(|(k, e)| match e {
                Entry::Conn(c) if c.transport.life.is_open() => {
                    let spoken = c.transport.bytes_in > 0 && c.is_made();
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
            let Some(Entry::Conn(conn)) = core.entries.get_mut(key) else {
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
            if conn.transport.life.is_open() {
                conn.transport.close();
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
            .filter(|(_, e)| matches!(e, Entry::Conn(c) if !c.transport.life.is_lost()))
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
            Some(Entry::Dgram(d)) => !d.transport.life.is_lost(),
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
        let Some(Entry::Conn(conn)) = core.entries.get_mut(handle.0) else {
            return None;
        };
        if conn.transport.life.is_lost() {
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

/// The message of a caught panic.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

impl Core {
    fn ctx<'a>(
        registry: &'a Registry,
        read_buf: &'a mut [u8],
        deferred: &'a mut Vec<EntryKey>,
    ) -> Ctx<'a> {
        Ctx {
            registry,
            read_buf,
            deferred,
        }
    }

    #[inline(always)]
    fn dispatch(&mut self, registry: &Registry, ev: &Ready) {
        let key = key_of(ev.token());
        self.current = key;
        match self.entries.get_mut(key) {
            Some(Entry::Conn(conn)) => {
                let mut ctx = Self::ctx(registry, &mut self.read_buf, &mut self.deferred);
                if conn.on_event(&mut ctx, ev) == Next::Remove {
                    self.entries.remove(key);
                }
            }
            Some(Entry::Dgram(d)) => {
                if let Some(batch) = self.udp_batch.as_mut() {
                    d.on_event(registry, batch, &mut self.deferred, ev);
                }
            }
            Some(Entry::Listener(_)) => self.accept_ready(registry, key),
            Some(Entry::Connecting(c)) => c.on_event(ev),
            Some(&mut Entry::ProcPipe { process, fd }) => {
                self.process_pipe_event(registry, process, fd, ev)
            }
            Some(Entry::Process(_)) => self.process_exit_event(registry, key),
            Some(Entry::Watcher(_)) => {
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    self.schedule_watcher(key, watch::Side::Read);
                }
                if ev.is_writable() || ev.is_write_closed() || ev.is_error() {
                    self.schedule_watcher(key, watch::Side::Write);
                }
            }
            None => {} // stale: the entry is gone
        }
    }

    /// Delivers what earlier iterations deferred: `connection_lost` (then
    /// drops the socket or lets it linger) and reads resumed by
    /// `resume_reading`.
    fn run_deferred(&mut self, registry: &Registry) {
        if self.deferred.is_empty() && self.spare.is_empty() {
            return;
        }
        // The batch is worked through in `spare`, so what a panic leaves of
        // it is taken up again on the next call (a key seen twice is
        // harmless: each step checks the state it acts on).
        let mut batch = std::mem::take(&mut self.spare);
        batch.append(&mut self.deferred);
        self.spare = batch;
        let mut next = 0;
        while let Some(&key) = self.spare.get(next) {
            next += 1;
            self.current = key;
            if let Some(Entry::Process(_)) = self.entries.get(key) {
                self.process_deferred(registry, key);
                continue;
            }
            if let Some(Entry::Dgram(d)) = self.entries.get_mut(key) {
                if d.deliver_lost() {
                    self.entries.remove(key);
                }
                continue;
            }
            let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
                continue;
            };
            match conn.deliver_lost() {
                Some(true) => {
                    let mark = conn.linger_mark();
                    self.schedule_linger_check(key, mark, self.handle.time());
                }
                Some(false) => {
                    self.entries.remove(key);
                }
                None => {
                    let t = &conn.transport;
                    if t.life.read_ready() && t.delivers_input() {
                        let mut ctx = Self::ctx(registry, &mut self.read_buf, &mut self.deferred);
                        conn.read(&mut ctx, true);
                    }
                }
            }
        }
        self.spare.clear();
        self.current = EntryKey::null();
    }

    fn schedule_linger_check(&self, key: EntryKey, mark: LingerMark, since: Instant) {
        self.handle
            .call_later(self.config.linger_timeout, move |lp| {
                lp.core.linger_check(key, mark, since)
            });
    }

    /// A lingering close (T3) ends when the peer closes, or when a whole
    /// `linger_timeout` passes in which the peer neither sent anything nor
    /// acknowledged any of the bytes the kernel still holds for it. A slow
    /// reader that keeps reading keeps its socket until it has everything:
    /// dropping the socket earlier would let the kernel answer its next
    /// segment with a reset, which destroys what it has not read yet. A
    /// peer that only keeps sending (nothing of ours left to acknowledge)
    /// holds it for `linger_time` at most, as nginx's `lingering_time`: it
    /// cannot pin the socket for ever.
    fn linger_check(&mut self, key: EntryKey, before: LingerMark, since: Instant) {
        let Some(Entry::Conn(c)) = self.entries.get(key) else {
            return;
        };
        if !c.transport.life.is_lost() {
            return;
        }
        let now = c.linger_mark();
        let at = self.handle.time();
        if linger_goes_on(before, now, since, at, self.config.linger_time) {
            self.schedule_linger_check(key, now, since);
        } else {
            self.entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle connection costs its slab entry plus the protocol: keep the
    /// entry small (DESIGN.md §4: ≤ 1 KiB of RSS per idle connection, the
    /// kernel's socket included).
    #[test]
    fn an_idle_connection_entry_stays_small() {
        // 216 since the write queue holds a pointer for queued file ranges
        // (sendfile); measured, and the idle-RSS bench stays far under its
        // 1 KiB goal.
        let size = std::mem::size_of::<Entry>();
        assert!(size <= 216, "Entry is {size} bytes");
    }
}
