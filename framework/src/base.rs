//! The keys and handles every layer names — a loop entry's slab key, its
//! poll token, a connection's handle — below the transports and the loop,
//! so neither reaches into the other for them.

use mio::Token;
use slotmap::{new_key_type, Key, KeyData};

new_key_type! {
    /// Slab key of a loop entry; its generation makes stale keys miss.
    pub(crate) struct EntryKey;
}

#[inline]
pub(crate) fn token_of(key: EntryKey) -> Token {
    Token(key.data().as_ffi() as usize)
}

#[inline]
pub(crate) fn key_of(token: Token) -> EntryKey {
    KeyData::from_ffi(token.0 as u64).into()
}

/// Identifies one connection of a loop. Generation-checked: once the
/// connection is gone the handle matches nothing, even when its slot is
/// reused by a newer connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionHandle(pub(crate) EntryKey);

/// The loop a transport belongs to, as the transport layer keeps it:
/// opaque here; the loop layer (`shard/`) puts its `LoopHandle` in and
/// reads it back for `get_loop()`, so transports never name the loop's
/// types. One per loop, shared by its transports: a clone is a reference
/// count. A thin pointer (the `Box` holds the vtable), so an idle
/// connection's entry does not grow.
#[derive(Clone)]
pub(crate) struct LoopRef(std::rc::Rc<Box<dyn std::any::Any>>);

impl LoopRef {
    /// Wraps `owner`, the loop's handle.
    pub(crate) fn new<T: std::any::Any>(owner: T) -> Self {
        Self(std::rc::Rc::new(Box::new(owner)))
    }

    /// The loop's handle, if it is a `T`.
    #[inline]
    pub(crate) fn get<T: std::any::Any>(&self) -> Option<&T> {
        (**self.0).downcast_ref()
    }
}

impl std::fmt::Debug for LoopRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopRef").finish_non_exhaustive()
    }
}
