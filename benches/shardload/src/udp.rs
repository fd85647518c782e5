//! The datagram client: one connected UDP endpoint per "connection", each
//! datagram tagged with its sequence number. UDP may drop: a datagram not
//! answered within `LOSS_TIMEOUT` is counted lost and replaced, so a loss
//! never stalls a closed loop.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shardloop::{DatagramProtocol, DatagramTransport};

use crate::stats::Recorder;
use crate::workload::{seq_of, Workload};
use crate::Shared;

/// How long an unanswered datagram is waited for.
const LOSS_TIMEOUT: Duration = Duration::from_secs(1);

/// One load endpoint.
pub struct UdpClient {
    workload: Arc<dyn Workload>,
    rec: Recorder,
    shared: Shared,
    pipeline: usize,
    interval: Option<Duration>,
    next_intended: Instant,
    next_seq: u64,
    outstanding: VecDeque<(u64, Instant)>,
    scratch: Vec<u8>,
}

impl UdpClient {
    /// A client that starts sending once its endpoint is made.
    pub fn new(
        workload: Arc<dyn Workload>,
        rec: Recorder,
        shared: Shared,
        pipeline: usize,
        interval: Option<Duration>,
    ) -> Self {
        Self {
            workload,
            rec,
            shared,
            pipeline: pipeline.max(1),
            interval,
            next_intended: Instant::now(),
            next_seq: 0,
            outstanding: VecDeque::new(),
            scratch: Vec::new(),
        }
    }

    fn send(&mut self, t: &mut DatagramTransport, since: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.scratch.clear();
        self.workload.request(seq, &mut self.scratch);
        if t.sendto(&self.scratch, None).is_ok() {
            self.outstanding.push_back((seq, since));
        }
    }

    /// Counts and replaces lost datagrams; in open loop also sends what is
    /// due. Runs on a timer while the endpoint lives.
    fn tick(&mut self, t: &mut DatagramTransport) {
        if self.shared.stopping.get() || t.is_closing() {
            return;
        }
        let now = Instant::now();
        while let Some(&(_, since)) = self.outstanding.front() {
            if now.saturating_duration_since(since) < LOSS_TIMEOUT {
                break;
            }
            self.outstanding.pop_front();
            self.rec.lost();
            if self.interval.is_none() {
                self.send(t, now);
            }
        }
        let mut wake = now + LOSS_TIMEOUT / 4;
        if let Some(interval) = self.interval {
            while self.next_intended <= now {
                let intended = self.next_intended;
                self.send(t, intended);
                self.next_intended += interval;
            }
            wake = wake.min(self.next_intended);
        }
        let h = t.handle();
        t.get_loop().call_at(wake, move |lp| {
            lp.with_datagram::<UdpClient, _>(h, |c, t| c.tick(t));
        });
    }
}

impl DatagramProtocol for UdpClient {
    fn connection_made(&mut self, t: &mut DatagramTransport) {
        if self.interval.is_none() {
            for _ in 0..self.pipeline {
                self.send(t, Instant::now());
            }
        }
        self.next_intended = Instant::now();
        self.tick(t);
    }

    fn datagram_received(&mut self, t: &mut DatagramTransport, data: &[u8], _addr: SocketAddr) {
        let Some(seq) = seq_of(data) else {
            return self.rec.mismatch();
        };
        // Usually the oldest; a late answer to a datagram counted lost is
        // simply ignored.
        let Some(pos) = self.outstanding.iter().position(|&(s, _)| s == seq) else {
            return;
        };
        let (_, since) = self.outstanding.remove(pos).expect("found");
        self.scratch.clear();
        self.workload.expected(seq, &mut self.scratch);
        if self.scratch != data {
            self.rec.mismatch();
        }
        let now = Instant::now();
        if self.rec.response(since, now) {
            self.shared.stop(t.get_loop());
        }
        if self.interval.is_none() && !self.shared.stopping.get() {
            self.send(t, now);
        }
    }

    fn error_received(&mut self, _t: &mut DatagramTransport, _error: std::io::Error) {
        // ICMP unreachable and the like: the datagrams concerned will be
        // counted lost by the timer.
    }
}
