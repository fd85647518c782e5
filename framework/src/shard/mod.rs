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
mod connections;
mod core;
mod cross;
mod datagram;
mod driver;
mod entries;
mod loop_of;
mod mailbox;
mod ready;
mod scheduler;
pub(crate) mod server;
mod subprocess;
mod tasks;
#[cfg(feature = "tls")]
mod tls_loop;
mod watch;

use std::collections::HashMap;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use mio::Poll;
use ready::Ready;
use slotmap::Key;
use std::os::fd::AsRawFd as _;

pub use crate::base::ConnectionHandle;
pub(crate) use crate::base::{key_of, token_of, EntryKey};
pub use clock::Clock;
pub use config::LoopConfig;
pub use datagram::DatagramOptions;
pub(crate) use datagram::{bind_udp, set_udp_buffers};
pub use mailbox::{ShardHandle, SubmitError, Task, MAILBOX_CAPACITY};
pub(crate) use scheduler::after;
pub use scheduler::{Handle, LoopHandle};
pub use subprocess::SubprocessPipes;
pub(crate) use tasks::with_current_loop;
pub use tasks::{Elapsed, JoinHandle, Sleep, TaskError, TASK_BUDGET};

use crate::transport::flow::resolve_limits;
use crate::transport::timeouts::IdleWatch;
use connection::{Connection, Next};
use driver::Ctx;
pub(crate) use entries::{Entries, Entry};
use mailbox::{Mailbox, WAKER_TOKEN};
pub use server::Server;
use server::ServerShared;
use std::rc::Rc;

/// Everything but the poller, so event dispatch can borrow it mutably while
/// iterating the poller's events.
pub(crate) struct Core {
    entries: Entries,
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
/// [`Protocol`](crate::Protocol) instance. Everything it owns stays on its thread.
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
                entries: Entries::default(),
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
            let period = (timeout / IdleWatch::SWEEPS).max(Duration::from_millis(1));
            lp.call_later(period, move |lp| lp.sweep_idle(period));
        }
        // The mailbox: other threads' calls, and wakers of its tasks.
        lp.shard_handle()?;
        Ok(lp)
    }

    /// Fails every connection whose byte counts have not moved for
    /// `IdleWatch::SWEEPS` sweeps; then schedules the next sweep.
    fn sweep_idle(&mut self, period: Duration) {
        let mut idle = Vec::new();
        for (key, entry) in self.core.entries.iter_mut() {
            let Entry::Conn(c) = entry else { continue };
            if c.transport.idle_sweep() {
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
        if self.redispatch_from.is_some() {
            self.redispatch();
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

    /// The events a panic interrupted, dispatched (out of line: rare).
    #[cold]
    #[inline(never)]
    fn redispatch(&mut self) {
        if let Some(from) = self.redispatch_from.take() {
            self.dispatch_from(from);
        }
    }

    /// After a caught panic: the entry being handled, if any, fails (a
    /// connection gets `connection_lost` with the error); the events of the
    /// last poll after it are dispatched (they are edge-triggered: none may
    /// be lost); the loop goes on.
    #[cold]
    fn recover(&mut self, payload: &(dyn std::any::Any + Send)) {
        let msg = panic_text(payload);
        if !self.core.spare.is_empty() {
            // A deferred batch was cut short: it goes back to the front of
            // `deferred`, so the next iteration takes it up without waiting.
            let mut rest = std::mem::take(&mut self.core.spare);
            rest.append(&mut self.core.deferred);
            self.core.deferred = rest;
        }
        let mut key = std::mem::take(&mut self.core.current);
        if key.is_null() && self.dispatching {
            // A connection's event: the fast dispatch does not note the
            // entry, its event does.
            key = key_of(Ready::from_epoll(&self.events[self.dispatch_pos]).token());
        }
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
        // (`spare` is empty outside `run_deferred`: `recover` hands a batch
        // a panic cut short back to `deferred`.)
        let timeout = if !self.core.deferred.is_empty() || tasks::tasks_ready() {
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
        match crate::sys::epoll_wait(self.poll.as_raw_fd(), &mut self.events, timeout_ms) {
            Ok(n) => self.n_events = n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => self.n_events = 0,
            Err(e) => {
                self.n_events = 0;
                return Err(e);
            }
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
        let (mut i, n) = (start, self.n_events);
        'events: while i < n {
            // Connections, the common case, share one context for a run of
            // events; any other kind takes the general path.
            let core = &mut self.core;
            let mut ctx = Ctx {
                registry,
                read_buf: &mut core.read_buf,
                deferred: &mut core.deferred,
            };
            loop {
                // (Where a panic struck: `recover` reads the entry from it.)
                self.dispatch_pos = i;
                let ev = Ready::from_epoll(&self.events[i]);
                if ev.token() == WAKER_TOKEN {
                    self.woken = true;
                } else {
                    let key = key_of(ev.token());
                    let Some(conn) = core.entries.of_mut::<Connection>(key) else {
                        break;
                    };
                    if conn.on_event(&mut ctx, &ev) == Next::Remove {
                        core.entries.remove(key);
                    }
                }
                i += 1;
                if i == n {
                    break 'events;
                }
            }
            // `events[i]` is of another kind.
            let ev = Ready::from_epoll(&self.events[i]);
            self.core.dispatch(registry, &ev);
            self.core.current = EntryKey::null();
            i += 1;
        }
        // (`current` is null here: the fast path never sets it, the general
        // path resets it after each event.)
        self.dispatching = false;
        if self.woken {
            self.woken = false;
            self.run_mailbox();
        }
        self.core.handle.sched.collect_due_now();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle connection costs its slab entry plus the protocol: keep the
    /// entry small (the goal: ≤ 1 KiB of RSS per idle connection, the
    /// kernel's socket included; `benches/RESULTS.md`, *Memory per idle
    /// connection*).
    #[test]
    fn an_idle_connection_entry_stays_small() {
        // 216 since the write queue holds a pointer for queued file ranges
        // (sendfile); measured, and the idle-RSS bench stays far under its
        // 1 KiB goal.
        let size = std::mem::size_of::<Entry>();
        assert!(size <= 216, "Entry is {size} bytes");
    }
}
