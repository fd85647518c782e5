//! The TLS layer of a stream transport: a rustls connection between the
//! socket and the protocol.
//!
//! Plaintext the protocol writes is encrypted at once and the ciphertext
//! joins the transport's ordinary write queue, which the loop flushes as
//! for TCP (one vectored write, WRITABLE interest only while queued). Flow
//! control counts *plaintext*: each encrypted chunk remembers where its
//! ciphertext ends, so the plaintext still pending is known exactly as the
//! kernel takes ciphertext. Received ciphertext is fed to rustls and the
//! plaintext handed to the protocol; what arrives while reading is paused
//! waits, decrypted, in a small stash.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::Connection;

use super::write_buffer::WriteBuffer;
use super::ExtraInfo;

/// The configuration a session was made from (`get_extra_info("sslcontext")`).
#[derive(Debug, Clone)]
pub enum TlsContext {
    /// A server-side session's configuration.
    Server(Arc<rustls::ServerConfig>),
    /// A client-side session's configuration.
    Client(Arc<rustls::ClientConfig>),
}

impl PartialEq for TlsContext {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (TlsContext::Server(a), TlsContext::Server(b)) => Arc::ptr_eq(a, b),
            (TlsContext::Client(a), TlsContext::Client(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for TlsContext {}

/// What the negotiated cipher is (`get_extra_info("cipher")`), as asyncio's
/// `(name, protocol, secret_bits)`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CipherInfo {
    /// The suite's IANA name, e.g. `TLS_AES_256_GCM_SHA384`.
    pub name: String,
    /// The protocol version, e.g. `TLSv1.3`.
    pub protocol: String,
    /// Bits of the symmetric key.
    pub secret_bits: u32,
}

/// What the read side produced from some ciphertext.
pub(crate) enum Decrypted {
    /// Plaintext bytes written to the output buffer (maybe 0).
    Data(usize),
    /// The peer sent close_notify: a clean end of its data.
    Closed,
}

/// Where a TLS connection stands: its handshake phases are states of their
/// own, each with what it holds, rather than flags checked here and there.
pub(crate) enum TlsPhase {
    /// The handshake is under way; the protocol has heard nothing. The
    /// timer drops the connection if it fires first (a client connection
    /// waits for its caller's run instead when it has none).
    Handshaking { timer: Option<u64> },
    /// The handshake completed and `connection_made` was delivered.
    Established,
}

/// The step that completed a handshake: the timer it leaves to cancel.
#[derive(Debug)]
pub(crate) struct Established {
    pub(super) timer: Option<u64>,
}

impl Established {
    /// The handshake timer to cancel, if one was armed.
    pub(crate) fn timer(&self) -> Option<u64> {
        self.timer
    }
}

pub(crate) struct TlsSession {
    conn: Connection,
    context: TlsContext,
    /// The handshake phase.
    phase: TlsPhase,
    /// Decrypted input not yet delivered (reading paused meanwhile).
    pub(super) stash: Vec<u8>,
    /// The peer's close_notify arrived while reading was paused.
    pub(super) eof_stashed: bool,
    /// Ciphertext handed to the write queue, and to the kernel, in total.
    queued_cipher: u64,
    sent_cipher: u64,
    /// (end of its ciphertext in `queued_cipher` terms, plaintext bytes) of
    /// every chunk not yet wholly sent.
    marks: VecDeque<(u64, usize)>,
    /// Plaintext written by the protocol whose ciphertext the kernel has
    /// not wholly taken: what flow control counts.
    pub(super) pending_plain: usize,
    server_hostname: Option<String>,
    /// Told the error if the handshake fails (the protocol hears nothing
    /// then): how an awaited TLS connect learns why.
    pub(super) on_failure: Option<Box<dyn FnOnce(io::Error)>>,
}

impl std::fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSession")
            .field("established", &self.is_established())
            .field("pending_plain", &self.pending_plain)
            .finish_non_exhaustive()
    }
}

