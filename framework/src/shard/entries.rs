//! The loop's slab of entries, one kind per entry (a connection, a datagram
//! endpoint, a listener, a connect in progress, a descriptor watcher, a
//! child process and its pipes' tokens), generation-checked so a stale key
//! finds nothing. Typed access — `of_mut::<Connection>(key)` — replaces
//! matching on the kind at every use; dispatching an event by kind is the
//! one place that matches.

use std::ops::{Deref, DerefMut};

use slotmap::SlotMap;

use super::accept::Listener;
use super::connect::Connecting;
use super::connection::Connection;
use super::{datagram, subprocess, watch, EntryKey};

/// The slab.
#[derive(Default)]
pub(crate) struct Entries(SlotMap<EntryKey, Entry>);

impl Deref for Entries {
    type Target = SlotMap<EntryKey, Entry>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Entries {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// A kind of entry, as the slab stores it.
pub(crate) trait Kind: Sized {
    fn wrap(self) -> Entry;
    fn of(entry: &Entry) -> Option<&Self>;
    fn of_mut(entry: &mut Entry) -> Option<&mut Self>;
    fn unwrap(entry: Entry) -> Option<Self>;
}

/// Declares the entry kinds once: the `Entry` enum, and `Kind` for each
/// kind that carries a value of its own (the rest follow the `;`).
macro_rules! entries {
    (
        $( $(#[doc = $doc:literal])* $variant:ident($ty:ty), )*
        ; $( $other:tt )*
    ) => {
        /// One entry of the slab.
        pub(crate) enum Entry {
            $( $(#[doc = $doc])* $variant($ty), )*
            $( $other )*
        }

        $(
            impl Kind for $ty {
                fn wrap(self) -> Entry {
                    Entry::$variant(self)
                }
                #[inline(always)]
                fn of(entry: &Entry) -> Option<&Self> {
                    match entry {
                        Entry::$variant(v) => Some(v),
                        _ => None,
                    }
                }
                #[inline(always)]
                fn of_mut(entry: &mut Entry) -> Option<&mut Self> {
                    match entry {
                        Entry::$variant(v) => Some(v),
                        _ => None,
                    }
                }
                fn unwrap(entry: Entry) -> Option<Self> {
                    match entry {
                        Entry::$variant(v) => Some(v),
                        _ => None,
                    }
                }
            }
        )*
    };
}

entries! {
    Conn(Connection),
    /// Boxed: endpoints are few (one per shard for a UDP service), and
    /// connections should not pay for their larger send queue.
    Dgram(Box<datagram::DgramConn>),
    Listener(Listener),
    Connecting(Connecting),
    /// `add_reader`/`add_writer` callbacks of one descriptor.
    Watcher(watch::Watcher),
    /// A child process, its pipes and its protocol; its token is its pidfd.
    Process(Box<subprocess::ProcessConn>),
    ;
    /// The token of pipe `fd` of a child process.
    ProcPipe { process: EntryKey, fd: usize },
}

impl Entries {
    /// The entry at `key` if it is a `K`.
    #[inline(always)]
    pub(crate) fn of<K: Kind>(&self, key: EntryKey) -> Option<&K> {
        self.0.get(key).and_then(K::of)
    }

    /// The entry at `key` if it is a `K`, mutably.
    #[inline(always)]
    pub(crate) fn of_mut<K: Kind>(&mut self, key: EntryKey) -> Option<&mut K> {
        self.0.get_mut(key).and_then(K::of_mut)
    }

    /// Removes the entry at `key` if it is a `K` (another kind stays).
    pub(crate) fn take<K: Kind>(&mut self, key: EntryKey) -> Option<K> {
        self.of::<K>(key)?;
        self.0.remove(key).and_then(K::unwrap)
    }

    /// Inserts what `make` builds with its key; returns the key and the
    /// entry.
    pub(crate) fn add<K: Kind>(&mut self, make: impl FnOnce(EntryKey) -> K) -> (EntryKey, &mut K) {
        let key = self.0.insert_with_key(|k| make(k).wrap());
        let entry = self.0.get_mut(key).and_then(K::of_mut);
        (key, entry.expect("the entry just inserted is of its kind"))
    }
}
