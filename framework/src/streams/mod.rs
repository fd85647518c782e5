//! Streams: asyncio's high-level `open_connection`/`start_server` with
//! [`StreamReader`] and [`StreamWriter`], for code that reads better as
//! sequential `async` logic than as callbacks.
//!
//! They are built on the stream [`Protocol`](crate::Protocol) and
//! [`Transport`](crate::Transport), not beside them: a
//! [`StreamReaderProtocol`] buffers what `data_received` delivers for the
//! reader, and the writer calls the transport. A stream's futures run as
//! tasks of the connection's shard ([`LoopHandle::spawn_local`]); the
//! loop lends itself to the task it polls, which is how a writer reaches
//! its transport without a lock or a queue.
//!
//! ```
//! use shardloop::streams::{open_connection, StreamReader, StreamWriter};
//! use shardloop::EventLoop;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut lp = EventLoop::new()?;
//! // A server: each connection's callback runs as a task of the loop.
//! let server = lp.start_server(
//!     |mut reader: StreamReader, mut writer: StreamWriter| async move {
//!         let line = reader.readline().await.unwrap_or_default();
//!         let _ = writer.write(&line);
//!         let _ = writer.drain().await;
//!         writer.close();
//!     },
//!     "127.0.0.1:0",
//! )?;
//! let addr = server.sockets()[0].to_string();
//! // A client, on the same loop.
//! let answer = lp.run_until_complete(async move {
//!     let (mut reader, mut writer) = open_connection(addr.as_str()).await?;
//!     writer.write(b"hello\n")?;
//!     writer.drain().await?;
//!     let answer = reader.read_to_end().await?;
//!     writer.close();
//!     writer.wait_closed().await;
//!     Ok::<_, Box<dyn std::error::Error>>(answer)
//! })??;
//! assert_eq!(answer, b"hello\n");
//! # Ok(())
//! # }
//! ```

mod protocol;
mod reader;
mod stream_io;
mod writer;

use std::future::{poll_fn, Future};
use std::io;
use std::net::ToSocketAddrs;
use std::path::Path;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

pub use protocol::StreamReaderProtocol;
pub use reader::{ReadInto, StreamFeed, StreamReader};
pub use stream_io::StreamIo;
pub use writer::{Drain, StreamWriter};

use crate::error::LoopError;
use crate::shard::{with_current_loop, EventLoop, LoopHandle};
use crate::transport::socket::{Address, Stream};
use crate::transport::tls_session::TlsSession;
use crate::Server;
#[cfg(feature = "tls")]
use crate::TlsClientConfig;
#[cfg(feature = "runtime")]
use crate::{Distribution, Runtime};
use protocol::Shared;

/// The reader's default buffer limit, as asyncio's: 64 KiB.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// Why a read of a [`StreamReader`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// EOF came first (asyncio's `IncompleteReadError`): `partial` holds
    /// what was read (it is consumed); `expected` is the count asked for
    /// (`None` for `readuntil`).
    #[error("{} bytes read on a total of {} expected bytes", partial.len(), expected.map_or_else(|| "undefined".to_string(), |n| n.to_string()))]
    IncompleteRead {
        /// What was read before EOF.
        partial: Vec<u8>,
        /// How many bytes were asked for.
        expected: Option<usize>,
    },
    /// The separator was not found within the limit, or found beyond it
    /// (asyncio's `LimitOverrunError`); `consumed` bytes are in question.
    #[error("separator not found within the limit ({consumed} bytes looked at)")]
    LimitOverrun {
        /// How many buffered bytes the search covered.
        consumed: usize,
    },
    /// `readuntil` with an empty separator.
    #[error("the separator is empty")]
    EmptySeparator,
    /// The connection was lost with this error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The loop polling the current task.
fn current_handle() -> io::Result<LoopHandle> {
    with_current_loop(|lp| lp.handle().clone()).ok_or_else(|| {
        io::Error::other(
            "streams are opened from a task of a shard (spawn_local, run_until_complete)",
        )
    })
}

/// Gives up a pending connect if its future is dropped.
struct ConnectGuard {
    lp: LoopHandle,
    key: Option<crate::shard::EntryKey>,
}

impl Drop for ConnectGuard {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            if with_current_loop(|lp| lp.cancel_connect(key)).is_none() {
                self.lp.call_soon(move |lp| lp.cancel_connect(key));
            }
        }
    }
}

/// Connects `stream` without blocking the loop.
async fn connect(lp: &LoopHandle, stream: Stream) -> io::Result<Stream> {
    let key = with_current_loop(|l| l.start_connect(stream))
        .ok_or_else(|| io::Error::other("not polled by the loop"))??;
    let mut guard = ConnectGuard {
        lp: lp.clone(),
        key: Some(key),
    };
    let r = poll_fn(|cx| {
        with_current_loop(|l| l.poll_connect(key, cx.waker()))
            .unwrap_or_else(|| Poll::Ready(Err(io::Error::other("not polled by the loop"))))
    })
    .await;
    guard.key = None;
    r
}

/// Adopts a connected socket as a stream connection.
fn adopt(
    stream: Stream,
    peer: Option<Address>,
    limit: usize,
    tls: Option<(TlsSession, Duration)>,
) -> io::Result<(Rc<Shared>, crate::ConnectionHandle)> {
    let shared = Shared::new(limit);
    let protocol = Box::new(StreamReaderProtocol::client(Rc::clone(&shared)));
    let handle = with_current_loop(|l| l.adopt_connected(stream, peer, protocol, tls))
        .ok_or_else(|| io::Error::other("not polled by the loop"))??;
    Ok((shared, handle))
}

