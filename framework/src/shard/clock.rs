//! The loop's clock: the system's monotonic clock, or a manual one that
//! only moves when told to, so that timeouts can be tested without waiting
//! (in the spirit of quinn's test `Pair` and tokio's paused time).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where an [`EventLoop`](crate::EventLoop) reads the time: every timer of
/// the loop — `call_later`/`call_at`, [`sleep`](crate::LoopHandle::sleep),
/// the idle timeout, the TLS handshake timeout, the lingering close — is
/// measured on it, and [`LoopHandle::time`](crate::LoopHandle::time)
/// returns it.
///
/// [`Clock::system`] (the default) is `Instant::now()`. A
/// [`Clock::manual`] clock starts at the instant it is made and moves only
/// by [`Clock::advance`], from any thread: a test arms a 30 s timeout and
/// fires it at once by advancing the clock 30 s. A loop on a manual clock
/// polls for I/O at least every millisecond while it has a timer armed, so
/// that it notices the clock moved.
///
/// Set it with [`LoopConfig::clock`](crate::LoopConfig::clock). The
/// [`Runtime`](crate::Runtime)'s own deadlines (the drain of a shutdown,
/// the acceptor's back-off) are real time whatever its loops' clock.
///
/// ```
/// use std::time::Duration;
/// use shardloop::{Clock, EventLoop, LoopConfig};
///
/// let clock = Clock::manual();
/// let mut config = LoopConfig::default();
/// config.clock = clock.clone();
/// let mut lp = EventLoop::with_config(config).unwrap();
/// let start = lp.handle().time();
/// lp.call_later(Duration::from_secs(3600), |lp| lp.stop());
/// clock.advance(Duration::from_secs(3600));
/// lp.run_forever().unwrap(); // returns at once: an hour has "passed"
/// assert_eq!(lp.handle().time() - start, Duration::from_secs(3600));
/// ```
#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<Manual>>,
}

struct Manual {
    origin: Instant,
    /// Wall-clock milliseconds since the Unix epoch at `origin`.
    origin_unix_ms: u64,
    /// Nanoseconds advanced since `origin`.
    offset: AtomicU64,
}

impl Clock {
    /// The system's monotonic clock (`Instant::now()`).
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that stands still until [`advance`](Self::advance)d. Clones
    /// share it: advance the clone the test kept and the loop sees it.
    pub fn manual() -> Self {
        Self {
            manual: Some(Arc::new(Manual {
                origin: Instant::now(),
                origin_unix_ms: system_unix_ms(),
                offset: AtomicU64::new(0),
            })),
        }
    }

    /// Whether this is a manual clock.
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    /// The current instant on this clock.
    #[inline]
    pub fn now(&self) -> Instant {
        match &self.manual {
            None => Instant::now(),
            Some(m) => m.origin + Duration::from_nanos(m.offset.load(Ordering::Acquire)),
        }
    }

    /// Wall-clock time in milliseconds since the Unix epoch, for what
    /// speaks in dates (Redis's `EXPIREAT`, HTTP's `Date`): the system's
    /// clock, or on a manual clock the wall time when it was made plus
    /// what it was advanced by — so expiry in wall time is testable
    /// without waiting too.
    #[inline]
    pub fn unix_ms(&self) -> u64 {
        match &self.manual {
            None => system_unix_ms(),
            Some(m) => m.origin_unix_ms + m.offset.load(Ordering::Acquire) / 1_000_000,
        }
    }

    /// Moves a manual clock forward by `by` (saturating after about 584
    /// years). Loops on it run what fell due on their next iteration.
    ///
    /// # Panics
    /// On the system clock, which nobody can move.
    pub fn advance(&self, by: Duration) {
        let m = self
            .manual
            .as_ref()
            .expect("Clock::advance: only a Clock::manual() clock can be moved");
        let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // fetch_update cannot fail with a closure that always returns Some.
        let _ = m
            .offset
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |o| {
                Some(o.saturating_add(ns))
            });
    }

    /// The instant `delay` from now on this clock, saturating at about a
    /// century ahead: a duration too long for the clock means "not in this
    /// process's life", not a panic.
    pub(crate) fn after(&self, delay: Duration) -> Instant {
        const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
        let now = self.now();
        now.checked_add(delay.min(CENTURY)).unwrap_or(now)
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.manual {
            None => f.write_str("Clock::system"),
            Some(m) => f
                .debug_struct("Clock::manual")
                .field(
                    "advanced",
                    &Duration::from_nanos(m.offset.load(Ordering::Acquire)),
                )
                .finish(),
        }
    }
}

/// Two clocks are equal when they are the system clock, or the same manual
/// clock (clones of one `Clock::manual()`).
impl PartialEq for Clock {
    fn eq(&self, other: &Self) -> bool {
        match (&self.manual, &other.manual) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Clock {}

/// The system's wall clock, in milliseconds since the Unix epoch.
fn system_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced_and_its_clones_share_it() {
        let c = Clock::manual();
        let t0 = c.now();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(c.now(), t0);
        let c2 = c.clone();
        c2.advance(Duration::from_secs(5));
        assert_eq!(c.now() - t0, Duration::from_secs(5));
        assert_eq!(c, c2);
        assert_ne!(c, Clock::manual());
        assert_eq!(Clock::system(), Clock::default());
        assert_eq!(
            c.after(Duration::MAX) - c.now(),
            Duration::from_secs(100 * 365 * 24 * 3600)
        );
    }

    #[test]
    #[should_panic(expected = "only a Clock::manual() clock")]
    fn the_system_clock_cannot_be_advanced() {
        Clock::system().advance(Duration::from_secs(1));
    }
}
