//! The stream client: one shardloop protocol per connection, closed loop
//! (`pipeline` requests in flight) or open loop (requests at their intended
//! times, latency counted from those times, as wrk2 does).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shardloop::{Protocol, Transport};

use crate::stats::Recorder;
use crate::workload::{Check, Workload};
use crate::Shared;

/// Where the next connection's sequence numbers start.
static FIRST_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One load connection.
pub struct TcpClient {
    workload: Arc<dyn Workload>,
    rec: Recorder,
    shared: Shared,
    pipeline: usize,
    /// Open loop: the time between two requests of this connection.
    interval: Option<Duration>,
    next_intended: Instant,
    next_seq: u64,
    /// Requests sent and not yet answered, with the instant their latency
    /// counts from.
    outstanding: VecDeque<(u64, Instant)>,
    /// The response expected to the oldest outstanding request, and how much
    /// of it has arrived.
    expected: Vec<u8>,
    offset: usize,
    /// The other right response, when the workload has one.
    alternative: Vec<u8>,
    scratch: Vec<u8>,
    /// The workload checks responses by parsing ([`Workload::check`]).
    parsed: bool,
    /// Parsed mode: received bytes not yet checked.
    pending: Vec<u8>,
}

impl TcpClient {
    /// A client that starts sending once connected.
    pub fn new(
        workload: Arc<dyn Workload>,
        rec: Recorder,
        shared: Shared,
        pipeline: usize,
        interval: Option<Duration>,
    ) -> Self {
        let parsed = workload.check(0, b"").is_some();
        Self {
            workload,
            rec,
            shared,
            pipeline: pipeline.max(1),
            interval,
            next_intended: Instant::now(),
            // Each connection its own stretch of sequence numbers, so keyed
            // workloads (RESP) do not move in lockstep.
            next_seq: FIRST_SEQ.fetch_add(1 << 32, std::sync::atomic::Ordering::Relaxed),
            outstanding: VecDeque::new(),
            expected: Vec::new(),
            offset: 0,
            alternative: Vec::new(),
            scratch: Vec::new(),
            parsed,
            pending: Vec::new(),
        }
    }

    /// Adds the next request to `scratch`; [`flush`](Self::flush) sends
    /// everything added since the last one in one write.
    fn queue(&mut self, since: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.workload.request(seq, &mut self.scratch);
        self.outstanding.push_back((seq, since));
    }

    fn flush(&mut self, t: &mut Transport) {
        if !self.scratch.is_empty() {
            let _ = t.write(&self.scratch);
            self.scratch.clear();
        }
    }

    /// Open loop: sends every request whose intended time has come, then
    /// sleeps until the next one.
    fn tick(&mut self, t: &mut Transport) {
        let Some(interval) = self.interval else {
            return;
        };
        if self.shared.stopping.get() || t.is_closing() {
            return;
        }
        let now = Instant::now();
        while self.next_intended <= now {
            let intended = self.next_intended;
            self.queue(intended);
            self.next_intended += interval;
        }
        self.flush(t);
        let h = t.handle();
        t.get_loop().call_at(self.next_intended, move |lp| {
            lp.with_connection::<TcpClient, _>(h, |c, t| c.tick(t));
        });
    }

    /// `data_received` for workloads that check responses by parsing:
    /// responses accumulate in `pending` until the workload calls one whole.
    fn data_parsed(&mut self, t: &mut Transport, data: &[u8]) {
        self.pending.extend_from_slice(data);
        let mut used = 0;
        loop {
            let Some(&(seq, since)) = self.outstanding.front() else {
                if used < self.pending.len() {
                    return self.fail(t); // bytes nobody asked for
                }
                break;
            };
            match self.workload.check(seq, &self.pending[used..]) {
                Some(Check::Complete(n)) => {
                    used += n;
                    self.outstanding.pop_front();
                    let now = Instant::now();
                    if self.rec.response(since, now) {
                        self.shared.stop(t.get_loop());
                    }
                    if self.interval.is_none() && !self.shared.stopping.get() {
                        self.queue(now);
                    }
                }
                Some(Check::Partial) => break,
                Some(Check::Bad) | None => return self.fail(t),
            }
        }
        self.pending.drain(..used);
        self.flush(t);
    }

    fn fail(&mut self, t: &mut Transport) {
        self.scratch.clear();
        self.rec.mismatch();
        t.abort();
    }
}

impl Protocol for TcpClient {
    fn connection_made(&mut self, t: &mut Transport) {
        if self.interval.is_some() {
            self.next_intended = Instant::now();
            self.tick(t);
        } else {
            for _ in 0..self.pipeline {
                self.queue(Instant::now());
            }
            self.flush(t);
        }
    }

    fn data_received(&mut self, t: &mut Transport, mut data: &[u8]) {
        if self.parsed {
            return self.data_parsed(t, data);
        }
        while !data.is_empty() {
            if self.offset == 0 && self.expected.is_empty() {
                let Some(&(seq, _)) = self.outstanding.front() else {
                    return self.fail(t); // bytes nobody asked for
                };
                self.workload.expected(seq, &mut self.expected);
                self.alternative.clear();
                self.workload.alternative(seq, &mut self.alternative);
            }
            let n = (self.expected.len() - self.offset).min(data.len());
            if data[..n] != self.expected[self.offset..self.offset + n] {
                // The other right response, if it agrees with every byte
                // so far (they differ early: `$-1` against `$<len>`).
                let alt = &self.alternative;
                let m = (alt.len().saturating_sub(self.offset)).min(data.len());
                let agrees = alt.len() > self.offset
                    && alt[..self.offset] == self.expected[..self.offset]
                    && data[..m] == alt[self.offset..self.offset + m];
                if !agrees {
                    return self.fail(t);
                }
                std::mem::swap(&mut self.expected, &mut self.alternative);
                continue;
            }
            data = &data[n..];
            self.offset += n;
            if self.offset < self.expected.len() {
                continue;
            }
            self.offset = 0;
            self.expected.clear();
            let (_, since) = self.outstanding.pop_front().expect("checked above");
            let now = Instant::now();
            if self.rec.response(since, now) {
                self.shared.stop(t.get_loop());
            }
            if self.interval.is_none() && !self.shared.stopping.get() {
                self.queue(now);
            }
        }
        // Answers to everything this read completed leave in one write.
        self.flush(t);
    }

    fn connection_lost(&mut self, _t: &mut Transport, _error: Option<std::io::Error>) {
        if !self.shared.stopping.get() {
            self.rec.dropped();
        }
    }
}

/// A connection that sends nothing (`--idle`): it only notices being
/// dropped.
pub struct IdleClient {
    rec: Recorder,
    shared: Shared,
}

impl IdleClient {
    /// An idle connection counted in `rec` if lost before the end.
    pub fn new(rec: Recorder, shared: Shared) -> Self {
        Self { rec, shared }
    }
}

impl Protocol for IdleClient {
    fn connection_lost(&mut self, _t: &mut Transport, _error: Option<std::io::Error>) {
        if !self.shared.stopping.get() {
            self.rec.dropped();
        }
    }
}
