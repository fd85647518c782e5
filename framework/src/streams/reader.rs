//! [`StreamReader`]: asyncio's `StreamReader` — reads as futures over the
//! bytes its [`StreamReaderProtocol`](super::StreamReaderProtocol) buffers.

use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::Poll;

use super::protocol::Shared;
use super::ReadError;

/// The reading half of a stream connection (asyncio's `StreamReader`).
///
/// Every read is a future to await from a task on the connection's shard.
/// Rules (the contract's S-rules, see [`crate::contract`]):
/// - bytes come out in the order they arrived, each exactly once (S1);
/// - after the peer's EOF, what is buffered is still read, then reads
///   return empty (`read`) or fail with [`ReadError::IncompleteRead`]
///   carrying what there was (`readexactly`, `readuntil`) (S2, S3);
/// - more than twice the limit buffered pauses the transport's reading;
///   reading back to the limit or under resumes it (S4);
/// - a connection lost with an error reports that error to the read that
///   finds nothing more to return.
pub struct StreamReader {
    shared: Rc<Shared>,
}

impl std::fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReader")
            .field("buffered", &self.shared.buffered())
            .field("eof", &self.shared.eof.get())
            .finish()
    }
}

impl StreamReader {
    pub(crate) fn new(shared: Rc<Shared>) -> Self {
        Self { shared }
    }

    /// A reader not attached to any connection, and the [`StreamFeed`]
    /// that fills it (asyncio's `StreamReader(limit=…)` with its
    /// `feed_data`/`feed_eof`): for testing code that reads streams, or for
    /// bytes that come from elsewhere. The feed is a separate handle so a
    /// task can hold the reader (`&mut` while reading) while another feeds.
    pub fn detached(limit: usize) -> (Self, StreamFeed) {
        let shared = Shared::new(limit);
        (Self::new(Rc::clone(&shared)), StreamFeed { shared })
    }

    /// The buffer limit: reading pauses above twice this many buffered
    /// bytes, and `readuntil`/`readline` fail beyond it.
    pub fn limit(&self) -> usize {
        self.shared.limit
    }

    /// Bytes received and not yet read.
    pub fn buffered(&self) -> usize {
        self.shared.buffered()
    }

    /// Whether the peer's EOF was received and everything before it read
    /// (asyncio's `at_eof()`).
    pub fn at_eof(&self) -> bool {
        self.shared.eof.get() && self.shared.buffered() == 0
    }

    /// The error the connection was lost with, if any.
    fn take_error(&self) -> Option<io::Error> {
        self.shared.error_copy()
    }

    /// Ready when more than `have` bytes are buffered, or at EOF (or an
    /// error); `Pending` (with the task's waker kept) otherwise.
    fn poll_more(&self, cx: &mut std::task::Context<'_>, have: usize) -> Poll<()> {
        if self.shared.buffered() > have || self.shared.eof.get() {
            return Poll::Ready(());
        }
        // Waiting with reading paused would wait forever: resume first.
        self.resume_if_paused(true);
        self.shared.wait_read(cx.waker());
        Poll::Pending
    }

    /// Resumes the transport's reading if the reader paused it and the
    /// buffer is back at the limit or under (or `force`).
    #[inline(always)]
    fn resume_if_paused(&self, force: bool) {
        if self.shared.reading_paused.get() {
            self.resume_paused(force);
        }
    }

    #[inline(never)]
    fn resume_paused(&self, force: bool) {
        let s = &self.shared;
        if force || s.buffered() <= s.limit {
            s.reading_paused.set(false);
            s.on_transport(|t| t.resume_reading());
        }
    }

    /// Removes and returns the first `n` buffered bytes.
    fn take(&self, n: usize) -> Vec<u8> {
        let s = &self.shared;
        let start = s.start.get();
        let out = s.buf.borrow()[start..start + n].to_vec();
        self.consume(n);
        out
    }

