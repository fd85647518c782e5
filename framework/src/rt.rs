//! hyper 1.x's runtime traits over a shard (feature `hyper`): serve and
//! call HTTP/1.1 and HTTP/2 with hyper on shardloop's loops, no tokio
//! runtime anywhere.
//!
//! - I/O: [`StreamIo`](crate::streams::StreamIo) is `hyper::rt::Read` and
//!   `hyper::rt::Write`.
//! - [`ShardExecutor`]: hyper's `Executor`, spawning what hyper runs
//!   beside a connection (HTTP/2 streams) as tasks of the shard, with
//!   [`LoopHandle::spawn_local`] — `!Send` futures are fine.
//! - [`ShardTimer`]: hyper's `Timer` on the loop's own timers (and its
//!   clock: a loop on a manual clock times hyper out in virtual time).
//!
//! ```no_run
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper::{Request, Response, body::Incoming, service::service_fn};
//! use shardloop::rt::{ShardExecutor, ShardTimer};
//! use shardloop::streams::{StreamIo, StreamReader, StreamWriter};
//! use shardloop::{EventLoop, LoopHandle};
//!
//! async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     Ok(Response::new(Full::new(Bytes::from_static(b"Hello, World!"))))
//! }
//!
//! # fn main() -> std::io::Result<()> {
//! let mut lp = EventLoop::new()?;
//! lp.start_server(|reader: StreamReader, writer: StreamWriter| async move {
//!     let io = StreamIo::new(reader, writer);
//!     let _ = hyper::server::conn::http1::Builder::new()
//!         .timer(ShardTimer)
//!         .serve_connection(io, service_fn(hello))
//!         .await;
//! }, "127.0.0.1:3000")?;
//! lp.run_forever()?;
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::LoopHandle;

/// hyper's `Executor` on a shard: what hyper spawns (an HTTP/2 stream, a
/// client connection's background task) runs as a task of the loop this
/// executor names, detached. Clonable; `!Send`, as the loop is.
#[derive(Clone, Debug)]
pub struct ShardExecutor {
    lp: LoopHandle,
}

impl ShardExecutor {
    /// An executor spawning on `lp`'s loop.
    pub fn new(lp: LoopHandle) -> Self {
        Self { lp }
    }

    /// An executor spawning on the loop polling the current task; `None`
    /// outside a task.
    pub fn current() -> Option<Self> {
        LoopHandle::current().map(Self::new)
    }
}

impl<F> hyper::rt::Executor<F> for ShardExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, future: F) {
        // Detached: hyper keeps its own handles on what it spawns.
        drop(self.lp.spawn_local(future));
    }
}

/// hyper's `Timer` on the loop's timers: a sleep is a `call_at` of the
/// loop polling the task that asked for it, measured on that loop's clock;
/// dropping a sleep early (hyper resets its keep-alive and header timers
/// often) cancels its timer.
///
/// hyper asks for its sleeps from the connection futures it is polled in,
/// which on shardloop are tasks of a shard. A sleep asked for outside any
/// task has no loop to run on and never completes (hyper's timeout then
/// never fires); nothing in hyper does that.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShardTimer;

impl hyper::rt::Timer for ShardTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let lp = LoopHandle::current();
        let deadline = lp.as_ref().map_or_else(Instant::now, LoopHandle::time) + duration;
        Box::pin(ShardSleep::start(lp, deadline))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(ShardSleep::start(LoopHandle::current(), deadline))
    }

    fn now(&self) -> Instant {
        LoopHandle::current().map_or_else(Instant::now, |lp| lp.time())
    }
}

/// What a sleep and its loop timer share: the timer may fire after the
/// sleep is gone, and hyper requires a sleep to be `Send + Sync`.
#[derive(Debug, Default)]
struct Alarm {
    rang: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// One of [`ShardTimer`]'s sleeps.
#[derive(Debug)]
struct ShardSleep {
    alarm: Arc<Alarm>,
    /// The loop's identity and the timer's key, to cancel it on drop.
    timer: Option<(usize, u64)>,
}

impl ShardSleep {
    fn start(lp: Option<LoopHandle>, deadline: Instant) -> Self {
        let alarm = Arc::new(Alarm::default());
        let timer = lp.map(|lp| {
            let a = Arc::clone(&alarm);
            let h = lp.call_at(deadline, move |_| {
                a.rang.store(true, Ordering::Release);
                if let Some(w) = a.waker.lock().take() {
                    w.wake();
                }
            });
            (lp.identity(), h.into_raw())
        });
        Self { alarm, timer }
    }
}

impl Future for ShardSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.alarm.rang.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        let mut w = self.alarm.waker.lock();
        if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *w = Some(cx.waker().clone());
        }
        drop(w);
        // The timer may have rung between the check and the waker's store.
        if self.alarm.rang.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl hyper::rt::Sleep for ShardSleep {}

impl Drop for ShardSleep {
    fn drop(&mut self) {
        if self.alarm.rang.load(Ordering::Acquire) {
            return;
        }
        // Cancelled on its own loop only: a timer key means nothing to
        // another loop. Elsewhere (a task dropped outside a poll) the
        // timer rings later into an alarm nobody waits on.
        if let (Some((loop_id, key)), Some(lp)) = (self.timer, LoopHandle::current()) {
            if lp.identity() == loop_id {
                lp.cancel_raw(key);
            }
        }
    }
}
