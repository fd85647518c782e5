//! # shardloop
//!
//! Python asyncio's *transports and protocols* for Rust, on a thread-per-core
//! runtime built on [`mio`].
//!
//! You write a [`Protocol`]: plain callbacks — `connection_made`,
//! `data_received`, `eof_received`, `connection_lost`, `pause_writing`,
//! `resume_writing` — each with an empty default. shardloop owns the
//! sockets, the buffering and the flow control, and runs one instance of
//! your protocol per connection on the loop that owns that connection. The
//! protocol talks back through its [`Transport`]: `write`, `writelines`,
//! `write_eof`, `close`, `abort`, `pause_reading`, `set_write_buffer_limits`,
//! `get_extra_info`… with asyncio's names and asyncio's rules.
//!
//! ## The shape
//!
//! * An [`EventLoop`] is one *shard*: a single-threaded `mio::Poll` that owns
//!   its connections outright — a generation-checked slab of transports and
//!   protocol instances, one read buffer shared by all of them, its
//!   callbacks and timers. Nothing it owns is `Send` (a [`Transport`] cannot
//!   leave its thread; the compiler checks), so nothing on the per-message
//!   path locks or touches an atomic.
//! * Callbacks receive `&mut Transport` rather than storing it: the loop owns
//!   the transport, and a protocol is never re-entered from inside one of its
//!   own transport calls. Flow-control callbacks triggered by a `write` are
//!   delivered as soon as the current callback returns.
//! * To act on a connection from elsewhere (a timer, another connection),
//!   keep its [`ConnectionHandle`] and use [`EventLoop::with_transport`] or
//!   [`EventLoop::with_connection`].
//!
//! ## Transports, and the runtime around them
//!
//! * **TCP and Unix sockets**: [`EventLoop::create_server`],
//!   [`EventLoop::create_connection`], [`EventLoop::create_unix_server`],
//!   [`EventLoop::create_connection_with_socket`] (a socketpair end).
//! * **TLS** on rustls ([`tls`]): [`EventLoop::create_tls_server`] and
//!   [`EventLoop::create_tls_connection`] run the same [`Protocol`]; the
//!   handshake runs on the loop, bounded by a timeout, before
//!   `connection_made`.
//! * **Pipes and descriptors** (L3): [`EventLoop::connect_read_pipe`] and
//!   [`EventLoop::connect_write_pipe`] run a stream [`Protocol`] over a pipe
//!   (a child's stdout or stdin); [`EventLoop::add_reader`] and
//!   [`EventLoop::add_writer`] call back while any descriptor is ready.
//! * **Child processes** (T15, P9): [`EventLoop::subprocess_exec`] runs a
//!   [`SubprocessProtocol`]; its [`SubprocessTransport`] gives each piped
//!   stream as a stream transport (write the child's stdin, pause its
//!   stdout) and signals, return code, `close()`.
//! * **UDP**: [`DatagramProtocol`] and [`DatagramTransport`] through
//!   [`EventLoop::create_datagram_endpoint`]; `recvmmsg`/`sendmmsg` batch
//!   the datagrams of a busy endpoint.
//! * **The runtime** ([`Runtime`]): one pinned loop per core, an acceptor
//!   thread handing sockets to them (or `SO_REUSEPORT` listeners),
//!   cross-shard calls through a [`ShardHandle`], and the [`config`] types the
//!   `shardloop` server is deployed from.
//!
//! The contract — numbered T1… (transports), P1… (protocols), L1… (loop) —
//! is written out in [`contract`], with the tests that prove each rule, and
//! stated on the method that keeps it.
//!
//! ## The source, layer by layer
//!
//! Each layer uses only the ones below it. One reference runs up by design:
//! a transport keeps its loop's [`LoopHandle`] (asyncio's `get_loop()`), and
//! a TLS session its handshake timer's [`Handle`].
//!
//! | layer | files (in `framework/src/`) | what they hold |
//! |---|---|---|
//! | base | `sys/` (the only `unsafe`), `base.rs`, `error.rs`, `stats.rs`, `tls.rs`, `fs.rs`, `http/` | system calls mio lacks; entry keys and connection handles; errors; every counter declared once; TLS configuration; files opened beneath a root; the HTTP/1.1 codec |
//! | transports | `transport/`: `lifecycle.rs` and `timeouts.rs` (the state machine without IO, and the idle and linger rules), `stream.rs` and `write.rs` (the stream transport), `write_buffer.rs`, `flow.rs`, `tls_session.rs`, `udp.rs`, `datagram_queue.rs`, `subprocess.rs`, `socket.rs`, `listener.rs` | what a protocol calls, and the queues behind it |
//! | protocols | `protocol.rs` | the traits you implement |
//! | the loop | `shard/`: `mod.rs` (one iteration), `core.rs` (per-event dispatch), `driver.rs` (invoke, settle, read and deferred steps written once), `entries.rs` (the typed slab), `connection.rs`, `datagram.rs`, `subprocess.rs`, `tls_loop.rs`, `watch.rs` (the entry kinds), `accept.rs`, `connect.rs`, `server.rs`, `connections.rs`, `scheduler.rs`, `clock.rs`, `tasks.rs`, `cross.rs`, `mailbox.rs`, `ready.rs`, `config.rs` | one shard |
//! | coroutines | `streams/` | `StreamReader`/`StreamWriter` on the loop's tasks |
//! | the runtime | `runtime/`: `mod.rs`, `listen.rs`, `acceptor.rs`, `shutdown.rs`, `cores.rs`, `metrics.rs`, `takeover.rs` | the shards, their listeners, the drain, the metrics endpoint |
//! | configuration and the server | `config/` (`sections.rs` and `listener_keys.rs`: one line per key; `keys.rs`: the kinds of value), `app/` | the TOML file, and the server program the binary runs |
//!
//! `contract.rs` holds the numbered contract; it imports nothing.
//!
//! ## Running it in production
//!
//! The `shardloop` binary (crate `shardloop-apps`) serves the listeners a
//! TOML file names ([`config`]); `shardloop check` prints the effective
//! configuration. [`Runtime::shutdown`] drains gracefully — every
//! connection flushed and its lingering close finished, or aborted at the
//! deadline, or at once after [`DrainCutter::cut`]; [`LoopError`] tells the
//! failures of the loop and the runtime apart.
//!
//! ## An echo server
//!
//! ```
//! use shardloop::{EventLoop, Protocol, Transport};
//!
//! struct Echo;
//!
//! impl Protocol for Echo {
//!     fn data_received(&mut self, transport: &mut Transport, data: &[u8]) {
//!         // Never blocks: what the kernel does not take now is queued.
//!         let _ = transport.write(data);
//!     }
//! }
//!
//! # fn main() -> std::io::Result<()> {
//! let mut lp = EventLoop::new()?;
//! let server = lp.create_server(|| Echo, "127.0.0.1:0")?;
//! let addr = server.sockets()[0].as_inet().unwrap();
//!
//! // A plain blocking client on another thread. A ShardHandle is how another
//! // thread reaches the loop: when done, the client stops it.
//! let shard = lp.shard_handle()?;
//! let client = std::thread::spawn(move || {
//!     use std::io::{Read, Write};
//!     let echoed = (|| -> std::io::Result<Vec<u8>> {
//!         let mut s = std::net::TcpStream::connect(addr)?;
//!         s.write_all(b"hello")?;
//!         let mut buf = [0; 5];
//!         s.read_exact(&mut buf)?;
//!         Ok(buf.to_vec())
//!     })();
//!     let _ = shard.submit(|lp| lp.stop());
//!     echoed
//! });
//! lp.run_forever()?;
//! assert_eq!(client.join().unwrap()?, b"hello");
//! server.close();
//! server.wait_closed(&mut lp)?;
//! # Ok(())
//! # }
//! ```
//!
//! A real server calls `lp.run_forever()` instead; see the examples in
//! `framework/examples/`, which follow the asyncio documentation's own.
#![deny(missing_docs)]
#![deny(unsafe_code)]
// Crate-internal pieces the runtime, the server program or TLS use are
// dead code in a build without them.
#![cfg_attr(
    not(all(feature = "app", feature = "tls")),
    allow(dead_code, unused_imports)
)]