    #[inline]
    fn consume(&self, n: usize) {
        self.shared.advance(&mut self.shared.buf.borrow_mut(), n);
        self.resume_if_paused(false);
    }

    /// Reads up to `n` bytes: what is buffered (at most `n`), waiting for
    /// some if there is none. Empty at EOF (asyncio's `read(n)`).
    pub async fn read(&mut self, n: usize) -> io::Result<Vec<u8>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        self.wait_more(0).await;
        if self.shared.buffered() == 0 {
            if let Some(e) = self.take_error() {
                return Err(e);
            }
        }
        Ok(self.take(self.shared.buffered().min(n)))
    }

    /// Reads into `dst` what is buffered (at most `dst.len()` bytes),
    /// waiting for some if there is none; `Ok(0)` at EOF. The
    /// allocation-free form of [`read`](Self::read).
    pub fn read_into<'a>(&'a mut self, dst: &'a mut [u8]) -> ReadInto<'a> {
        ReadInto { reader: self, dst }
    }

    /// One step of [`read_into`](Self::read_into): copies what is
    /// buffered, or reports EOF or the error, or waits.
    #[inline]
    pub(crate) fn poll_read_into(
        &self,
        cx: &mut std::task::Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.poll_read_with(cx, |data| {
            let n = data.len().min(dst.len());
            dst[..n].copy_from_slice(&data[..n]);
            n
        })
    }

    /// Hands the buffered input to `take`, which consumes what it returns
    /// (at most what it was given); waits when nothing is buffered. At EOF
    /// `take` is not called and the result is 0; a connection lost with an
    /// error reports it once nothing is left.
    #[inline]
    pub(crate) fn poll_read_with(
        &self,
        cx: &mut std::task::Context<'_>,
        take: impl FnOnce(&[u8]) -> usize,
    ) -> Poll<io::Result<usize>> {
        let s = &self.shared;
        let mut buf = s.buf.borrow_mut();
        let start = s.start.get();
        if buf.len() == start {
            drop(buf);
            if !s.eof.get() {
                // Waiting with reading paused would wait forever.
                self.resume_if_paused(true);
                s.wait_read(cx.waker());
                return Poll::Pending;
            }
            return Poll::Ready(self.take_error().map_or(Ok(0), Err));
        }
        let n = take(&buf[start..]).min(buf.len() - start);
        s.advance(&mut buf, n);
        drop(buf);
        self.resume_if_paused(false);
        Poll::Ready(Ok(n))
    }

    /// Reads until EOF and returns everything (asyncio's `read(-1)`).
    pub async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            self.wait_more(0).await;
            if let Some(e) = self.take_error() {
                return Err(e);
            }
            let n = self.shared.buffered();
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&self.take(n));
        }
    }

    /// Reads exactly `n` bytes. At EOF before `n`:
    /// [`ReadError::IncompleteRead`] with the partial bytes (consumed).
    pub async fn readexactly(&mut self, n: usize) -> Result<Vec<u8>, ReadError> {
        loop {
            let have = self.shared.buffered();
            if have >= n {
                return Ok(self.take(n));
            }
            if let Some(e) = self.take_error() {
                return Err(e.into());
            }
            if self.shared.eof.get() {
                return Err(ReadError::IncompleteRead {
                    partial: self.take(have),
                    expected: Some(n),
                });
            }
            self.wait_more(have).await;
        }
    }

    /// Waits until more than `have` bytes are buffered, or EOF.
    async fn wait_more(&self, have: usize) {
        poll_fn(|cx| self.poll_more(cx, have)).await
    }

    /// Reads up to and including the separator `sep` (asyncio's
    /// `readuntil`). At EOF without it: [`ReadError::IncompleteRead`] with
    /// what was buffered (consumed). When no separator is found within
    /// [`limit`](Self::limit) bytes, or it is found beyond:
    /// [`ReadError::LimitOverrun`], the data left in the buffer.
    pub async fn readuntil(&mut self, sep: &[u8]) -> Result<Vec<u8>, ReadError> {
        if sep.is_empty() {
            return Err(ReadError::EmptySeparator);
        }
        let limit = self.shared.limit;
        let mut offset = 0;
        let isep = loop {
            let have = self.shared.buffered();
            if have >= offset + sep.len() {
                let found = {
                    let buf = self.shared.buf.borrow();
                    let data = &buf[self.shared.start.get()..];
                    find(&data[offset..], sep).map(|i| i + offset)
                };
                if let Some(i) = found {
                    break i;
                }
                offset = have + 1 - sep.len();
                if offset > limit {
                    return Err(ReadError::LimitOverrun { consumed: offset });
                }
            }
            if let Some(e) = self.take_error() {
                return Err(e.into());
            }
            if self.shared.eof.get() {
                return Err(ReadError::IncompleteRead {
                    partial: self.take(have),
                    expected: None,
                });
            }
            self.wait_more(have).await;
        };
        if isep > limit {
            return Err(ReadError::LimitOverrun { consumed: isep });
        }
        Ok(self.take(isep + sep.len()))
    }

    /// Reads one line, `\n` included (asyncio's `readline`). At EOF: what
    /// is left, possibly without `\n`, or empty. A line longer than the
    /// limit fails with [`ReadError::LimitOverrun`] and is discarded
    /// (through its `\n` if that is buffered, else the whole buffer).
    pub async fn readline(&mut self) -> Result<Vec<u8>, ReadError> {
        match self.readuntil(b"\n").await {
            Ok(line) => Ok(line),
            Err(ReadError::IncompleteRead { partial, .. }) => Ok(partial),
            Err(ReadError::LimitOverrun { consumed }) => {
                let s = &self.shared;
                let n = {
                    let buf = s.buf.borrow();
                    let data = &buf[s.start.get()..];
                    if data.get(consumed) == Some(&b'\n') {
                        consumed + 1
                    } else {
                        data.len()
                    }
                };
                self.consume(n);
                Err(ReadError::LimitOverrun { consumed })
            }
            Err(e) => Err(e),
        }
    }
}