/// Appends whatever rustls writes to the transport's queue.
struct QueueWriter<'a>(&'a mut WriteBuffer);

impl Write for QueueWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.push(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TlsSession {
    /// Plaintext written whose ciphertext the kernel has not wholly taken.
    #[inline]
    pub(crate) fn pending_plain(&self) -> usize {
        self.pending_plain
    }

    /// What to tell the caller of a client connection whose handshake
    /// fails, taken out (told once).
    pub(crate) fn take_on_failure(&mut self) -> Option<Box<dyn FnOnce(io::Error)>> {
        self.on_failure.take()
    }

    /// Whether this is the server side of the connection.
    pub(crate) fn is_server(&self) -> bool {
        matches!(self.conn, Connection::Server(_))
    }

    pub(crate) fn server(config: &Arc<rustls::ServerConfig>) -> io::Result<Self> {
        let conn = rustls::ServerConnection::new(Arc::clone(config)).map_err(tls_error)?;
        Ok(Self::new(
            conn.into(),
            TlsContext::Server(Arc::clone(config)),
            None,
        ))
    }

    pub(crate) fn client(
        config: &Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> io::Result<Self> {
        let name = rustls::pki_types::ServerName::try_from(server_name.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let conn = rustls::ClientConnection::new(Arc::clone(config), name).map_err(tls_error)?;
        Ok(Self::new(
            conn.into(),
            TlsContext::Client(Arc::clone(config)),
            Some(server_name.to_string()),
        ))
    }

    fn new(conn: Connection, context: TlsContext, server_hostname: Option<String>) -> Self {
        Self {
            conn,
            context,
            phase: TlsPhase::Handshaking { timer: None },
            on_failure: None,
            stash: Vec::new(),
            eof_stashed: false,
            queued_cipher: 0,
            sent_cipher: 0,
            marks: VecDeque::new(),
            pending_plain: 0,
            server_hostname,
        }
    }

    /// Past the handshake: `connection_made` was delivered.
    #[inline]
    pub(crate) fn is_established(&self) -> bool {
        matches!(self.phase, TlsPhase::Established)
    }

    /// Notes the handshake timer the loop armed (its raw key: the loop
    /// cancels it, see [`try_establish`](Self::try_establish)).
    pub(crate) fn set_handshake_timer(&mut self, timer: u64) {
        if let TlsPhase::Handshaking { timer: slot } = &mut self.phase {
            *slot = Some(timer);
        }
    }

    /// Handshaking → Established once rustls says the handshake is done.
    /// `Some` exactly once, on the step that completes it (when
    /// `connection_made` is due), with the handshake timer for the loop to
    /// cancel.
    pub(crate) fn try_establish(&mut self) -> Option<Established> {
        match &mut self.phase {
            TlsPhase::Handshaking { timer } if !self.conn.is_handshaking() => {
                let timer = timer.take();
                self.phase = TlsPhase::Established;
                Some(Established { timer })
            }
            _ => None,
        }
    }

    /// Encrypts `parts` into `queue`, as few records as rustls makes of
    /// them. rustls takes at most 64 KiB of records at a time, so a large
    /// write is encrypted and moved into the queue a slice at a time.
    pub(crate) fn encrypt(&mut self, parts: &[io::IoSlice<'_>], queue: &mut WriteBuffer) {
        let plain: usize = parts.iter().map(|p| p.len()).sum();
        if plain == 0 {
            return;
        }
        let mut taken = self.conn.writer().write_vectored(parts).unwrap_or(0);
        self.drain_into(queue);
        if taken < plain {
            for part in parts.iter() {
                let mut rest: &[u8] = part;
                let skip = taken.min(rest.len());
                rest = &rest[skip..];
                taken -= skip;
                while !rest.is_empty() {
                    let n = self.conn.writer().write(rest).unwrap_or(0);
                    self.drain_into(queue);
                    rest = &rest[n..];
                    if n == 0 {
                        break; // cannot happen once drained; never spin
                    }
                }
            }
        }
        self.marks.push_back((self.queued_cipher, plain));
        self.pending_plain += plain;
    }

    /// Moves every record rustls has ready (handshake messages, alerts,
    /// close_notify, application data) into `queue`.
    pub(crate) fn drain_into(&mut self, queue: &mut WriteBuffer) {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut QueueWriter(queue)) {
                Ok(n) => self.queued_cipher += n as u64,
                Err(_) => break, // the queue writer cannot fail
            }
        }
    }

    /// The kernel took `n` more bytes of ciphertext.
    pub(crate) fn sent(&mut self, n: usize) {
        self.sent_cipher += n as u64;
        while let Some(&(end, plain)) = self.marks.front() {
            if end > self.sent_cipher {
                break;
            }
            self.pending_plain -= plain;
            self.marks.pop_front();
        }
    }

    /// Queued ciphertext was discarded (abort).
    pub(crate) fn discard_pending(&mut self) {
        self.marks.clear();
        self.pending_plain = 0;
        self.sent_cipher = self.queued_cipher;
    }

    /// Queues close_notify after everything written so far.
    pub(crate) fn close_notify(&mut self, queue: &mut WriteBuffer) {
        self.conn.send_close_notify();
        self.drain_into(queue);
    }

    /// Feeds ciphertext from `input` (consuming it) and processes it. An
    /// error is the peer's fault (bad record, failed verification…); the
    /// alert rustls queued for it is in `queue`.
    pub(crate) fn feed(&mut self, input: &mut &[u8], queue: &mut WriteBuffer) -> io::Result<()> {
        let result = self.conn.read_tls(input).and_then(|_| {
            self.conn
                .process_new_packets()
                .map(|_| ())
                .map_err(tls_error)
        });
        self.drain_into(queue);
        result
    }

    /// The peer's TCP stream ended: tells rustls, which decides whether it
    /// was a clean close (close_notify seen) or a truncation.
    pub(crate) fn feed_eof(&mut self, queue: &mut WriteBuffer) -> io::Result<()> {
        self.feed(&mut &[][..], queue)
    }

    /// Takes decrypted plaintext into `out`.
    pub(crate) fn decrypted(&mut self, out: &mut [u8]) -> io::Result<Decrypted> {
        match self.conn.reader().read(out) {
            Ok(0) => Ok(Decrypted::Closed),
            Ok(n) => Ok(Decrypted::Data(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Decrypted::Data(0)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "TLS connection truncated: the peer closed without close_notify",
            )),
            Err(e) => Err(e),
        }
    }

    /// `get_extra_info` names only TLS has (T4).
    pub(crate) fn extra_info(&self, name: &str) -> Option<ExtraInfo> {
        match name {
            "cipher" => self.cipher().map(ExtraInfo::Cipher),
            "peercert" => self
                .conn
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| ExtraInfo::PeerCert(c.as_ref().to_vec())),
            "compression" => Some(ExtraInfo::Compression(None)),
            "sslcontext" => Some(ExtraInfo::SslContext(self.context.clone())),
            "alpn_protocol" => self
                .conn
                .alpn_protocol()
                .map(|p| ExtraInfo::AlpnProtocol(p.to_vec())),
            "server_hostname" => match &self.conn {
                Connection::Server(s) => s.server_name().map(str::to_string),
                Connection::Client(_) => self.server_hostname.clone(),
            }
            .map(ExtraInfo::ServerHostname),
            _ => None,
        }
    }

    fn cipher(&self) -> Option<CipherInfo> {
        let suite = self.conn.negotiated_cipher_suite()?;
        // IANA names, as OpenSSL (and so asyncio) reports them: rustls
        // spells the TLS 1.3 suites TLS13_…
        let name = suite.suite().as_str().map_or_else(
            || format!("{:?}", suite.suite()),
            |n| n.replacen("TLS13_", "TLS_", 1),
        );
        let protocol = match self.conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
            other => format!("{other:?}"),
        };
        let secret_bits = if name.contains("AES_128") { 128 } else { 256 };
        Some(CipherInfo {
            name,
            protocol,
            secret_bits,
        })
    }
}

