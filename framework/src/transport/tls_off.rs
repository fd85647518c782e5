//! Built without the `tls` feature: a TLS session and TLS configurations
//! that cannot exist (uninhabited types), so a transport's `tls` is always
//! `None`, every TLS branch is dead code, and the loop and transports need
//! no rustls. The methods mirror `tls_session.rs`'s that code outside the
//! TLS modules calls.

use std::io;
use std::time::Duration;

use super::write_buffer::WriteBuffer;
use super::ExtraInfo;

/// No TLS session: none can be made.
#[derive(Debug)]
pub(crate) enum TlsSession {}

impl TlsSession {
    pub(crate) fn pending_plain(&self) -> usize {
        match *self {}
    }

    pub(crate) fn take_on_failure(&mut self) -> Option<Box<dyn FnOnce(io::Error)>> {
        match *self {}
    }

    pub(crate) fn is_established(&self) -> bool {
        match *self {}
    }

    pub(crate) fn encrypt(&mut self, _: &[io::IoSlice<'_>], _: &mut WriteBuffer) {
        match *self {}
    }

    pub(crate) fn sent(&mut self, _: usize) {
        match *self {}
    }

    pub(crate) fn discard_pending(&mut self) {
        match *self {}
    }

    pub(crate) fn close_notify(&mut self, _: &mut WriteBuffer) {
        match *self {}
    }

    pub(crate) fn extra_info(&self, _: &str) -> Option<ExtraInfo> {
        match *self {}
    }
}

/// No TLS server configuration: none can be made.
#[derive(Debug, Clone)]
pub(crate) enum TlsServerConfig {}

impl TlsServerConfig {
    /// A session for one accepted connection, and its handshake timeout.
    pub(crate) fn session(&self) -> io::Result<(TlsSession, Duration)> {
        match *self {}
    }
}
