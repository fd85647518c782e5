//! TOML configuration: the documented shape parses; every kind of bad
//! input is rejected with the file, the key path and the line named.

mod generated;

use std::time::Duration;

use shardloop::config::{Config, ConfigError, ListenAddress, LogFormat, ShardCount};
use shardloop::Distribution;

const APPS: &[&str] = &["echo", "discard"];

const FULL: &str = r#"
[runtime]
shards = "auto"
pin_cores = true
[limits]
write_buffer_high = "64KiB"
write_buffer_low = "16KiB"
max_connections = 100000
idle_timeout = "60s"
drain_timeout = "10s"
[log]
level = "info"
format = "json"
[metrics]
address = "127.0.0.1:9100"
[[listener]]
name = "echo"
address = "127.0.0.1:8888"
app = "echo"
distribution = "round-robin"
backlog = 1024
[[listener]]
name = "sink"
address = "unix:/tmp/sink.sock"
app = "discard"
distribution = "least-connections"
[[listener]]
name = "udp-echo"
address = "127.0.0.1:9999"
app = "echo"
protocol = "udp"
"#;

fn invalid(text: &str) -> (String, usize, String) {
    match Config::parse(text, "test.toml", APPS) {
        Err(ConfigError::Invalid {
            key,
            line,
            message,
            origin,
            ..
        }) => {
            assert_eq!(origin, "test.toml");
            (key, line, message)
        }
        other => panic!("expected an invalid-config error, got {other:?}"),
    }
}

#[test]
fn the_documented_shape_parses_into_validated_types() {
    let c = Config::parse(FULL, "test.toml", APPS).unwrap();
    assert_eq!(c.runtime.shards, ShardCount::Auto);
    assert!(c.runtime.pin_cores);
    assert_eq!(
        (c.limits.write_buffer_high, c.limits.write_buffer_low),
        (65536, 16384)
    );
    assert_eq!(c.limits.max_connections, 100_000);
    assert_eq!(c.limits.idle_timeout, Some(Duration::from_secs(60)));
    assert_eq!(c.limits.drain_timeout, Duration::from_secs(10));
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(
        c.metrics.map(|m| m.address),
        Some("127.0.0.1:9100".parse().unwrap())
    );
    assert_eq!(c.listeners.len(), 3);
    assert_eq!(
        c.listeners[2].protocol,
        shardloop::config::ListenProtocol::Udp
    );
    assert_eq!(c.listeners[2].distribution, Distribution::ReusePort);
    assert_eq!(
        c.listeners[0].address,
        ListenAddress::Inet("127.0.0.1:8888".parse().unwrap())
    );
    assert_eq!(
        c.listeners[1].address,
        ListenAddress::Unix("/tmp/sink.sock".into())
    );
    assert_eq!(c.listeners[1].distribution, Distribution::LeastConnections);
    assert_eq!(c.listeners[1].backlog, 1024);
}

#[test]
fn the_effective_configuration_prints_as_toml_that_parses_back_the_same() {
    let c = Config::parse(FULL, "test.toml", APPS).unwrap();
    let printed = c.to_string();
    let again = Config::parse(&printed, "printed", APPS).unwrap();
    assert_eq!(c, again, "{printed}");
}

#[test]
fn defaults_fill_what_is_absent() {
    let c = Config::parse(
        "[[listener]]\nname='e'\naddress='127.0.0.1:0'\napp='echo'\n",
        "t",
        APPS,
    )
    .unwrap();
    assert_eq!(c.runtime.shards, ShardCount::Auto);
    assert_eq!(
        (c.limits.write_buffer_high, c.limits.write_buffer_low),
        (65536, 16384)
    );
    assert_eq!(c.limits.max_connections, 0);
    assert_eq!(c.limits.idle_timeout, None);
    assert_eq!(c.metrics.map(|m| m.address), None);
    assert_eq!(c.log.level.as_str(), "info");
    assert_eq!(c.runtime.udp_batch, 16);
}

#[test]
fn low_above_high_names_both_keys_and_the_line() {
    let (key, line, msg) = invalid(
        "[limits]\nwrite_buffer_high = \"64KiB\"\nwrite_buffer_low = \"128KiB\"\n[[listener]]\nname='e'\naddress='127.0.0.1:0'\napp='echo'\n",
    );
    assert_eq!(key, "limits.write_buffer_low");
    assert_eq!(line, 3);
    assert_eq!(
        msg,
        "limits.write_buffer_low (128KiB) must not exceed limits.write_buffer_high (64KiB)"
    );
}

