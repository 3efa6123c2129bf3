//! Times one encode and one decode of a large entry set in each codec (a quick look, not the
//! project's benchmark):
//! `cargo run --release -p knownpeers-codecs --example encode_speed [N [json|msgpack|sealed]]`.
//! Prints the fastest of five runs in milliseconds; asserts nothing.

use std::time::Instant;

use knownpeers_codecs::{Codec, JsonCodec, Key, MsgpackCodec, PeerEntry, PeerSource, SealedCodec};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let entries: Vec<PeerEntry> = (0..n)
        .map(|i| PeerEntry {
            addr: std::net::SocketAddr::from((
                [10, (i >> 16) as u8, (i >> 8) as u8, i as u8],
                7447,
            )),
            source: PeerSource::Gossip,
            last_seen: 1_764_000_000 + i as u64,
            node_id: (i % 2 == 0).then(|| format!("node-{i}")),
            capabilities: if i % 4 == 0 {
                vec!["relay".into()]
            } else {
                vec![]
            },
        })
        .collect();
    let sealed = SealedCodec::with_key(Key::from_bytes([9; 32]));
    let codecs: [&dyn Codec; 3] = [&JsonCodec, &MsgpackCodec, &sealed];
    let mut out = Vec::new();
    let only = std::env::args().nth(2);
    for codec in codecs {
        if only.as_deref().is_some_and(|o| o != codec.kind().as_str()) {
            continue;
        }
        // One warm-up so that `out` has its capacity, as a periodic saver's buffer would.
        codec
            .encode_into("bench", 1, &entries, &mut out)
            .expect("encode");
        // The fastest of five runs: the least disturbed by other processes.
        let mut enc = std::time::Duration::MAX;
        let mut dec = std::time::Duration::MAX;
        let mut back = None;
        for _ in 0..5 {
            let t = Instant::now();
            codec
                .encode_into("bench", 1, &entries, &mut out)
                .expect("encode");
            enc = enc.min(t.elapsed());
            let t = Instant::now();
            back = Some(codec.decode(&out, Some("bench")).expect("decode"));
            dec = dec.min(t.elapsed());
        }
        let back = back.expect("five runs");
        assert_eq!(back.entries.len(), n);
        println!(
            "{:?}: {} entries, {} bytes, encode {:.1} ms, decode {:.1} ms",
            codec.kind(),
            n,
            out.len(),
            enc.as_secs_f64() * 1e3,
            dec.as_secs_f64() * 1e3
        );
    }
}
