//! RFC 862 echo: every byte received is sent back, until the client closes.
//!
//! Also the model of a well-behaved shardloop service: when the client does
//! not read, our writes queue up and the transport calls `pause_writing`; we
//! then stop reading until `resume_writing`, so a client that never reads
//! cannot grow the server's memory past the high-water mark.

use shardloop::{Protocol, Transport};

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
