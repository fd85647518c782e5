//! Write flow control: the high/low water marks and the pause/resume rules
//! shared by every transport kind (T9, T10, P8).
//!
//! This is bookkeeping only — no IO — so the boundaries are unit-tested here
//! and the transports only report the buffer size after each change.

use crate::error::TransportError;

/// Default high-water mark when neither limit is given (asyncio's default).
pub const DEFAULT_HIGH: usize = 64 * 1024;
/// Default low-water mark when neither limit is given (asyncio's default).
pub const DEFAULT_LOW: usize = 16 * 1024;

/// What the protocol must be told after a change of buffer size or limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlowEvent {
    /// Nothing to tell.
    None,
    /// Call `pause_writing()`.
    Pause,
    /// Call `resume_writing()`.
    Resume,
}

/// Write-buffer limits plus whether the protocol currently believes it is
/// paused. `pause_writing` and `resume_writing` are strictly paired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlowControl {
    high: usize,
    low: usize,
    paused: bool,
}

impl Default for FlowControl {
    fn default() -> Self {
        Self {
            high: DEFAULT_HIGH,
            low: DEFAULT_LOW,
            paused: false,
        }
    }
}

/// Resolves optional `(high, low)` into concrete limits following T10:
/// none → 64 KiB / 16 KiB; only low → high = 4 × low; only high → low =
/// high / 4 (so high 0 forces low 0); low > high is an error.
pub fn resolve_limits(
    high: Option<usize>,
    low: Option<usize>,
) -> Result<(usize, usize), TransportError> {
    let (high, low) = match (high, low) {
        (None, None) => (DEFAULT_HIGH, DEFAULT_LOW),
        (None, Some(low)) => (low.saturating_mul(4), low),
        (Some(high), None) => (high, high / 4),
        (Some(high), Some(low)) => (high, low),
    };
    if low > high {
        return Err(TransportError::InvalidLimits { high, low });
    }
    Ok((high, low))
}

impl FlowControl {
    /// Limits resolved by [`resolve_limits`], protocol not paused.
    pub(crate) fn with_limits(high: usize, low: usize) -> Self {
        debug_assert!(low <= high);
        Self {
            high,
            low,
            paused: false,
        }
    }

    /// `(low, high)`, asyncio's order for `get_write_buffer_limits`.
    pub(crate) fn limits(&self) -> (usize, usize) {
        (self.low, self.high)
    }

    /// Whether `pause_writing` has been issued without its `resume_writing`.
    #[cfg(test)]
    pub(crate) fn is_paused(&self) -> bool {
        self.paused
    }

    /// Replaces the limits, then re-checks `size` against the new high mark.
    /// Like asyncio, new limits may pause at once but never resume: resuming
    /// is a drain event.
    pub(crate) fn set_limits(&mut self, high: usize, low: usize, size: usize) -> FlowEvent {
        self.high = high;
        self.low = low;
        self.after_grow(size)
    }

    /// Called after the buffer grew to `size`: pause once when strictly over
    /// the high mark, never again while paused.
    #[inline]
    pub(crate) fn after_grow(&mut self, size: usize) -> FlowEvent {
        if !self.paused && size > self.high {
            self.paused = true;
            FlowEvent::Pause
        } else {
            FlowEvent::None
        }
    }

    /// Called after the buffer drained to `size`: resume once when at or
    /// under the low mark.
    #[inline]
    pub(crate) fn after_drain(&mut self, size: usize) -> FlowEvent {
        if self.paused && size <= self.low {
            self.paused = false;
            FlowEvent::Resume
        } else {
            FlowEvent::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t10_defaults_and_derivations() {
        assert_eq!(resolve_limits(None, None).unwrap(), (65536, 16384));
        assert_eq!(resolve_limits(None, Some(1000)).unwrap(), (4000, 1000));
        assert_eq!(resolve_limits(Some(1000), None).unwrap(), (1000, 250));
        assert_eq!(resolve_limits(Some(0), None).unwrap(), (0, 0));
        assert_eq!(resolve_limits(Some(10), Some(10)).unwrap(), (10, 10));
        let err = resolve_limits(Some(10), Some(11)).unwrap_err();
        assert!(matches!(
            err,
            TransportError::InvalidLimits { high: 10, low: 11 }
        ));
        assert!(err.to_string().contains("low-water limit (11)"));
    }

    #[test]
    fn p8_pause_strictly_over_high_once() {
        let mut f = FlowControl::with_limits(100, 10);
        assert_eq!(f.after_grow(100), FlowEvent::None, "equal is not over");
        assert_eq!(f.after_grow(101), FlowEvent::Pause);
        assert_eq!(f.after_grow(10_000), FlowEvent::None, "never twice");
        assert_eq!(f.after_drain(11), FlowEvent::None);
        assert_eq!(f.after_drain(10), FlowEvent::Resume, "at low resumes");
        assert_eq!(f.after_drain(0), FlowEvent::None, "never twice");
    }

    #[test]
    fn p8_zero_marks() {
        let mut f = FlowControl::with_limits(0, 0);
        assert_eq!(f.after_grow(0), FlowEvent::None);
        assert_eq!(f.after_grow(1), FlowEvent::Pause);
        assert_eq!(f.after_drain(1), FlowEvent::None, "low 0 waits for empty");
        assert_eq!(f.after_drain(0), FlowEvent::Resume);
    }

    #[test]
    fn t10_set_limits_rechecks_at_once() {
        let mut f = FlowControl::default();
        assert_eq!(f.after_grow(5000), FlowEvent::None);
        assert_eq!(f.set_limits(4000, 1000, 5000), FlowEvent::Pause);
        assert!(f.is_paused());
        assert_eq!(f.set_limits(1 << 20, 1 << 18, 5000), FlowEvent::None);
        assert!(f.is_paused(), "raising limits does not resume by itself");
        assert_eq!(f.limits(), (1 << 18, 1 << 20));
    }
}
