//! A single-threaded task: one allocation holding a future (then its
//! output), polled on the thread that spawned it, with the `RawWaker`
//! vtable that wakes it.
//!
//! Why not a general task crate: their tasks may be woken and polled from
//! any thread, so every wake-up and every poll goes through atomic
//! read-modify-writes on the task's state. A shard's task is polled on
//! its shard only, and woken there nearly always; here that path touches
//! plain `Cell`s:
//! - **same-thread wake** (`wake_by_ref`): one thread-identity compare, a
//!   flag test and set, the owner's `local` hook (the shard's ready
//!   queue). No atomic, no reference count.
//! - **poll** ([`Runnable::run`]): the waker handed to the future is
//!   borrowed (no count taken); state is a `Cell`.
//! - **a wake from another thread** goes to the owner through the task's
//!   `remote` hook (the shard's mailbox) carrying a waker, which wakes the
//!   task once there. Only the reference count is ever touched off the
//!   owner thread, and it is atomic.
//!
//! Counting. `refs` (atomic) counts the wakers alive plus one reference
//! for the owner's side. The owner's side (the [`Task`] handle, a queued
//! or running [`Runnable`], the future itself while it may still be
//! polled) is tracked in `state`, on the owner thread; the owner's
//! reference is given back once none of them is left. Memory is freed by
//! whoever takes `refs` to zero. A pending task that nothing can wake
//! any more (no handle, not queued, its last waker dropped) is dropped
//! at that last drop: on the owner thread at once, from another thread
//! by handing that waker to the owner first (a future is never touched
//! off its thread).
//!
//! Every `unsafe` block says why it is sound; the unit tests below run
//! under Miri (`cargo +nightly miri test -p shardloop --lib sys::task`).

use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// A `Runnable` exists for the task (queued, or about to be).
const SCHEDULED: u8 = 1;
/// The future is being polled.
const RUNNING: u8 = 2;
/// The future completed; its output is stored (unless taken or dropped).
const COMPLETED: u8 = 4;
/// Nothing left to run: the future is gone (cancelled, or completed and
/// its output taken or dropped).
const CLOSED: u8 = 8;
/// The [`Task`] handle is alive.
const HANDLE: u8 = 16;

thread_local! {
    /// This thread's identity: the address of this thread-local.
    static MARK: u8 = const { 0 };
}

/// The current thread's identity (unique among live threads).
#[inline(always)]
fn here() -> usize {
    MARK.with(|m| m as *const u8 as usize)
}

/// What every task starts with, whatever its future's type.
struct Header {
    /// Wakers alive, plus one for the owner's side (see the module docs).
    refs: AtomicUsize,
    /// `SCHEDULED | RUNNING | COMPLETED | CLOSED | HANDLE`; owner thread
    /// only.
    state: Cell<u8>,
    /// The thread that spawned the task: the only one that polls it.
    owner: usize,
    /// Queues a woken task on the owner thread.
    local: fn(Runnable),
    /// The task awaiting this one's output; owner thread only.
    join_waker: UnsafeCell<Option<Waker>>,
    vtable: &'static VTable,
}

/// The operations that know the future's type.
struct VTable {
    /// Polls the future; on completion stores its output and returns true.
    poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> bool,
    /// Drops whatever the stage holds (the future or the output).
    drop_stage: unsafe fn(NonNull<Header>),
    /// Moves the output into the `Option<T>` at the pointer.
    take_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Hands a waker to the owner thread (the `remote` hook): to wake
    /// there, or only to drop there.
    remote: unsafe fn(NonNull<Header>, Waker, bool),
    /// Frees the allocation.
    dealloc: unsafe fn(NonNull<Header>),
}

enum Stage<F: Future> {
    Running(F),
    Finished(F::Output),
    Empty,
}

/// The allocation: the header first (`repr(C)`), so a pointer to it is a
/// pointer to the whole.
#[repr(C)]
struct TaskCell<F: Future, S> {
    header: Header,
    remote: S,
    stage: UnsafeCell<Stage<F>>,
}

