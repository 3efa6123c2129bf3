//! Helpers shared by the codecs integration tests: sample entries, and an independent builder
//! of binary frames (written from FORMAT.md's table, not from the crate's `frame` module) for
//! files no conforming writer would produce. Must not depend on /work/shared.
#![allow(dead_code)]

pub mod unchecked;

use knownpeers_codecs::{PeerEntry, PeerSource};

/// The vectors copied into the repository.
pub const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors");

pub const SAVED_AT: u64 = 1_764_000_000;

pub fn vector(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(VECTORS).join(name)).expect("vector file")
}

pub fn entry(addr: &str, source: PeerSource, last_seen: u64) -> PeerEntry {
    PeerEntry {
        addr: addr.parse().expect("a socket address"),
        source,
        last_seen,
        node_id: None,
        capabilities: vec![],
    }
}

/// The three entries of the vectors' `*-basic` files.
pub fn basic_entries() -> Vec<PeerEntry> {
    vec![
        PeerEntry {
            node_id: Some("node-abc".into()),
            capabilities: vec!["relay".into()],
            ..entry("203.0.113.10:7447", PeerSource::Gossip, 1_763_996_400)
        },
        PeerEntry {
            node_id: Some("node-v6".into()),
            ..entry("[2001:db8::1]:9000", PeerSource::Connected, 1_763_999_940)
        },
        entry("198.51.100.7:50001", PeerSource::Bootstrap, 1_763_913_600),
    ]
}

/// A version-1 msgpack frame around an arbitrary `body`, with correct CRCs, per FORMAT.md's
/// table.
pub fn msgpack_frame(realm: &str, entry_count: u32, body: &[u8]) -> Vec<u8> {
    msgpack_frame_v(1, realm, entry_count, body)
}

/// A msgpack frame of binary frame version `version` around an arbitrary `body`.
pub fn msgpack_frame_v(version: u16, realm: &str, entry_count: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&[0x89, 0x4B, 0x4E, 0x50, 0x0D, 0x0A, 0x1A, 0x0A]);
    out.extend_from_slice(&version.to_le_bytes());
    out.push(1);
    out.push(0);
    out.push(realm.len() as u8);
    out.extend_from_slice(realm.as_bytes());
    out.extend_from_slice(&SAVED_AT.to_le_bytes());
    out.extend_from_slice(&entry_count.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    out
}

/// Offset of the sealed block (the `kdf` byte) in a frame whose realm is `realm_len` bytes.
pub fn sealed_block(realm_len: usize) -> usize {
    25 + realm_len
}

/// Recomputes the header CRC of a binary frame (after a test edited its header on purpose).
pub fn fix_header_crc(file: &mut [u8]) {
    let realm_len = file[12] as usize;
    let sealed = if file[10] == 2 { 85 } else { 0 };
    let h = 25 + realm_len + sealed + 12;
    let crc = crc32fast::hash(&file[..h - 4]);
    file[h - 4..h].copy_from_slice(&crc.to_le_bytes());
}
