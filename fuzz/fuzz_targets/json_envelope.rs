//! The JSON envelope codec alone (`JsonCodec::decode`: the fast path for the writer's own
//! layout, else the serde path's passes) with and without an expected realm; a decoded file
//! must re-encode and read back equal. The fast path alone must either give up or give exactly
//! what the serde path alone gives, and give exactly that again with its entry list read in
//! parts on threads; the reader's result (errors included) must be the serde path's, and the
//! writer's own output without escapes must be the fast path's to read.
#![no_main]

use knownpeers_codecs::{detect, fuzzing, Codec, Format, JsonCodec, PeerFile};
use libfuzzer_sys::fuzz_target;

/// Whether the writer writes every string of `file` without an escape.
fn unescaped(file: &PeerFile) -> bool {
    let plain = |s: &str| s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    plain(&file.realm)
        && file.entries.iter().all(|e| {
            e.node_id.as_deref().is_none_or(plain) && e.capabilities.iter().all(|c| plain(c))
        })
}

fuzz_target!(|data: &[u8]| {
    for realm in [None, Some("example-realm")] {
        let (fast, serde) = fuzzing::json_paths(data, realm);
        for parts in [2, 3] {
            let split = fuzzing::json_fast_split(data, realm, parts);
            assert_eq!(split, fast, "the split read disagrees");
        }
        if let Some(fast) = &fast {
            assert_eq!(serde.as_ref().ok(), Some(fast), "the fast path disagrees");
        }
        let decoded = JsonCodec.decode(data, realm);
        if matches!(detect(data), Ok(Format::Json)) {
            match (&decoded, &serde) {
                (Ok(a), Ok(b)) => assert_eq!(a, b),
                (Err(a), Err(b)) => {
                    assert_eq!((a.kind(), a.to_string()), (b.kind(), b.to_string()))
                }
                _ => panic!("the reader and the serde path disagree"),
            }
        }
        if let Ok(file) = decoded {
            let bytes = JsonCodec
                .encode(&file.realm, file.saved_at, &file.entries)
                .expect("what was read can be written");
            let again = JsonCodec
                .decode(&bytes, realm)
                .expect("what was written reads");
            assert_eq!(again, file);
            let fast = fuzzing::json_paths(&bytes, realm).0;
            assert_eq!(fast.is_some(), unescaped(&file));
        }
    }
});
