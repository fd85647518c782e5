//! The driver's interface to a TLS [`Transport`]: starting the session,
//! feeding it ciphertext, taking plaintext out, and the plaintext kept
//! while reading is paused. The session's output goes to the transport's
//! own write queue, so the driver never touches either.

use std::io;

use super::tls_session::{Decrypted, Established, TlsSession};
use super::Transport;

impl Transport {
    /// Makes this a TLS connection with `session`, whose handshake timer
    /// is `timer` (a raw callback key); a client's first flight leaves at
    /// once.
    pub(crate) fn start_tls(&mut self, session: TlsSession, timer: u64) {
        let tls = self.tls.insert(Box::new(session));
        tls.set_handshake_timer(timer);
        tls.drain_into(&mut self.buffer);
        self.send_queue();
        self.life.touch();
    }

    /// Whether this is a TLS connection whose handshake completed.
    pub(crate) fn tls_established(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| tls.is_established())
    }

    /// Whether this is a TLS connection still in its handshake.
    pub(crate) fn tls_handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| !tls.is_established())
    }

    /// Whether this is the server side of a TLS connection.
    pub(crate) fn is_tls_server(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| tls.is_server())
    }

    /// Has `tell` called with the error if the handshake fails.
    pub(crate) fn on_handshake_failure(&mut self, tell: Box<dyn FnOnce(io::Error)>) {
        if let Some(tls) = self.tls.as_mut() {
            tls.on_failure = Some(tell);
        }
    }

    /// Feeds ciphertext from `input` (consumed as rustls takes it), or with
    /// `eof` the end of the stream, to the session; what it answers
    /// (handshake flights, alerts) is queued. Returns the handshake's end
    /// when this step completed it (its timer, for the loop to cancel).
    pub(crate) fn tls_feed(
        &mut self,
        input: &mut &[u8],
        eof: bool,
    ) -> io::Result<Option<Established>> {
        let Some(tls) = self.tls.as_mut() else {
            return Ok(None);
        };
        if eof {
            tls.feed_eof(&mut self.buffer)?;
        } else {
            tls.feed(input, &mut self.buffer)?;
        }
        Ok(tls.try_establish())
    }

    /// The next plaintext the session holds, into `plain`; `None` when
    /// this is no TLS connection (any more).
    pub(crate) fn tls_decrypted(&mut self, plain: &mut [u8]) -> Option<io::Result<Decrypted>> {
        Some(self.tls.as_mut()?.decrypted(plain))
    }

    /// Keeps plaintext decrypted while reading is paused, for the resume.
    pub(crate) fn stash_plain(&mut self, data: &[u8]) {
        if let Some(tls) = self.tls.as_mut() {
            tls.stash.extend_from_slice(data);
            self.life.set_read_ready(true);
        }
    }

    /// Keeps the peer's close_notify that arrived while reading was paused.
    pub(crate) fn stash_eof(&mut self) {
        if let Some(tls) = self.tls.as_mut() {
            tls.eof_stashed = true;
            self.life.set_read_ready(true);
        }
    }

    /// Takes what was kept while reading was paused: the plaintext, and
    /// whether the close_notify came after it. `None` for a plain
    /// connection.
    pub(crate) fn take_stash(&mut self) -> Option<(Vec<u8>, bool)> {
        let tls = self.tls.as_mut()?;
        Some((
            std::mem::take(&mut tls.stash),
            std::mem::take(&mut tls.eof_stashed),
        ))
    }

    /// Sends what the session queued (handshake replies, key updates, an
    /// alert) unless WRITABLE interest will; returns whether it tried.
    pub(crate) fn send_session_output(&mut self) -> bool {
        if self.writable_registered {
            return false;
        }
        self.send_queue();
        true
    }
}
