//! The config parser: arbitrary text as a TheNodes config file (`Config::from_toml_str`, which
//! parses and validates every realm's settings). It must end in a config or a `ConfigError`
//! naming a key, never a panic; an accepted config validates again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(config) = knownpeers::Config::from_toml_str(text) {
            config.validate().expect("a parsed config validates again");
        }
    }
});
