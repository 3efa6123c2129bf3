//! The way back to TheNodes 0.4: `write_legacy` writes what TheNodes' own `PeerRecord` reader
//! accepts (a mirror of its struct, with its required `failures`), in TheNodes' order, and what
//! it writes reads back through the legacy reader as the same entries.

use std::net::SocketAddr;

use knownpeers_codecs::{read, write_legacy, ErrorKind, Format, PeerEntry, PeerSource, ReadPolicy};

/// TheNodes 0.4.0's `PeerSource`, as its `peer_store.rs` declares it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
enum TheNodesSource {
    Bootstrap,
    Handshake,
    Gossip,
    Manual,
}

/// TheNodes 0.4.0's `PeerRecord`, field for field (`failures` is required there).
#[derive(Debug, serde::Deserialize)]
struct TheNodesRecord {
    addr: SocketAddr,
    source: TheNodesSource,
    failures: u32,
    last_success_epoch: Option<u64>,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    capabilities: Option<Vec<String>>,
}

fn entry(addr: &str, source: PeerSource, last_seen: u64) -> PeerEntry {
    PeerEntry {
        addr: addr.parse().expect("test address"),
        source,
        last_seen,
        node_id: None,
        capabilities: vec![],
    }
}

fn sample() -> Vec<PeerEntry> {
    let mut connected = entry("127.0.0.1:7001", PeerSource::Connected, 1_764_000_100);
    connected.node_id = Some("node-a".to_string());
    connected.capabilities = vec!["relay".to_string(), "store".to_string()];
    vec![
        entry("[2001:db8::1]:7003", PeerSource::Gossip, 1_764_000_050),
        connected,
        entry("203.0.113.10:7447", PeerSource::Bootstrap, 1_764_000_000),
    ]
}

#[test]
fn thenodes_reads_what_it_writes_newest_first() {
    let bytes = write_legacy(&sample()).expect("write");
    let records: Vec<TheNodesRecord> = serde_json::from_slice(&bytes).expect("TheNodes parses it");
    let got: Vec<(String, TheNodesSource, u32, Option<u64>)> = records
        .iter()
        .map(|r| {
            (
                r.addr.to_string(),
                r.source,
                r.failures,
                r.last_success_epoch,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "127.0.0.1:7001".to_string(),
                TheNodesSource::Handshake,
                0,
                Some(1_764_000_100)
            ),
            (
                "[2001:db8::1]:7003".to_string(),
                TheNodesSource::Gossip,
                0,
                Some(1_764_000_050)
            ),
            (
                "203.0.113.10:7447".to_string(),
                TheNodesSource::Bootstrap,
                0,
                Some(1_764_000_000)
            ),
        ]
    );
    assert_eq!(records[0].node_id.as_deref(), Some("node-a"));
    assert_eq!(
        records[0].capabilities,
        Some(vec!["relay".to_string(), "store".to_string()])
    );
    // Absent metadata is omitted, as TheNodes' `skip_serializing_if` does.
    assert!(records[1].node_id.is_none() && records[1].capabilities.is_none());
    let text = std::str::from_utf8(&bytes).expect("utf-8");
    assert!(!text.contains("\"node_id\": null") && !text.contains("knownpeers"));
}

#[test]
fn reads_back_through_the_legacy_reader_unchanged() {
    let entries = sample();
    let bytes = write_legacy(&entries).expect("write");
    assert_eq!(
        knownpeers_codecs::detect(&bytes).expect("detect"),
        Format::Legacy
    );
    let decoded = read(&bytes, &ReadPolicy::plaintext(Some("mainnet"))).expect("read back");
    let mut got = decoded.file.entries;
    let mut want = entries;
    got.sort_by_key(|e| e.addr);
    want.sort_by_key(|e| e.addr);
    assert_eq!(got, want);
}

#[test]
fn an_empty_store_is_an_empty_array() {
    let bytes = write_legacy(&[]).expect("write");
    assert_eq!(bytes, b"[]\n");
}

#[test]
fn duplicate_addresses_and_oversize_metadata_are_refused() {
    let twice = vec![
        entry("127.0.0.1:7001", PeerSource::Gossip, 1),
        entry("127.0.0.1:7001", PeerSource::Connected, 2),
    ];
    let err = write_legacy(&twice).expect_err("duplicate");
    assert_eq!(err.kind(), ErrorKind::Other);
    let mut big = entry("127.0.0.1:7001", PeerSource::Gossip, 1);
    big.node_id = Some("x".repeat(256));
    let err = write_legacy(&[big]).expect_err("node_id over 255 bytes");
    assert_eq!(err.kind(), ErrorKind::LimitExceeded);
}
