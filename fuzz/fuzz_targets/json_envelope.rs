//! The JSON envelope codec alone (`JsonCodec::decode`, both passes: the head, then the entries)
//! with and without an expected realm; a decoded file must re-encode and read back equal.
#![no_main]

use knownpeers_codecs::{Codec, JsonCodec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for realm in [None, Some("example-realm")] {
        if let Ok(file) = JsonCodec.decode(data, realm) {
            let bytes = JsonCodec
                .encode(&file.realm, file.saved_at, &file.entries)
                .expect("what was read can be written");
            let again = JsonCodec
                .decode(&bytes, realm)
                .expect("what was written reads");
            assert_eq!(again, file);
        }
    }
});
