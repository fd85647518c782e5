//! TLS on a loop: servers and client connections
//! (`create_tls_server`, `create_tls_connection`), the handshake timeout,
//! and the read path of a TLS connection — where the handshake runs,
//! plaintext is delivered or stashed, and close_notify or a truncation
//! ends the stream. The configuration is [`crate::tls`]; the session and
//! its write-side accounting are `transport/tls_session.rs`.

use std::io;

use crate::error::LoopError;
use std::net::ToSocketAddrs;

use super::accept::boxed;
use super::connection::Connection;
use super::driver::Ctx;
use super::driver::{Driven as _, Guarded as _};
use super::Server;
use super::{ConnectionHandle, EventLoop};
use crate::protocol::{DynProtocol, Protocol};
use crate::tls::{TlsClientConfig, TlsServerConfig};
use crate::transport::socket::{Address, Stream};
use crate::transport::tls_session::{Decrypted, TlsSession};

impl EventLoop {
    /// Serves TLS on every address `addr` resolves to, as
    /// [`create_server`](Self::create_server): each accepted connection
    /// first completes its handshake on this loop, bounded by the
    /// configuration's handshake timeout; only then does its protocol get
    /// `connection_made`. A failed or timed-out handshake is logged, counted
    /// in [`ShardStats::tls_handshake_failures`](crate::ShardStats), and
    /// never reaches the protocol.
    pub fn create_tls_server<P, F>(
        &mut self,
        factory: F,
        addr: impl ToSocketAddrs,
        tls: TlsServerConfig,
    ) -> io::Result<Server>
    where
        P: Protocol,
        F: FnMut() -> P + 'static,
    {
        let sockets = self.bind_tcp_all(addr)?;
        self.serve(sockets, boxed(factory), Vec::new(), None, Some(tls))
    }

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
            return Err(last_err
                .unwrap_or_else(|| LoopError::NoAddress("the server address".into()).into()));
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
        let done = |lp: &mut EventLoop| {
            lp.core
                .entries
                .of::<Connection>(handle.0)
                .is_none_or(|c| !c.transport.life().is_open() || c.transport.tls_established())
        };
        let ran = self.run_until(done);
        let Some(c) = self.core.entries.of_mut::<Connection>(handle.0) else {
            return Err(io::Error::other(
                "the TLS connection vanished during its handshake",
            ));
        };
        if c.transport.tls_established() {
            return ran.map(|()| handle);
        }
        // Not established: the handshake failed (its error is still here,
        // since connection_lost is never delivered for it) or the loop was
        // stopped first.
        let error = c
            .transport
            .life_mut()
            .take_error()
            .unwrap_or_else(|| LoopError::Stopped("the TLS handshake").into());
        c.transport.abort();
        ran?;
        Err(error)
    }

    /// Has `tell` called with the error if the handshake of `handle`
    /// fails (its protocol hears nothing then).
    pub(crate) fn on_handshake_failure(
        &mut self,
        handle: ConnectionHandle,
        tell: Box<dyn FnOnce(io::Error)>,
    ) {
        if let Some(c) = self.core.entries.of_mut::<Connection>(handle.0) {
            c.transport.on_handshake_failure(tell);
        }
    }

    /// The handshake timer of a TLS connection fired: if the handshake is
    /// still going on, the connection is dropped (logged and counted; the
    /// protocol never heard of it).
    pub(crate) fn expire_handshake(&mut self, handle: ConnectionHandle) {
        let Some(c) = self.core.entries.of::<Connection>(handle.0) else {
            return;
        };
        let t = &c.transport;
        if !t.life().is_open() || t.handshake_done() {
            return;
        }
        let e = io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out");
        handshake_failed(t, &e);
        self.with_transport(handle, |t| t.fail(e));
    }
}

