//! TOML configuration: the documented shape parses; every kind of bad
//! input is rejected with the file, the key path and the line named.

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
    assert_eq!(c.shards, ShardCount::Auto);
    assert!(c.pin_cores);
    assert_eq!((c.write_buffer_high, c.write_buffer_low), (65536, 16384));
    assert_eq!(c.max_connections, 100_000);
    assert_eq!(c.idle_timeout, Some(Duration::from_secs(60)));
    assert_eq!(c.drain_timeout, Duration::from_secs(10));
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.metrics, Some("127.0.0.1:9100".parse().unwrap()));
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
    assert_eq!(c.shards, ShardCount::Auto);
    assert_eq!((c.write_buffer_high, c.write_buffer_low), (65536, 16384));
    assert_eq!(c.max_connections, 0);
    assert_eq!(c.idle_timeout, None);
    assert_eq!(c.metrics, None);
    assert_eq!(c.log_level, "info");
    assert_eq!(c.udp_batch, 16);
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
            "integer >= 1",
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
            ">= 0",
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
