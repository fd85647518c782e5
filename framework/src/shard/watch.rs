//! `add_reader`/`add_writer` (L3): run a callback whenever a descriptor the
//! user owns is readable or writable, as asyncio's `loop.add_reader`.
//!
//! asyncio's callbacks are level-triggered — called again on every
//! iteration while the descriptor stays ready — but mio is edge-triggered.
//! So after each call the descriptor is polled once without waiting, and if
//! it is still ready the callback runs again on the next iteration.

use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;

use mio::unix::SourceFd;
use mio::{Interest, Registry};

use super::{token_of, EntryKey, EventLoop};

/// A watcher callback, shared so it can run while its entry is borrowed.
type WatchFn = Rc<RefCell<dyn FnMut(&mut EventLoop)>>;

/// Readiness a watcher waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Read,
    Write,
}

/// The callbacks registered for one descriptor.
pub(crate) struct Watcher {
    fd: RawFd,
    reader: Option<WatchFn>,
    writer: Option<WatchFn>,
    /// A call of that side is already scheduled for the next iteration.
    read_pending: bool,
    write_pending: bool,
}

impl Watcher {
    fn interest(&self) -> Option<Interest> {
        match (self.reader.is_some(), self.writer.is_some()) {
            (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
            (true, false) => Some(Interest::READABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        }
    }

    fn pending(&mut self, side: Side) -> &mut bool {
        match side {
            Side::Read => &mut self.read_pending,
            Side::Write => &mut self.write_pending,
        }
    }

    fn callback(&self, side: Side) -> Option<&WatchFn> {
        match side {
            Side::Read => self.reader.as_ref(),
            Side::Write => self.writer.as_ref(),
        }
    }
}

impl EventLoop {
    /// Calls `callback` whenever `fd` is readable, until
    /// [`remove_reader`](Self::remove_reader) — level-triggered, as asyncio:
    /// while the descriptor stays readable the callback runs again on every
    /// loop iteration. A callback already registered for `fd` is replaced.
    /// The descriptor stays the caller's: the loop never reads or closes it.
    pub fn add_reader(
        &mut self,
        fd: RawFd,
        callback: impl FnMut(&mut EventLoop) + 'static,
    ) -> io::Result<()> {
        self.watch(fd, Side::Read, Some(Rc::new(RefCell::new(callback))))
            .map(|_| ())
    }

    /// Stops watching `fd` for reading; returns whether it was watched.
    pub fn remove_reader(&mut self, fd: RawFd) -> bool {
        self.watch(fd, Side::Read, None).unwrap_or(false)
    }

    /// Calls `callback` whenever `fd` is writable, until
    /// [`remove_writer`](Self::remove_writer); level-triggered like
    /// [`add_reader`](Self::add_reader).
    pub fn add_writer(
        &mut self,
        fd: RawFd,
        callback: impl FnMut(&mut EventLoop) + 'static,
    ) -> io::Result<()> {
        self.watch(fd, Side::Write, Some(Rc::new(RefCell::new(callback))))
            .map(|_| ())
    }

    /// Stops watching `fd` for writing; returns whether it was watched.
    pub fn remove_writer(&mut self, fd: RawFd) -> bool {
        self.watch(fd, Side::Write, None).unwrap_or(false)
    }

    /// Sets (or with `None` clears) one side of `fd`'s watcher and brings
    /// its registration in line. Returns whether that side was set before.
    fn watch(&mut self, fd: RawFd, side: Side, f: Option<WatchFn>) -> io::Result<bool> {
        let registry = self.poll.registry();
        let key = match self.watchers.get(&fd) {
            Some(&key) => key,
            None if f.is_none() => return Ok(false),
            None => {
                let (key, _) = self.core.entries.add(|_| Watcher {
                    fd,
                    reader: None,
                    writer: None,
                    read_pending: false,
                    write_pending: false,
                });
                self.watchers.insert(fd, key);
                key
            }
        };
        let Some(w) = self.core.entries.of_mut::<Watcher>(key) else {
            // The map names only watcher entries; a stale one is
            // forgotten and the watcher made afresh.
            self.watchers.remove(&fd);
            return self.watch(fd, side, f);
        };
        let before = w.interest();
        let was = match side {
            Side::Read => std::mem::replace(&mut w.reader, f),
            Side::Write => std::mem::replace(&mut w.writer, f),
        }
        .is_some();
        let after = w.interest();
        let result = register(registry, fd, key, before, after);
        if after.is_none() || result.is_err() {
            if let Some(w) = self.core.entries.of_mut::<Watcher>(key) {
                if result.is_err() {
                    // Registration failed: this side is not watched.
                    match side {
                        Side::Read => w.reader = None,
                        Side::Write => w.writer = None,
                    }
                }
                if w.interest().is_none() {
                    self.core.entries.remove(key);
                    self.watchers.remove(&fd);
                }
            }
        }
        result.map(|()| was)
    }

    /// Runs one side's callback (scheduled by an event or by the previous
    /// call finding the descriptor still ready), then checks readiness again.
    pub(crate) fn run_watcher(&mut self, key: EntryKey, side: Side) {
        let Some(w) = self.core.entries.of_mut::<Watcher>(key) else {
            return;
        };
        *w.pending(side) = false;
        let Some(f) = w.callback(side).cloned() else {
            return;
        };
        let fd = w.fd;
        (f.borrow_mut())(self);
        // Level-triggered: still ready (and still watched by the same
        // callback)? Run again on the next iteration.
        let still_watched = self
            .core
            .entries
            .of::<Watcher>(key)
            .is_some_and(|w| w.callback(side).is_some_and(|g| Rc::ptr_eq(g, &f)));
        if still_watched && crate::sys::is_ready(fd, side == Side::Read) {
            self.core.schedule_watcher(key, side);
        }
    }
}

impl super::Core {
    /// Schedules a watcher's callback for the next iteration, once.
    pub(crate) fn schedule_watcher(&mut self, key: EntryKey, side: Side) {
        let Some(w) = self.entries.of_mut::<Watcher>(key) else {
            return;
        };
        if w.callback(side).is_none() || std::mem::replace(w.pending(side), true) {
            return;
        }
        self.handle.call_soon(move |lp| lp.run_watcher(key, side));
    }
}

fn register(
    registry: &Registry,
    fd: RawFd,
    key: EntryKey,
    before: Option<Interest>,
    after: Option<Interest>,
) -> io::Result<()> {
    let mut source = SourceFd(&fd);
    match (before, after) {
        (None, Some(i)) => registry.register(&mut source, token_of(key), i),
        (Some(_), Some(i)) => registry.reregister(&mut source, token_of(key), i),
        (Some(_), None) => registry.deregister(&mut source),
        (None, None) => Ok(()),
    }
}