impl<F, S> TaskCell<F, S>
where
    F: Future + 'static,
    S: Fn(Waker, bool) + Send + Sync + 'static,
{
    const VTABLE: VTable = VTable {
        poll: Self::poll,
        drop_stage: Self::drop_stage,
        take_output: Self::take_output,
        remote: Self::remote,
        dealloc: Self::dealloc,
    };

    /// # Safety
    /// `h` is this type's header, on the owner thread, with the future not
    /// borrowed elsewhere (the caller holds `RUNNING`).
    unsafe fn poll(h: NonNull<Header>, cx: &mut Context<'_>) -> bool {
        // SAFETY: the header is the first field of this `repr(C)` cell (the
        // caller's contract gives the type), and only the owner thread,
        // inside this call, touches the stage now.
        let stage = unsafe { &mut *h.cast::<Self>().as_ref().stage.get() };
        let Stage::Running(future) = stage else {
            return false;
        };
        // SAFETY: the future lives in the heap cell and never moves until
        // the stage is replaced, which drops it in place first.
        let future = unsafe { Pin::new_unchecked(future) };
        match future.poll(cx) {
            Poll::Ready(out) => {
                *stage = Stage::Finished(out);
                true
            }
            Poll::Pending => false,
        }
    }

    /// # Safety
    /// As [`Self::poll`]; the stage is not borrowed.
    unsafe fn drop_stage(h: NonNull<Header>) {
        // SAFETY: as in `poll`: the right type, the owner thread, no other
        // borrow of the stage.
        unsafe { *h.cast::<Self>().as_ref().stage.get() = Stage::Empty };
    }

    /// # Safety
    /// As [`Self::drop_stage`]; `out` points to an `Option<F::Output>`.
    unsafe fn take_output(h: NonNull<Header>, out: *mut ()) {
        // SAFETY: as in `poll`; `out`'s type is the caller's contract.
        unsafe {
            let stage = &mut *h.cast::<Self>().as_ref().stage.get();
            if let Stage::Finished(v) = std::mem::replace(stage, Stage::Empty) {
                *out.cast::<Option<F::Output>>() = Some(v);
            }
        }
    }

    /// # Safety
    /// `h` is this type's header, alive (the waker passed holds a count).
    unsafe fn remote(h: NonNull<Header>, waker: Waker, wake: bool) {
        // SAFETY: the right type; `remote` is `Sync` and never mutated, so
        // any thread may call it through a shared reference.
        let cell = unsafe { h.cast::<Self>().as_ref() };
        (cell.remote)(waker, wake);
    }

    /// # Safety
    /// `h` is this type's header and nothing refers to the task any more
    /// (`refs` reached zero).
    unsafe fn dealloc(h: NonNull<Header>) {
        // SAFETY: made by `Box::into_raw` in `spawn_local` with this type;
        // the last reference is gone, so this is the only owner.
        drop(unsafe { Box::from_raw(h.cast::<Self>().as_ptr()) });
    }
}

/// Spawns `future` as a task of the current thread. `local` queues it on
/// this thread when it is woken here; `remote(waker, wake)` gets a waker
/// from another thread, and must, on this one, wake it (`wake`) or drop
/// it (not `wake`: it may be the task's last) — or forget it, if this
/// thread's loop is gone. Returns the first run,
/// to schedule, and the handle awaiting the output (dropping it cancels
/// the task; [`Task::detach`] lets it run on).
pub(crate) fn spawn_local<F, S>(
    future: F,
    local: fn(Runnable),
    remote: S,
) -> (Runnable, Task<F::Output>)
where
    F: Future + 'static,
    F::Output: 'static,
    S: Fn(Waker, bool) + Send + Sync + 'static,
{
    let cell = Box::new(TaskCell {
        header: Header {
            refs: AtomicUsize::new(1),
            state: Cell::new(SCHEDULED | HANDLE),
            owner: here(),
            local,
            join_waker: UnsafeCell::new(None),
            vtable: &TaskCell::<F, S>::VTABLE,
        },
        remote,
        stage: UnsafeCell::new(Stage::Running(future)),
    });
    // SAFETY: `Box::into_raw` never returns null.
    let h = unsafe { NonNull::new_unchecked(Box::into_raw(cell)) }.cast::<Header>();
    (
        Runnable { h },
        Task {
            h,
            _output: PhantomData,
        },
    )
}

