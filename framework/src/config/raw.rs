//! The TOML file as written: serde structs that reject unknown keys and keep
//! each value's position, so validation can name the line. Shards never see
//! these; [`super::Config`] is what the rest of shardloop uses.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub runtime: super::sections::RawRuntime,
    #[serde(default)]
    pub limits: super::sections::RawLimits,
    #[serde(default)]
    pub log: super::sections::RawLog,
    pub metrics: Option<super::sections::RawMetrics>,
    #[serde(default)]
    pub listener: Vec<RawListener>,
}

/// Unknown keys are collected (not rejected by serde) so that a table named
/// after the listener's app — its options, `[listener.kv]` — can pass; any
/// other unknown key is rejected by the validator, with its line.
#[derive(Debug, Deserialize)]
pub(super) struct RawListener {
    pub name: Spanned<String>,
    pub address: Spanned<String>,
    pub app: Spanned<String>,
    pub protocol: Option<Spanned<String>>,
    pub distribution: Option<Spanned<String>>,
    pub backlog: Option<Spanned<i64>>,
    pub udp_recv_buffer: Option<Spanned<IntOrText>>,
    pub udp_send_buffer: Option<Spanned<IntOrText>>,
    pub tls: Option<Spanned<super::tls::RawTls>>,
    #[serde(flatten)]
    pub rest: std::collections::BTreeMap<String, toml::Value>,
}

/// A value that may be written as a number or a string with units
/// (`65536` or `"64KiB"`; `0` or `"60s"`; `2` or `"auto"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum IntOrText {
    Int(i64),
    Text(String),
}

impl IntOrText {
    /// As written in the file: a number bare, text in quotes.
    pub(crate) fn quoted(&self) -> String {
        match self {
            IntOrText::Int(n) => n.to_string(),
            IntOrText::Text(s) => format!("\"{s}\""),
        }
    }
}

impl std::fmt::Display for IntOrText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IntOrText::Int(n) => write!(f, "{n}"),
            IntOrText::Text(s) => f.write_str(s),
        }
    }
}
