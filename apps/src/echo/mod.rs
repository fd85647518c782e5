//! RFC 862 echo: every byte received is sent back, until the client closes.
//!
//! A drain does not cut a request short (P11): echo has no framing, so once
//! told of the drain it keeps echoing while the client is still sending,
//! and closes (T3: everything accepted is echoed, then a FIN) once the
//! client sent nothing for a whole [`DRAIN_QUIET`], has half-closed, or
//! [`DRAIN_WINDOW`] has passed.
//!
//! Also the model of a well-behaved shardloop service: when the client does
//! not read, our writes queue up and the transport calls `pause_writing`; we
//! then stop reading until `resume_writing`, so a client that never reads
//! cannot grow the server's memory past the high-water mark.

use std::net::SocketAddr;

use std::time::{Duration, Instant};

use shardloop::{DatagramProtocol, DatagramTransport, EventLoop, Protocol, Transport};

/// During a drain, a client silent this long is done sending: its
/// connection closes.
pub const DRAIN_QUIET: Duration = Duration::from_millis(100);
/// During a drain, a connection closes this long after it was told at the
/// latest, however busy its client.
pub const DRAIN_WINDOW: Duration = Duration::from_secs(1);

/// One echo connection.
#[derive(Debug, Default)]
pub struct Echo {
    /// Draining: since when (loop time), and the bytes received at the
    /// last look. (Nothing on the data path: the drain looks at the
    /// transport's count from a timer.)
    drain: Option<(Instant, u64)>,
}

impl Echo {
    /// The drain's check, every [`DRAIN_QUIET`]: close once nothing came
    /// since the last look or the window has passed.
    fn drain_check(&mut self, t: &mut Transport) {
        let Some((since, seen)) = self.drain else {
            return;
        };
        let now = t.get_loop().time();
        let received = t.bytes_received();
        if received == seen || now >= since + DRAIN_WINDOW {
            t.close();
            return;
        }
        self.drain = Some((since, received));
        let conn = t.handle();
        let next = (now + DRAIN_QUIET).min(since + DRAIN_WINDOW);
        t.get_loop().call_at(next, move |lp: &mut EventLoop| {
            lp.with_connection(conn, |p: &mut Echo, t| p.drain_check(t));
        });
    }
}

impl Protocol for Echo {
    fn data_received(&mut self, transport: &mut Transport, data: &[u8]) {
        let _ = transport.write(data);
    }

    fn pause_writing(&mut self, transport: &mut Transport) {
        transport.pause_reading();
    }

    fn resume_writing(&mut self, transport: &mut Transport) {
        transport.resume_reading();
    }

    /// A drain does not cut a request short (P11): see the module docs.
    fn drain_started(&mut self, transport: &mut Transport) {
        let now = transport.get_loop().time();
        self.drain = Some((now, transport.bytes_received()));
        let conn = transport.handle();
        transport
            .get_loop()
            .call_at(now + DRAIN_QUIET, move |lp: &mut EventLoop| {
                lp.with_connection(conn, |p: &mut Echo, t| p.drain_check(t));
            });
    }
}

/// Echo over UDP: every datagram goes back to its sender. One instance per
/// shard serves all flows the kernel hands to that shard's socket.
#[derive(Debug, Default)]
pub struct UdpEcho;

impl DatagramProtocol for UdpEcho {
    fn datagram_received(
        &mut self,
        transport: &mut DatagramTransport,
        data: &[u8],
        addr: SocketAddr,
    ) {
        // A full queue or an ICMP error drops this one datagram, as UDP may.
        let _ = transport.sendto(data, Some(addr));
    }
}
