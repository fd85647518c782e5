//! Counters and latencies of one shard's clients, merged at the end.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// What one shard measured. Shared by its clients through an `Rc` (one
/// thread), merged across shards when the run ends.
#[derive(Debug)]
pub struct Tally {
    /// Latencies in nanoseconds of responses completed in the measured window.
    pub latency: Histogram<u64>,
    /// Responses completed in the measured window.
    pub completed: u64,
    /// Responses completed in the whole run, warm-up included (for figures
    /// counted over the whole run, such as the server's syscalls).
    pub completed_total: u64,
    /// Responses that differed from what was expected.
    pub mismatches: u64,
    /// Connections lost before the run ended.
    pub dropped: u64,
    /// Datagrams never answered (UDP only).
    pub lost: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
            completed: 0,
            completed_total: 0,
            mismatches: 0,
            dropped: 0,
            lost: 0,
        }
    }
}

impl Tally {
    /// Adds another shard's figures.
    pub fn merge(&mut self, other: &Tally) {
        self.latency.add(&other.latency).expect("same bounds");
        self.completed += other.completed;
        self.completed_total += other.completed_total;
        self.mismatches += other.mismatches;
        self.dropped += other.dropped;
        self.lost += other.lost;
    }
}

/// The measured window and the shard's tally, shared by its clients.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Responses completing before this are warm-up: not recorded. Set
    /// once every shard is connected.
    pub measure_from: Rc<Cell<Instant>>,
    /// Stop the shard after this many recorded responses (`--requests`).
    pub quota: Option<u64>,
    /// The shard's figures.
    pub tally: Rc<RefCell<Tally>>,
}

impl Recorder {
    /// Records one response whose latency counts from `since`; returns
    /// whether the shard's quota is now reached.
    pub fn response(&self, since: Instant, now: Instant) -> bool {
        let mut t = self.tally.borrow_mut();
        t.completed_total += 1;
        if now < self.measure_from.get() {
            return false;
        }
        let ns = now.saturating_duration_since(since).as_nanos() as u64;
        let _ = t.latency.record(ns.max(1));
        t.completed += 1;
        self.quota.is_some_and(|q| t.completed >= q)
    }

    /// Counts a response that did not match.
    pub fn mismatch(&self) {
        self.tally.borrow_mut().mismatches += 1;
    }

    /// Counts a connection lost before the end.
    pub fn dropped(&self) {
        self.tally.borrow_mut().dropped += 1;
    }

    /// Counts a datagram never answered.
    pub fn lost(&self) {
        self.tally.borrow_mut().lost += 1;
    }
}

/// Microseconds, for printing.
pub fn micros(ns: u64) -> f64 {
    Duration::from_nanos(ns).as_secs_f64() * 1e6
}