impl Connection {
    /// The TLS read path: delivers plaintext stashed while reading was
    /// paused, then reads ciphertext into the first half of the shard's
    /// read buffer and decrypts into the second half, until the socket is
    /// drained, reading pauses, or the transport closes.
    pub(super) fn read_tls(&mut self, ctx: &mut Ctx<'_>, to_would_block: bool) {
        // Until a read finds the socket drained, it may hold more.
        self.transport.life_mut().set_read_ready(true);
        let half = ctx.read_buf.len() / 2;
        let (cipher, plain) = ctx.read_buf.split_at_mut(half);
        let mut ctx = Ctx {
            registry: ctx.registry,
            read_buf: &mut [],
            deferred: &mut *ctx.deferred,
        };
        if !self.deliver_stash(&mut ctx) {
            return;
        }
        while self.transport.delivers_input() {
            let Some(got) = self.transport.read_counted(cipher) else {
                return;
            };
            let n = match got {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.transport.life_mut().set_read_ready(false);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.tls_failed(e, &mut ctx);
                    return;
                }
            };
            if !self.decrypt(&cipher[..n], n == 0, plain, &mut ctx) || n == 0 {
                return;
            }
            if n < cipher.len() && !to_would_block {
                self.transport.life_mut().set_read_ready(false);
                return;
            }
        }
    }

    /// Feeds ciphertext (or, with `eof`, the end of the stream) to rustls:
    /// completes the handshake (then `connection_made`), delivers plaintext
    /// — or stashes it while reading is paused — and turns close_notify
    /// into EOF and a truncation into an error. Returns whether reading may
    /// go on.
    fn decrypt(
        &mut self,
        mut input: &[u8],
        eof: bool,
        plain: &mut [u8],
        ctx: &mut Ctx<'_>,
    ) -> bool {
        loop {
            if !self.transport.is_tls() {
                return false;
            }
            match self.transport.tls_feed(&mut input, eof) {
                Ok(Some(done)) => {
                    if let Some(timer) = done.timer() {
                        self.transport.get_loop().cancel_raw(timer);
                    }
                    self.made(ctx);
                }
                Ok(None) => {}
                Err(e) => {
                    self.tls_failed(e, ctx);
                    return false;
                }
            }
            loop {
                let t = &mut self.transport;
                let delivering = t.delivers_input();
                let open = t.life().is_open();
                let Some(decrypted) = t.tls_decrypted(plain) else {
                    return false;
                };
                match decrypted {
                    Ok(Decrypted::Data(0)) => break,
                    Ok(Decrypted::Data(m)) => {
                        if delivering {
                            let data = &plain[..m];
                            self.invoke("data_received", |p, t| p.data_received(t, data));
                            self.settle(ctx);
                        } else if open {
                            t.stash_plain(&plain[..m]);
                        }
                    }
                    Ok(Decrypted::Closed) => {
                        if delivering {
                            self.deliver_eof(ctx);
                        } else {
                            t.stash_eof();
                        }
                        return false;
                    }
                    Err(e) => {
                        self.tls_failed(e, ctx);
                        return false;
                    }
                }
            }
            if input.is_empty() || !self.transport.life().is_open() {
                break;
            }
        }
        // Handshake replies, key updates: send what rustls produced.
        let t = &mut self.transport;
        if t.has_queued() && t.send_session_output() {
            t.life_mut().touch();
            self.settle(ctx);
        }
        self.transport.delivers_input()
    }

    /// Delivers what was decrypted while reading was paused. Returns whether
    /// reading may go on.
    fn deliver_stash(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let delivering = self.transport.delivers_input();
        if !self.transport.is_tls() {
            return true;
        }
        if !delivering {
            return false;
        }
        let Some((stash, eof)) = self.transport.take_stash() else {
            return true;
        };
        if !stash.is_empty() {
            self.invoke("data_received", |p, t| p.data_received(t, &stash));
            self.settle(ctx);
        }
        if eof {
            if self.transport.delivers_input() {
                self.deliver_eof(ctx);
            } else {
                self.transport.stash_eof(); // paused again: deliver on resume
            }
            return false;
        }
        self.transport.delivers_input()
    }

    /// A TLS failure: before the handshake completed it is logged and
    /// counted and never reaches the protocol; after, `connection_lost`
    /// reports it. The alert rustls queued is sent if the socket takes it.
    fn tls_failed(&mut self, e: io::Error, ctx: &mut Ctx<'_>) {
        let t = &mut self.transport;
        if t.tls_handshaking() {
            handshake_failed(t, &e);
        }
        t.send_session_output();
        t.fail(e);
        self.settle(ctx);
    }
}

/// A handshake that will never reach the protocol: logged and counted. A
/// client that sent not one byte — a plain TCP health check (HAProxy's
/// `tcp-check`, a load balancer's probe) connects and closes — is counted
/// apart (`tls_silent_closes`) and logged at debug: it is not a failed
/// handshake, and a warning per probe would drown the real ones.
fn handshake_failed(t: &crate::transport::Transport, e: &io::Error) {
    let stats = &t.get_loop().sched.stats;
    let peer = t.peername().map(|a| a.to_string()).unwrap_or_default();
    if t.is_tls_server() && t.bytes_received() == 0 {
        crate::stats::add(&stats.tls_silent_closes, 1);
        tracing::debug!(%peer, error = %e, "TLS connection closed before its handshake began");
    } else {
        crate::stats::add(&stats.tls_handshake_failures, 1);
        tracing::warn!(%peer, error = %e, "TLS handshake failed");
    }
}
