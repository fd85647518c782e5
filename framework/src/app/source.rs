//! Where the server's configuration comes from — a file or the registry's
//! embedded default — read at start and again at each reload.

use std::path::PathBuf;

use super::Apps;
use crate::config::Config;

/// Where a reload reads the configuration again, and what it may change.
pub(super) struct Source {
    pub(super) path: Option<PathBuf>,
    pub(super) log_level: Option<LogLevel>,
    /// `--takeover`: the listening sockets come from the running server.
    pub(super) takeover: bool,
}

/// Changes the log level of a running server (a configuration reload).
pub(super) type LogLevel =
    tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;

/// The configuration at `path`, or the embedded default.
pub(super) fn load(apps: &Apps, path: Option<&PathBuf>) -> Result<Config, String> {
    match (path, apps.default_config.as_deref()) {
        (Some(path), _) => Config::from_file(path, apps).map_err(|e| e.to_string()),
        (None, Some(text)) => {
            Config::parse(text, "(embedded default config)", apps).map_err(|e| e.to_string())
        }
        (None, None) => Err("no configuration file given, and no embedded default".into()),
    }
}