/// The first position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return hay.iter().position(|b| *b == needle[0]);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What [`StreamReader::read_into`] returns: resolves to the count of
/// bytes copied (0 at EOF). A plain state-free future, so the echo's hot
/// path pays for no `async` state machine here.
#[must_use = "futures do nothing unless awaited"]
pub struct ReadInto<'a> {
    reader: &'a mut StreamReader,
    dst: &'a mut [u8],
}

impl std::fmt::Debug for ReadInto<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadInto")
            .field("len", &self.dst.len())
            .finish()
    }
}

impl std::future::Future for ReadInto<'_> {
    type Output = io::Result<usize>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Self::Output> {
        let this = &mut *self;
        this.reader.poll_read_into(cx, this.dst)
    }
}

/// Fills a [`StreamReader::detached`] reader by hand; clonable.
#[derive(Clone)]
pub struct StreamFeed {
    shared: Rc<Shared>,
}

impl std::fmt::Debug for StreamFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamFeed").finish_non_exhaustive()
    }
}

impl StreamFeed {
    /// Appends `data` to the reader's buffer and wakes a waiting read.
    pub fn feed_data(&self, data: &[u8]) {
        self.shared.feed(data);
        self.shared.wake_reader();
    }

    /// Marks the end of the stream: reads return what is buffered, then
    /// EOF.
    pub fn feed_eof(&self) {
        self.shared.eof.set(true);
        self.shared.wake_reader();
    }

    /// Makes the next read that finds nothing buffered fail with `error`
    /// (asyncio's `set_exception`); the stream ends there.
    pub fn set_exception(&self, error: io::Error) {
        *self.shared.error.borrow_mut() = Some(error);
        self.shared.eof.set(true);
        self.shared.wake_reader();
    }
}