fn pair(shared: Rc<Shared>) -> (StreamReader, StreamWriter) {
    (
        StreamReader::new(Rc::clone(&shared)),
        StreamWriter::new(shared),
    )
}

/// Opens a TCP connection to `addr` (each resolved address in turn; name
/// resolution blocks) and returns its reader and writer (asyncio's
/// `open_connection`). Awaited from a task of a shard; the loop serves
/// its other connections meanwhile.
pub async fn open_connection(addr: impl ToSocketAddrs) -> io::Result<(StreamReader, StreamWriter)> {
    open_connection_with_limit(addr, DEFAULT_LIMIT).await
}

/// [`open_connection`] with the reader's buffer limit given.
pub async fn open_connection_with_limit(
    addr: impl ToSocketAddrs,
    limit: usize,
) -> io::Result<(StreamReader, StreamWriter)> {
    let lp = current_handle()?;
    let (stream, a) = connect_tcp(&lp, addr, "the address").await?;
    let (shared, _) = adopt(stream, Some(Address::Inet(a)), limit, None)?;
    Ok(pair(shared))
}

/// Connects to the first of `addr`'s resolved addresses that accepts
/// (name resolution blocks); `what` names it when there is none.
async fn connect_tcp(
    lp: &LoopHandle,
    addr: impl ToSocketAddrs,
    what: &str,
) -> io::Result<(Stream, std::net::SocketAddr)> {
    let mut last_err = None;
    for a in addr.to_socket_addrs()? {
        let stream = match mio::net::TcpStream::connect(a) {
            Ok(s) => connect(lp, Stream::Tcp(s)).await,
            Err(e) => Err(e),
        };
        match stream {
            Ok(stream) => return Ok((stream, a)),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| LoopError::NoAddress(what.into()).into()))
}

/// Opens a connection to the Unix socket at `path` (asyncio's
/// `open_unix_connection`).
pub async fn open_unix_connection(
    path: impl AsRef<Path>,
) -> io::Result<(StreamReader, StreamWriter)> {
    let lp = current_handle()?;
    let path = path.as_ref();
    let stream = connect(&lp, Stream::Unix(mio::net::UnixStream::connect(path)?)).await?;
    let peer = Some(Address::Unix(Some(path.to_path_buf())));
    let (shared, _) = adopt(stream, peer, DEFAULT_LIMIT, None)?;
    Ok(pair(shared))
}

#[cfg(feature = "tls")]
/// Opens a TLS connection to `addr`, verifying the server as `server_name`
/// (asyncio's `open_connection(..., ssl=ctx, server_hostname=...)`).
/// Returns once the handshake is done; a failed or timed-out handshake is
/// the error.
pub async fn open_tls_connection(
    addr: impl ToSocketAddrs,
    tls: &TlsClientConfig,
    server_name: &str,
) -> io::Result<(StreamReader, StreamWriter)> {
    let lp = current_handle()?;
    let (stream, a) = connect_tcp(&lp, addr, "the server address").await?;
    let session = TlsSession::client(tls.rustls(), server_name)?;
    let (shared, handle) = adopt(
        stream,
        Some(Address::Inet(a)),
        DEFAULT_LIMIT,
        Some((session, tls.handshake_timeout())),
    )?;
    let failed = Rc::clone(&shared);
    with_current_loop(|l| {
        l.on_handshake_failure(
            handle,
            Box::new(move |e| {
                *failed.error.borrow_mut() = Some(e);
                failed.wake_waiters();
            }),
        )
    });
    // `connection_made` wakes us on success, the failure hook on failure
    // (a timeout included).
    poll_fn(|cx| {
        if shared.made.get() || shared.error.borrow().is_some() {
            Poll::Ready(())
        } else {
            shared.wait_state(cx.waker());
            Poll::Pending
        }
    })
    .await;
    if let Some(e) = shared.error.borrow_mut().take() {
        return Err(e);
    }
    Ok(pair(shared))
}

impl EventLoop {
    /// Starts a TCP stream server on `addr` (asyncio's `start_server`):
    /// for each connection `client_connected(reader, writer)` runs as a
    /// task of this loop. Close it with [`Server::close`]; see
    /// [`create_server`](Self::create_server) for the listener itself.
    pub fn start_server<F, Fut>(
        &mut self,
        client_connected: F,
        addr: impl ToSocketAddrs,
    ) -> io::Result<Server>
    where
        F: Fn(StreamReader, StreamWriter) -> Fut + Clone + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.create_server(
            move || StreamReaderProtocol::with_callback(client_connected.clone()),
            addr,
        )
    }

    /// [`start_server`](Self::start_server) on a Unix socket at `path`
    /// (asyncio's `start_unix_server`).
    pub fn start_unix_server<F, Fut>(
        &mut self,
        client_connected: F,
        path: impl AsRef<Path>,
    ) -> io::Result<Server>
    where
        F: Fn(StreamReader, StreamWriter) -> Fut + Clone + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.create_unix_server(
            move || StreamReaderProtocol::with_callback(client_connected.clone()),
            path,
        )
    }
}

#[cfg(feature = "runtime")]
impl Runtime {
    /// [`EventLoop::start_server`] over the runtime: the connections are
    /// spread over the shards by `distribution`, and each runs its
    /// `client_connected` task on the shard it landed on. Returns the bound
    /// address.
    pub fn start_server<F, Fut>(
        &mut self,
        client_connected: F,
        addr: std::net::SocketAddr,
        distribution: Distribution,
    ) -> io::Result<std::net::SocketAddr>
    where
        F: Fn(StreamReader, StreamWriter) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.listen(addr, distribution, 1024, move || {
            StreamReaderProtocol::with_callback(client_connected.clone())
        })
    }
}
