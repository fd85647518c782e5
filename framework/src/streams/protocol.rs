//! [`StreamReaderProtocol`]: the stream [`Protocol`] under a
//! [`StreamReader`]/[`StreamWriter`] pair, as asyncio's is — it feeds the
//! reader, tracks flow control for `drain`, and records the loss of the
//! connection for `wait_closed`.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::task::Waker;

use super::{StreamReader, StreamWriter, DEFAULT_LIMIT};
use crate::shard::{ConnectionHandle, LoopHandle};
use crate::transport::{Address, Transport};
use crate::Protocol;

/// What a connection's protocol, reader and writer share. Single-threaded:
/// all three live on the connection's shard.
pub(crate) struct Shared {
    /// Received and not yet read: `buf[start..]`.
    pub(crate) buf: RefCell<Vec<u8>>,
    pub(crate) start: Cell<usize>,
    /// Above `2 * limit` buffered bytes reading pauses; at or under `limit`
    /// it resumes.
    pub(crate) limit: usize,
    pub(crate) eof: Cell<bool>,
    /// The error the connection was lost with; reads and `drain` report it.
    pub(crate) error: RefCell<Option<io::Error>>,
    pub(crate) handle: Cell<Option<ConnectionHandle>>,
    pub(crate) lp: RefCell<Option<LoopHandle>>,
    /// The reader paused the transport's reading (its buffer is full).
    pub(crate) reading_paused: Cell<bool>,
    /// The transport asked to stop writing (`pause_writing`).
    pub(crate) write_paused: Cell<bool>,
    /// `connection_made` was delivered.
    pub(crate) made: Cell<bool>,
    /// `connection_lost` was delivered.
    pub(crate) lost: Cell<bool>,
    /// `StreamWriter::close` was called.
    pub(crate) closing: Cell<bool>,
    pub(crate) peername: RefCell<Option<Address>>,
    pub(crate) sockname: RefCell<Option<Address>>,
    /// The task waiting in a read (kept across wake-ups: waking by
    /// reference costs no clone per message).
    pub(crate) reader: RefCell<Option<Waker>>,
    /// Tasks waiting in `drain`, `wait_closed` or for `connection_made`.
    pub(crate) waiters: RefCell<Vec<Waker>>,
}

impl Shared {
    pub(crate) fn new(limit: usize) -> Rc<Self> {
        Rc::new(Self {
            buf: RefCell::new(Vec::new()),
            start: Cell::new(0),
            limit: limit.max(1),
            eof: Cell::new(false),
            error: RefCell::new(None),
            handle: Cell::new(None),
            lp: RefCell::new(None),
            reading_paused: Cell::new(false),
            write_paused: Cell::new(false),
            made: Cell::new(false),
            lost: Cell::new(false),
            closing: Cell::new(false),
            peername: RefCell::new(None),
            sockname: RefCell::new(None),
            reader: RefCell::new(None),
            waiters: RefCell::new(Vec::new()),
        })
    }

    /// Appends received bytes (compacting what was read when it is half
    /// the buffer); returns how many are buffered now.
    pub(crate) fn feed(&self, data: &[u8]) -> usize {
        let mut buf = self.buf.borrow_mut();
        let start = self.start.get();
        // (A reader that empties the buffer resets it to the front.)
        if start > 0 && start >= buf.len() / 2 {
            buf.drain(..start);
            self.start.set(0);
        }
        buf.extend_from_slice(data);
        buf.len() - self.start.get()
    }

    /// Drops the first `n` unread bytes of `buf` (this reader's buffer,
    /// borrowed by the caller); all read, it starts at the front again.
    #[inline]
    pub(crate) fn advance(&self, buf: &mut Vec<u8>, n: usize) {
        let start = self.start.get() + n;
        if start == buf.len() {
            buf.clear();
            self.start.set(0);
        } else {
            self.start.set(start);
        }
    }

    /// A copy of the error the connection was lost with, if any (reads and
    /// `drain` each report it).
    pub(crate) fn error_copy(&self) -> Option<io::Error> {
        let e = self.error.borrow();
        e.as_ref().map(|e| io::Error::new(e.kind(), e.to_string()))
    }

    /// Runs `f` on the connection's transport now — from a task of its
    /// shard, the loop lent to it — or else on the loop's next iteration.
    /// Nothing when the stream has no connection (a detached reader).
    pub(crate) fn on_transport(&self, f: impl FnOnce(&mut Transport) + 'static) {
        let Some(h) = self.handle.get() else {
            return;
        };
        let mut f = Some(f);
        let done = crate::shard::with_current_loop(|lp| {
            if let Some(f) = f.take() {
                lp.with_transport(h, f);
            }
        });
        if done.is_none() {
            if let (Some(f), Some(lp)) = (f, self.lp.borrow().as_ref()) {
                lp.call_soon(move |lp| {
                    lp.with_transport(h, f);
                });
            }
        }
    }

