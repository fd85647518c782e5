//! The stream [`Transport`]'s write side (T11, T12, T16): `write` and its
//! hot path, `writelines`, TLS encryption into the queue, `sendfile`, and
//! handing the queue to the kernel. Writes never block and never call back
//! into the protocol (P10): what is refused waits in the queue, and flow
//! control asks the loop for `pause_writing` after the callback.

use std::io::{self, IoSlice};

use super::flow::FlowEvent;
use super::socket::Stream;
use super::stream::{is_transient, EofWrite, Transport, MAX_IOV};
use crate::error::TransportError;

impl Transport {
    /// Writes `data` without blocking (T11).
    ///
    /// When nothing is queued the socket is tried at once and only what the
    /// kernel refuses is copied into the queue, flushed when the socket is
    /// writable. Bytes leave in the order written. Empty data is a no-op.
    ///
    /// Errors: [`TransportError::EofWritten`] after [`write_eof`](Self::write_eof);
    /// [`TransportError::Closed`] after `close`/`abort` or once the
    /// connection is lost — the data is dropped. A write that pushes the
    /// queue strictly over the high-water mark makes the loop call
    /// `pause_writing` as soon as the current callback returns (P8, P10).
    #[inline(always)]
    pub fn write(&mut self, data: &[u8]) -> Result<(), TransportError> {
        // The hot path: an open plain socket with nothing queued, and the
        // kernel takes it all. Everything else is out of line.
        if self.life.is_open()
            && self.eof_write == EofWrite::No
            && self.tls.is_none()
            && self.buffer.is_empty()
            && !data.is_empty()
        {
            if let Some(fd) = self.io.as_ref().and_then(Stream::socket_fd) {
                let n = crate::sys::send_raw(fd, data);
                if n as usize == data.len() {
                    self.bytes_out += n as u64;
                    return Ok(());
                }
                return self.write_rest(data, crate::sys::syscall_outcome(n));
            }
        }
        self.write_queued(data)
    }

    /// The hot path's send came back short or failed: queue the rest, or
    /// fail the transport.
    #[cold]
    #[inline(never)]
    fn write_rest(&mut self, data: &[u8], sent: io::Result<usize>) -> Result<(), TransportError> {
        match sent {
            Ok(n) => {
                self.bytes_out += n as u64;
                self.buffer.push(&data[n..]);
            }
            Err(e) if is_transient(&e) => self.buffer.push(data),
            Err(e) => {
                self.fail(e);
                return Err(TransportError::Closed);
            }
        }
        self.after_grow();
        Ok(())
    }

    /// `write` off the hot path: closed, TLS, or behind queued bytes.
    #[cold]
    #[inline(never)]
    fn write_queued(&mut self, data: &[u8]) -> Result<(), TransportError> {
        self.check_writable()?;
        if data.is_empty() {
            return Ok(());
        }
        if self.tls.is_some() {
            return self.write_tls(&[IoSlice::new(data)]);
        }
        let mut rest = data;
        if self.buffer.is_empty() {
            match self.try_send(|io| io.write(data)) {
                Some(n) if n == data.len() => return Ok(()),
                Some(n) => rest = &data[n..],
                None if !self.life.is_open() => return Err(TransportError::Closed),
                None => {}
            }
        }
        self.buffer.push(rest);
        self.after_grow();
        Ok(())
    }

    /// Writes every part in turn, exactly as that many [`write`](Self::write)
    /// calls would, but with one vectored syscall when the socket takes it
    /// all (T12). Obeys flow control like `write`.
    pub fn writelines<B: AsRef<[u8]>>(&mut self, parts: &[B]) -> Result<(), TransportError> {
        self.check_writable()?;
        if self.tls.is_some() {
            for batch in parts.chunks(MAX_IOV) {
                let mut iov = [IoSlice::new(&[]); MAX_IOV];
                for (slot, part) in iov.iter_mut().zip(batch) {
                    *slot = IoSlice::new(part.as_ref());
                }
                self.write_tls(&iov[..batch.len()])?;
            }
            return Ok(());
        }
        let mut parts = parts;
        while !parts.is_empty() && self.buffer.is_empty() {
            let batch = &parts[..parts.len().min(MAX_IOV)];
            parts = &parts[batch.len()..];
            let mut iov = [IoSlice::new(&[]); MAX_IOV];
            let mut total = 0;
            for (slot, part) in iov.iter_mut().zip(batch) {
                *slot = IoSlice::new(part.as_ref());
                total += part.as_ref().len();
            }
            if total == 0 {
                continue;
            }
            let sent = match self.try_send(|io| io.write_vectored(&iov[..batch.len()])) {
                Some(n) => n,
                None if !self.life.is_open() => return Err(TransportError::Closed),
                None => 0,
            };
            if sent < total {
                self.queue_after(batch, sent);
            }
        }
        for part in parts {
            self.buffer.push(part.as_ref());
        }
        self.after_grow();
        Ok(())
    }

