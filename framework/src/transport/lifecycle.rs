//! The life of a transport as a state machine without IO, shared by every
//! transport kind (stream, TLS, pipe, datagram): what `close`, `abort`, a
//! fatal error, a drained queue and the delivery of `connection_lost` do to
//! it, and what the loop must then do (shut the write side, deliver
//! `pause_writing`, `connection_lost`, drop or linger the socket). The loop
//! feeds it events and carries out what it answers; nothing here touches a
//! socket, so every rule is unit-tested below, timers included, on
//! instants the tests make up.
//!
//! ```text
//!            close()             queue empty
//!   Open ───────────────► Closing ───────────► Finishing ──► Lost
//!    │                        │   (FIN sent)      ▲   connection_lost
//!    └──── abort() / fatal error ─────────────────┘   delivered (P2)
//! ```

use std::io;

/// Where a transport is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Reading and writing.
    Open,
    /// `close()` was called: flushing the queue, receiving nothing.
    Closing,
    /// `connection_lost` is due on the next loop iteration.
    Finishing,
    /// `connection_lost` was delivered; the socket may still linger.
    Lost,
}

/// The lifecycle of one transport (T3, T6, P2, P3, P10).
#[derive(Debug)]
pub(crate) struct Lifecycle {
    state: State,
    /// Ended by `abort()` or a fatal error: queued data was dropped and the
    /// socket is dropped, not lingered, after `connection_lost`.
    aborted: bool,
    /// The error `connection_lost` will report (the first one only).
    error: Option<io::Error>,
    /// `pause_writing` must be delivered when the current callback returns.
    pause_pending: bool,
    /// Something changed that the loop must look at after this callback.
    needs_settle: bool,
    /// What keeps input from the protocol, one bit each ([`PAUSED`]:
    /// `pause_reading()`, T5; [`CLOSED`]: no longer open; [`EOF`]: the
    /// peer's end was read) — zero while input flows, so the read path's
    /// check is one comparison.
    input_blocked: u8,
    /// The kernel may hold input (or EOF) not read yet: a read stopped
    /// before `WouldBlock`, or readiness came while reading was paused.
    read_ready: bool,
    /// `resume_reading()` found input pending: the loop reads it on its
    /// next iteration.
    read_resumed: bool,
    /// `drain_started` was delivered (P11: at most once).
    drain_told: bool,
}

/// [`Lifecycle`]'s `input_blocked` bits.
const PAUSED: u8 = 1;
const CLOSED: u8 = 2;
const EOF: u8 = 4;

/// What `connection_lost` carries, and whether the socket may linger.
#[derive(Debug)]
pub(crate) struct Lost {
    pub(crate) error: Option<io::Error>,
    pub(crate) aborted: bool,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    pub(crate) const fn new() -> Self {
        Self {
            state: State::Open,
            aborted: false,
            error: None,
            pause_pending: false,
            needs_settle: false,
            input_blocked: 0,
            read_ready: false,
            drain_told: false,
            read_resumed: false,
        }
    }

    #[inline(always)]
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// Reading and writing: neither closing nor lost.
    #[inline(always)]
    pub(crate) fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Not yet past `connection_lost` nor due for it: open or flushing.
    #[inline]
    pub(crate) fn is_live(&self) -> bool {
        matches!(self.state, State::Open | State::Closing)
    }

    /// `connection_lost` was delivered.
    #[inline]
    pub(crate) fn is_lost(&self) -> bool {
        self.state == State::Lost
    }

    /// `connection_lost` is due.
    #[inline]
    pub(crate) fn is_finishing(&self) -> bool {
        self.state == State::Finishing
    }

    /// Whether the transport was aborted (or failed).
    pub(crate) fn aborted(&self) -> bool {
        self.aborted
    }