/// A rustls error as the `io::Error` `connection_lost` reports.
pub(crate) fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client and a server session over memory, handshake completed.
    fn pair() -> (TlsSession, TlsSession) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = rustls::pki_types::CertificateDer::from(ck.cert.der().to_vec());
        let key = rustls::pki_types::PrivateKeyDer::try_from(ck.key_pair.serialize_der()).unwrap();
        let provider = crate::tls::crypto_provider();
        let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut c = TlsSession::client(&Arc::new(client), "localhost").unwrap();
        let mut s = TlsSession::server(&Arc::new(server)).unwrap();
        let (mut to_s, mut to_c) = (WriteBuffer::default(), WriteBuffer::default());
        // An empty read is EOF to rustls: feed only what there is.
        for _ in 0..10 {
            c.drain_into(&mut to_s);
            let wire = take(&mut to_s);
            if !wire.is_empty() {
                s.feed(&mut &wire[..], &mut to_c).unwrap();
            }
            let wire = take(&mut to_c);
            if !wire.is_empty() {
                c.feed(&mut &wire[..], &mut to_s).unwrap();
            }
        }
        assert!(
            c.try_establish().is_some() && s.try_establish().is_some(),
            "both past the handshake"
        );
        assert!(
            c.is_established() && c.try_establish().is_none(),
            "established once"
        );
        (c, s)
    }

    fn take(q: &mut WriteBuffer) -> Vec<u8> {
        let bytes: Vec<u8> = q
            .io_slices()
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect();
        q.consume(bytes.len());
        bytes
    }

    #[test]
    fn t8_pending_plaintext_falls_only_as_whole_chunks_of_ciphertext_leave() {
        let (mut c, _s) = pair();
        let mut q = WriteBuffer::default();
        c.encrypt(&[io::IoSlice::new(&[1u8; 1000])], &mut q);
        c.encrypt(&[io::IoSlice::new(&[2u8; 200_000])], &mut q);
        let first = q.len();
        assert!(first > 201_000, "ciphertext is larger than the plaintext");
        assert_eq!(c.pending_plain, 201_000, "flow control counts plaintext");
        // Marks count ciphertext from the session's start (the handshake's
        // records too, all sent by now in a real transport).
        c.sent(c.queued_cipher as usize - first - c.sent_cipher as usize);
        // The kernel takes all but the last byte of the first chunk's
        // records: nothing of it counts as sent yet.
        let first_chunk_cipher = (c.marks[0].0 - c.sent_cipher) as usize;
        c.sent(first_chunk_cipher - 1);
        assert_eq!(c.pending_plain, 201_000);
        c.sent(1);
        assert_eq!(c.pending_plain, 200_000);
        c.sent(first - first_chunk_cipher);
        assert_eq!(c.pending_plain, 0);
        assert!(c.marks.is_empty());
    }

    #[test]
    fn p4_what_one_side_encrypts_the_other_decrypts_in_order() {
        let (mut c, mut s) = pair();
        let mut q = WriteBuffer::default();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        c.encrypt(
            &[io::IoSlice::new(&data[..10]), io::IoSlice::new(&data[10..])],
            &mut q,
        );
        let wire = take(&mut q);
        let mut got = Vec::new();
        let mut rest = &wire[..];
        let mut out = vec![0u8; 16 * 1024];
        let mut replies = WriteBuffer::default();
        while !rest.is_empty() {
            s.feed(&mut rest, &mut replies).unwrap();
            while let Decrypted::Data(n @ 1..) = s.decrypted(&mut out).unwrap() {
                got.extend_from_slice(&out[..n]);
            }
        }
        assert!(got == data);
        c.close_notify(&mut q);
        let wire = take(&mut q);
        s.feed(&mut &wire[..], &mut replies).unwrap();
        assert!(matches!(s.decrypted(&mut out).unwrap(), Decrypted::Closed));
    }
}
