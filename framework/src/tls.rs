//! TLS configuration for stream transports, on [rustls](https://docs.rs/rustls)
//! with the *ring* crypto provider (a clean build needs only cargo and a C
//! compiler).
//!
//! A [`TlsServerConfig`] is given to
//! [`EventLoop::create_tls_server`](crate::EventLoop::create_tls_server) or
//! [`Runtime::listen_tls`](crate::Runtime::listen_tls); a
//! [`TlsClientConfig`] to
//! [`EventLoop::create_tls_connection`](crate::EventLoop::create_tls_connection).
//! Both are built from PEM files with a builder, or wrap a rustls
//! configuration made by hand ([`TlsServerConfig::from_rustls`]). They are
//! `Send + Sync + Clone`: one configuration serves every shard.
//!
//! The handshake runs on the shard that owns the connection, bounded by the
//! configuration's handshake timeout (default 10 s); the protocol's
//! `connection_made` is called only once it has completed, and a failed or
//! timed-out handshake never reaches the protocol.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ResolvesServerCertUsingSni, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// Default bound on a TLS handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a TLS configuration could not be built. Every variant about a file
/// names it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A file is missing, unreadable, or not PEM.
    #[error("{path}: cannot read: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A certificate file holds no certificate.
    #[error("{path}: no certificate found (expected PEM \"BEGIN CERTIFICATE\" blocks)")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A key file holds no private key, or one the crypto provider rejects.
    #[error("{path}: no usable private key: {message}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The private key does not belong to the certificate.
    #[error("{key}: this private key does not match the certificate in {cert}")]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// A CA file yielded no usable trust anchor.
    #[error("{path}: no usable CA certificate: {message}")]
    BadCa {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A server needs at least one certificate.
    #[error("a TLS server needs a certificate and key")]
    NoServerCertificate,
    /// A client needs roots to verify servers against.
    #[error("a TLS client needs trust roots: a CA file or the platform roots")]
    NoRoots,
    /// rustls refused the combination.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Whether a TLS server asks clients for a certificate (mTLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// A certificate is asked for and verified if sent; clients without
    /// one are accepted.
    Optional,
    /// A valid certificate is required: the handshake fails without one.
    Required,
}

/// The rustls provider shardloop uses: *ring* (needs only a C compiler to
/// build, unlike aws-lc-rs, which needs cmake for some targets).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let read_err = |message: String| TlsConfigError::Read {
        path: path.to_path_buf(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| read_err(pem_error(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read_err(pem_error(e)))?;
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    if let Err(e) = std::fs::metadata(path) {
        return Err(TlsConfigError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        });
    }
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsConfigError::BadKey {
        path: path.to_path_buf(),
        message: pem_error(e),
    })
}

fn pem_error(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(e) => e.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM section found".into(),
        other => format!("{other:?}"),
    }
}

fn read_roots(path: &Path) -> Result<RootCertStore, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(read_certs(path)?);
    if added == 0 {
        return Err(TlsConfigError::BadCa {
            path: path.to_path_buf(),
            message: "no certificate in it parses as a trust anchor".into(),
        });
    }
    Ok(roots)
}

/// A certificate chain and its key, loaded and checked against each other.
fn certified_key(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsConfigError> {
    check_pair(read_certs(cert)?, read_key(key)?, cert, key, provider)
}

/// A chain and a key checked against each other; errors name the files.
fn check_pair(
    chain: Vec<CertificateDer<'static>>,
    key_der: PrivateKeyDer<'static>,
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsConfigError> {
    CertifiedKey::from_der(chain, key_der, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsConfigError::KeyMismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        },
        other => TlsConfigError::BadKey {
            path: key.to_path_buf(),
            message: other.to_string(),
        },
    })
}

/// Server-side TLS: certificates, client authentication, ALPN, handshake
/// timeout.
#[derive(Debug, Clone)]
pub struct TlsServerConfig {
    rustls: Arc<ServerConfig>,
    handshake_timeout: Duration,
}

impl TlsServerConfig {
    /// Starts a configuration from PEM files.
    pub fn builder() -> TlsServerBuilder {
        TlsServerBuilder::default()
    }

