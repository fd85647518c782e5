//! What the loop does per readiness event and per iteration, on
//! everything but the poller: dispatch an event to its entry, deliver
//! what earlier iterations deferred (`connection_lost`, resumed reads),
//! and the lingering close's periodic check (T3).

use std::time::Instant;

use mio::Registry;
use slotmap::Key as _;

use super::connection::Connection;
use super::connection::Next;
use super::driver::Ctx;
use super::driver::{AfterLost, Deferred};
use super::ready::Ready;
use super::subprocess::ProcessConn;
use super::{key_of, watch, Core, Entry, EntryKey};
use crate::transport::timeouts::{linger_goes_on, LingerMark};

impl Core {
    pub(super) fn ctx<'a>(
        registry: &'a Registry,
        read_buf: &'a mut [u8],
        deferred: &'a mut Vec<EntryKey>,
    ) -> Ctx<'a> {
        Ctx {
            registry,
            read_buf,
            deferred,
        }
    }

    #[inline(always)]
    pub(super) fn dispatch(&mut self, registry: &Registry, ev: &Ready) {
        let key = key_of(ev.token());
        self.current = key;
        match self.entries.get_mut(key) {
            Some(Entry::Conn(conn)) => {
                let mut ctx = Self::ctx(registry, &mut self.read_buf, &mut self.deferred);
                if conn.on_event(&mut ctx, ev) == Next::Remove {
                    self.entries.remove(key);
                }
            }
            Some(Entry::Dgram(d)) => {
                if let Some(batch) = self.udp_batch.as_mut() {
                    d.on_event(registry, batch, &mut self.deferred, ev);
                }
            }
            Some(Entry::Listener(_)) => self.accept_ready(registry, key),
            Some(Entry::Connecting(c)) => c.on_event(ev),
            Some(&mut Entry::ProcPipe { process, fd }) => {
                self.process_pipe_event(registry, process, fd, ev)
            }
            Some(Entry::Process(_)) => self.process_exit_event(registry, key),
            Some(Entry::Watcher(_)) => {
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    self.schedule_watcher(key, watch::Side::Read);
                }
                if ev.is_writable() || ev.is_write_closed() || ev.is_error() {
                    self.schedule_watcher(key, watch::Side::Write);
                }
            }
            None => {} // stale: the entry is gone
        }
    }

    /// Delivers what earlier iterations deferred: `connection_lost` (then
    /// drops the socket or lets it linger) and reads resumed by
    /// `resume_reading`.
    pub(super) fn run_deferred(&mut self, registry: &Registry) {
        if self.deferred.is_empty() {
            return;
        }
        // The batch is worked through in `spare` (empty outside this call:
        // the two vectors trade allocations), while what it defers anew
        // goes to `deferred`. What a panic leaves of it, `recover` hands
        // back to `deferred` (a key seen twice is harmless: each step
        // checks the state it acts on).
        std::mem::swap(&mut self.spare, &mut self.deferred);
        let mut next = 0;
        while let Some(&key) = self.spare.get(next) {
            next += 1;
            self.current = key;
            let mut ctx = Self::ctx(registry, &mut self.read_buf, &mut self.deferred);
            let after = match self.entries.get_mut(key) {
                Some(Entry::Conn(c)) => c.run_deferred(&mut ctx),
                Some(Entry::Dgram(d)) => d.run_deferred(&mut ctx),
                Some(Entry::Process(p)) => p.run_deferred(&mut ctx),
                _ => None,
            };
            match after {
                Some(AfterLost::Remove) => {
                    if self.entries.of::<Box<ProcessConn>>(key).is_some() {
                        self.remove_process(key);
                    } else {
                        self.entries.remove(key);
                    }
                }
                Some(AfterLost::Linger(mark)) => {
                    self.schedule_linger_check(key, mark, self.handle.time());
                }
                None => {}
            }
        }
        self.spare.clear();
        self.current = EntryKey::null();
    }

    fn schedule_linger_check(&self, key: EntryKey, mark: LingerMark, since: Instant) {
        self.handle
            .call_later(self.config.linger_timeout, move |lp| {
                lp.core.linger_check(key, mark, since)
            });
    }

    /// A lingering close (T3) ends when the peer closes, or when a whole
    /// `linger_timeout` passes in which the peer neither sent anything nor
    /// acknowledged any of the bytes the kernel still holds for it. A slow
    /// reader that keeps reading keeps its socket until it has everything:
    /// dropping the socket earlier would let the kernel answer its next
    /// segment with a reset, which destroys what it has not read yet. A
    /// peer that only keeps sending (nothing of ours left to acknowledge)
    /// holds it for `linger_time` at most, as nginx's `lingering_time`: it
    /// cannot pin the socket for ever.
    fn linger_check(&mut self, key: EntryKey, before: LingerMark, since: Instant) {
        let Some(c) = self.entries.of::<Connection>(key) else {
            return;
        };
        if !c.transport.life().is_lost() {
            return;
        }
        let now = c.linger_mark();
        let at = self.handle.time();
        if linger_goes_on(before, now, since, at, self.config.linger_time) {
            self.schedule_linger_check(key, now, since);
        } else {
            self.entries.remove(key);
        }
    }
}
