//! Writes one file per codec (and the key file) into a directory, for an independent reader to
//! check: `cargo run -p knownpeers-codecs --example write_samples DIR` then
//! `tools/fmtcheck/check_samples.sh DIR`. The passphrase file uses the writer minimum.

use std::path::PathBuf;

use knownpeers_codecs::{
    Codec, JsonCodec, KdfParams, Key, MsgpackCodec, PeerEntry, PeerSource, SealedCodec,
    SecretString,
};

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: write_samples DIR"));
    std::fs::create_dir_all(&dir).expect("create the directory");
    let entries = vec![
        PeerEntry {
            addr: "203.0.113.10:7447".parse().expect("addr"),
            source: PeerSource::Gossip,
            last_seen: 1_763_996_400,
            node_id: Some("nœud-ü \"quoted\" \\ tab\t".into()),
            capabilities: vec!["relay".into(), "x".repeat(64)],
        },
        PeerEntry {
            addr: "[fe80::1%3]:9000".parse().expect("addr"),
            source: PeerSource::Connected,
            last_seen: u64::MAX,
            node_id: Some("n".repeat(255)),
            capabilities: vec![],
        },
        PeerEntry {
            addr: "[::ffff:192.0.2.1]:1".parse().expect("addr"),
            source: PeerSource::Bootstrap,
            last_seen: 0,
            node_id: None,
            capabilities: (0..32).map(|i| format!("cap-{i}")).collect(),
        },
    ];
    let realm = "sample-réalm";
    let key_path = dir.join("sample.key");
    let _ = std::fs::remove_file(&key_path);
    let key = Key::generate().expect("random key");
    knownpeers_keys::write_key_file(&key_path, &key).expect("key file");
    let min = KdfParams {
        m_cost_kib: KdfParams::WRITER_MIN_M_KIB,
        t_cost: KdfParams::WRITER_MIN_T,
        p_cost: 1,
    };
    let pass = SealedCodec::with_passphrase(SecretString::from("sample passphrase"), min)
        .expect("passphrase codec");
    let files: [(&str, &dyn Codec); 4] = [
        ("sample.json", &JsonCodec),
        ("sample-msgpack.kp", &MsgpackCodec),
        ("sample-sealed-key.kp", &SealedCodec::with_key(key)),
        ("sample-sealed-pass.kp", &pass),
    ];
    for (name, codec) in files {
        let bytes = codec
            .encode(realm, 1_764_000_000, &entries)
            .expect("encode");
        std::fs::write(dir.join(name), bytes).expect("write");
        println!("{}", dir.join(name).display());
    }
}