#[test]
fn each_kind_of_bad_value_is_named() {
    let listener = "[[listener]]\nname='e'\naddress='127.0.0.1:0'\napp='echo'\n";
    let cases: &[(&str, &str, usize, &str)] = &[
        (
            "[runtime]\nshards = 0\n",
            "runtime.shards",
            2,
            "an integer from 1 to 1024",
        ),
        (
            "[runtime]\nshards = \"many\"\n",
            "runtime.shards",
            2,
            "\"auto\"",
        ),
        (
            "[runtime]\nudp_batch = 0\n",
            "runtime.udp_batch",
            2,
            "from 1 (no batching) to 1024",
        ),
        (
            "[limits]\nwrite_buffer_high = \"lots\"\n",
            "limits.write_buffer_high",
            2,
            "not a size",
        ),
        (
            "[limits]\nidle_timeout = \"soon\"\n",
            "limits.idle_timeout",
            2,
            "not a duration",
        ),
        (
            "[limits]\ndrain_timeout = 10\n",
            "limits.drain_timeout",
            2,
            "units",
        ),
        (
            "[limits]\nmax_connections = -1\n",
            "limits.max_connections",
            2,
            "from 0 (no limit) to",
        ),
        ("[log]\nlevel = \"loud\"\n", "log.level", 2, "one of trace"),
        ("[log]\nformat = \"xml\"\n", "log.format", 2, "\"json\""),
        (
            "[metrics]\naddress = \"nowhere\"\n",
            "metrics.address",
            2,
            "IP address",
        ),
        (
            "[limits]\nwrite_bufer_high = 1\n",
            "limits.write_bufer_high",
            2,
            "unknown field",
        ),
    ];
    for (text, want_key, want_line, want_msg) in cases {
        let (key, line, msg) = invalid(&format!("{text}{listener}"));
        assert_eq!(
            (key.as_str(), line),
            (*want_key, *want_line),
            "{text}: {msg}"
        );
        assert!(msg.contains(want_msg), "{text}: {msg}");
    }
}

#[test]
fn bad_listeners_are_named_by_index() {
    let l = |body: &str| {
        format!("[[listener]]\nname='a'\naddress='127.0.0.1:0'\napp='echo'\n[[listener]]\n{body}")
    };
    let cases: &[(String, &str, &str)] = &[
        (
            l("name='b'\naddress='127.0.0.1:0'\napp='chat'\n"),
            "listener[1].app",
            "unknown app",
        ),
        (
            l("name='a'\naddress='127.0.0.1:1'\napp='echo'\n"),
            "listener[1].name",
            "unique",
        ),
        (
            l("name='b'\naddress='nowhere'\napp='echo'\n"),
            "listener[1].address",
            "host:port",
        ),
        (
            l("name='b'\naddress='127.0.0.1:1'\napp='echo'\ndistribution='random'\n"),
            "listener[1].distribution",
            "round-robin",
        ),
        (
            l("name='b'\naddress='unix:/tmp/x'\napp='echo'\ndistribution='reuseport'\n"),
            "listener[1].distribution",
            "TCP",
        ),
        (
            l("name='b'\naddress='127.0.0.1:1'\napp='echo'\nbacklog=0\n"),
            "listener[1].backlog",
            "between",
        ),
        (
            l("name='b'\naddress='127.0.0.1:1'\napp='echo'\nprotocol='sctp'\n"),
            "listener[1].protocol",
            "tcp",
        ),
    ];
    for (text, want_key, want_msg) in cases {
        let (key, _, msg) = invalid(text);
        assert_eq!(key, *want_key, "{msg}");
        assert!(msg.contains(want_msg), "{msg}");
    }
    let (key, _, msg) = invalid("[runtime]\nshards = 2\n");
    assert_eq!(key, "listener");
    assert!(msg.contains("at least one"));
}

#[test]
fn syntax_errors_give_the_position() {
    let (_, line, _) = invalid("[runtime]\nshards = \n");
    assert_eq!(line, 2);
}

#[test]
fn a_missing_file_is_a_read_error_naming_it() {
    let err = Config::from_file("/nonexistent/shardloop.toml".as_ref(), APPS).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err
        .to_string()
        .starts_with("/nonexistent/shardloop.toml: cannot read"));
}

