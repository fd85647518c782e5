//! Transports: the loop-owned side of a connection that protocols write to.
//!
//! The stream transport ([`Transport`]) serves TCP, Unix sockets and TLS
//! over either; the
//! write queue (`write_buffer`) and flow-control rules ([`flow`]) are
//! written once here for every transport kind.

pub(crate) mod datagram_queue;
mod driven;
pub mod flow;
pub(crate) mod lifecycle;
pub(crate) mod listener;
pub(crate) mod socket;
pub(crate) mod stream;
pub(crate) mod subprocess;
pub(crate) mod timeouts;
#[cfg(feature = "tls")]
mod tls_driven;
#[cfg(feature = "tls")]
pub(crate) mod tls_session;
#[cfg(not(feature = "tls"))]
#[path = "tls_off.rs"]
pub(crate) mod tls_session;
pub(crate) mod udp;
mod udp_driven;
pub(crate) mod write;
pub(crate) mod write_buffer;

use std::os::fd::RawFd;

pub use socket::{Address, ConnectedSocket};
pub use stream::Transport;
pub use subprocess::SubprocessTransport;
#[cfg(feature = "tls")]
pub use tls_session::{CipherInfo, TlsContext};
pub use udp::DatagramTransport;

/// A value returned by `get_extra_info` (T4). Which names exist depends on
/// the transport kind; more variants arrive with TLS, pipes and
/// subprocesses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtraInfo {
    /// `"peername"` or `"sockname"`.
    Address(Address),
    /// `"peername"` of an unconnected datagram endpoint: the key is
    /// present but has no value (asyncio's `None`), so `default` is not
    /// returned.
    NoPeer,
    /// `"socket"`: the raw descriptor, borrowed — valid while the transport
    /// is open; do not close it.
    Socket(RawFd),
    /// `"pipe"` (pipe transports): the pipe's descriptor, borrowed.
    Pipe(RawFd),
    /// `"subprocess"` (subprocess transports): the child's process id.
    Subprocess(u32),
    /// `"cipher"` (TLS): suite name, protocol version, secret bits.
    #[cfg(feature = "tls")]
    Cipher(CipherInfo),
    /// `"peercert"` (TLS): the peer's end-entity certificate, DER. Absent
    /// (the default is returned) when the peer sent none.
    PeerCert(Vec<u8>),
    /// `"compression"` (TLS): always `None` — TLS compression is never used.
    Compression(Option<String>),
    /// `"sslcontext"` (TLS): the rustls configuration in use.
    #[cfg(feature = "tls")]
    SslContext(TlsContext),
    /// `"alpn_protocol"` (TLS): the protocol ALPN selected, if any.
    AlpnProtocol(Vec<u8>),
    /// `"server_hostname"` (TLS): the SNI name (the one the client asked
    /// for; on a client, the one it verified the server against).
    ServerHostname(String),
}