    /// TLS: encrypts into the queue (records in write order), then sends at
    /// once if nothing was waiting for the socket before.
    fn write_tls(&mut self, parts: &[IoSlice<'_>]) -> Result<(), TransportError> {
        let was_empty = self.buffer.is_empty();
        if let Some(tls) = self.tls.as_mut() {
            tls.encrypt(parts, &mut self.buffer);
        }
        if was_empty {
            self.send_queue();
        }
        if !self.life.is_open() {
            // The send found the connection broken: it is failed now, and
            // the caller hears it, as over TCP.
            return Err(TransportError::Closed);
        }
        self.after_grow();
        Ok(())
    }

    /// Hands the queue to the kernel, one vectored write per attempt, until
    /// it is empty or the socket is full. A fatal error fails the transport.
    pub(crate) fn send_queue(&mut self) {
        while !self.buffer.is_empty() {
            if !self.buffer.head_is_bytes() {
                if !self.send_file_head() {
                    return;
                }
                continue;
            }
            let Some(io) = self.io.as_mut() else { return };
            match io.write_vectored(&self.buffer.io_slices()) {
                Ok(0) => return,
                Ok(n) => {
                    self.buffer.consume(n);
                    self.bytes_out += n as u64;
                    if let Some(tls) = self.tls.as_mut() {
                        tls.sent(n);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    self.fail(e);
                    return;
                }
            }
        }
    }

    /// Sends (part of) the file range at the head of the queue; whether
    /// to go on (false: the socket is full, or the transport failed).
    #[cold]
    #[inline(never)]
    fn send_file_head(&mut self) -> bool {
        let Some(io) = self.io.as_mut() else {
            return false;
        };
        let Some((file, offset, remaining)) = self.buffer.head_file() else {
            return false;
        };
        // Linux sends at most 0x7ffff000 bytes per call.
        let count = remaining.min(0x7fff_f000) as usize;
        match io.sendfile(file, offset, count) {
            Ok(0) => {
                self.fail(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file ended before the byte count given to sendfile",
                ));
                false
            }
            Ok(n) => {
                self.bytes_out += n as u64;
                self.buffer.file_sent(n as u64);
                true
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) => {
                self.fail(e);
                false
            }
        }
    }

    /// Sends `count` bytes of `file` from `offset` (to the file's end when
    /// `count` is `None`) after everything written before, and before
    /// everything written after — asyncio's `loop.sendfile(transport, file,
    /// offset, count)`, beyond the seed (T16). On plain TCP and Unix
    /// sockets the bytes go from the page cache to the socket with
    /// `sendfile(2)`, never through user space; over TLS they are read and
    /// written (encrypted) at once. The range counts in the write buffer
    /// like written bytes, so flow control (`pause_writing`) applies.
    /// Returns the byte count.
    ///
    /// A file that turns out shorter than the range fails the connection
    /// (`connection_lost` with `UnexpectedEof`): the peer was promised
    /// bytes that do not exist.
    ///
    /// Errors: as [`write`](Self::write); [`TransportError::File`] when the
    /// file cannot be read or measured.
    pub fn sendfile(
        &mut self,
        file: std::fs::File,
        offset: u64,
        count: Option<u64>,
    ) -> Result<u64, TransportError> {
        self.check_writable()?;
        let count = match count {
            Some(c) => c,
            None => file
                .metadata()
                .map_err(TransportError::file)?
                .len()
                .saturating_sub(offset),
        };
        if count == 0 {
            return Ok(0);
        }
        if self.tls.is_some() {
            return self.sendfile_by_copy(&file, offset, count).map(|()| count);
        }
        let (mut offset, mut remaining) = (offset, count);
        if self.buffer.is_empty() {
            // Nothing ahead of it: straight to the kernel.
            while remaining > 0 {
                let Some(io) = self.io.as_mut() else { break };
                match io.sendfile(&file, &mut offset, remaining.min(0x7fff_f000) as usize) {
                    Ok(0) => {
                        self.fail(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the file ended before the byte count given to sendfile",
                        ));
                        return Ok(count);
                    }
                    Ok(n) => {
                        self.bytes_out += n as u64;
                        remaining -= n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if is_transient(&e) => break,
                    Err(e) => {
                        self.fail(e);
                        return Err(TransportError::Closed);
                    }
                }
            }
            if remaining == 0 {
                return Ok(count);
            }
        }
        self.buffer.push_file(file, offset, remaining);
        self.after_grow();
        Ok(count)
    }

    /// [`write`](Self::write) `head`, then [`sendfile`](Self::sendfile)
    /// the range — what a file server sends per response. When nothing is
    /// queued, the head goes with `MSG_MORE`, so the head and the file's
    /// first bytes share packets instead of the head leaving alone.
    pub fn write_then_sendfile(
        &mut self,
        head: &[u8],
        file: std::fs::File,
        offset: u64,
        count: Option<u64>,
    ) -> Result<u64, TransportError> {
        self.check_writable()?;
        if self.tls.is_none() && self.buffer.is_empty() && !head.is_empty() {
            match self.try_send(|io| io.write_more(head)) {
                Some(n) if n == head.len() => {}
                Some(n) => self.buffer.push(&head[n..]),
                None if !self.life.is_open() => return Err(TransportError::Closed),
                None => self.buffer.push(head),
            }
        } else {
            self.write(head)?;
        }
        self.sendfile(file, offset, count)
    }

    /// `sendfile` over TLS: read the range and write it, in chunks.
    fn sendfile_by_copy(
        &mut self,
        file: &std::fs::File,
        mut offset: u64,
        count: u64,
    ) -> Result<(), TransportError> {
        use std::os::unix::fs::FileExt as _;
        let mut chunk = vec![0u8; (count.min(64 * 1024)) as usize];
        let mut left = count;
        while left > 0 {
            let want = left.min(chunk.len() as u64) as usize;
            let n = file
                .read_at(&mut chunk[..want], offset)
                .map_err(TransportError::file)?;
            if n == 0 {
                self.fail(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file ended before the byte count given to sendfile",
                ));
                return Ok(());
            }
            self.write_tls(&[IoSlice::new(&chunk[..n])])?;
            offset += n as u64;
            left -= n as u64;
        }
        Ok(())
    }

