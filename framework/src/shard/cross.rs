//! Cross-shard request/reply: run a closure on shard `k` and get its
//! result back *on the calling shard*, as a callback (Seastar's
//! `submit_to(...).then(...)`), without blocking either shard.
//!
//! Requests to one shard made during one loop iteration travel together:
//! they are queued per destination and handed over at the end of the
//! iteration as one mailbox message, so a burst costs one channel send and
//! at most one wake-up per destination. Replies travel back the same way,
//! batched by the shard that ran the requests.
//!
//! Both [`EventLoop`] and [`LoopHandle`] offer the calls, so a protocol
//! callback reaches them through `transport.get_loop()`.

use std::any::Any;
use std::sync::Arc;

use slotmap::{new_key_type, SlotMap};

use super::mailbox::{ShardHandle, SubmitError, Task};
use super::{EventLoop, LoopHandle};

new_key_type! {
    /// A reply callback waiting on its shard.
    struct ReplyKey;
}

/// A result on its way back, type-erased for the trip.
type Value = Box<dyn Any + Send>;

/// The callback that receives a result, on the calling shard.
type Reply = Box<dyn FnOnce(&mut EventLoop, Value)>;

/// The requests and replies of one shard, waiting for the end of the
/// iteration.
#[derive(Default)]
pub(crate) struct Outbox {
    /// This shard's index and every shard's handle, once it runs in a
    /// runtime.
    peers: Option<(usize, Arc<[ShardHandle]>)>,
    /// Tasks to send, by destination shard.
    batches: Vec<Vec<Task>>,
    /// Batches a full mailbox refused: sent again next iteration.
    stalled: Vec<(usize, Task)>,
    replies: SlotMap<ReplyKey, Reply>,
}

impl Outbox {
    fn queue(&mut self, shard: usize, task: Task) {
        self.batches[shard].push(task);
        ANY_QUEUED.with(|q| q.set(true));
    }
}