/// Reads the header of a live task.
///
/// # Safety
/// `h` points to a task whose memory is alive (its `refs` is not zero, or
/// the caller holds what keeps it so).
#[inline(always)]
unsafe fn header<'a>(h: NonNull<Header>) -> &'a Header {
    // SAFETY: the caller's contract.
    unsafe { h.as_ref() }
}

/// On the owner thread: gives back the owner side's reference once
/// nothing of that side is left (no handle, no run queued or running, the
/// future gone); frees the task if that was the last reference.
///
/// # Safety
/// Owner thread; `h` alive.
unsafe fn release_owner_if_done(h: NonNull<Header>) {
    // SAFETY: the caller's contract.
    let hd = unsafe { header(h) };
    let st = hd.state.get();
    if st & (SCHEDULED | RUNNING | HANDLE | RELEASED) != 0 || st & CLOSED == 0 {
        return;
    }
    hd.state.set(st | RELEASED);
    if hd.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
        // SAFETY: the last reference: nothing can reach the task now.
        unsafe { (hd.vtable.dealloc)(h) };
    }
}

/// On the owner thread: a pending task that nothing can reach any more —
/// no handle, no run queued or running, no waker — is dropped: it could
/// never be polled again.
///
/// # Safety
/// Owner thread; `h` alive; the owner side's reference not given back.
unsafe fn reap_if_orphan(h: NonNull<Header>) {
    // SAFETY: the caller's contract.
    let hd = unsafe { header(h) };
    let st = hd.state.get();
    // `refs` is the owner side's reference alone: no waker exists, so
    // none can be cloned meanwhile.
    if st & (SCHEDULED | RUNNING | HANDLE | COMPLETED | CLOSED) == 0
        && hd.refs.load(Ordering::Acquire) == 1
    {
        // SAFETY: owner thread, not running: the stage is free.
        unsafe { close(h) };
    }
}

/// The owner side's reference was given back.
const RELEASED: u8 = 32;

/// On the owner thread: drops what the stage holds (the future or the
/// output). Their drop may drop this task's own wakers, whose last one
/// would free the task under our feet: the owner side is held (as
/// `RUNNING`) for the while.
///
/// # Safety
/// Owner thread; `h` alive; the stage not borrowed.
unsafe fn drop_stage(h: NonNull<Header>) {
    // SAFETY: the caller's contract.
    let hd = unsafe { header(h) };
    let running = hd.state.get() & RUNNING;
    hd.state.set(hd.state.get() | RUNNING);
    // SAFETY: the caller's contract.
    unsafe { (hd.vtable.drop_stage)(h) };
    hd.state.set((hd.state.get() & !RUNNING) | running);
}

/// On the owner thread: the task can no longer run; drops its future,
/// wakes whoever awaits it.
///
/// # Safety
/// Owner thread; `h` alive; the stage not borrowed.
unsafe fn close(h: NonNull<Header>) {
    // SAFETY: the caller's contract.
    let hd = unsafe { header(h) };
    let st = hd.state.get();
    if st & CLOSED != 0 {
        return;
    }
    hd.state.set(st | CLOSED);
    if st & COMPLETED == 0 {
        // SAFETY: owner thread, stage not borrowed (the caller's contract).
        unsafe { drop_stage(h) };
    }
    // SAFETY: owner thread: the join waker is only touched there.
    if let Some(w) = unsafe { (*hd.join_waker.get()).take() } {
        w.wake();
    }
}

/// On the owner thread: a wake-up. Queues the task unless it is queued,
/// finished, or running (then it is queued again when its poll returns).
///
/// # Safety
/// Owner thread; `h` alive.
#[inline(always)]
unsafe fn wake_here(h: NonNull<Header>) {
    // SAFETY: the caller's contract.
    let hd = unsafe { header(h) };
    let st = hd.state.get();
    if st & (SCHEDULED | COMPLETED | CLOSED) != 0 {
        return;
    }
    hd.state.set(st | SCHEDULED);
    if st & RUNNING == 0 {
        (hd.local)(Runnable { h });
    }
}

