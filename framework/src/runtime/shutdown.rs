//! Stopping a [`Runtime`]: the graceful drain (listeners closed, every
//! connection flushed and closed, lingering closes waited for, the rest
//! aborted at the deadline), its report, and the cutter that ends it early.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Runtime;
use crate::error::LoopError;
use crate::shard::EventLoop;

impl Runtime {
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
        // The copies kept for a takeover would keep the shards' sockets
        // open (and a `reuseport` one queueing connections nobody accepts).
        self.shard_sockets.lock().clear();
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
        // The copies kept for a takeover would keep the shards' sockets
        // open (and a `reuseport` one queueing connections nobody accepts).
        self.shard_sockets.lock().clear();
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
