//! The MessagePack body parser shared by the msgpack and sealed codecs: the fuzzed bytes are
//! the body, wrapped in a valid msgpack frame (correct CRCs, the entry count the body's array
//! header states), so that every input reaches the body parser instead of a CRC check.
#![no_main]

use knownpeers_codecs::{read, Codec, MsgpackCodec, ReadPolicy};
use libfuzzer_sys::fuzz_target;

/// A msgpack frame around `body` (FORMAT.md's header table).
fn frame(body: &[u8], entry_count: u32) -> Vec<u8> {
    let realm = b"r";
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(&knownpeers_codecs::MAGIC);
    out.extend_from_slice(&1u16.to_le_bytes());
    out.push(1); // codec: msgpack
    out.push(0); // flags
    out.push(realm.len() as u8);
    out.extend_from_slice(realm);
    out.extend_from_slice(&1_764_000_000u64.to_le_bytes());
    out.extend_from_slice(&entry_count.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    out
}

fuzz_target!(|body: &[u8]| {
    let mut rd = body;
    let count = rmp::decode::read_array_len(&mut rd).unwrap_or(0);
    let file = frame(body, count);
    if let Ok(decoded) = read(&file, &ReadPolicy::plaintext(Some("r"))) {
        // Whatever was accepted re-encodes, and the re-encoding reads back the same entries.
        let bytes = MsgpackCodec
            .encode("r", 1, &decoded.file.entries)
            .expect("what was read can be written");
        let again = read(&bytes, &ReadPolicy::plaintext(Some("r"))).expect("reads back");
        assert_eq!(again.file.entries, decoded.file.entries);
    }
});
