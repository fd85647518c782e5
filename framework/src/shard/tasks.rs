//! Tasks on a shard: `async`/`await` code run by the shard's own loop,
//! between its I/O events, never moving to another thread (so `!Send`
//! futures are fine). The task itself is `sys::task`'s single-threaded
//! one (no atomic on the same-thread wake and poll path); this module is
//! the queue and the loop's side of it.
//!
//! A task woken on its shard is queued there; one woken from another thread
//! travels through the shard's mailbox, which wakes the loop. The loop runs
//! at most [`TASK_BUDGET`] queued tasks per iteration, so a task that keeps
//! waking itself cannot starve I/O.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::sys::task::{self, Runnable};

use super::{EventLoop, LoopHandle, ShardHandle};
use crate::sys::LoanSlot;

/// Tasks polled per loop iteration at most.
pub const TASK_BUDGET: usize = 64;

thread_local! {
    /// The tasks of this thread's loop woken on this thread.
    static READY: RefCell<VecDeque<Runnable>> = const { RefCell::new(VecDeque::new()) };
    /// Whether `READY` holds any: the loop's one check per iteration.
    static ANY_READY: Cell<bool> = const { Cell::new(false) };
    /// The loop polling a task on this thread right now, lent to that task
    /// (see [`with_current_loop`]).
    static CURRENT: LoanSlot<EventLoop> = const { LoanSlot::new() };
}

/// Polls a task with its loop lent to it.
fn run_lent(lp: &mut EventLoop, runnable: Runnable) {
    CURRENT.with(|c| c.lend(lp, || runnable.run()));
}

/// Runs `f` with the loop that is polling the current task: how a task's
/// streams reach their transports without a `&mut EventLoop` of their own.
/// `None` outside a task, and inside `f` (no second borrow of the loop).
pub(crate) fn with_current_loop<R>(f: impl FnOnce(&mut EventLoop) -> R) -> Option<R> {
    CURRENT.with(|c| c.with(f))
}

/// Why a task ended without its output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked; the message is here, the shard lives on.
    #[error("task panicked: {0}")]
    Panicked(String),
}

/// A task's handle: await it for the task's output, or cancel it.
/// Dropping the handle lets the task run on (it is detached).
#[must_use = "a dropped JoinHandle lets its task run on, detached"]
pub struct JoinHandle<T> {
    task: Option<task::Task<Result<T, TaskError>>>,
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle").finish_non_exhaustive()
    }
}

impl<T> JoinHandle<T> {
    /// Cancels the task: it is never polled again, and its state is
    /// dropped on its shard (at the latest on the loop's next iteration).
    pub fn cancel(mut self) {
        if let Some(task) = self.task.take() {
            drop(task);
        }
    }

    /// Whether the task has finished (its output is ready).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.task.as_mut() {
            Some(task) => Pin::new(task).poll(cx),
            None => Poll::Pending,
        }
    }
}

/// Runs a future, turning a panic into [`TaskError::Panicked`].
struct CatchPanic<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.0.as_mut();
        match panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                let msg = super::panic_text(&*payload as &(dyn Any + Send));
                tracing::error!(panic = %msg, "task panicked");
                Poll::Ready(Err(TaskError::Panicked(msg)))
            }
        }
    }
}

/// Queues a task woken on its shard (the task's `local` hook).
#[inline]
fn schedule_here(runnable: Runnable) {
    ANY_READY.with(|a| a.set(true));
    READY.with(|q| q.borrow_mut().push_back(runnable));
}

/// A task's waker from another thread (its `remote` hook): it travels to
/// the task's shard through the mailbox, to wake the task there (`wake`)
/// or to be dropped there.
fn schedule_away(shard: &ShardHandle, waker: Waker, wake: bool) {
    let sent = shard.submit(move |_| {
        if wake {
            waker.wake();
        } else {
            drop(waker);
        }
    });
    if let Err(e) = sent {
        // The shard has stopped: the task can never run again. Leak the
        // waker rather than drop it on a thread the task does not belong
        // to.
        std::mem::forget(e);
    }
}

impl LoopHandle {
    /// The handle of the loop polling the current task; `None` outside a
    /// task (a protocol callback receives its loop through its transport's
    /// [`get_loop`](crate::Transport::get_loop) instead).
    pub fn current() -> Option<LoopHandle> {
        with_current_loop(|lp| lp.handle().clone())
    }

