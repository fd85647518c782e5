//! The timed rules of a connection's end, without IO or clocks of their
//! own: the idle timeout's bookkeeping and the lingering close's check
//! (T3). The loop calls them from its timers with its own clock's
//! instants; the tests below make instants up.

use std::time::{Duration, Instant};

/// The idle timeout's bookkeeping for one connection: the loop sweeps
/// every `timeout / SWEEPS`, and a connection whose byte count did not
/// move for `SWEEPS` sweeps in a row has been idle for at least the
/// timeout and at most an eighth more.
///
/// One word per connection: the low 60 bits hold the byte count the last
/// sweep saw change (all ones: none seen yet, so the first sweep only
/// marks and time before the connection existed never counts), the top 4
/// the quiet sweeps since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdleWatch(u64);

impl Default for IdleWatch {
    fn default() -> Self {
        Self::new()
    }
}

impl IdleWatch {
    /// Sweeps per idle timeout.
    pub(crate) const SWEEPS: u32 = 8;
    const MARK: u64 = (1 << 60) - 1;

    pub(crate) const fn new() -> Self {
        Self(Self::MARK)
    }

    /// One sweep seeing `bytes` moved in total; true when the connection
    /// has now been idle for the whole timeout.
    pub(crate) fn sweep(&mut self, bytes: u64) -> bool {
        let bytes = bytes & Self::MARK;
        if self.0 & Self::MARK != bytes {
            self.0 = bytes;
            return false;
        }
        let quiet = ((self.0 >> 60) as u32 + 1).min(Self::SWEEPS);
        self.0 = (u64::from(quiet) << 60) | bytes;
        quiet >= Self::SWEEPS
    }
}

/// How far a lingering close has come: input discarded so far, and what
/// the kernel still holds unacknowledged in the send queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LingerMark {
    discarded: u64,
    unacked: usize,
}

impl LingerMark {
    /// A mark of `discarded` input bytes and `unacked` sent ones.
    pub(crate) fn new(discarded: u64, unacked: usize) -> Self {
        Self { discarded, unacked }
    }

    /// Whether the peer acknowledged some of what we sent since `before`.
    pub(crate) fn acked_since(self, before: LingerMark) -> bool {
        self.unacked < before.unacked
    }

    /// Whether the connection moved since `before`: the peer sent something
    /// or acknowledged some of what we sent.
    pub(crate) fn progressed_since(self, before: LingerMark) -> bool {
        self.discarded != before.discarded || self.acked_since(before)
    }
}

/// The rule of a lingering close (T3), checked every `linger_timeout`:
/// go on while the peer acknowledges what we sent (a slow reader keeps
/// its socket until it has everything), or while it keeps sending but for
/// `linger_time` at most since the close (nginx's `lingering_time`); end
/// once a whole period passed with neither.
pub(crate) fn linger_goes_on(
    before: LingerMark,
    now: LingerMark,
    since: Instant,
    at: Instant,
    linger_time: Duration,
) -> bool {
    now.acked_since(before)
        || (now.progressed_since(before) && at.saturating_duration_since(since) < linger_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_connection_times_out_after_eight_quiet_sweeps_after_the_first_mark() {
        let mut w = IdleWatch::new();
        assert!(!w.sweep(0), "the first sweep only marks");
        for _ in 1..IdleWatch::SWEEPS {
            assert!(!w.sweep(0));
        }
        assert!(w.sweep(0), "eighth quiet sweep after the mark");
        let mut w = IdleWatch::new();
        w.sweep(0);
        for i in 0..3 * IdleWatch::SWEEPS as u64 {
            assert!(!w.sweep(i + 1), "traffic keeps it alive");
        }
    }

    #[test]
    fn t3_a_lingering_close_goes_on_while_acknowledged_and_for_linger_time_while_fed() {
        let t0 = Instant::now();
        let secs = Duration::from_secs;
        let mark = |discarded, unacked| LingerMark { discarded, unacked };
        let limit = secs(30);
        // The peer acknowledges our bytes: on, however long.
        assert!(linger_goes_on(
            mark(0, 100),
            mark(0, 50),
            t0,
            t0 + secs(3600),
            limit
        ));
        // It only sends: on until linger_time, then off.
        assert!(linger_goes_on(
            mark(0, 0),
            mark(9, 0),
            t0,
            t0 + secs(29),
            limit
        ));
        assert!(!linger_goes_on(
            mark(0, 0),
            mark(9, 0),
            t0,
            t0 + secs(30),
            limit
        ));
        // A whole period of silence: off at once.
        assert!(!linger_goes_on(
            mark(5, 10),
            mark(5, 10),
            t0,
            t0 + secs(5),
            limit
        ));
    }
}
