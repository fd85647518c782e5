//! Settings of one shard's loop.

use std::time::Duration;

use super::Clock;
use crate::transport::flow::{DEFAULT_HIGH, DEFAULT_LOW};

/// Tunables of an [`EventLoop`](crate::EventLoop). Start from
/// [`LoopConfig::default`] and change the fields you need.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoopConfig {
    /// Size of the one read buffer the shard shares among all its
    /// connections; `data_received` never gets more than this at once.
    pub read_buffer_size: usize,
    /// `TCP_NODELAY` on every TCP connection (default on: a framework that
    /// answers requests should not wait for Nagle).
    pub tcp_nodelay: bool,
    /// Initial high-water mark of every transport's write buffer.
    pub write_buffer_high: usize,
    /// Initial low-water mark of every transport's write buffer.
    pub write_buffer_low: usize,
    /// How long a closed connection keeps draining unread input before its
    /// socket is dropped (T3's lingering close).
    pub linger_timeout: Duration,
    /// How long a lingering close lasts at most while the peer only keeps
    /// sending (nothing of ours left to acknowledge): nginx's
    /// `lingering_time`, 30 s by default. A peer that keeps reading what we
    /// sent is not cut by it.
    pub linger_time: Duration,
    /// `listen()` backlog of servers.
    pub backlog: u32,
    /// Most readiness events taken from the kernel per poll.
    pub events_capacity: usize,
    /// How long a listener waits before accepting again after running out of
    /// descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM).
    pub accept_backoff: Duration,
    /// Close a connection on which nothing was received or sent for this
    /// long (never earlier; at most an eighth later). `connection_lost`
    /// then gets a `TimedOut` error. `None`: no idle timeout.
    pub idle_timeout: Option<Duration>,
    /// Datagrams received per `recvmmsg` call on UDP endpoints; 1 turns
    /// batching off. Each slot holds the largest datagram (64 KiB), and the
    /// buffer is allocated only once the loop has a UDP endpoint.
    pub udp_batch: usize,
    /// Where the loop reads the time: [`Clock::system`] by default, a
    /// [`Clock::manual`] one to test timeouts without waiting.
    pub clock: Clock,
}

impl Default for LoopConfig {
    fn default() -> Self {
        Self {
            read_buffer_size: 64 * 1024,
            tcp_nodelay: true,
            write_buffer_high: DEFAULT_HIGH,
            write_buffer_low: DEFAULT_LOW,
            linger_timeout: Duration::from_secs(5),
            linger_time: Duration::from_secs(30),
            backlog: 1024,
            events_capacity: 1024,
            accept_backoff: Duration::from_millis(100),
            idle_timeout: None,
            udp_batch: 16,
            clock: Clock::system(),
        }
    }
}