    /// Bytes buffered and not yet read.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.borrow().len() - self.start.get()
    }

    /// Remembers the waker of the task reading (no clone if it is the same
    /// task as last time).
    pub(crate) fn wait_read(&self, waker: &Waker) {
        let mut r = self.reader.borrow_mut();
        if !r.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *r = Some(waker.clone());
        }
    }

    pub(crate) fn wait_state(&self, waker: &Waker) {
        let mut w = self.waiters.borrow_mut();
        if !w.iter().any(|x| x.will_wake(waker)) {
            w.push(waker.clone());
        }
    }

    pub(crate) fn wake_reader(&self) {
        if let Some(w) = self.reader.borrow().as_ref() {
            w.wake_by_ref();
        }
    }

    pub(crate) fn wake_waiters(&self) {
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for w in waiters {
            w.wake();
        }
    }
}

/// The callback run, as a task, for each connection a stream server
/// accepts.
type OnConnect = Box<dyn FnOnce(&LoopHandle, StreamReader, StreamWriter)>;

/// The stream [`Protocol`] that feeds a [`StreamReader`] and serves a
/// [`StreamWriter`] (asyncio's `StreamReaderProtocol`). Made by
/// [`open_connection`](super::open_connection) and the stream servers; a
/// user hands one to `create_server`/`create_tls_server`/`listen` through
/// [`with_callback`](Self::with_callback) to serve streams over any
/// listener kind.
pub struct StreamReaderProtocol {
    shared: Rc<Shared>,
    on_connect: Option<OnConnect>,
}

impl std::fmt::Debug for StreamReaderProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReaderProtocol")
            .field("limit", &self.shared.limit)
            .finish_non_exhaustive()
    }
}

impl StreamReaderProtocol {
    pub(crate) fn client(shared: Rc<Shared>) -> Self {
        Self {
            shared,
            on_connect: None,
        }
    }

    /// A server-side protocol: on `connection_made` it spawns
    /// `client_connected(reader, writer)` as a task of the connection's
    /// shard (asyncio's `client_connected_cb`). The reader's limit is
    /// [`DEFAULT_LIMIT`].
    pub fn with_callback<F, Fut>(client_connected: F) -> Self
    where
        F: FnOnce(StreamReader, StreamWriter) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        Self::with_callback_and_limit(client_connected, DEFAULT_LIMIT)
    }

    /// [`with_callback`](Self::with_callback) with the reader's buffer
    /// limit given.
    pub fn with_callback_and_limit<F, Fut>(client_connected: F, limit: usize) -> Self
    where
        F: FnOnce(StreamReader, StreamWriter) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        Self {
            shared: Shared::new(limit),
            on_connect: Some(Box::new(move |lp, reader, writer| {
                // Detached: the task owns the connection's streams; its
                // panic is logged and costs this connection only.
                drop(lp.spawn_local(client_connected(reader, writer)));
            })),
        }
    }
}

impl Protocol for StreamReaderProtocol {
    fn connection_made(&mut self, transport: &mut Transport) {
        let s = &self.shared;
        s.handle.set(Some(transport.handle()));
        *s.lp.borrow_mut() = Some(transport.get_loop().clone());
        *s.peername.borrow_mut() = transport.peername();
        *s.sockname.borrow_mut() = transport.sockname();
        s.made.set(true);
        s.wake_waiters();
        if let Some(cb) = self.on_connect.take() {
            let reader = StreamReader::new(Rc::clone(s));
            let writer = StreamWriter::new(Rc::clone(s));
            cb(transport.get_loop(), reader, writer);
        }
    }

    fn data_received(&mut self, transport: &mut Transport, data: &[u8]) {
        let s = &self.shared;
        let buffered = s.feed(data);
        if !s.reading_paused.get() && buffered > 2 * s.limit {
            transport.pause_reading();
            s.reading_paused.set(true);
        }
        s.wake_reader();
    }

    fn eof_received(&mut self, _transport: &mut Transport) -> bool {
        self.shared.eof.set(true);
        self.shared.wake_reader();
        // Stay half-open so the writer can still answer (asyncio does the
        // same; over TLS the transport closes anyway).
        true
    }

    fn connection_lost(&mut self, _transport: &mut Transport, error: Option<io::Error>) {
        let s = &self.shared;
        s.eof.set(true);
        s.lost.set(true);
        if let Some(e) = error {
            *s.error.borrow_mut() = Some(e);
        }
        s.wake_reader();
        s.wake_waiters();
    }

    fn pause_writing(&mut self, _transport: &mut Transport) {
        self.shared.write_paused.set(true);
    }

    fn resume_writing(&mut self, _transport: &mut Transport) {
        self.shared.write_paused.set(false);
        self.shared.wake_waiters();
    }
}
