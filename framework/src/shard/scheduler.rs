//! Callbacks and timers of one shard: `call_soon`, `call_later`, `call_at`,
//! `stop` (L1).
//!
//! The queues sit behind an `Rc` so that a protocol callback — which runs
//! while the loop itself is borrowed — can still schedule work through its
//! transport's [`LoopHandle`]. The loop never holds a borrow of these queues
//! while user code runs, so the `RefCell`s are never contended.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

use slotmap::{new_key_type, SlotMap};

use super::{Clock, EventLoop};

new_key_type! {
    /// Identifies one scheduled callback; generation-checked, so a stale
    /// handle never cancels a newer callback.
    pub(crate) struct CallbackKey;
}

/// A callback run by the loop with full access to it.
pub(crate) type Callback = Box<dyn FnOnce(&mut EventLoop)>;

#[derive(Default)]
pub(crate) struct Scheduler {
    callbacks: RefCell<SlotMap<CallbackKey, Callback>>,
    ready: RefCell<VecDeque<CallbackKey>>,
    /// `ready`'s length, read without a borrow: the loop looks at it twice
    /// an iteration.
    ready_count: Cell<usize>,
    timers: RefCell<BinaryHeap<Reverse<(Instant, u64, CallbackKey)>>>,
    /// Whether `timers` holds any, read without a borrow (every iteration
    /// asks).
    any_timers: Cell<bool>,
    seq: Cell<u64>,
    stopping: Cell<bool>,
    /// This shard's counters, kept without atomics.
    pub(crate) stats: crate::stats::ShardCells,
    /// This loop's cross-shard handle, once it has a mailbox.
    pub(crate) shard: std::cell::OnceCell<super::ShardHandle>,
    /// Cross-shard requests and replies waiting for the end of the
    /// iteration.
    pub(crate) outbox: RefCell<super::cross::Outbox>,
    /// Where this loop reads the time.
    pub(crate) clock: Clock,
}

impl Scheduler {
    fn insert(&self, f: Callback) -> CallbackKey {
        self.callbacks.borrow_mut().insert(f)
    }

    /// Moves every due timer to the ready queue; returns how many. Reads
    /// the clock (`now`) only when there are timers.
    /// The usual case — no timer armed — is inlined into the loop; the
    /// work is not.
    #[inline(always)]
    pub(crate) fn collect_due(&self, now: impl FnOnce() -> Instant) -> usize {
        if !self.any_timers.get() {
            return 0;
        }
        self.collect_due_timers(now())
    }

    #[inline(never)]
    fn collect_due_timers(&self, now: Instant) -> usize {
        let mut timers = self.timers.borrow_mut();
        let callbacks = self.callbacks.borrow();
        let mut ready = self.ready.borrow_mut();
        let mut n = 0;
        while let Some(Reverse((when, _, key))) = timers.peek().copied() {
            if when > now {
                break;
            }
            timers.pop();
            if callbacks.contains_key(key) {
                ready.push_back(key);
                self.ready_count.set(self.ready_count.get() + 1);
                n += 1;
            }
        }
        // Cancelled timers stay in the heap until due; rebuild it when they
        // dominate so that a connection re-arming an idle timer on every
        // message cannot grow the heap without bound.
        if timers.len() > 64 && timers.len() > 2 * callbacks.len() {
            timers.retain(|Reverse((_, _, k))| callbacks.contains_key(*k));
        }
        self.any_timers.set(!timers.is_empty());
        n
    }

    /// How long the loop may block in `poll`: zero when callbacks are ready,
    /// until the next timer otherwise, forever when there is none. Reads the
    /// clock (`now`) only when there is a timer.
    /// On a manual clock, at most a millisecond while a timer is armed:
    /// the clock moves without waking the loop.
    pub(crate) fn poll_timeout(&self) -> Option<Duration> {
        if self.ready_count.get() != 0 || self.stopping.get() {
            return Some(Duration::ZERO);
        }
        if !self.any_timers.get() {
            return None;
        }
        let timers = self.timers.borrow();
        timers.peek().map(|Reverse((when, _, _))| {
            // Round up to the next millisecond: epoll's resolution; rounding
            // down would wake early and spin until the deadline.
            let d = when.saturating_duration_since(self.clock.now());
            let ms = d.as_nanos().div_ceil(1_000_000);
            let d = Duration::from_millis(ms as u64);
            if self.clock.is_manual() {
                d.min(Duration::from_millis(1))
            } else {
                d
            }
        })
    }

    /// Moves every due timer to the ready queue, on this loop's clock.
    #[inline(always)]
    pub(crate) fn collect_due_now(&self) -> usize {
        self.collect_due(|| self.clock.now())
    }

    /// Number of callbacks ready now (those scheduled while running them wait
    /// for the next iteration, as in asyncio).
    pub(crate) fn ready_len(&self) -> usize {
        self.ready_count.get()
    }

    /// Takes the next ready callback, if it was not cancelled.
    pub(crate) fn pop_ready(&self) -> Option<Option<Callback>> {
        let key = self.ready.borrow_mut().pop_front()?;
        self.ready_count.set(self.ready_count.get() - 1);
        Some(self.callbacks.borrow_mut().remove(key))
    }

