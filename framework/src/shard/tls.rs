//! TLS servers and client connections on a loop, and the handshake
//! timeout. The handshake itself runs in the connection's read path
//! (`connection.rs`); see [`crate::tls`] for the configuration.

use std::io;
use std::net::ToSocketAddrs;

use super::{ConnectionHandle, Entry, EventLoop, Stats};
use crate::protocol::{DynProtocol, Protocol};
use crate::tls::TlsClientConfig;
use crate::transport::socket::{Address, Stream};
use crate::transport::stream::State;
use crate::transport::tls::TlsSession;

impl EventLoop {
    /// Connects to `addr` over TLS and runs the loop until the handshake
    /// has completed or failed, as asyncio's
    /// `run_until_complete(create_connection(..., ssl=ctx, server_hostname=...))`.
    /// `server_name` is sent in SNI and the server's certificate is verified
    /// against it and the configuration's roots.
    ///
    /// On success the protocol has received `connection_made`. A refused
    /// connection, a failed verification (unknown CA, wrong name, expired
    /// certificate), a failed or timed-out handshake: each is returned as
    /// the error, and no protocol callback runs.
    pub fn create_tls_connection<P: Protocol>(
        &mut self,
        factory: impl FnOnce() -> P,
        addr: impl ToSocketAddrs,
        tls: &TlsClientConfig,
        server_name: &str,
    ) -> io::Result<ConnectionHandle> {
        let session = TlsSession::client(tls.rustls(), server_name)?;
        let mut last_err = None;
        let mut stream = None;
        for a in addr.to_socket_addrs()? {
            match mio::net::TcpStream::connect(a).and_then(|s| self.finish_connect(Stream::Tcp(s)))
            {
                Ok(s) => {
                    stream = Some((s, a));
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        let Some((stream, a)) = stream else {
            return Err(last_err.unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "address resolved to nothing")
            }));
        };
        let protocol: Box<dyn DynProtocol> = Box::new(factory());
        let handle = self.core.adopt(
            self.poll.registry(),
            stream,
            Some(Address::Inet(a)),
            protocol,
            None,
            Some((session, tls.handshake_timeout())),
        )?;
        let done = |lp: &mut EventLoop| match lp.core.entries.get(handle.0) {
            Some(Entry::Conn(c)) => {
                c.transport.state != State::Open
                    || c.transport.tls.as_ref().is_some_and(|t| t.established)
            }
            _ => true,
        };
        let ran = self.run_until(done);
        let Some(Entry::Conn(c)) = self.core.entries.get_mut(handle.0) else {
            return Err(io::Error::other(
                "the TLS connection vanished during its handshake",
            ));
        };
        if c.transport.tls.as_ref().is_some_and(|t| t.established) {
            return ran.map(|()| handle);
        }
        // Not established: the handshake failed (its error is still here,
        // since connection_lost is never delivered for it) or the loop was
        // stopped first.
        let error = c.transport.error.take().unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::Interrupted,
                "the loop was stopped before the TLS handshake completed",
            )
        });
        c.transport.abort();
        ran?;
        Err(error)
    }

    /// The handshake timer of a TLS connection fired: if the handshake is
    /// still going on, the connection is dropped (logged and counted; the
    /// protocol never heard of it).
    pub(crate) fn expire_handshake(&mut self, handle: ConnectionHandle) {
        let Some(Entry::Conn(c)) = self.core.entries.get(handle.0) else {
            return;
        };
        let t = &c.transport;
        if t.state != State::Open || t.tls.as_ref().is_none_or(|tls| tls.established) {
            return;
        }
        Stats::add(&t.get_loop().sched.stats.tls_handshake_failures, 1);
        let peer = t.peername().map(|a| a.to_string()).unwrap_or_default();
        tracing::warn!(%peer, "TLS handshake timed out");
        self.with_transport(handle, |t| {
            t.fail(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            ))
        });
    }
}