/// Drops one waker's reference on the owner thread; a pending task that
/// nothing can wake any more is dropped with it.
///
/// # Safety
/// Owner thread; the caller owns one counted reference.
unsafe fn drop_waker_here(h: NonNull<Header>) {
    // SAFETY: the reference held keeps the task alive until the decrement.
    let hd = unsafe { header(h) };
    if hd.state.get() & RELEASED != 0 {
        // Only wakers keep it: another thread may free it the moment this
        // count drops, so nothing is read after.
        if hd.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
            // SAFETY: the last reference.
            unsafe { (hd.vtable.dealloc)(h) };
        }
        return;
    }
    // The owner side's reference (ours to give back) keeps it alive.
    hd.refs.fetch_sub(1, Ordering::AcqRel);
    // SAFETY: owner thread; alive through the owner's reference.
    unsafe {
        reap_if_orphan(h);
        release_owner_if_done(h);
    }
}

/// Drops one waker's reference on another thread: only the count may be
/// touched here. A waker that may be the last one of a live task goes to
/// the owner, which decides there.
///
/// # Safety
/// The caller owns one counted reference.
unsafe fn drop_waker_away(h: NonNull<Header>) {
    // SAFETY: the reference held keeps the task alive.
    let hd = unsafe { header(h) };
    let mut refs = hd.refs.load(Ordering::Acquire);
    loop {
        match refs {
            // The owner side is gone: this is the last reference.
            1 => {
                if hd.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
                    // SAFETY: the last reference; what is left in the cell
                    // (the `remote` hook) is `Send`.
                    unsafe { (hd.vtable.dealloc)(h) };
                }
                return;
            }
            // Maybe the last waker of a live task: the owner decides.
            2 => {
                // SAFETY: this waker is handed over with its reference.
                let w = unsafe { Waker::from_raw(RawWaker::new(h.as_ptr().cast(), &WAKER)) };
                // SAFETY: `h` alive (this reference).
                unsafe { (hd.vtable.remote)(h, w, false) };
                return;
            }
            _ => match hd.refs.compare_exchange_weak(
                refs,
                refs - 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => refs = now,
            },
        }
    }
}

static WAKER: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

/// # Safety
/// `p` is a live task's header (the waker being cloned holds a reference
/// or is borrowed from a `Runnable` being run).
unsafe fn waker_clone(p: *const ()) -> RawWaker {
    // SAFETY: the caller's contract.
    let hd = unsafe { &*p.cast::<Header>() };
    hd.refs.fetch_add(1, Ordering::Relaxed);
    RawWaker::new(p, &WAKER)
}

/// # Safety
/// `p` is a live task's header and this waker owns one reference.
unsafe fn waker_wake(p: *const ()) {
    // SAFETY: the caller's contract; `p` is never null.
    let h = unsafe { NonNull::new_unchecked(p as *mut Header) };
    // SAFETY: alive (the reference owned).
    let hd = unsafe { header(h) };
    if hd.owner == here() {
        // SAFETY: owner thread, alive.
        unsafe {
            wake_here(h);
            drop_waker_here(h);
        }
    } else {
        // SAFETY: the reference travels with the waker.
        let w = unsafe { Waker::from_raw(RawWaker::new(p, &WAKER)) };
        // SAFETY: alive.
        unsafe { (hd.vtable.remote)(h, w, true) };
    }
}

/// # Safety
/// `p` is a live task's header.
unsafe fn waker_wake_by_ref(p: *const ()) {
    // SAFETY: the caller's contract; `p` is never null.
    let h = unsafe { NonNull::new_unchecked(p as *mut Header) };
    // SAFETY: alive.
    let hd = unsafe { header(h) };
    if hd.owner == here() {
        // SAFETY: owner thread, alive.
        unsafe { wake_here(h) };
    } else {
        // SAFETY: a new reference for the waker that travels.
        let w = unsafe { Waker::from_raw(waker_clone(p)) };
        // SAFETY: alive.
        unsafe { (hd.vtable.remote)(h, w, true) };
    }
}

/// # Safety
/// `p` is a live task's header and this waker owns one reference.
unsafe fn waker_drop(p: *const ()) {
    // SAFETY: the caller's contract; `p` is never null.
    let h = unsafe { NonNull::new_unchecked(p as *mut Header) };
    // SAFETY: alive.
    if unsafe { header(h) }.owner == here() {
        // SAFETY: owner thread, one reference owned.
        unsafe { drop_waker_here(h) };
    } else {
        // SAFETY: one reference owned.
        unsafe { drop_waker_away(h) };
    }
}