    /// The error recorded for `connection_lost`, if any.
    #[cfg(test)]
    pub(crate) fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    /// Takes the recorded error (a failed handshake reports it to whoever
    /// awaited the connection instead of to a protocol).
    pub(crate) fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }

    /// `close()` (T3): Open → Closing. True when it changed the state (the
    /// caller then queues what closing sends, e.g. TLS close_notify); a
    /// second call does nothing.
    pub(crate) fn close(&mut self) -> bool {
        if self.state != State::Open {
            return false;
        }
        self.state = State::Closing;
        self.input_blocked |= CLOSED;
        self.needs_settle = true;
        true
    }

    /// `abort()` (T6): Open or Closing → Finishing, `connection_lost` next.
    /// True when it changed the state (the caller then drops its queue).
    pub(crate) fn abort(&mut self) -> bool {
        if !self.is_live() {
            return false;
        }
        self.aborted = true;
        self.state = State::Finishing;
        self.input_blocked |= CLOSED;
        self.needs_settle = true;
        true
    }

    /// A fatal error: as `abort`, and `connection_lost` reports `e` (P3).
    /// Errors after the first, or after the end, are dropped.
    pub(crate) fn fail(&mut self, e: io::Error) -> bool {
        if !self.is_live() {
            return false;
        }
        self.error = Some(e);
        self.abort()
    }

    /// A settle pass with the queue `empty` or not: a closing transport
    /// whose queue is flushed moves on to Finishing. True when that just
    /// happened: the caller shuts the write side down now (FIN after the
    /// last byte).
    pub(crate) fn flushed(&mut self, empty: bool) -> bool {
        if self.state == State::Closing && empty {
            self.state = State::Finishing;
            return true;
        }
        false
    }

    /// Finishing → Lost: what `connection_lost` carries. `None` unless it
    /// is due: it is delivered exactly once (P2).
    pub(crate) fn deliver_lost(&mut self) -> Option<Lost> {
        if self.state != State::Finishing {
            return None;
        }
        self.state = State::Lost;
        Some(Lost {
            error: self.error.take(),
            aborted: self.aborted,
        })
    }

    /// A write pushed the queue over the high mark: `pause_writing` is due
    /// when the callback returns (P10).
    pub(crate) fn pause_due(&mut self) {
        self.pause_pending = true;
        self.needs_settle = true;
    }

    /// Takes a due `pause_writing`.
    pub(crate) fn take_pause(&mut self) -> bool {
        std::mem::take(&mut self.pause_pending)
    }

    /// Asks the loop for a settle pass after the current callback.
    #[inline]
    pub(crate) fn touch(&mut self) {
        self.needs_settle = true;
    }

    /// Whether a settle pass is due (the loop's one check after each
    /// callback).
    #[inline(always)]
    pub(crate) fn needs_settle(&self) -> bool {
        self.needs_settle
    }

    /// Takes the settle request.
    #[inline]
    pub(crate) fn take_settle(&mut self) -> bool {
        std::mem::take(&mut self.needs_settle)
    }

    /// `pause_reading()` (T5): nothing is delivered until resumed.
    pub(crate) fn pause_reading(&mut self) {
        self.input_blocked |= PAUSED;
    }

    /// `resume_reading()` (T5): on an open transport, delivery resumes; if
    /// input arrived meanwhile, the loop reads it on its next iteration.
    pub(crate) fn resume_reading(&mut self) {
        if self.input_blocked & PAUSED != 0 && self.is_open() {
            self.input_blocked &= !PAUSED;
            if self.read_ready {
                self.read_resumed = true;
                self.needs_settle = true;
            }
        }
    }

    /// Not paused and open (asyncio's `is_reading`).
    pub(crate) fn is_reading(&self) -> bool {
        self.input_blocked & (PAUSED | CLOSED) == 0
    }

    /// Whether input may be delivered now: reading, and no EOF yet.
    #[inline(always)]
    pub(crate) fn delivers_input(&self) -> bool {
        self.input_blocked == 0
    }

    /// Whether the kernel may hold unread input.
    #[inline(always)]
    pub(crate) fn read_ready(&self) -> bool {
        self.read_ready
    }

    /// Readiness seen (true) or the socket drained (false).
    #[inline(always)]
    pub(crate) fn set_read_ready(&mut self, ready: bool) {
        self.read_ready = ready;
    }

    /// A readable edge the transport does not read now (closing, or
    /// flushed and about to report `connection_lost`): kept, so the
    /// lingering close reads at once. Edges do not repeat; one dropped
    /// here was a peer's FIN the linger would wait for until its timeout.
    pub(crate) fn readable_unread(&mut self) {
        self.read_ready = true;
    }

    /// Marks `drain_started` delivered; false if it already was (P11).
    pub(crate) fn tell_drain(&mut self) -> bool {
        !std::mem::replace(&mut self.drain_told, true)
    }

    /// Whether `drain_started` was delivered.
    pub(crate) fn drain_told(&self) -> bool {
        self.drain_told
    }

    /// Takes a resumed read that is due.
    pub(crate) fn take_read_resumed(&mut self) -> bool {
        std::mem::take(&mut self.read_resumed)
    }

    /// Asks again for a resumed read (a pass that could not do it).
    pub(crate) fn set_read_resumed(&mut self) {
        self.read_resumed = true;
    }

    /// The peer's EOF was read: nothing more will be delivered.
    pub(crate) fn eof_read(&mut self) {
        self.read_ready = false;
        self.input_blocked |= EOF;
    }

    /// Whether the peer's EOF was read.
    pub(crate) fn eof_seen(&self) -> bool {
        self.input_blocked & EOF != 0
    }

    /// What `eof_received` answered (P5) — `None` when it panicked — on a
    /// transport that can half-close or not (TLS and pipes cannot): whether
    /// the transport must now close. Only a `true` on a transport that can
    /// stay half-open keeps it open for writing.
    pub(crate) fn closes_after_eof(keep_open: Option<bool>, can_half_open: bool) -> bool {
        !(keep_open == Some(true) && can_half_open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reset() -> io::Error {
        io::Error::from(io::ErrorKind::ConnectionReset)
    }

    #[test]
    fn t3_close_flushes_then_finishes_once_and_a_second_close_does_nothing() {
        let mut l = Lifecycle::new();
        assert!(l.close() && l.take_settle());
        assert!(!l.close(), "a second close does nothing");
        assert!(!l.is_open() && l.is_live());
        assert!(!l.flushed(false), "still flushing");
        assert!(l.flushed(true), "FIN now");
        assert!(!l.flushed(true), "once");
        let lost = l.deliver_lost().expect("due");
        assert!(lost.error.is_none() && !lost.aborted);
        assert!(l.is_lost() && l.deliver_lost().is_none(), "P2: once");
    }

    #[test]
    fn t6_abort_skips_the_flush_and_lost_follows_once() {
        let mut l = Lifecycle::new();
        assert!(l.close());
        assert!(l.abort(), "abort while closing");
        assert!(l.is_finishing() && l.aborted());
        assert!(!l.abort() && !l.close());
        let lost = l.deliver_lost().unwrap();
        assert!(lost.aborted && lost.error.is_none());
        assert!(!l.abort(), "nothing after the end");
    }

    #[test]
    fn p3_the_first_fatal_error_is_what_lost_reports() {
        let mut l = Lifecycle::new();
        assert!(l.fail(reset()));
        assert!(!l.fail(io::Error::other("later")), "dropped");
        assert_eq!(
            l.error().map(io::Error::kind),
            Some(io::ErrorKind::ConnectionReset)
        );
        let lost = l.deliver_lost().unwrap();
        assert_eq!(
            lost.error.map(|e| e.kind()),
            Some(io::ErrorKind::ConnectionReset)
        );
        assert!(lost.aborted);
        let mut done = Lifecycle::new();
        done.abort();
        done.deliver_lost();
        assert!(!done.fail(reset()) && done.error().is_none(), "after lost");
    }

    #[test]
    fn t3_a_readable_edge_while_finishing_is_kept_for_the_lingering_close() {
        let mut l = Lifecycle::new();
        assert!(l.close());
        assert!(l.flushed(true));
        assert!(l.is_finishing());
        // The peer's FIN arrives between the flush and `connection_lost`.
        l.readable_unread();
        assert!(l.deliver_lost().is_some());
        assert!(l.is_lost());
        // The lingering close must read now: no other edge will tell it.
        assert!(l.read_ready() && !l.eof_seen());
    }

    #[test]
    fn t5_input_that_came_while_paused_is_read_after_resume_and_never_after_eof() {
        let mut l = Lifecycle::new();
        assert!(l.delivers_input());
        l.pause_reading();
        assert!(!l.is_reading() && !l.delivers_input());
        l.set_read_ready(true); // data arrived while paused
        l.resume_reading();
        assert!(
            l.take_settle() && l.take_read_resumed(),
            "read on the next iteration"
        );
        l.resume_reading();
        assert!(!l.take_read_resumed(), "idempotent");
        l.eof_read();
        assert!(l.is_reading() && !l.delivers_input() && !l.read_ready());
        let mut closing = Lifecycle::new();
        closing.pause_reading();
        closing.set_read_ready(true);
        closing.close();
        closing.resume_reading();
        assert!(
            !closing.take_read_resumed(),
            "nothing resumes on a closing transport"
        );
    }

    #[test]
    fn p5_only_eof_received_true_on_a_half_closable_transport_stays_open() {
        assert!(
            !Lifecycle::closes_after_eof(Some(true), true),
            "half-open TCP"
        );
        assert!(Lifecycle::closes_after_eof(Some(false), true));
        assert!(Lifecycle::closes_after_eof(None, true), "a panic closes");
        assert!(Lifecycle::closes_after_eof(Some(true), false), "TLS cannot");
    }

    #[test]
    fn p10_a_due_pause_is_taken_once_and_asks_for_a_settle() {
        let mut l = Lifecycle::new();
        assert!(!l.needs_settle());
        l.pause_due();
        assert!(l.needs_settle());
        assert!(l.take_pause() && !l.take_pause());
    }
}
