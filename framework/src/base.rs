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
