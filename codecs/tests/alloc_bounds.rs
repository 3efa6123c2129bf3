//! What the readers and the sealed writer allocate, counted by `stats_alloc`'s instrumented
//! system allocator (this test binary's global allocator): an element bomb cannot make a reader
//! reserve memory out of proportion to the file (issue #10 finding 1), and the sealed writer
//! never regrows the buffer that holds the plaintext body (finding 5: a regrown buffer is freed
//! without zeroizing). The counters are process-wide, and libtest's main thread allocates as other tests end, so the
//! checks run in one test, one after another.

mod common;

use std::alloc::System;

use common::entry;
use knownpeers_codecs::{read, Codec, ErrorKind, Key, PeerEntry, PeerSource, ReadPolicy};
use knownpeers_codecs::{SealedCodec, MAX_CAPABILITIES, MAX_CAPABILITY_LEN, MAX_NODE_ID_LEN};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// `n` two-byte elements `0,` in a JSON array: the shape of finding 1's bomb.
fn zeros(n: usize) -> String {
    let mut s = String::with_capacity(2 * n + 2);
    s.push('[');
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('0');
    }
    s.push(']');
    s
}

fn an_element_bomb_allocates_in_proportion_to_the_file() {
    let n = 1_000_000;
    let legacy = zeros(n);
    let envelope = format!(
        "{{\"knownpeers\":1,\"codec\":\"json\",\"realm\":\"r\",\"saved_at\":1,\"entries\":{}}}",
        zeros(n)
    );
    for (name, file) in [("legacy", legacy), ("envelope", envelope)] {
        let region = Region::new(GLOBAL);
        let err = read(file.as_bytes(), &ReadPolicy::plaintext(Some("r")))
            .expect_err("a list of zeros is no peer list");
        let stats = region.change();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{name}: {err}");
        // Before the fix the element count alone sized the entry vector (96 bytes an entry)
        // and the address set: about 110 MB for this 2 MB file.
        let limit = 10 * file.len();
        assert!(
            stats.bytes_allocated < limit,
            "{name}: {} bytes allocated reading a {}-byte file (limit {limit})",
            stats.bytes_allocated,
            file.len()
        );
    }
}

fn the_shortest_entries_fit_the_readers_preallocation_bound() {
    // serde also takes a record as an array; these are the shortest valid records, and the
    // readers' bound assumes every entry takes at least 16 bytes of text with its comma.
    let legacy = r#"[["[::]:0","Gossip"],["[::]:1","Manual"]]"#;
    let got = read(legacy.as_bytes(), &ReadPolicy::plaintext(Some("r"))).expect("legacy");
    assert_eq!(got.file.entries.len(), 2);
    assert!(legacy.len() >= 16 * 2);
    let envelope = r#"{"knownpeers":1,"realm":"r","saved_at":1,"entries":[["[::]:0","Gossip",0]]}"#;
    let got = read(envelope.as_bytes(), &ReadPolicy::plaintext(Some("r"))).expect("envelope");
    assert_eq!(got.file.entries.len(), 1);
}

/// Entries of every shape the body bound must cover: the longest IPv4 and IPv6 addresses
/// (with a scope id), the longest node id, the most and longest capabilities.
fn large_entries() -> Vec<PeerEntry> {
    let mut entries = Vec::new();
    for i in 0..600u32 {
        let addr = match i % 3 {
            0 => format!("255.255.{}.{}:65535", i / 256, i % 256),
            1 => format!(
                "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:{:x}%4294967295]:65535",
                0x1000 + i
            ),
            _ => format!("10.0.{}.{}:1", i / 256, i % 256),
        };
        let mut e = entry(&addr, PeerSource::Connected, u64::MAX);
        e.node_id = Some("n".repeat(MAX_NODE_ID_LEN));
        if i % 2 == 0 {
            e.capabilities = (0..MAX_CAPABILITIES)
                .map(|c| format!("{c:0>width$}", width = MAX_CAPABILITY_LEN))
                .collect();
        }
        entries.push(e);
    }
    entries
}

fn the_sealed_writer_never_regrows_the_plaintext_buffer() {
    let codec = SealedCodec::with_key(Key::from_bytes([9; 32]));
    for entries in [
        large_entries(),
        vec![entry("192.0.2.1:1", PeerSource::Gossip, 0)],
    ] {
        let mut out = Vec::new();
        let region = Region::new(GLOBAL);
        codec
            .encode_into("realm", 1, &entries, &mut out)
            .expect("encode");
        let stats = region.change();
        // A realloc is the one way a grown buffer frees a copy of the plaintext body.
        assert_eq!(
            stats.reallocations,
            0,
            "{} entries: the sealed writer regrew a buffer ({} bytes written)",
            entries.len(),
            out.len()
        );
        let policy = ReadPolicy::sealed(Some("realm"), &codec, true);
        assert_eq!(
            read(&out, &policy).expect("reads back").file.entries,
            entries
        );
    }
}

/// The only test of this binary: no other test's end can allocate inside a counted region.
#[test]
fn allocations_are_bounded() {
    an_element_bomb_allocates_in_proportion_to_the_file();
    the_shortest_entries_fit_the_readers_preallocation_bound();
    the_sealed_writer_never_regrows_the_plaintext_buffer();
}
