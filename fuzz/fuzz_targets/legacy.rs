//! The legacy TheNodes `peers.json` reader: arbitrary bytes read as a legacy array into a given
//! realm (the only way a legacy file is read), plaintext allowed; an accepted file's entries
//! must be within the limits and unique.
#![no_main]

use knownpeers_codecs::{read, Format, ReadPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut policy = ReadPolicy::plaintext(Some("r"));
    policy.legacy_mtime = 1_764_000_000;
    if let Ok(decoded) = read(data, &policy) {
        if decoded.format == Format::Legacy {
            let mut addrs: Vec<_> = decoded.file.entries.iter().map(|e| e.addr).collect();
            addrs.sort();
            addrs.dedup();
            assert_eq!(
                addrs.len(),
                decoded.file.entries.len(),
                "a duplicate address"
            );
        }
        for entry in &decoded.file.entries {
            entry.check_limits().expect("within the limits");
        }
    }
});
