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
    /// `sendfile` could not read or measure its file.
    #[error("cannot read the file to send: {message}")]
    File {
        /// The error's kind.
        kind: std::io::ErrorKind,
        /// The error's text.
        message: String,
    },
}

impl TransportError {
    pub(crate) fn file(e: std::io::Error) -> Self {
        TransportError::File {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// Why the loop or the runtime refused or failed a call.
///
/// Loop and runtime methods return [`std::io::Result`], as asyncio's raise
/// `OSError`; the error carries one of these inside, so a caller can tell
/// the cases apart without reading strings:
///
/// ```
/// # use shardloop::{EventLoop, LoopError, Protocol};
/// struct Nothing;
/// impl Protocol for Nothing {}
/// let mut lp = EventLoop::new().unwrap();
/// let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let err = lp.create_server(|| Nothing, taken.local_addr().unwrap()).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
/// assert!(matches!(LoopError::of(&err), Some(LoopError::Bind { .. })));
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LoopError {
    /// `run_until`/`run_forever` called while the loop runs (asyncio's
    /// "This event loop is already running").
    #[error("this event loop is already running")]
    AlreadyRunning,
    /// The loop was stopped before the operation completed. Not
    /// `ErrorKind::Interrupted`, which would mean "retry".
    #[error("the loop was stopped before {0} completed")]
    Stopped(&'static str),
    /// Binding a listening or datagram socket failed.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address (or `unix:` path) asked for.
        address: String,
        /// What the kernel said.
        source: std::io::Error,
    },
    /// A child process could not be started.
    #[error("cannot spawn {program}: {source}")]
    Spawn {
        /// The program, as given.
        program: String,
        /// Why (e.g. not found, not executable).
        source: std::io::Error,
    },
    /// An address resolved to no socket address at all.
    #[error("{0} resolved to no address")]
    NoAddress(String),
    /// A shard thread could not be started.
    #[error("shard-{shard} failed to start: {source}")]
    ShardStart {
        /// Which shard.
        shard: usize,
        /// Why.
        source: std::io::Error,
    },
    /// A shard thread panicked (its loop caught what it could; this is what
    /// escaped).
    #[error("shard-{0} panicked")]
    ShardPanicked(usize),
    /// A shard (or the acceptor) has stopped and takes no more work.
    #[error("{0} has stopped")]
    Gone(String),
    /// A setting is out of range (e.g. a low-water mark above the high).
    #[error("invalid setting: {0}")]
    InvalidSetting(String),
}

impl LoopError {
    /// The `LoopError` inside an I/O error returned by the loop or the
    /// runtime, if it carries one.
    pub fn of(e: &std::io::Error) -> Option<&LoopError> {
        e.get_ref().and_then(|inner| inner.downcast_ref())
    }

    fn kind(&self) -> std::io::ErrorKind {
        use std::io::ErrorKind;
        match self {
            LoopError::Bind { source, .. }
            | LoopError::ShardStart { source, .. }
            | LoopError::Spawn { source, .. } => source.kind(),
            LoopError::NoAddress(_) | LoopError::InvalidSetting(_) => ErrorKind::InvalidInput,
            LoopError::AlreadyRunning
            | LoopError::Stopped(_)
            | LoopError::ShardPanicked(_)
            | LoopError::Gone(_) => ErrorKind::Other,
        }
    }
}

impl From<LoopError> for std::io::Error {
    fn from(e: LoopError) -> Self {
        std::io::Error::new(e.kind(), e)
    }
}
