//! The TOML file as written: serde structs that reject unknown keys and keep
//! each value's position, so validation can name the line. Shards never see
//! these; [`super::Config`] is what the rest of shardloop uses.

use serde::Deserialize;

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
    pub listener: Vec<super::listener_keys::RawListener>,
}
