//! The `[listener.tls]` table: certificate files, client authentication,
//! ALPN and the handshake timeout of a `protocol = "tls"` listener.
//! Validation loads every file, so `shardloop check` reports a missing or
//! unreadable file, an empty chain or a key that does not match its
//! certificate — each naming the file and the key that gave it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::keys::IntOrText;
use super::{ConfigError, Validator};
use crate::tls::{ClientAuth, TlsConfigError, TlsServerConfig, DEFAULT_HANDSHAKE_TIMEOUT};

/// `[listener.tls]` as written.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
    pub client_ca: Option<Spanned<String>>,
    pub client_auth: Option<Spanned<String>>,
    pub alpn: Option<Spanned<Vec<String>>>,
    pub handshake_timeout: Option<Spanned<IntOrText>>,
}

/// A TLS listener's settings, files resolved against the configuration
/// file's folder and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsListenerConfig {
    /// `cert`: the certificate chain, PEM, end-entity first.
    pub cert: PathBuf,
    /// `key`: its private key, PEM.
    pub key: PathBuf,
    /// `client_ca`: CA certificates client certificates must chain to.
    pub client_ca: Option<PathBuf>,
    /// `client_auth`: `"none"`, `"optional"` or `"required"` (the default
    /// when `client_ca` is given).
    pub client_auth: ClientAuth,
    /// `alpn`: protocols offered, in order of preference.
    pub alpn: Vec<String>,
    /// `handshake_timeout` (default 10 s).
    pub handshake_timeout: Duration,
}

impl TlsListenerConfig {
    /// Loads the files into a server configuration.
    pub fn server_config(&self) -> Result<TlsServerConfig, TlsConfigError> {
        let mut b = TlsServerConfig::builder()
            .cert(&self.cert, &self.key)
            .alpn(&self.alpn)
            .handshake_timeout(self.handshake_timeout);
        if let Some(ca) = &self.client_ca {
            b = b.client_auth(ca, self.client_auth);
        }
        b.build()
    }
}

impl TlsListenerConfig {
    /// `[listener.tls]` as TOML; `duration` writes a duration as the
    /// configuration does.
    pub(super) fn to_toml(&self, duration: impl Fn(Duration) -> toml::Value) -> toml::Table {
        use toml::Value;
        let path = |p: &Path| Value::String(p.display().to_string());
        let mut t = toml::Table::new();
        t.insert("cert".into(), path(&self.cert));
        t.insert("key".into(), path(&self.key));
        if let Some(ca) = &self.client_ca {
            t.insert("client_ca".into(), path(ca));
        }
        let auth = match self.client_auth {
            ClientAuth::None => "none",
            ClientAuth::Optional => "optional",
            ClientAuth::Required => "required",
        };
        t.insert("client_auth".into(), Value::String(auth.into()));
        t.insert(
            "alpn".into(),
            Value::Array(self.alpn.iter().cloned().map(Value::String).collect()),
        );
        t.insert("handshake_timeout".into(), duration(self.handshake_timeout));
        t
    }
}

impl Validator<'_> {
    /// Validates `[listener.tls]` of listener `i` and loads its files.
    pub(super) fn tls(&self, i: usize, t: &RawTls) -> Result<TlsListenerConfig, ConfigError> {
        let key = |k: &str| format!("listener[{i}].tls.{k}");
        let path = |v: &Spanned<String>, k: &str| -> Result<PathBuf, ConfigError> {
            if v.get_ref().trim().is_empty() {
                return Err(self.err(&key(k), v.span(), "must name a PEM file"));
            }
            Ok(self.resolve(Path::new(v.get_ref())))
        };
        let cert = path(&t.cert, "cert")?;
        let key_file = path(&t.key, "key")?;
        let client_ca = t
            .client_ca
            .as_ref()
            .map(|c| path(c, "client_ca"))
            .transpose()?;
        let client_auth = match t
            .client_auth
            .as_ref()
            .map(|a| (a.get_ref().as_str(), a.span()))
        {
            None if client_ca.is_some() => ClientAuth::Required,
            None | Some(("none", _)) => ClientAuth::None,
            Some((mode @ ("optional" | "required"), span)) => {
                if client_ca.is_none() {
                    return Err(self.err(
                        &key("client_auth"),
                        span,
                        format!("\"{mode}\" needs client_ca, the CA file client certificates must chain to"),
                    ));
                }
                if mode == "optional" {
                    ClientAuth::Optional
                } else {
                    ClientAuth::Required
                }
            }
            Some((other, span)) => {
                return Err(self.err(
                    &key("client_auth"),
                    span,
                    format!("\"{other}\" is not allowed: \"none\", \"optional\" or \"required\""),
                ))
            }
        };
        let alpn = t
            .alpn
            .as_ref()
            .map_or_else(Vec::new, |a| a.get_ref().clone());
        if let Some(a) = &t.alpn {
            if a.get_ref().iter().any(|p| p.is_empty() || p.len() > 255) {
                return Err(self.err(
                    &key("alpn"),
                    a.span(),
                    "protocol names must be 1 to 255 bytes, e.g. [\"h2\", \"http/1.1\"]",
                ));
            }
        }
        let handshake_timeout = match &t.handshake_timeout {
            None => DEFAULT_HANDSHAKE_TIMEOUT,
            Some(v) => {
                let d = self.duration(&key("handshake_timeout"), v)?;
                if d.is_zero() {
                    return Err(self.err(
                        &key("handshake_timeout"),
                        v.span(),
                        "must be more than 0: a handshake cannot be unbounded",
                    ));
                }
                d
            }
        };
        let settings = TlsListenerConfig {
            cert,
            key: key_file,
            client_ca,
            client_auth,
            alpn,
            handshake_timeout,
        };
        if let Err(e) = settings.server_config() {
            // Name the key whose file is at fault.
            let blame = |p: &Path| {
                if p == settings.cert {
                    ("cert", t.cert.span())
                } else if Some(p) == settings.client_ca.as_deref() {
                    ("client_ca", t.client_ca.as_ref().map_or(0..0, |c| c.span()))
                } else {
                    ("key", t.key.span())
                }
            };
            let (k, span) = match &e {
                TlsConfigError::Read { path, .. }
                | TlsConfigError::NoCertificate { path }
                | TlsConfigError::BadKey { path, .. }
                | TlsConfigError::BadCa { path, .. } => blame(path),
                _ => ("key", t.key.span()),
            };
            return Err(self.err(&key(k), span, e.to_string()));
        }
        Ok(settings)
    }
}
