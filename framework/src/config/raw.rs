//! The TOML file as written: serde structs that reject unknown keys and keep
//! each value's position, so validation can name the line. Shards never see
//! these; [`super::Config`] is what the rest of shardloop uses.

use serde::Deserialize;
use toml::Spanned;

use super::keys::IntOrText;

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