    /// Wraps a rustls configuration made by hand.
    pub fn from_rustls(config: Arc<ServerConfig>) -> Self {
        Self {
            rustls: config,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Replaces the handshake timeout.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The rustls configuration (what `get_extra_info("sslcontext")` gives).
    pub fn rustls(&self) -> &Arc<ServerConfig> {
        &self.rustls
    }

    /// How long a handshake may take before the connection is dropped.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }
}

/// Builds a [`TlsServerConfig`] from PEM files.
#[derive(Debug, Clone, Default)]
pub struct TlsServerBuilder {
    default_cert: Option<(PathBuf, PathBuf)>,
    sni: Vec<(String, PathBuf, PathBuf)>,
    client_ca: Option<PathBuf>,
    client_auth: ClientAuth,
    alpn: Vec<Vec<u8>>,
    handshake_timeout: Option<Duration>,
}

impl TlsServerBuilder {
    /// The certificate chain (PEM, end-entity first) and its private key
    /// (PEM: PKCS#8, PKCS#1 or SEC1), served when no SNI entry matches.
    pub fn cert(mut self, chain: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.default_cert = Some((chain.into(), key.into()));
        self
    }

    /// A certificate served to clients that ask for `name` through SNI.
    pub fn sni_cert(
        mut self,
        name: impl Into<String>,
        chain: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.sni.push((name.into(), chain.into(), key.into()));
        self
    }

    /// Client certificates (mTLS): the CA file they must chain to, and
    /// whether one is required.
    pub fn client_auth(mut self, ca: impl Into<PathBuf>, mode: ClientAuth) -> Self {
        self.client_ca = Some(ca.into());
        self.client_auth = mode;
        self
    }

    /// ALPN protocols, in order of preference (e.g. `["h2", "http/1.1"]`).
    pub fn alpn<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// The handshake timeout (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = Some(timeout);
        self
    }

    /// Loads and checks every file: missing or unreadable files, an empty
    /// chain, a key that does not match its certificate are errors naming
    /// the file.
    pub fn build(self) -> Result<TlsServerConfig, TlsConfigError> {
        let provider = crypto_provider();
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?;
        let builder = match (&self.client_ca, self.client_auth) {
            (Some(ca), mode) if mode != ClientAuth::None => {
                let roots = Arc::new(read_roots(ca)?);
                let v = WebPkiClientVerifier::builder_with_provider(roots, Arc::clone(&provider));
                let v = if mode == ClientAuth::Optional {
                    v.allow_unauthenticated()
                } else {
                    v
                };
                let verifier = v.build().map_err(|e| TlsConfigError::BadCa {
                    path: ca.clone(),
                    message: e.to_string(),
                })?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => builder.with_no_client_auth(),
        };
        let default = self
            .default_cert
            .as_ref()
            .map(|(c, k)| certified_key(c, k, &provider))
            .transpose()?;
        if default.is_none() && self.sni.is_empty() {
            return Err(TlsConfigError::NoServerCertificate);
        }
        let mut by_name = ResolvesServerCertUsingSni::new();
        for (name, c, k) in &self.sni {
            by_name.add(name, certified_key(c, k, &provider)?)?;
        }
        let mut config = builder.with_cert_resolver(Arc::new(SniWithDefault {
            by_name,
            default: default.map(Arc::new),
        }));
        config.alpn_protocols = self.alpn;
        Ok(TlsServerConfig {
            rustls: Arc::new(config),
            handshake_timeout: self.handshake_timeout.unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT),
        })
    }
}

/// SNI selection that falls back to a default certificate.
#[derive(Debug)]
struct SniWithDefault {
    by_name: ResolvesServerCertUsingSni,
    default: Option<Arc<CertifiedKey>>,
}

impl rustls::server::ResolvesServerCert for SniWithDefault {
    fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let default = self.default.clone();
        self.by_name.resolve(hello).or(default)
    }
}

/// Client-side TLS: trust roots, client certificate, ALPN, handshake
/// timeout.
#[derive(Debug, Clone)]
pub struct TlsClientConfig {
    rustls: Arc<ClientConfig>,
    handshake_timeout: Duration,
}

impl TlsClientConfig {
    /// Starts a configuration.
    pub fn builder() -> TlsClientBuilder {
        TlsClientBuilder::default()
    }

    /// Wraps a rustls configuration made by hand.
    pub fn from_rustls(config: Arc<ClientConfig>) -> Self {
        Self {
            rustls: config,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Replaces the handshake timeout.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The rustls configuration (what `get_extra_info("sslcontext")` gives).
    pub fn rustls(&self) -> &Arc<ClientConfig> {
        &self.rustls
    }

    /// How long a handshake may take before the connection fails.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }
}

/// Builds a [`TlsClientConfig`].
#[derive(Debug, Clone, Default)]
pub struct TlsClientBuilder {
    ca_files: Vec<PathBuf>,
    platform_roots: bool,
    client_cert: Option<(PathBuf, PathBuf)>,
    alpn: Vec<Vec<u8>>,
    handshake_timeout: Option<Duration>,
}

impl TlsClientBuilder {
    /// Trusts the CA certificates in a PEM file.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Trusts the platform's roots too (where the system has them).
    pub fn platform_roots(mut self) -> Self {
        self.platform_roots = true;
        self
    }

    /// Presents this certificate chain and key when the server asks (mTLS).
    pub fn client_cert(mut self, chain: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert = Some((chain.into(), key.into()));
        self
    }

    /// ALPN protocols to offer, in order of preference.
    pub fn alpn<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// The handshake timeout (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = Some(timeout);
        self
    }

    /// Loads the files and builds the configuration.
    pub fn build(self) -> Result<TlsClientConfig, TlsConfigError> {
        let provider = crypto_provider();
        let mut roots = RootCertStore::empty();
        for path in &self.ca_files {
            roots.roots.extend(read_roots(path)?.roots);
        }
        if self.platform_roots {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::debug!(error = %e, "platform root certificates: some not loaded");
            }
            roots.add_parsable_certificates(found.certs);
        }
        if roots.is_empty() {
            return Err(TlsConfigError::NoRoots);
        }
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let mut config = match &self.client_cert {
            Some((c, k)) => {
                let (chain, key) = (read_certs(c)?, read_key(k)?);
                // Checked here so a mismatch names both files.
                check_pair(chain.clone(), key.clone_key(), c, k, &provider)?;
                builder.with_client_auth_cert(chain, key)?
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn;
        Ok(TlsClientConfig {
            rustls: Arc::new(config),
            handshake_timeout: self.handshake_timeout.unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT),
        })
    }
}
