//! [`StreamIo`]: a stream connection as one poll-based byte stream, for
//! the crates of the Rust async ecosystem — hyper 1.x (`hyper::rt::Read`
//! and `Write`, feature `hyper`), `futures-io`'s `AsyncRead`/`AsyncWrite`
//! (feature `futures-io`: codec crates such as `asynchronous-codec`) and
//! tokio's (feature `tokio-io`: `tokio-util`'s codecs).
//!
//! It is the [`StreamReader`]/[`StreamWriter`] pair under the traits those
//! crates expect, with the same rules:
//! - a read takes what is buffered (up to the caller's buffer), waits when
//!   there is nothing, and reads 0 at EOF — after what was buffered (S1,
//!   S2); a connection lost with an error fails the read that finds
//!   nothing more;
//! - a write queues on the transport and never blocks; while the transport
//!   has paused writing (its queue past the high-water mark) a write or a
//!   flush waits until it resumes, so a fast writer is held back (T12);
//! - shutdown closes the write side once the queue is flushed (`write_eof`
//!   where the transport can, a close otherwise: TLS).
//!
//! Like the reader and writer, it is polled from a task of the
//! connection's shard (a server callback of
//! [`start_server`](crate::EventLoop::start_server), a task from
//! [`spawn_local`](crate::LoopHandle::spawn_local)).

use std::io;
#[cfg(any(feature = "hyper", feature = "futures-io", feature = "tokio-io"))]
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{StreamReader, StreamWriter};
use crate::error::TransportError;

/// A stream connection as one poll-based byte stream (see the module
/// docs): the reader and the writer of one connection, together.
#[derive(Debug)]
pub struct StreamIo {
    reader: StreamReader,
    writer: StreamWriter,
}

impl StreamIo {
    /// Joins the two halves of one connection.
    pub fn new(reader: StreamReader, writer: StreamWriter) -> Self {
        Self { reader, writer }
    }

    /// The two halves again.
    pub fn into_parts(self) -> (StreamReader, StreamWriter) {
        (self.reader, self.writer)
    }

    /// The reading half.
    pub fn reader(&mut self) -> &mut StreamReader {
        &mut self.reader
    }

    /// The writing half.
    pub fn writer(&mut self) -> &mut StreamWriter {
        &mut self.writer
    }

    /// Copies buffered input into `dst` (0 at EOF); waits when there is
    /// none.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, dst: &mut [u8]) -> Poll<io::Result<usize>> {
        self.reader.poll_read_into(cx, dst)
    }

    /// Queues `data` on the transport, all of it, unless writing is
    /// paused: then it waits for the resume. Fails once the connection is
    /// closing or lost.
    pub fn poll_write(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match self.writer.poll_writable(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        Poll::Ready(
            self.writer
                .write(data)
                .map(|()| data.len())
                .map_err(io_error),
        )
    }

    /// Queues every part in order, as one `writev` where it can.
    pub fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        parts: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let n: usize = parts.iter().map(|p| p.len()).sum();
        if n == 0 {
            return Poll::Ready(Ok(0));
        }
        match self.writer.poll_writable(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        // The parts as slices: on the stack for the usual few (no
        // allocation per write), else in a vector.
        const ON_STACK: usize = 16;
        let written = if parts.len() <= ON_STACK {
            let mut slices: [&[u8]; ON_STACK] = [&[]; ON_STACK];
            for (slot, part) in slices.iter_mut().zip(parts) {
                *slot = part;
            }
            self.writer.writelines(&slices[..parts.len()])
        } else {
            let slices: Vec<&[u8]> = parts.iter().map(|p| &**p).collect();
            self.writer.writelines(&slices)
        };
        Poll::Ready(written.map(|()| n).map_err(io_error))
    }

    /// Ready once the transport takes more: the queue is in the
    /// transport's hands from the write on, so this only waits while
    /// writing is paused.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.writer.poll_writable(cx)
    }

    /// Closes the write side once the queue is flushed: `write_eof` where
    /// the transport can (TCP, Unix), else a close (TLS).
    pub fn poll_shutdown(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.writer.is_closing() {
            return Poll::Ready(Ok(()));
        }
        if self.writer.can_write_eof() {
            match self.writer.write_eof() {
                Ok(()) | Err(TransportError::Closed) => {}
                Err(e) => return Poll::Ready(Err(io_error(e))),
            }
        } else {
            self.writer.close();
        }
        Poll::Ready(Ok(()))
    }
}

fn io_error(e: TransportError) -> io::Error {
    match e {
        TransportError::Closed => io::Error::new(io::ErrorKind::BrokenPipe, "the stream is closed"),
        e => io::Error::other(e),
    }
}

#[cfg(feature = "hyper")]
impl hyper::rt::Read for StreamIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let read = self.get_mut().reader.poll_read_with(cx, |data| {
            let n = data.len().min(buf.remaining());
            buf.put_slice(&data[..n]);
            n
        });
        read.map(|r| r.map(|_| ()))
    }
}

#[cfg(feature = "hyper")]
impl hyper::rt::Write for StreamIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_shutdown(cx)
    }
}

#[cfg(feature = "futures-io")]
impl futures_io::AsyncRead for StreamIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read(cx, buf)
    }
}

#[cfg(feature = "futures-io")]
impl futures_io::AsyncWrite for StreamIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_shutdown(cx)
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncRead for StreamIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let read = self.get_mut().reader.poll_read_with(cx, |data| {
            let n = data.len().min(buf.remaining());
            buf.put_slice(&data[..n]);
            n
        });
        read.map(|r| r.map(|_| ()))
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncWrite for StreamIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_shutdown(cx)
    }
}
