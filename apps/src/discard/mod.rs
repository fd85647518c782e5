//! RFC 863 discard: reads and throws away everything, answers nothing.

use shardloop::{DatagramProtocol, Protocol};

/// One discard connection: all callbacks keep their empty defaults, so the
/// transport reads, drops, and closes when the client does.
#[derive(Debug, Default)]
pub struct Discard;

impl Protocol for Discard {}

/// Discard over UDP: every datagram is dropped.
#[derive(Debug, Default)]
pub struct UdpDiscard;

impl DatagramProtocol for UdpDiscard {}
