//! The TOML configuration: `check` never panics, and the configuration it
//! prints for a valid file checks to the same again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardloop::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let apps = shardloop_apps::apps();
    let Ok(config) = Config::parse(text, "fuzz.toml", &apps) else {
        return;
    };
    let printed = toml::to_string(&config.to_toml()).expect("prints");
    let again = Config::parse(&printed, "printed.toml", &apps)
        .unwrap_or_else(|e| panic!("the printed config does not check: {e}\n{printed}"));
    assert_eq!(
        toml::to_string(&again.to_toml()).expect("prints"),
        printed,
        "printing is not stable"
    );
});
