//! Printing a [`Config`] — the effective configuration as TOML that parses
//! back to the same — and the runtime it asks for.

use std::fmt;

use super::{keys, Config, ListenProtocol, ShardCount};

impl Config {
    /// The runtime this configuration asks for: shards (`"auto"` resolved
    /// to the cores this process may run on), pinning, the connection cap,
    /// and every shard's loop settings.
    pub fn runtime_config(&self) -> crate::RuntimeConfig {
        crate::RuntimeConfig {
            shards: match self.runtime.shards {
                ShardCount::Auto => crate::runtime::auto_shards(),
                ShardCount::Count(n) => n,
            },
            pin_cores: self.runtime.pin_cores,
            max_connections: self.limits.max_connections,
            loop_config: crate::LoopConfig {
                write_buffer_high: self.limits.write_buffer_high,
                write_buffer_low: self.limits.write_buffer_low,
                idle_timeout: self.limits.idle_timeout,
                udp_batch: self.runtime.udp_batch,
                ..crate::LoopConfig::default()
            },
        }
    }

    /// The effective configuration as a TOML table: every key with the
    /// value that will be used, sizes exact, paths absolute. Serialised,
    /// it parses back to the same [`Config`].
    pub fn to_toml(&self) -> toml::Table {
        use toml::Value;
        let duration = keys::print_duration;
        let mut t = toml::Table::new();
        t.insert("runtime".into(), Value::Table(self.runtime.to_toml()));
        t.insert("limits".into(), Value::Table(self.limits.to_toml()));
        t.insert("log".into(), Value::Table(self.log.to_toml()));
        if let Some(m) = &self.metrics {
            t.insert("metrics".into(), Value::Table(m.to_toml()));
        }
        let listeners = self
            .listeners
            .iter()
            .map(|l| {
                let mut lt = l.to_toml();
                if l.protocol != ListenProtocol::Udp {
                    // Keys of UDP listeners only.
                    lt.remove("udp_recv_buffer");
                    lt.remove("udp_send_buffer");
                }
                if let Some(tls) = &l.tls {
                    lt.insert("tls".into(), Value::Table(tls.to_toml(duration)));
                }
                if let Some(options) = &l.options {
                    lt.insert(l.app.clone(), Value::Table(options.clone()));
                }
                Value::Table(lt)
            })
            .collect();
        t.insert("listener".into(), Value::Array(listeners));
        t
    }
}

impl fmt::Display for Config {
    /// The effective configuration ([`Config::to_toml`]) as TOML, which
    /// parses back to the same; `shards = "auto"` carries a comment with
    /// the count it resolves to on this machine.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = toml::to_string(&self.to_toml()).map_err(|_| fmt::Error)?;
        for line in text.lines() {
            if line == "shards = \"auto\"" {
                let n = crate::runtime::auto_shards();
                writeln!(
                    f,
                    "{line} # {n} here: one per core this process may run on, within its cgroup's CPU quota"
                )?;
            } else {
                writeln!(f, "{line}")?;
            }
        }
        Ok(())
    }
}