    #[inline(always)]
    pub(crate) fn take_stop(&self) -> bool {
        if self.stopping.get() {
            self.stopping.set(false);
            return true;
        }
        false
    }
}

/// A cheap, clonable reference to a shard's loop, usable from inside
/// protocol callbacks (where the [`EventLoop`] itself is busy calling you).
///
/// It is `!Send`: work for another shard goes through that shard's
/// cross-shard handle, never through this.
#[derive(Clone)]
pub struct LoopHandle {
    pub(crate) sched: Rc<Scheduler>,
}

impl std::fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopHandle").finish_non_exhaustive()
    }
}

impl LoopHandle {
    /// This loop's identity among the live loops (two handles of one loop
    /// give the same number).
    #[cfg(feature = "hyper")]
    pub(crate) fn identity(&self) -> usize {
        Rc::as_ptr(&self.sched) as *const () as usize
    }

    pub(crate) fn new(clock: Clock) -> Self {
        Self {
            sched: Rc::new(Scheduler {
                clock,
                ..Scheduler::default()
            }),
        }
    }

    /// Runs `f` on a later iteration of the loop, after the callbacks
    /// already scheduled (FIFO), with full access to the loop.
    pub fn call_soon(&self, f: impl FnOnce(&mut EventLoop) + 'static) -> Handle {
        let key = self.sched.insert(Box::new(f));
        self.sched.ready.borrow_mut().push_back(key);
        self.sched.ready_count.set(self.sched.ready_count.get() + 1);
        self.handle(key)
    }

    /// Runs `f` once `delay` has passed. Callbacks due at the same time run
    /// in the order they were scheduled. A delay too long for the clock
    /// (centuries) means "never", not a panic. Measured on the loop's
    /// [`Clock`].
    pub fn call_later(&self, delay: Duration, f: impl FnOnce(&mut EventLoop) + 'static) -> Handle {
        self.call_at(self.sched.clock.after(delay), f)
    }

    /// Runs `f` at `when` (or as soon as possible after it), an instant on
    /// the loop's [`Clock`] (see [`time`](Self::time)).
    pub fn call_at(&self, when: Instant, f: impl FnOnce(&mut EventLoop) + 'static) -> Handle {
        let key = self.sched.insert(Box::new(f));
        let seq = self.sched.seq.get();
        self.sched.seq.set(seq + 1);
        self.sched
            .timers
            .borrow_mut()
            .push(Reverse((when, seq, key)));
        self.sched.any_timers.set(true);
        self.handle(key)
    }

    /// Asks `run_forever` to return once the current iteration is done.
    pub fn stop(&self) {
        self.sched.stopping.set(true);
    }

    /// Cancels the callback whose [`Handle::into_raw`] this is (a stale
    /// one, already run or cancelled, matches nothing).
    pub(crate) fn cancel_raw(&self, raw: u64) {
        let key: CallbackKey = slotmap::KeyData::from_ffi(raw).into();
        self.sched.callbacks.borrow_mut().remove(key);
    }

    /// This loop's cross-shard handle, if its mailbox was set up (always on
    /// the shards of a [`Runtime`](crate::Runtime)).
    pub fn shard_handle(&self) -> Option<super::ShardHandle> {
        self.sched.shard.get().cloned()
    }

    /// The loop's time (monotonic), as asyncio's `loop.time()`: the
    /// system's clock, or the manual [`Clock`] the loop was given.
    pub fn time(&self) -> Instant {
        self.sched.clock.now()
    }

    /// The loop's clock.
    pub fn clock(&self) -> &Clock {
        &self.sched.clock
    }

    fn handle(&self, key: CallbackKey) -> Handle {
        Handle {
            key,
            sched: Rc::clone(&self.sched),
        }
    }
}

/// A scheduled callback, as returned by `call_soon`, `call_later` and
/// `call_at`; [`Handle::cancel`] prevents it from running.
pub struct Handle {
    key: CallbackKey,
    sched: Rc<Scheduler>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

impl Handle {
    /// Cancels the callback. Does nothing if it already ran or was
    /// cancelled; dropping the handle does *not* cancel.
    pub fn cancel(&self) {
        self.sched.callbacks.borrow_mut().remove(self.key);
    }

    /// The callback's key as a plain number, for a holder below the loop
    /// (a TLS session's handshake timer); [`LoopHandle::cancel_raw`] takes
    /// it back.
    pub(crate) fn into_raw(self) -> u64 {
        slotmap::Key::data(&self.key).as_ffi()
    }

    /// True once the callback was cancelled or has started running.
    pub fn cancelled(&self) -> bool {
        !self.sched.callbacks.borrow().contains_key(self.key)
    }
}

/// The instant `delay` from now on the system clock, saturating at about a
/// century ahead: a duration too long for the clock means "not in this
/// process's life". (A loop's timers use its own [`Clock`].)
pub(crate) fn after(delay: Duration) -> Instant {
    Clock::system().after(delay)
}