/// A scheduled run of a task, on its owner thread: [`run`](Self::run) it
/// (the loop does), or drop it (the task is cancelled). `!Send`.
pub(crate) struct Runnable {
    h: NonNull<Header>,
}

impl Runnable {
    /// Queues this run with the task's `local` hook.
    pub(crate) fn schedule(self) {
        // SAFETY: a Runnable keeps the task alive (SCHEDULED holds the
        // owner side's reference).
        let local = unsafe { header(self.h) }.local;
        local(self);
    }

    /// Polls the task once. Returns whether it completed.
    pub(crate) fn run(self) -> bool {
        let h = self.h;
        std::mem::forget(self);
        // SAFETY: this Runnable (SCHEDULED) kept the task alive; we are on
        // the owner thread (a Runnable is `!Send` and made only there).
        let hd = unsafe { header(h) };
        let st = hd.state.get();
        if st & CLOSED != 0 {
            hd.state.set(st & !SCHEDULED);
            // SAFETY: owner thread, alive.
            unsafe { release_owner_if_done(h) };
            return false;
        }
        hd.state.set((st & !SCHEDULED) | RUNNING);
        // A waker borrowed for the poll: no reference taken.
        // SAFETY: `WAKER`'s functions take a live header; the task stays
        // alive for the poll (RUNNING holds the owner side).
        let waker =
            ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(h.as_ptr().cast(), &WAKER)) });
        let mut cx = Context::from_waker(&waker);
        let guard = RunGuard(h);
        // SAFETY: owner thread, RUNNING: the stage is ours.
        let done = unsafe { (hd.vtable.poll)(h, &mut cx) };
        std::mem::forget(guard);
        let st = hd.state.get() & !RUNNING;
        if done {
            hd.state.set((st & !SCHEDULED) | COMPLETED);
            if st & HANDLE == 0 {
                // Detached: nobody will take the output.
                // SAFETY: owner thread, not running.
                unsafe { drop_stage(h) };
                hd.state.set(hd.state.get() | CLOSED);
            }
            // SAFETY: owner thread.
            if let Some(w) = unsafe { (*hd.join_waker.get()).take() } {
                w.wake();
            }
        } else {
            hd.state.set(st);
            if st & CLOSED != 0 {
                // Cancelled while it ran (its own handle dropped inside).
                // SAFETY: owner thread, not running.
                unsafe { drop_stage(h) };
            }
            if st & SCHEDULED != 0 && st & CLOSED == 0 {
                // Woken while it ran: queued again.
                (hd.local)(Runnable { h });
                return false;
            }
            hd.state.set(hd.state.get() & !SCHEDULED);
            // A detached task that left no waker anywhere can never run
            // again.
            // SAFETY: owner thread, not running.
            unsafe { reap_if_orphan(h) };
        }
        // SAFETY: owner thread, alive until this call gives back the
        // owner's reference.
        unsafe { release_owner_if_done(h) };
        done
    }
}

/// Closes a task whose poll unwound: its future is dropped, whoever
/// awaits it is woken. (The loop's tasks catch panics themselves; this
/// keeps the counts right if one gets through.)
struct RunGuard(NonNull<Header>);

impl Drop for RunGuard {
    fn drop(&mut self) {
        let h = self.0;
        // SAFETY: only reached while unwinding out of `run`, on the owner
        // thread, with the task alive (RUNNING).
        unsafe {
            let hd = header(h);
            hd.state.set(hd.state.get() & !(RUNNING | SCHEDULED));
            close(h);
            release_owner_if_done(h);
        }
    }
}

impl Drop for Runnable {
    /// A run never made (its queue dropped): the task is cancelled.
    fn drop(&mut self) {
        let h = self.h;
        // SAFETY: a Runnable keeps the task alive; owner thread (`!Send`).
        unsafe {
            let hd = header(h);
            hd.state.set(hd.state.get() & !SCHEDULED);
            close(h);
            release_owner_if_done(h);
        }
    }
}

/// The handle on a task's output, on its owner thread: a future resolving
/// to the output. Dropping it cancels the task; [`detach`](Self::detach)
/// lets it run on. `!Send`.
pub(crate) struct Task<T> {
    h: NonNull<Header>,
    _output: PhantomData<T>,
}