#[test]
fn every_duration_size_and_count_has_a_maximum_that_check_enforces() {
    let listener = "[[listener]]\nname='e'\naddress='127.0.0.1:0'\napp='echo'\n";
    let udp = "[[listener]]\nname='u'\naddress='127.0.0.1:0'\napp='echo'\nprotocol='udp'\n";
    // (text, key, line) — each one step over its maximum.
    let over: &[(&str, &str, usize)] = &[
        ("[runtime]\nshards = 1025\n", "runtime.shards", 2),
        ("[runtime]\nshards = 1000000000000\n", "runtime.shards", 2),
        ("[runtime]\nudp_batch = 1025\n", "runtime.udp_batch", 2),
        (
            "[limits]\nwrite_buffer_high = \"1025MiB\"\n",
            "limits.write_buffer_high",
            2,
        ),
        (
            "[limits]\nwrite_buffer_low = 1073741825\n",
            "limits.write_buffer_low",
            2,
        ),
        (
            "[limits]\nmax_connections = 16777217\n",
            "limits.max_connections",
            2,
        ),
        (
            "[limits]\nidle_timeout = \"24h 1s\"\n",
            "limits.idle_timeout",
            2,
        ),
        (
            "[limits]\ndrain_timeout = \"300000000000years\"\n",
            "limits.drain_timeout",
            2,
        ),
        (
            "[limits]\ndrain_timeout = \"2days\"\n",
            "limits.drain_timeout",
            2,
        ),
    ];
    for (text, want_key, want_line) in over {
        let (key, line, msg) = invalid(&format!("{text}{listener}"));
        assert_eq!(
            (key.as_str(), line),
            (*want_key, *want_line),
            "{text}: {msg}"
        );
        assert!(
            msg.contains("too large") || msg.contains("too long") || msg.contains(" to "),
            "{text}: the message says the maximum: {msg}"
        );
    }
    let (key, _, msg) = invalid(&format!("{udp}udp_recv_buffer = \"2GiB\"\n"));
    assert_eq!(key, "listener[0].udp_recv_buffer", "{msg}");
    let (key, _, msg) = invalid(&format!("{listener}udp_send_buffer = \"1MiB\"\n"));
    assert_eq!(key, "listener[0].udp_send_buffer", "{msg}");
    assert!(msg.contains("protocol = \"udp\""), "{msg}");
    // At the maximum, accepted.
    let at_max = format!(
        "[runtime]\nshards = 1024\nudp_batch = 1024\n[limits]\nwrite_buffer_high = \"1GiB\"\n\
         write_buffer_low = \"1GiB\"\nmax_connections = 16777216\nidle_timeout = \"24h\"\n\
         drain_timeout = \"1day\"\n{udp}udp_recv_buffer = \"1GiB\"\nudp_send_buffer = \"1GiB\"\n"
    );
    let c = Config::parse(&at_max, "test.toml", APPS).unwrap();
    assert_eq!(c.runtime.shards, ShardCount::Count(1024));
    assert_eq!(c.limits.drain_timeout, Duration::from_secs(86400));
    assert_eq!(c.listeners[0].udp_recv_buffer, 1 << 30);
}

#[test]
fn address_collisions_are_caught_naming_both_listeners() {
    let l = |name: &str, addr: &str, extra: &str| {
        format!("[[listener]]\nname='{name}'\naddress='{addr}'\napp='echo'\n{extra}")
    };
    let cases = [
        // The same address and port.
        (
            l("a", "127.0.0.1:7001", "") + &l("b", "127.0.0.1:7001", ""),
            "listener[1].address",
            "listener[0] (\"a\", line 3)",
        ),
        // A wildcard takes the port on every address of its family.
        (
            l("a", "0.0.0.0:7002", "") + &l("b", "127.0.0.1:7002", ""),
            "listener[1].address",
            "listener[0]",
        ),
        (
            l("a", "127.0.0.1:7003", "") + &l("b", "[::]:7003", ""),
            "listener[1].address",
            "listener[0]",
        ),
        // Two UDP listeners on one port (SO_REUSEPORT would split traffic).
        (
            l("a", "127.0.0.1:7004", "protocol='udp'\n")
                + &l("b", "127.0.0.1:7004", "protocol='udp'\n"),
            "listener[1].address",
            "listener[0]",
        ),
        // Two reuseport TCP listeners.
        (
            l("a", "127.0.0.1:7005", "distribution='reuseport'\n")
                + &l("b", "127.0.0.1:7005", "distribution='reuseport'\n"),
            "listener[1].address",
            "listener[0]",
        ),
        // The same Unix path.
        (
            l("a", "unix:/tmp/x.sock", "") + &l("b", "unix:/tmp/x.sock", ""),
            "listener[1].address",
            "listener[0]",
        ),
        // A listener on the metrics address.
        (
            format!(
                "[metrics]\naddress = '127.0.0.1:7006'\n{}",
                l("a", "127.0.0.1:7006", "")
            ),
            "listener[0].address",
            "[metrics] (line 2)",
        ),
    ];
    for (text, want_key, want) in cases {
        let (key, _, msg) = invalid(&text);
        assert_eq!(key, want_key, "{text}: {msg}");
        assert!(
            msg.contains(want) && msg.contains("collides"),
            "{text}: {msg}"
        );
    }
    // TCP and UDP may share a port; distinct addresses may share a port;
    // port 0 never collides.
    let fine = l("t", "127.0.0.1:7007", "")
        + &l("u", "127.0.0.1:7007", "protocol='udp'\n")
        + &l("v", "127.0.0.2:7007", "")
        + &l("w", "127.0.0.1:0", "")
        + &l("x", "127.0.0.1:0", "");
    Config::parse(&fine, "test.toml", APPS).unwrap();
}

/// A small deterministic generator, so the property test needs no seed file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

#[test]
fn sizes_print_exactly() {
    let text = "[limits]\nwrite_buffer_high = 1537\nwrite_buffer_low = \"1KiB\"\n\
                [[listener]]\nname='e'\naddress='127.0.0.1:0'\napp='echo'\n";
    let printed = Config::parse(text, "t", APPS).unwrap().to_string();
    assert!(printed.contains("write_buffer_high = 1537\n"), "{printed}");
    assert!(
        printed.contains("write_buffer_low = \"1KiB\"\n"),
        "{printed}"
    );
}
