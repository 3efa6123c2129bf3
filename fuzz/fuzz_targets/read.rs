//! `knownpeers_codecs::read` of arbitrary bytes under every realm policy (no key, key file,
//! passphrase; plaintext allowed or refused; any or a given realm), and `inspect`: any input
//! must end in a decoded file or a classified error, never a panic, a hang or a large
//! allocation. Also checks that an accepted file satisfies the reader's promises.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let _ = knownpeers_codecs::inspect(data);
    for policy in common::policies() {
        if let Ok(decoded) = knownpeers_codecs::read(data, &policy) {
            let file = decoded.file;
            if let Some(realm) = policy.realm {
                assert_eq!(file.realm, realm, "a file of another realm was accepted");
            }
            assert!(
                !policy.require_encryption || decoded.format == knownpeers_codecs::Format::Sealed,
                "a plaintext file passed require_encryption"
            );
            assert!(file.entries.len() as u64 <= knownpeers_codecs::MAX_ENTRY_COUNT);
            for entry in &file.entries {
                entry
                    .check_limits()
                    .expect("accepted entries are within the limits");
            }
        }
    }
});
