//! The metrics endpoint: Prometheus text format over HTTP, served by a
//! shardloop protocol on the runtime's own shards.
//!
//! A request is answered without blocking any shard: the connection's shard
//! asks every shard (itself included) for a snapshot through their
//! mailboxes; each answers back through the requesting shard's mailbox; the
//! response is written when the last snapshot arrives.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Distribution, Runtime, RuntimeGauges};
use crate::shard::{ConnectionHandle, ShardHandle, ShardStats};
use crate::{Protocol, Transport};

/// Longest request head accepted (request line and headers).
const MAX_REQUEST: usize = 8 * 1024;

/// One metrics connection.
struct MetricsConn {
    shards: Arc<[ShardHandle]>,
    gauges: Arc<RuntimeGauges>,
    request: Vec<u8>,
    snapshots: Vec<Option<ShardStats>>,
    answered: bool,
}

impl Protocol for MetricsConn {
    fn data_received(&mut self, t: &mut Transport, data: &[u8]) {
        if self.answered {
            return;
        }
        self.request.extend_from_slice(data);
        let Some(end) = find(&self.request, b"\r\n\r\n") else {
            if self.request.len() > MAX_REQUEST {
                self.respond(
                    t,
                    "431 Request Header Fields Too Large",
                    "request too large\n",
                );
            }
            return;
        };
        let head = String::from_utf8_lossy(&self.request[..end]).into_owned();
        let mut parts = head.lines().next().unwrap_or("").split_whitespace();
        match (parts.next(), parts.next()) {
            (Some("GET"), Some("/metrics")) => self.gather(t),
            (Some("GET"), Some(_)) => self.respond(t, "404 Not Found", "try /metrics\n"),
            _ => self.respond(t, "405 Method Not Allowed", "GET /metrics only\n"),
        }
    }
}

impl MetricsConn {
    /// Asks every shard for its counters; each replies to this connection.
    fn gather(&mut self, t: &mut Transport) {
        self.answered = true;
        let Some(home) = t.get_loop().shard_handle() else {
            self.respond(t, "500 Internal Server Error", "not on a runtime shard\n");
            return;
        };
        self.snapshots = vec![None; self.shards.len()];
        let conn: ConnectionHandle = t.handle();
        for (k, shard) in self.shards.iter().enumerate() {
            let home = home.clone();
            let sent = shard.submit(move |lp| {
                let snap = lp.stats();
                let _ = home.submit(move |lp| {
                    lp.with_connection(conn, |p: &mut MetricsConn, t| p.collect(t, k, snap));
                });
            });
            if sent.is_err() {
                self.respond_now(t, "503 Service Unavailable", "a shard has stopped\n");
                return;
            }
        }
    }

    fn collect(&mut self, t: &mut Transport, k: usize, snap: ShardStats) {
        self.snapshots[k] = Some(snap);
        if self.snapshots.iter().all(Option::is_some) {
            let body = render(&self.snapshots, &self.gauges);
            self.respond_now(t, "200 OK", &body);
        }
    }

    fn respond(&mut self, t: &mut Transport, status: &str, body: &str) {
        self.answered = true;
        self.respond_now(t, status, body);
    }

    fn respond_now(&mut self, t: &mut Transport, status: &str, body: &str) {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = t.writelines(&[head.as_bytes(), body.as_bytes()]);
        t.close();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The Prometheus text exposition of every shard's counters.
fn render(snapshots: &[Option<ShardStats>], gauges: &RuntimeGauges) -> String {
    type Field = fn(&ShardStats) -> u64;
    let families: [(&str, &str, &str, Field); 8] = [
        (
            "shardloop_connections_accepted_total",
            "counter",
            "Connections accepted.",
            |s| s.accepted,
        ),
        (
            "shardloop_connections_active",
            "gauge",
            "Connections alive now.",
            |s| s.active,
        ),
        (
            "shardloop_connections_closed_total",
            "counter",
            "Connections closed.",
            |s| s.closed,
        ),
        (
            "shardloop_received_bytes_total",
            "counter",
            "Bytes received.",
            |s| s.bytes_in,
        ),
        (
            "shardloop_sent_bytes_total",
            "counter",
            "Bytes handed to the kernel.",
            |s| s.bytes_out,
        ),
        (
            "shardloop_pause_writing_total",
            "counter",
            "pause_writing calls delivered.",
            |s| s.pause_writing,
        ),
        (
            "shardloop_accept_backoffs_total",
            "counter",
            "Accept back-offs for lack of descriptors.",
            |s| s.accept_backoffs,
        ),
        (
            "shardloop_tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed or timed out.",
            |s| s.tls_handshake_failures,
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, field) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (k, snap) in snapshots.iter().enumerate() {
            let value = snap.as_ref().map_or(0, field);
            let _ = writeln!(out, "{name}{{shard=\"{k}\"}} {value}");
        }
        if name == "shardloop_accept_backoffs_total" {
            let n = gauges.acceptor_backoffs.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}{{shard=\"acceptor\"}} {n}");
        }
    }
    out
}

impl Runtime {
    /// Serves `GET /metrics` (Prometheus text format) on `addr`, through the
    /// acceptor like any listener. Returns the bound address.
    pub fn serve_metrics(&mut self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let shards: Arc<[ShardHandle]> = self.shards.iter().map(|s| s.handle.clone()).collect();
        let gauges = Arc::clone(&self.gauges);
        self.listen(addr, Distribution::RoundRobin, 128, move || MetricsConn {
            shards: Arc::clone(&shards),
            gauges: Arc::clone(&gauges),
            request: Vec::new(),
            snapshots: Vec::new(),
            answered: false,
        })
    }
}