#[cfg(feature = "app")]
pub mod app;
mod base;
#[cfg(feature = "app")]
pub mod config;
pub mod contract;
pub mod error;
pub mod fs;
#[cfg(feature = "http")]
pub mod http;
pub mod protocol;
#[cfg(feature = "hyper")]
pub mod rt;
#[cfg(feature = "runtime")]
pub mod runtime;

pub mod shard;
mod stats;
pub mod streams;
mod sys;
#[cfg(feature = "tls")]
pub mod tls;
/// Without the `tls` feature: the crate's TLS types exist inside it only
/// as uninhabited stand-ins.
#[cfg(not(feature = "tls"))]
mod tls {
    pub(crate) use crate::transport::tls_session::TlsServerConfig;
}
pub mod transport;

pub use error::{LoopError, TransportError};
pub use protocol::{DatagramProtocol, Protocol, SubprocessProtocol};
#[cfg(feature = "runtime")]
pub use runtime::{Distribution, DrainCutter, DrainReport, Runtime, RuntimeConfig};
pub use shard::Server;
pub use shard::{
    Clock, ConnectionHandle, DatagramOptions, Elapsed, EventLoop, Handle, JoinHandle, LoopConfig,
    LoopHandle, ShardHandle, Sleep, SubprocessPipes, TaskError,
};
pub use stats::{ListenerStats, ShardStats};
#[cfg(feature = "tls")]
pub use tls::{ClientAuth, TlsClientConfig, TlsServerConfig};
pub use transport::{
    Address, ConnectedSocket, DatagramTransport, ExtraInfo, SubprocessTransport, Transport,
};
#[cfg(feature = "tls")]
pub use transport::{CipherInfo, TlsContext};
