//! A [`Runtime`]'s UDP listeners: one `SO_REUSEPORT` socket per shard,
//! bound afresh or taken over from the process that ran before.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use super::listen::spread;
use super::Runtime;
use crate::error::LoopError;

impl Runtime {
    /// Serves UDP on `addr`: every shard binds its own `SO_REUSEPORT`
    /// socket on it, so the kernel spreads flows over the shards, and runs
    /// one protocol instance from `factory` for its socket. Returns the
    /// bound address (port 0 resolved). The sockets keep the kernel's
    /// default buffer sizes; [`listen_udp_with`](Self::listen_udp_with)
    /// sets them.
    pub fn listen_udp<P, F>(&mut self, addr: SocketAddr, factory: F) -> io::Result<SocketAddr>
    where
        P: crate::DatagramProtocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.listen_udp_with(addr, crate::DatagramOptions::default(), factory)
    }

    /// As [`listen_udp`](Self::listen_udp), with `options` for every
    /// shard's socket (`reuse_port` is always set): e.g. `recv_buffer` and
    /// `send_buffer`, so bursts of large datagrams are not dropped. The
    /// sizes the kernel granted are logged.
    pub fn listen_udp_with<P, F>(
        &mut self,
        addr: SocketAddr,
        options: crate::DatagramOptions,
        factory: F,
    ) -> io::Result<SocketAddr>
    where
        P: crate::DatagramProtocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.listen_udp_on(addr, options, Vec::new(), factory)
    }

    /// Serves UDP sockets this process inherited from a takeover (one per
    /// shard of the old process, `SO_REUSEPORT` set): every shard serves
    /// its share, one protocol instance per socket, and shards left without
    /// one bind the address alongside. `options`' buffer sizes apply to
    /// the inherited sockets too. Datagrams queued in them are not lost:
    /// the old process and this one read the same sockets until it lets go.
    pub fn listen_udp_inherited<P, F>(
        &mut self,
        fds: Vec<std::os::fd::OwnedFd>,
        options: crate::DatagramOptions,
        factory: F,
    ) -> io::Result<SocketAddr>
    where
        P: crate::DatagramProtocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let mut sockets = Vec::with_capacity(fds.len());
        for fd in fds {
            let sock = socket2::Socket::from(fd);
            if sock.r#type()? != socket2::Type::DGRAM {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the inherited descriptor is not a UDP socket",
                ));
            }
            crate::shard::set_udp_buffers(&sock, &options)?;
            sock.set_nonblocking(true)?;
            sockets.push(std::net::UdpSocket::from(sock));
        }
        let addr = sockets
            .first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no inherited socket"))?
            .local_addr()?;
        self.listen_udp_on(addr, options, sockets, factory)
    }

    /// Serves UDP on `sockets`, binding more on `addr` until every shard
    /// has one; shard K serves sockets K, K + shards, …
    fn listen_udp_on<P, F>(
        &mut self,
        addr: SocketAddr,
        mut options: crate::DatagramOptions,
        mut sockets: Vec<std::net::UdpSocket>,
        factory: F,
    ) -> io::Result<SocketAddr>
    where
        P: crate::DatagramProtocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        options.reuse_port = true;
        let mut bound = addr;
        while sockets.len() < self.shards.len() {
            let socket = crate::shard::bind_udp(bound, &options)?;
            bound = socket.local_addr()?;
            sockets.push(socket);
        }
        // UDP endpoints have no per-listener metrics; the name goes with
        // the sockets to a takeover.
        let name = self
            .next_name
            .take()
            .unwrap_or_else(|| format!("udp:{bound}"));
        self.keep_for_takeover(None, name, true, &sockets)?;
        if options.recv_buffer.is_some() || options.send_buffer.is_some() {
            if let Some(s) = sockets.first() {
                let s = socket2::SockRef::from(s);
                tracing::info!(
                    address = %bound,
                    recv_buffer = s.recv_buffer_size().unwrap_or(0),
                    send_buffer = s.send_buffer_size().unwrap_or(0),
                    "UDP socket buffers granted by the kernel (bytes; Linux counts its bookkeeping, doubling what was asked, and caps at net.core.rmem_max/wmem_max)"
                );
            }
        }
        let factory = Arc::new(factory);
        let per_shard = spread(sockets, self.shards.len());
        self.serve_or_hold(move |rt| {
            for (shard, sockets) in rt.shards.iter().zip(per_shard) {
                let factory = Arc::clone(&factory);
                shard
                    .handle
                    .submit(move |lp| {
                        for socket in sockets {
                            let factory = Arc::clone(&factory);
                            if let Err(e) = lp.adopt_udp(socket, None, move || factory()) {
                                tracing::error!(error = %e, "shard cannot serve its UDP socket");
                            }
                        }
                    })
                    .map_err(|_| io::Error::from(LoopError::Gone("a shard".into())))?;
            }
            Ok(())
        })?;
        Ok(bound)
    }
}
