//! RFC 862 echo: every byte received is sent back, until the client closes.
//!
//! Also the model of a well-behaved shardloop service: when the client does
//! not read, our writes queue up and the transport calls `pause_writing`; we
//! then stop reading until `resume_writing`, so a client that never reads
//! cannot grow the server's memory past the high-water mark.

use std::net::SocketAddr;

use shardloop::{DatagramProtocol, DatagramTransport, Protocol, Transport};

/// One echo connection.
#[derive(Debug, Default)]
pub struct Echo;

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
