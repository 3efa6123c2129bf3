//! `knownpeers_codecs::read_owned` (the loader's path: a sealed body opened in place in the
//! caller's buffer) of arbitrary bytes under every realm policy, checked against `read` of the
//! same bytes: both must agree exactly (the same file, or the same error class).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    for policy in common::policies() {
        let owned = knownpeers_codecs::read_owned(data.to_vec(), &policy);
        let borrowed = knownpeers_codecs::read(data, &policy);
        match (owned, borrowed) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "read_owned and read decoded differently"),
            (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind(), "{a} / {b}"),
            (a, b) => panic!(
                "read_owned and read disagree: {:?} / {:?}",
                a.map(|d| d.format),
                b.map(|d| d.format)
            ),
        }
    }
});
