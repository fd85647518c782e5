//! Heap bytes in use by the process: what kv's `maxmemory` is compared
//! with and INFO's `used_memory` reports, as Redis counts its allocator's
//! bytes (`zmalloc_used_memory`).
//!
//! [`Counting`] is a global allocator over the system's that counts every
//! allocation's size. Each thread keeps its own running delta and adds it
//! to the process total once it passes ±64 KiB, so the count costs an
//! allocation a thread-local add and compare, and no shared write on the
//! per-message path. [`used`] is the total plus the calling thread's own
//! delta: exact for the calling thread, within 64 KiB per other thread.
//! The `shardloop` binary installs it; a program that does not reads
//! [`used`] as 0 ([`installed`] says which).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// The process's counted bytes, less the threads' deltas not yet added.
static TOTAL: AtomicIsize = AtomicIsize::new(0);

/// A thread's delta is added to [`TOTAL`] once it is this big either way.
const FLUSH: isize = 64 << 10;

/// Whether [`Counting`] is the global allocator (set at its first flush).
static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static DELTA: Cell<isize> = const { Cell::new(0) };
}

#[inline(always)]
fn count(bytes: isize) {
    // `try_with`: a thread being torn down still allocates.
    let _ = DELTA.try_with(|d| {
        let v = d.get() + bytes;
        if (-FLUSH..FLUSH).contains(&v) {
            d.set(v);
        } else {
            d.set(0);
            flush(v);
        }
    });
}

#[cold]
fn flush(v: isize) {
    TOTAL.fetch_add(v, Ordering::Relaxed);
    INSTALLED.store(true, Ordering::Relaxed);
}

/// The system allocator, counting the bytes in use (see the module).
#[derive(Debug, Default, Clone, Copy)]
pub struct Counting;

// SAFETY: every call is the system allocator's with the same arguments;
// the count has no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        count(-(layout.size() as isize));
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Heap bytes in use by the process (0 when [`Counting`] is not the
/// global allocator).
pub fn used() -> u64 {
    let own = DELTA.try_with(Cell::get).unwrap_or(0);
    (TOTAL.load(Ordering::Relaxed) + own).max(0) as u64
}

/// Whether [`Counting`] is the global allocator (it has counted 64 KiB).
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}