thread_local! {
    /// Whether this thread's loop has cross-shard work to send: the loop's
    /// one check per iteration, without touching the outbox.
    static ANY_QUEUED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether cross-shard work waits to be sent (the loop must not sleep long).
#[inline(always)]
pub(crate) fn outbox_pending() -> bool {
    ANY_QUEUED.with(std::cell::Cell::get)
}

impl LoopHandle {
    /// This loop's shard index in its [`Runtime`](crate::Runtime), or
    /// `None` for a loop of its own.
    pub fn shard_id(&self) -> Option<usize> {
        self.sched.outbox.borrow().peers.as_ref().map(|(k, _)| *k)
    }

    /// Number of shards of the runtime this loop belongs to (1 for a loop of
    /// its own).
    pub fn shard_count(&self) -> usize {
        self.sched
            .outbox
            .borrow()
            .peers
            .as_ref()
            .map_or(1, |(_, p)| p.len())
    }

    /// Runs `f` on shard `shard` of this loop's runtime and calls `reply`
    /// with its result back on this shard, on a later iteration; neither
    /// shard blocks. Calls made to the same shard during one iteration
    /// travel as one batch (one channel message, at most one wake-up), and
    /// run there in the order they were made; their replies come back in
    /// that order too. A call to this very shard (or on a loop outside a
    /// runtime, shard 0) runs on the next iteration.
    ///
    /// A panic in `f` is logged on the shard that ran it and `reply` is
    /// never called; a panic in `reply` is logged and the loop goes on.
    ///
    /// # Panics
    ///
    /// If `shard` is not below [`shard_count`](Self::shard_count).
    pub fn call_on<R, F, C>(&self, shard: usize, f: F, reply: C)
    where
        R: Send + 'static,
        F: FnOnce(&mut EventLoop) -> R + Send + 'static,
        C: FnOnce(&mut EventLoop, R) + 'static,
    {
        assert!(shard < self.shard_count(), "no shard {shard}");
        let me = self.shard_id().unwrap_or(0);
        if shard == me {
            self.call_soon(move |lp| {
                let r = f(lp);
                reply(lp, r);
            });
            return;
        }
        let mut outbox = self.sched.outbox.borrow_mut();
        let id = outbox.replies.insert(Box::new(move |lp, value: Value| {
            if let Ok(r) = value.downcast::<R>() {
                reply(lp, *r);
            }
        }));
        outbox.queue(
            shard,
            Box::new(move |lp: &mut EventLoop| {
                let value: Value = Box::new(f(lp));
                lp.core.handle.sched.outbox.borrow_mut().queue(
                    me,
                    Box::new(move |home: &mut EventLoop| home.complete(id, value)),
                );
            }),
        );
    }

    /// Runs `f` on shard `shard` of this loop's runtime, one way: no reply
    /// (the closure can post back itself, when it is ready — later,
    /// perhaps). Batched with this iteration's other calls to that shard,
    /// exactly like [`call_on`](Self::call_on); to this very shard it runs
    /// on the next iteration.
    ///
    /// # Panics
    ///
    /// If `shard` is not below [`shard_count`](Self::shard_count).
    pub fn post(&self, shard: usize, f: impl FnOnce(&mut EventLoop) + Send + 'static) {
        assert!(shard < self.shard_count(), "no shard {shard}");
        if shard == self.shard_id().unwrap_or(0) {
            self.call_soon(f);
        } else {
            self.sched.outbox.borrow_mut().queue(shard, Box::new(f));
        }
    }
}

impl EventLoop {
    /// Joins a runtime as shard `index` of `peers` (the runtime calls this
    /// on every shard before serving anything).
    pub(crate) fn join_runtime(&mut self, index: usize, peers: Arc<[ShardHandle]>) {
        let mut outbox = self.core.handle.sched.outbox.borrow_mut();
        outbox.batches = (0..peers.len()).map(|_| Vec::new()).collect();
        outbox.peers = Some((index, peers));
    }

    /// This loop's shard index in its runtime; see [`LoopHandle::shard_id`].
    pub fn shard_id(&self) -> Option<usize> {
        self.core.handle.shard_id()
    }

    /// Number of shards of this loop's runtime; see
    /// [`LoopHandle::shard_count`].
    pub fn shard_count(&self) -> usize {
        self.core.handle.shard_count()
    }

    /// Runs `f` on shard `shard` and `reply` with its result back here; see
    /// [`LoopHandle::call_on`].
    pub fn call_on<R, F, C>(&mut self, shard: usize, f: F, reply: C)
    where
        R: Send + 'static,
        F: FnOnce(&mut EventLoop) -> R + Send + 'static,
        C: FnOnce(&mut EventLoop, R) + 'static,
    {
        self.core.handle.call_on(shard, f, reply);
    }

    /// Runs `f` on shard `shard`, one way; see [`LoopHandle::post`].
    pub fn post(&mut self, shard: usize, f: impl FnOnce(&mut EventLoop) + Send + 'static) {
        self.core.handle.post(shard, f);
    }

    /// A result came back: hand it to its callback.
    fn complete(&mut self, id: ReplyKey, value: Value) {
        let reply = self
            .core
            .handle
            .sched
            .outbox
            .borrow_mut()
            .replies
            .remove(id);
        if let Some(reply) = reply {
            if let Err(payload) =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reply(self, value)))
            {
                tracing::error!(panic = %super::panic_text(&*payload), "cross-shard reply panicked");
            }
        }
    }

    /// Sends what this iteration queued: one message per destination.
    #[inline(always)]
    pub(crate) fn flush_outbox(&mut self) {
        if ANY_QUEUED.with(std::cell::Cell::get) {
            self.flush_outbox_now();
        }
    }

    #[inline(never)]
    fn flush_outbox_now(&mut self) {
        let mut outbox = self.core.handle.sched.outbox.borrow_mut();
        ANY_QUEUED.with(|q| q.set(false));
        let Some((_, peers)) = outbox.peers.clone() else {
            return;
        };
        let mut sending = std::mem::take(&mut outbox.stalled);
        for (shard, batch) in outbox.batches.iter_mut().enumerate() {
            if batch.is_empty() {
                continue;
            }
            let batch = std::mem::take(batch);
            sending.push((
                shard,
                Box::new(move |lp: &mut EventLoop| {
                    let stats = &lp.core.handle.sched.stats;
                    crate::stats::add(&stats.cross_shard_batches, 1);
                    crate::stats::add(&stats.cross_shard_calls, batch.len() as u64);
                    for task in batch {
                        // One failing request must not cost the others.
                        let run = std::panic::AssertUnwindSafe(|| task(lp));
                        if let Err(payload) = std::panic::catch_unwind(run) {
                            tracing::error!(panic = %super::panic_text(&*payload), "cross-shard call panicked");
                        }
                    }
                }),
            ));
        }
        // A shard whose mailbox refused a task gets nothing more this
        // iteration: what follows waits behind it, so each destination
        // still receives its tasks in the order they were made.
        let mut refused: Vec<usize> = Vec::new();
        for (shard, task) in sending {
            if refused.contains(&shard) {
                outbox.stalled.push((shard, task));
                continue;
            }
            match peers[shard].try_submit(task) {
                Ok(()) => {}
                // Never block a shard on another: try again next iteration.
                Err(SubmitError::Full(task)) => {
                    outbox.stalled.push((shard, task));
                    refused.push(shard);
                    ANY_QUEUED.with(|q| q.set(true));
                }
                Err(_) => tracing::warn!(shard, "cross-shard call to a stopped shard dropped"),
            }
        }
    }
}