    /// Spawns `future` as a task of this loop: polled by the loop between
    /// its I/O events, on this thread only (it need not be `Send`). Works
    /// from a protocol callback, a timer or the loop's owner; the task
    /// starts on the next iteration. A panic in the task is reported
    /// through its handle ([`TaskError::Panicked`]) and costs nothing else.
    pub fn spawn_local<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let shard = self
            .sched
            .shard
            .get()
            .cloned()
            .expect("the loop's mailbox exists (EventLoop::new sets it up)");
        let (runnable, task) = task::spawn_local(
            CatchPanic(Box::pin(future)),
            schedule_here,
            move |waker, wake| schedule_away(&shard, waker, wake),
        );
        runnable.schedule();
        JoinHandle { task: Some(task) }
    }

    /// A future that completes after `delay`, on this loop's timers.
    pub fn sleep(&self, delay: Duration) -> Sleep {
        self.sleep_until(self.sched.clock.after(delay))
    }

    /// A future that completes at `deadline`, on this loop's timers.
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep {
            lp: self.clone(),
            deadline,
            state: Rc::new(SleepState::default()),
            armed: None,
        }
    }

    /// Runs `future` with a time limit: `Err(Elapsed)` if `delay` passes
    /// first (the future is dropped then).
    pub async fn timeout<F: Future>(
        &self,
        delay: Duration,
        future: F,
    ) -> Result<F::Output, Elapsed> {
        let mut future = std::pin::pin!(future);
        let mut sleep = std::pin::pin!(self.sleep(delay));
        std::future::poll_fn(|cx| {
            if let Poll::Ready(v) = future.as_mut().poll(cx) {
                return Poll::Ready(Ok(v));
            }
            sleep.as_mut().poll(cx).map(|()| Err(Elapsed))
        })
        .await
    }

    /// [`call_on`](Self::call_on) as a future: runs `f` on shard `shard`
    /// and resolves to its result, back on this shard.
    pub fn call_on_async<R, F>(&self, shard: usize, f: F) -> impl Future<Output = R> + 'static
    where
        R: Send + 'static,
        F: FnOnce(&mut EventLoop) -> R + Send + 'static,
    {
        let slot: Rc<Reply<R>> = Rc::new((Cell::new(None), Cell::new(None)));
        let filled = Rc::clone(&slot);
        self.call_on(shard, f, move |_, r| {
            filled.0.set(Some(r));
            if let Some(w) = filled.1.take() {
                w.wake();
            }
        });
        std::future::poll_fn(move |cx| match slot.0.take() {
            Some(r) => Poll::Ready(r),
            None => {
                slot.1.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
    }
}

/// A cross-shard result on its way, and the task waiting for it.
type Reply<R> = (Cell<Option<R>>, Cell<Option<Waker>>);

/// What `run_until_complete` waits for.
type Outcome<T> = RefCell<Option<Result<T, TaskError>>>;

/// A [`LoopHandle::timeout`] that ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deadline elapsed")]
pub struct Elapsed;

#[derive(Default)]
struct SleepState {
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// What [`LoopHandle::sleep`] returns: completes at its deadline. Dropping
/// it cancels its timer.
pub struct Sleep {
    lp: LoopHandle,
    deadline: Instant,
    state: Rc<SleepState>,
    armed: Option<super::Handle>,
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.state.fired.get() || self.lp.time() >= self.deadline {
            return Poll::Ready(());
        }
        *self.state.waker.borrow_mut() = Some(cx.waker().clone());
        if self.armed.is_none() {
            let state = Rc::clone(&self.state);
            let h = self.lp.call_at(self.deadline, move |_| {
                state.fired.set(true);
                if let Some(w) = state.waker.borrow_mut().take() {
                    w.wake();
                }
            });
            self.armed = Some(h);
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(h) = self.armed.take() {
            h.cancel();
        }
    }
}

impl EventLoop {
    /// Spawns `future` as a task of this loop; see
    /// [`LoopHandle::spawn_local`].
    pub fn spawn_local<F>(&mut self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let _ = self.shard_handle();
        self.core.handle.spawn_local(future)
    }

    /// Runs the loop until `future` completes and returns its output (the
    /// way a client program runs: asyncio's `run_until_complete`). The
    /// loop's other work goes on meanwhile.
    pub fn run_until_complete<F>(&mut self, future: F) -> Result<F::Output, TaskError>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let handle = self.spawn_local(future);
        let out: Rc<Outcome<F::Output>> = Rc::new(RefCell::new(None));
        let o = Rc::clone(&out);
        let _waiter = self.core.handle.spawn_local(async move {
            let r = handle.await;
            *o.borrow_mut() = Some(r);
        });
        let done = Rc::clone(&out);
        self.run_until(move |_| done.borrow().is_some())
            .map_err(|e| TaskError::Panicked(format!("the loop failed: {e}")))?;
        let result = out.borrow_mut().take();
        result.unwrap_or_else(|| Err(TaskError::Panicked("the loop was stopped first".into())))
    }

    /// Polls up to [`TASK_BUDGET`] tasks woken on this thread. Without
    /// tasks: one thread-local flag read.
    #[inline(always)]
    pub(crate) fn run_tasks(&mut self) {
        if tasks_ready() {
            self.run_tasks_now();
        }
    }

    #[inline(never)]
    fn run_tasks_now(&mut self) {
        for _ in 0..TASK_BUDGET {
            let next = READY.with(|q| {
                let mut q = q.borrow_mut();
                let r = q.pop_front();
                if q.is_empty() {
                    ANY_READY.with(|a| a.set(false));
                }
                r
            });
            let Some(r) = next else { return };
            run_lent(self, r);
        }
    }
}

/// Whether tasks wait to be polled on this thread (the loop must not sleep).
#[inline(always)]
pub(crate) fn tasks_ready() -> bool {
    ANY_READY.with(Cell::get)
}
