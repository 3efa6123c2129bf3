//! The one seeded generator of realistic peer entries for every bench: mixed IPv4/IPv6 addresses
//! (about 65/35), about 70% with a node id, about half with capabilities, sources weighted
//! towards Gossip, `last_seen` spread over the default TTL. [`entries`] draws random public
//! addresses; [`numbered`] gives entry `i` an address unique to `i`, for benches that need batch
//! after batch of addresses never seen before. It must stay deterministic for a seed (so every
//! run measures the same bytes) and must never emit two entries with one address (FORMAT.md
//! calls that a corrupt file).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use knownpeers::{GossipPeer, PeerEntry, PeerSource};

/// The benchmarks' "now" in unix seconds (fixed, so a clock at it never expires the entries).
pub const NOW: u64 = 1_764_000_000;

/// Capabilities an entry may advertise: a small vocabulary, as a real network has.
const CAPABILITIES: [&str; 6] = ["relay", "storage", "dht", "bootstrap", "nat-pmp", "ipv6"];

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, seedable, good enough to shape test data. Not a
/// cryptographic RNG and never used as one.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..bound` (`bound` > 0); the modulo bias is irrelevant for test data.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn addr(rng: &mut Rng) -> SocketAddr {
    let ip = if rng.chance(65) {
        // Public-looking unicast IPv4: first octet 1..=223, never 127.
        let mut first = 1 + rng.below(223) as u8;
        if first == 127 {
            first = 128;
        }
        let rest = rng.next_u64();
        IpAddr::V4(Ipv4Addr::new(
            first,
            rest as u8,
            (rest >> 8) as u8,
            (rest >> 16) as u8,
        ))
    } else {
        // Global unicast IPv6 (2000::/3) with full random interface ids, as SLAAC hosts have;
        // some addresses have a zero run, as provider prefixes often do.
        let a = rng.next_u64();
        let b = rng.next_u64();
        let zero_run = rng.chance(30);
        let seg = |x: u64, i: u32| (x >> (16 * i)) as u16;
        IpAddr::V6(Ipv6Addr::new(
            0x2000 | (seg(a, 0) & 0x0fff),
            seg(a, 1),
            if zero_run { 0 } else { seg(a, 2) },
            if zero_run { 0 } else { seg(a, 3) },
            seg(b, 0),
            seg(b, 1),
            seg(b, 2),
            seg(b, 3),
        ))
    };
    // Most nodes listen on the default port; the rest anywhere above 1023.
    let port = if rng.chance(60) {
        7447
    } else {
        1024 + rng.below(64_512) as u16
    };
    SocketAddr::new(ip, port)
}

fn node_id(rng: &mut Rng) -> String {
    // A UUID v4 in its 36-character text form.
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

fn capabilities(rng: &mut Rng) -> Vec<String> {
    if !rng.chance(50) {
        return Vec::new();
    }
    let count = 1 + rng.below(3) as usize;
    let start = rng.below(CAPABILITIES.len() as u64) as usize;
    (0..count)
        .map(|i| CAPABILITIES[(start + i) % CAPABILITIES.len()].to_string())
        .collect()
}

/// An entry at `addr` with realistic metadata drawn from `rng`.
fn entry(rng: &mut Rng, addr: SocketAddr) -> PeerEntry {
    let source = match rng.below(100) {
        0..=69 => PeerSource::Gossip,
        70..=89 => PeerSource::Connected,
        _ => PeerSource::Bootstrap,
    };
    let last_seen = NOW - rng.below(6 * 86_400);
    let node_id = rng.chance(70).then(|| node_id(rng));
    let capabilities = capabilities(rng);
    PeerEntry {
        addr,
        source,
        last_seen,
        node_id,
        capabilities,
    }
}

/// `n` distinct realistic entries for `seed`, none expired at [`NOW`] under the default TTL
/// (`last_seen` within the last six days).
pub fn entries(seed: u64, n: usize) -> Vec<PeerEntry> {
    let mut rng = Rng::new(seed);
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let addr = addr(&mut rng);
        if !seen.insert(addr) {
            continue;
        }
        out.push(entry(&mut rng, addr));
    }
    out
}

/// `n` realistic entries numbered from `first`: entry `i` has an address unique to `i` for any
/// `i < 2^32` (IPv4 `10.x.y.z` from `i`, or IPv6 `2001:db8:…` ending in `i`), so that batches
/// with disjoint numbers never share an address. Metadata as in [`entries`], from `seed`.
pub fn numbered(first: u64, n: usize, seed: u64) -> Vec<PeerEntry> {
    let mut rng = Rng::new(seed);
    (first..first + n as u64)
        .map(|i| {
            let port = 1024 + rng.below(64_512) as u16;
            let ip = if rng.chance(65) {
                IpAddr::V4(Ipv4Addr::from(0x0a00_0000u32.wrapping_add(i as u32)))
            } else {
                IpAddr::V6(Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    rng.next_u64() as u16,
                    0,
                    0,
                    0,
                    (i >> 16) as u16,
                    i as u16,
                ))
            };
            entry(&mut rng, SocketAddr::new(ip, port))
        })
        .collect()
}

/// The same entries as gossip claims (what a PeerList message carries).
pub fn as_gossip(entries: &[PeerEntry]) -> Vec<GossipPeer> {
    entries
        .iter()
        .map(|e| GossipPeer {
            addr: e.addr,
            node_id: e.node_id.clone(),
            capabilities: e.capabilities.clone(),
        })
        .collect()
}

/// The entries with every source set to `source`.
pub fn with_source(mut entries: Vec<PeerEntry>, source: PeerSource) -> Vec<PeerEntry> {
    for e in &mut entries {
        e.source = source;
    }
    entries
}
