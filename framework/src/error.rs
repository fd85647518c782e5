//! Typed errors of transport calls that asyncio rejects.

use thiserror::Error;

/// Why a transport call was refused.
///
/// Errors of the connection itself (reset, refused, timeout…) are plain
/// [`std::io::Error`]s: they reach the protocol through `connection_lost`, or
/// are returned by the creating call.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// The transport is closing or its connection is lost: the data was
    /// dropped (T11). asyncio drops such writes silently; here the caller
    /// can tell.
    #[error("transport is closing or closed; data dropped")]
    Closed,
    /// `write` after `write_eof` (asyncio raises `RuntimeError`).
    #[error("cannot write after write_eof()")]
    EofWritten,
    /// `set_write_buffer_limits` with a low mark above the high mark.
    #[error("low-water limit ({low}) must be less than or equal to high-water limit ({high})")]
    InvalidLimits {
        /// The high-water mark asked for (or derived).
        high: usize,
        /// The low-water mark asked for (or derived).
        low: usize,
    },
    /// `sendto` on a connected datagram endpoint with an address other than
    /// its remote address (T14).
    #[error("sendto {given} on an endpoint connected to {remote}")]
    WrongAddress {
        /// The address asked for.
        given: std::net::SocketAddr,
        /// The address the endpoint is connected to.
        remote: std::net::SocketAddr,
    },
    /// `sendto` without an address on an endpoint that has no remote
    /// address (T14).
    #[error("sendto needs an address: the endpoint is not connected")]
    NoAddress,
    /// The transport kind does not support this operation (e.g. `write_eof`
    /// over TLS; asyncio raises `NotImplementedError`).
    #[error("operation not supported by this transport: {0}")]
    Unsupported(&'static str),
}