// The handle is a pointer: moving it moves no output.
impl<T> Unpin for Task<T> {}

impl<T> Task<T> {
    /// Lets the task run on without a handle; its output is dropped.
    pub(crate) fn detach(self) {
        let h = self.h;
        std::mem::forget(self);
        // SAFETY: the handle (HANDLE) kept the task alive; owner thread.
        unsafe {
            let hd = header(h);
            let st = hd.state.get() & !HANDLE;
            hd.state.set(st);
            if st & COMPLETED != 0 && st & CLOSED == 0 {
                drop_stage(h);
                hd.state.set(st | CLOSED);
            }
            reap_if_orphan(h);
            release_owner_if_done(h);
        }
    }

    /// Whether the task finished (completed or cancelled).
    pub(crate) fn is_finished(&self) -> bool {
        // SAFETY: the handle keeps the task alive; owner thread.
        unsafe { header(self.h) }.state.get() & (COMPLETED | CLOSED) != 0
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    /// The output once the task completed; pending before (and forever if
    /// the task was cancelled without an output).
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let h = self.h;
        // SAFETY: the handle keeps the task alive; owner thread.
        let hd = unsafe { header(h) };
        let st = hd.state.get();
        if st & COMPLETED != 0 && st & CLOSED == 0 {
            let mut out: Option<T> = None;
            // SAFETY: owner thread, not running (we are polling another
            // task or none); `out` is an `Option` of the output's type.
            unsafe { (hd.vtable.take_output)(h, (&mut out as *mut Option<T>).cast()) };
            hd.state.set(st | CLOSED);
            if let Some(v) = out {
                return Poll::Ready(v);
            }
        }
        // SAFETY: owner thread.
        let slot = unsafe { &mut *hd.join_waker.get() };
        if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *slot = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl<T> Drop for Task<T> {
    /// Cancels the task: its future (or unclaimed output) is dropped now,
    /// or right after its poll if it is the one running.
    fn drop(&mut self) {
        let h = self.h;
        // SAFETY: the handle keeps the task alive; owner thread.
        unsafe {
            let hd = header(h);
            let st = hd.state.get() & !HANDLE;
            hd.state.set(st);
            if st & RUNNING != 0 {
                // Its own handle, dropped inside its poll: `run` drops the
                // future when the poll returns.
                hd.state.set(st | CLOSED);
            } else if st & COMPLETED != 0 {
                if st & CLOSED == 0 {
                    drop_stage(h);
                    hd.state.set(st | CLOSED);
                }
            } else {
                close(h);
            }
            release_owner_if_done(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;
    use std::sync::{Arc, Mutex};

    thread_local! {
        static QUEUE: RefCell<VecDeque<Runnable>> = const { RefCell::new(VecDeque::new()) };
    }

    fn local(r: Runnable) {
        QUEUE.with(|q| q.borrow_mut().push_back(r));
    }

    fn queued() -> usize {
        QUEUE.with(|q| q.borrow().len())
    }

    /// Runs what is queued, including what it queues; how many runs.
    fn run_all() -> usize {
        let mut n = 0;
        while let Some(r) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
            r.run();
            n += 1;
        }
        n
    }

    type Inbox = Arc<Mutex<Vec<(Waker, bool)>>>;

    fn spawn<F>(f: F, inbox: &Inbox) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let inbox = Arc::clone(inbox);
        let (r, t) = spawn_local(f, local, move |w, wake| {
            inbox.lock().unwrap().push((w, wake))
        });
        r.schedule();
        t
    }

    /// What other threads handed to this one: woken or dropped here.
    fn deliver(inbox: &Inbox) -> usize {
        let got: Vec<_> = std::mem::take(&mut *inbox.lock().unwrap());
        let n = got.len();
        for (w, wake) in got {
            if wake {
                w.wake();
            }
        }
        n
    }

    fn poll_now<T>(t: &mut Task<T>) -> Poll<T> {
        Pin::new(t).poll(&mut Context::from_waker(Waker::noop()))
    }

    /// Pending until opened; keeps the last waker it was polled with.
    #[derive(Clone, Default)]
    struct Gate {
        open: Rc<Cell<bool>>,
        waker: Rc<RefCell<Option<Waker>>>,
    }

    impl Future for Gate {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.open.get() {
                return Poll::Ready(());
            }
            *self.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// Sets its flag when dropped.
    struct Dropped(Rc<Cell<bool>>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }

    #[test]
    fn a_task_completes_and_hands_its_output_to_its_handle() {
        let inbox = Inbox::default();
        let mut t = spawn(async { 7 }, &inbox);
        assert!(!t.is_finished());
        assert_eq!(run_all(), 1);
        assert!(t.is_finished());
        assert_eq!(poll_now(&mut t), Poll::Ready(7));
    }

    #[test]
    fn wakes_on_the_owner_thread_queue_it_once_and_it_runs_to_its_end() {
        let inbox = Inbox::default();
        let gate = Gate::default();
        let g = gate.clone();
        let mut t = spawn(
            async move {
                g.await;
                "done"
            },
            &inbox,
        );
        assert_eq!(run_all(), 1);
        let w = gate.waker.borrow().clone().unwrap();
        w.wake_by_ref();
        w.wake_by_ref();
        assert_eq!(queued(), 1, "two wakes, one run queued");
        assert_eq!(run_all(), 1);
        assert_eq!(poll_now(&mut t), Poll::Pending);
        gate.open.set(true);
        w.wake();
        assert_eq!(run_all(), 1);
        assert_eq!(poll_now(&mut t), Poll::Ready("done"));
    }

    #[test]
    fn a_wake_from_another_thread_reaches_the_owner_through_remote() {
        let inbox = Inbox::default();
        let gate = Gate::default();
        let g = gate.clone();
        let mut t = spawn(
            async move {
                g.await;
                1
            },
            &inbox,
        );
        run_all();
        let w = gate.waker.borrow().clone().unwrap();
        let w2 = w.clone();
        std::thread::spawn(move || {
            w2.wake_by_ref();
            w2.wake();
        })
        .join()
        .unwrap();
        assert_eq!(queued(), 0, "nothing queued from the other thread");
        assert_eq!(deliver(&inbox), 2);
        assert_eq!(queued(), 1);
        gate.open.set(true);
        run_all();
        assert_eq!(poll_now(&mut t), Poll::Ready(1));
        drop(w);
    }

    #[test]
    fn dropping_the_handle_cancels_the_task_and_drops_its_future_at_once() {
        let inbox = Inbox::default();
        let flag = Rc::new(Cell::new(false));
        let d = Dropped(Rc::clone(&flag));
        let gate = Gate::default();
        let g = gate.clone();
        let t = spawn(
            async move {
                let _d = d;
                g.await
            },
            &inbox,
        );
        run_all();
        assert!(!flag.get());
        drop(t);
        assert!(flag.get(), "the future is dropped with its handle");
        // A wake after the cancel queues nothing.
        gate.waker.borrow_mut().take().unwrap().wake();
        assert_eq!(queued(), 0);
    }

    #[test]
    fn a_task_cancelled_while_queued_never_runs() {
        let inbox = Inbox::default();
        let ran = Rc::new(Cell::new(false));
        let r = Rc::clone(&ran);
        let t = spawn(async move { r.set(true) }, &inbox);
        drop(t);
        assert_eq!(run_all(), 1);
        assert!(!ran.get());
    }

    #[test]
    fn a_detached_task_runs_to_its_end_and_its_output_is_dropped() {
        let inbox = Inbox::default();
        let flag = Rc::new(Cell::new(false));
        let f = Rc::clone(&flag);
        let gate = Gate::default();
        let g = gate.clone();
        spawn(
            async move {
                g.await;
                Dropped(f)
            },
            &inbox,
        )
        .detach();
        run_all();
        gate.open.set(true);
        gate.waker.borrow_mut().take().unwrap().wake();
        run_all();
        assert!(flag.get(), "the output of a detached task is dropped");
    }

    #[test]
    fn a_detached_task_is_dropped_with_its_last_waker_on_its_thread() {
        let inbox = Inbox::default();
        let flag = Rc::new(Cell::new(false));
        let d = Dropped(Rc::clone(&flag));
        let gate = Gate::default();
        let g = gate.clone();
        spawn(
            async move {
                let _d = d;
                g.await
            },
            &inbox,
        )
        .detach();
        run_all();
        assert!(!flag.get());
        drop(gate.waker.borrow_mut().take());
        assert!(flag.get(), "nothing can wake it: dropped");
    }

    #[test]
    fn a_last_waker_dropped_on_another_thread_drops_the_task_on_its_own() {
        let inbox = Inbox::default();
        let flag = Rc::new(Cell::new(false));
        let d = Dropped(Rc::clone(&flag));
        let gate = Gate::default();
        let g = gate.clone();
        spawn(
            async move {
                let _d = d;
                g.await
            },
            &inbox,
        )
        .detach();
        run_all();
        let w = gate.waker.borrow_mut().take().unwrap();
        std::thread::spawn(move || drop(w)).join().unwrap();
        assert!(!flag.get(), "the other thread never touches the future");
        assert_eq!(deliver(&inbox), 1);
        assert!(flag.get());
        assert_eq!(queued(), 0);
    }

    #[test]
    fn a_detached_task_that_kept_no_waker_is_dropped_after_its_poll() {
        let inbox = Inbox::default();
        let flag = Rc::new(Cell::new(false));
        let d = Dropped(Rc::clone(&flag));
        let lost = std::future::poll_fn(move |_| {
            let _ = &d;
            Poll::<()>::Pending
        });
        spawn(lost, &inbox).detach();
        run_all();
        assert!(flag.get());
    }

    #[test]
    fn a_task_that_wakes_itself_while_it_runs_runs_again() {
        let inbox = Inbox::default();
        let mut first = true;
        let mut t = spawn(
            std::future::poll_fn(move |cx| {
                if std::mem::take(&mut first) {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(2)
            }),
            &inbox,
        );
        assert_eq!(run_all(), 2);
        assert_eq!(poll_now(&mut t), Poll::Ready(2));
    }

    #[test]
    fn a_poll_that_panics_closes_the_task_and_wakes_its_awaiter() {
        let inbox = Inbox::default();
        let flag = Rc::new(Cell::new(false));
        let d = Dropped(Rc::clone(&flag));
        let mut t = spawn(
            std::future::poll_fn(move |_| -> Poll<()> {
                let _ = &d;
                panic!("boom")
            }),
            &inbox,
        );
        let r = QUEUE.with(|q| q.borrow_mut().pop_front()).unwrap();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.run()));
        assert!(caught.is_err());
        assert!(flag.get(), "its future is dropped");
        assert!(t.is_finished());
        assert_eq!(poll_now(&mut t), Poll::Pending, "no output, ever");
    }

    /// Keeps a clone of its own task's waker inside itself.
    struct SelfWaking(Option<Waker>, Rc<Cell<bool>>);

    impl Future for SelfWaking {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.0 = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    impl Drop for SelfWaking {
        fn drop(&mut self) {
            self.1.set(true);
        }
    }

    #[test]
    fn a_future_holding_its_own_waker_is_dropped_safely_on_cancel_and_on_completion() {
        let inbox = Inbox::default();
        // Cancelled: dropping the future drops the task's last waker.
        let flag = Rc::new(Cell::new(false));
        let t = spawn(SelfWaking(None, Rc::clone(&flag)), &inbox);
        run_all();
        drop(t);
        assert!(flag.get());
        // Completed while holding its own waker: the waker goes with
        // the future, inside the poll that completes it.
        let mut polls = 0;
        let mut own: Option<Waker> = None;
        let mut t = spawn(
            std::future::poll_fn(move |cx| {
                polls += 1;
                if polls == 1 {
                    own = Some(cx.waker().clone());
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                let _ = &own;
                Poll::Ready(polls)
            }),
            &inbox,
        );
        run_all();
        assert_eq!(poll_now(&mut t), Poll::Ready(2));
    }

    #[test]
    fn a_dropped_queue_cancels_the_runs_it_held() {
        let inbox = Inbox::default();
        let flag = Rc::new(Cell::new(false));
        let d = Dropped(Rc::clone(&flag));
        let t = spawn(
            async move {
                let _d = d;
            },
            &inbox,
        );
        QUEUE.with(|q| q.borrow_mut().clear());
        assert!(flag.get());
        assert!(t.is_finished());
    }
}
