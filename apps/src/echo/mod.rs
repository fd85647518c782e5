//! RFC 862 echo: every byte received is sent back, until the client closes.
//!
//! A drain does not cut a request short (P11): echo has no framing, so once
//! told of the drain it keeps echoing while the client is still sending,
//! and closes (T3: everything accepted is echoed, then a FIN) once the
//! client has been quiet for [`DRAIN_QUIET`], has half-closed, or
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
    /// Draining: since when, and when input last came (loop time).
    drain: Option<(Instant, Instant)>,
}

impl Echo {
    /// The drain's check: close once the client is quiet or the window
    /// has passed, else look again when it could be.
    fn drain_check(&mut self, t: &mut Transport) {
        let Some((since, last)) = self.drain else {
            return;
        };
        let now = t.get_loop().time();
        if now >= last + DRAIN_QUIET || now >= since + DRAIN_WINDOW {
            t.close();
            return;
        }
        let next = (last + DRAIN_QUIET).min(since + DRAIN_WINDOW);
        let conn = t.handle();
        t.get_loop().call_at(next, move |lp: &mut EventLoop| {
            lp.with_connection(conn, |p: &mut Echo, t| p.drain_check(t));
        });
    }
}

impl Protocol for Echo {
    fn data_received(&mut self, transport: &mut Transport, data: &[u8]) {
        let _ = transport.write(data);
        if let Some((_, last)) = &mut self.drain {
            *last = transport.get_loop().time();
        }
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
        self.drain = Some((now, now));
        self.drain_check(transport);
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
