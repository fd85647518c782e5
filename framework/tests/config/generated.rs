//! Configs drawn at random: printed, parsed back, the same.

use super::*;

/// A random valid configuration text: odd names, sizes that are not whole
/// units, durations with several units, every listener kind.
pub(super) fn generated(rng: &mut Rng) -> String {
    let mut t = String::new();
    let shards = match rng.below(3) {
        0 => "\"auto\"".to_string(),
        _ => (1 + rng.below(1024)).to_string(),
    };
    t += &format!(
        "[runtime]\nshards = {shards}\npin_cores = {}\nudp_batch = {}\n",
        rng.below(2) == 0,
        1 + rng.below(1024)
    );
    let high = rng.below(1 << 30);
    let low = rng.below(high + 1);
    let sizes = [format!("{high}"), format!("\"{}KiB\"", high >> 10)];
    t += &format!(
        "[limits]\nwrite_buffer_high = {}\nwrite_buffer_low = {}\nmax_connections = {}\n",
        sizes[rng.below(2) as usize],
        if rng.below(2) == 0 {
            low.to_string()
        } else {
            format!("\"{low} B\"")
        },
        rng.below(1 << 24)
    );
    let dur = |rng: &mut Rng| {
        format!(
            "\"{}h {}m {}s {}ms {}ns\"",
            rng.below(23),
            rng.below(60),
            rng.below(60),
            rng.below(1000),
            rng.below(1000)
        )
    };
    t += &format!(
        "idle_timeout = {}\ndrain_timeout = {}\n",
        dur(rng),
        dur(rng)
    );
    t += &format!(
        "[log]\nlevel = \"{}\"\nformat = \"{}\"\n",
        rng.pick(&["trace", "debug", "info", "warn", "error", "off"]),
        rng.pick(&["text", "json"])
    );
    if rng.below(2) == 0 {
        t += "[metrics]\naddress = \"[::1]:0\"\n";
    }
    let names = [
        "plain",
        "with \\\"quotes\\\"",
        "back\\\\slash",
        "ünïcödé ✓",
        "tab\\there",
        "'single'",
    ];
    for i in 0..1 + rng.below(4) {
        let name = format!("{} {i}", rng.pick(&names));
        let (address, extra) = match rng.below(4) {
            0 => (format!("127.0.0.{}:0", 1 + i), String::new()),
            1 => (
                "[::1]:0".to_string(),
                format!(
                    "protocol = \"udp\"\nudp_recv_buffer = {}\n",
                    1 + rng.below(1 << 30)
                ),
            ),
            2 => (format!("unix:relative/dir/s{i}.sock"), String::new()),
            _ => (
                format!("127.0.0.1:{}", 20000 + i),
                format!(
                    "distribution = \"{}\"\nbacklog = {}\n",
                    rng.pick(&["round-robin", "least-connections", "reuseport"]),
                    1 + rng.below(65535)
                ),
            ),
        };
        t += &format!(
            "[[listener]]\nname = \"{name}\"\naddress = \"{address}\"\napp = \"{}\"\n{extra}",
            rng.pick(APPS)
        );
    }
    t
}

#[test]
fn the_printed_config_round_trips_exactly_over_generated_configs() {
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    for _ in 0..500 {
        let text = generated(&mut rng);
        let c =
            Config::parse(&text, "generated.toml", APPS).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let printed = c.to_string();
        let again = Config::parse(&printed, "printed", APPS)
            .unwrap_or_else(|e| panic!("{e}\n--- printed from ---\n{text}\n--- as ---\n{printed}"));
        assert_eq!(c, again, "{text}\n--- printed as ---\n{printed}");
        assert_eq!(printed, again.to_string(), "printing is stable");
        for l in &c.listeners {
            if let ListenAddress::Unix(p) = &l.address {
                assert!(p.is_absolute(), "paths print absolute: {}", p.display());
            }
        }
    }
}