    /// Queues what follows the first `sent` bytes of `batch`.
    fn queue_after<B: AsRef<[u8]>>(&mut self, batch: &[B], mut sent: usize) {
        for part in batch {
            let part = part.as_ref();
            if sent >= part.len() {
                sent -= part.len();
            } else {
                self.buffer.push(&part[sent..]);
                sent = 0;
            }
        }
    }

    fn check_writable(&self) -> Result<(), TransportError> {
        if !self.life.is_open() {
            return Err(TransportError::Closed);
        }
        if self.eof_write != EofWrite::No {
            return Err(TransportError::EofWritten);
        }
        Ok(())
    }

    /// One non-blocking send; `None` when nothing was sent (would block, or
    /// a fatal error, which is recorded).
    #[inline]
    fn try_send(&mut self, send: impl FnOnce(&mut Stream) -> io::Result<usize>) -> Option<usize> {
        let io = self.io.as_mut()?;
        match send(io) {
            Ok(n) => {
                self.bytes_out += n as u64;
                Some(n)
            }
            Err(e) if is_transient(&e) => None,
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    fn after_grow(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        if self.flow.after_grow(self.buffered()) == FlowEvent::Pause {
            self.life.pause_due();
        }
        if !self.writable_registered {
            self.life.touch();
        }
    }
}
