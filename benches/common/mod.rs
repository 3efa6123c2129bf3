//! Seeded generator of realistic peer entries for the store benches (issue 6: mixed IPv4/IPv6,
//! ~70% with a node_id, ~half with capabilities). Used by `store.rs` (it can offset
//! addresses, for batches of fresh gossip); it measures nothing itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use knownpeers::{GossipPeer, PeerEntry, PeerSource};

/// The benches' fixed "now" (unix seconds); every generated entry is younger than a week.
pub const NOW: u64 = 1_700_000_000;

const CAPS: [&str; 4] = ["relay", "store", "bootstrap", "dht"];

/// Entry number `i` is unique by address for any `i < 2^32`, in both families.
fn address(rng: &mut fastrand::Rng, i: u64) -> SocketAddr {
    let port = rng.u16(1024..);
    if rng.u8(0..10) < 6 {
        SocketAddr::new(
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000u32.wrapping_add(i as u32))),
            port,
        )
    } else {
        let ip = Ipv6Addr::new(
            0x2001,
            0xdb8,
            rng.u16(..),
            0,
            0,
            0,
            (i >> 16) as u16,
            i as u16,
        );
        SocketAddr::new(IpAddr::V6(ip), port)
    }
}

/// `n` entries numbered from `first`, from `seed`.
pub fn entries(n: usize, first: u64, seed: u64) -> Vec<PeerEntry> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (first..first + n as u64)
        .map(|i| {
            let addr = address(&mut rng, i);
            let node_id = (rng.u8(0..10) < 7).then(|| {
                let mut id = String::with_capacity(64);
                for _ in 0..4 {
                    id.push_str(&format!("{:016x}", rng.u64(..)));
                }
                id
            });
            let capabilities = if rng.bool() {
                (0..rng.usize(1..=3)).map(|k| CAPS[k].to_string()).collect()
            } else {
                Vec::new()
            };
            let source = match rng.u8(0..100) {
                0..5 => PeerSource::Connected,
                5..20 => PeerSource::Bootstrap,
                _ => PeerSource::Gossip,
            };
            PeerEntry {
                addr,
                source,
                last_seen: NOW - rng.u64(0..6 * 86_400),
                node_id,
                capabilities,
            }
        })
        .collect()
}

/// The same entries as gossip claims.
pub fn gossip(entries: &[PeerEntry]) -> Vec<GossipPeer> {
    entries
        .iter()
        .map(|e| GossipPeer {
            addr: e.addr,
            node_id: e.node_id.clone(),
            capabilities: e.capabilities.clone(),
        })
        .collect()
}
