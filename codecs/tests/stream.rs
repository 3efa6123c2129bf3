//! The STREAM sealing of binary frame version 2, against an independent sealer written here
//! from FORMAT.md's section alone (BLAKE2b `file_key`, ChaCha20-Poly1305 per chunk, 11-byte
//! counter and final flag, the header as associated data): a file it seals the normal way
//! reads; chunks reordered, a dropped final chunk, a chunk after the final one, an empty final
//! chunk after full ones, or another chunk size are corrupt. And a multi-chunk file of our own
//! writer: every truncation and bit flip around every chunk boundary is an error, on both read
//! paths.

mod common;

use blake2::digest::consts::U32;
use blake2::digest::{KeyInit as _, Mac as _};
use chacha20poly1305::aead::AeadInPlace as _;
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use common::SAVED_AT;
use knownpeers_codecs::{
    read, read_owned, Codec, Error, ErrorKind, Key, MsgpackCodec, PeerEntry, PeerSource,
    ReadPolicy, SealedCodec,
};

const REALM: &str = "r1";
const MASTER: [u8; 32] = [0x42; 32];
const FILE_NONCE: [u8; 24] = [7; 24];
const CHUNK: usize = 65_536;

fn blake2b(key: &[u8; 32], personal: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = blake2::Blake2bMac::<U32>::new_with_salt_and_personal(key, &[], personal)
        .expect("valid BLAKE2b parameters");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// One chunk as the test seals it: its plaintext, the counter and the final flag in its nonce.
#[derive(Clone, Copy)]
struct Chunk<'a> {
    plain: &'a [u8],
    counter: u64,
    last: bool,
}

/// A version-2 sealed file (key-file kdf) around `chunks`, sealed in the order given, with a
/// header whose `body_len` matches what is written. Built from FORMAT.md's tables.
fn seal_v2(entry_count: u32, chunks: &[Chunk<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&[0x89, 0x4B, 0x4E, 0x50, 0x0D, 0x0A, 0x1A, 0x0A]);
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&[2, 0, REALM.len() as u8]);
    out.extend_from_slice(REALM.as_bytes());
    out.extend_from_slice(&SAVED_AT.to_le_bytes());
    out.extend_from_slice(&entry_count.to_le_bytes());
    out.push(0); // kdf: key file
    out.extend_from_slice(&[0; 12]); // m, t, p
    out.extend_from_slice(&[0; 16]); // salt
    out.extend_from_slice(&FILE_NONCE);
    out.extend_from_slice(&blake2b(&MASTER, b"knownpeers.kcv1", &FILE_NONCE));
    let body_len: usize = chunks.iter().map(|c| c.plain.len() + 16).sum();
    out.extend_from_slice(&(body_len as u64).to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    let header = out.clone();
    let file_key = blake2b(&MASTER, b"knownpeers.str2", &FILE_NONCE);
    let cipher = ChaCha20Poly1305::new((&file_key).into());
    for c in chunks {
        let mut nonce = [0u8; 12];
        nonce[3..11].copy_from_slice(&c.counter.to_be_bytes());
        nonce[11] = u8::from(c.last);
        let mut buf = c.plain.to_vec();
        let tag = cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &header, &mut buf)
            .expect("a chunk seals");
        out.extend_from_slice(&buf);
        out.extend_from_slice(&tag);
    }
    out
}

/// `plain` cut as FORMAT.md says: 64 KiB chunks, the last one holding the rest.
fn chunks_of(plain: &[u8]) -> Vec<Chunk<'_>> {
    let pieces: Vec<&[u8]> = if plain.is_empty() {
        vec![plain]
    } else {
        plain.chunks(CHUNK).collect()
    };
    let n = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, plain)| Chunk {
            plain,
            counter: i as u64,
            last: i + 1 == n,
        })
        .collect()
}

/// Enough distinct entries for a compact body of a little over three chunks.
fn many_entries() -> Vec<PeerEntry> {
    (0..6000u32)
        .map(|i| PeerEntry {
            addr: std::net::SocketAddr::from(([10, 1, (i >> 8) as u8, i as u8], 7447)),
            source: PeerSource::Gossip,
            last_seen: SAVED_AT - u64::from(i),
            node_id: Some(format!("node-{i:08}")),
            capabilities: vec!["relay".into(), format!("c{}", i % 7)],
        })
        .collect()
}

/// The compact (version-2) body of `entries`, taken from a msgpack file.
fn compact_body(entries: &[PeerEntry]) -> Vec<u8> {
    let file = MsgpackCodec
        .encode(REALM, SAVED_AT, &entries.to_vec())
        .expect("encode");
    let h = 25 + REALM.len() + 12;
    file[h..file.len() - 4].to_vec()
}

fn codec() -> SealedCodec {
    SealedCodec::with_key(Key::from_bytes(MASTER))
}

/// Reads `file` through both read paths, which must agree.
fn read_both(file: &[u8]) -> Result<Vec<PeerEntry>, Error> {
    let codec = codec();
    let policy = ReadPolicy::sealed(Some(REALM), &codec, true);
    let borrowed = read(file, &policy).map(|d| d.file.entries);
    let owned = read_owned(file.to_vec(), &policy).map(|d| d.file.entries);
    assert_eq!(
        borrowed.as_ref().map_err(Error::kind),
        owned.as_ref().map_err(Error::kind),
        "read and read_owned agree"
    );
    borrowed
}

fn corrupt(file: &[u8], what: &str) -> String {
    let err = read_both(file).expect_err(what);
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{what}: {err}");
    err.to_string()
}

#[test]
fn the_independent_sealer_and_our_reader_agree() {
    let entries = many_entries();
    let body = compact_body(&entries);
    assert!(body.len() > 3 * CHUNK && body.len() < 4 * CHUNK);
    let file = seal_v2(6000, &chunks_of(&body));
    assert_eq!(read_both(&file).expect("reads"), entries);
    // One chunk, and the empty body's one empty chunk.
    let small = &entries[..3];
    assert_eq!(
        read_both(&seal_v2(3, &chunks_of(&compact_body(small)))).expect("reads"),
        small
    );
    let empty = compact_body(&[]);
    assert!(read_both(&seal_v2(0, &chunks_of(&empty)))
        .expect("reads")
        .is_empty());
    // And our writer's file of the same entries has exactly the independent one's length.
    let ours = codec().encode(REALM, SAVED_AT, &entries).expect("encode");
    assert_eq!(ours.len(), file.len());
}

#[test]
fn a_body_of_exactly_full_chunks_ends_with_a_full_final_chunk() {
    // node_ids of 32 to 255 bytes all take a str8 header, so growing one by k bytes grows the
    // body by exactly k: grow them until the body is exactly two chunks long.
    let mut entries = many_entries();
    entries.truncate(2000);
    for e in entries.iter_mut() {
        let id = e.node_id.as_mut().expect("every entry has one");
        *id = format!("{id:-<32}");
    }
    let mut missing = 2 * CHUNK - compact_body(&entries).len();
    for e in entries.iter_mut() {
        let id = e.node_id.as_mut().expect("every entry has one");
        let grow = missing.min(255 - id.len());
        id.push_str(&"x".repeat(grow));
        missing -= grow;
    }
    assert_eq!(missing, 0);
    let body = compact_body(&entries);
    assert_eq!(body.len(), 2 * CHUNK);
    let file = codec().encode(REALM, SAVED_AT, &entries).expect("encode");
    assert_eq!(read_both(&file).expect("reads"), entries);
    assert_eq!(file.len(), 25 + REALM.len() + 85 + 12 + 2 * (CHUNK + 16));
    assert_eq!(
        read_both(&seal_v2(2000, &chunks_of(&body))).expect("reads"),
        entries
    );
    // The same plaintext with an empty final chunk after two full not-last ones is corrupt.
    let mut chunks = chunks_of(&body);
    chunks.iter_mut().for_each(|c| c.last = false);
    chunks.push(Chunk {
        plain: &[],
        counter: 2,
        last: true,
    });
    corrupt(
        &seal_v2(2000, &chunks),
        "an empty final chunk after full ones",
    );
}

#[test]
fn reordered_dropped_and_appended_chunks_are_corrupt() {
    let entries = many_entries();
    let body = compact_body(&entries);
    let normal = chunks_of(&body);
    let n = normal.len();

    let mut swapped: Vec<Chunk<'_>> = normal.clone();
    swapped.swap(0, 1);
    corrupt(&seal_v2(6000, &swapped), "chunks 0 and 1 swapped");

    // Each chunk sealed under its place's nonce but holding another's plaintext authenticates,
    // so only the body parser can catch it: still corrupt.
    let mut moved: Vec<Chunk<'_>> = normal.clone();
    let (a, b) = (moved[0].plain, moved[1].plain);
    moved[0].plain = b;
    moved[1].plain = a;
    corrupt(&seal_v2(6000, &moved), "chunk plaintexts exchanged");

    let dropped: Vec<Chunk<'_>> = normal[..n - 1].to_vec();
    let msg = corrupt(&seal_v2(6000, &dropped), "final chunk dropped");
    assert!(msg.contains("not the last"), "{msg}");

    let mut appended: Vec<Chunk<'_>> = normal.clone();
    for last in [false, true] {
        appended.push(Chunk {
            plain: b"\xc0",
            counter: n as u64,
            last,
        });
        corrupt(&seal_v2(6000, &appended), "a chunk after the final one");
        appended.pop();
    }

    // The final chunk sealed again as not-last, and a middle chunk sealed as last.
    let mut unflagged: Vec<Chunk<'_>> = normal.clone();
    unflagged[n - 1].last = false;
    corrupt(&seal_v2(6000, &unflagged), "no chunk sealed as last");
    let mut early: Vec<Chunk<'_>> = normal.clone();
    early[1].last = true;
    let msg = corrupt(&seal_v2(6000, &early), "a middle chunk sealed as last");
    assert!(msg.contains("data follows"), "{msg}");

    // Another chunk size (a writer cutting 32 KiB chunks) does not open.
    let halves: Vec<&[u8]> = body.chunks(CHUNK / 2).collect();
    let k = halves.len();
    let small: Vec<Chunk<'_>> = halves
        .into_iter()
        .enumerate()
        .map(|(i, plain)| Chunk {
            plain,
            counter: i as u64,
            last: i + 1 == k,
        })
        .collect();
    corrupt(&seal_v2(6000, &small), "32 KiB chunks");
}

#[test]
fn every_damage_around_every_chunk_boundary_of_our_file_is_an_error() {
    let entries = many_entries();
    let file = codec().encode(REALM, SAVED_AT, &entries).expect("encode");
    assert_eq!(read_both(&file).expect("reads"), entries);
    let h = 25 + REALM.len() + 85 + 12;
    let sealed_chunk = CHUNK + 16;
    let chunks = (file.len() - h).div_ceil(sealed_chunk);
    assert_eq!(chunks, 4);
    // Every boundary: the body's start, each chunk's end (tag end) and the file's end.
    let mut boundaries: Vec<usize> = (0..=chunks)
        .map(|i| (h + i * sealed_chunk).min(file.len()))
        .collect();
    boundaries.dedup();
    for &at in &boundaries {
        for len in at.saturating_sub(20)..=(at + 20).min(file.len() - 1) {
            let err = read_both(&file[..len]).expect_err("a truncation");
            assert_eq!(err.kind(), ErrorKind::Corrupt, "truncated to {len}: {err}");
        }
        // The last bytes of a chunk's ciphertext, its tag, the next chunk's first bytes; the
        // lowest and the highest bit of each (every bit of every byte is the small files' test,
        // in corruption.rs: here each flip costs a parse of up to 200 KB in a debug build).
        let near = [17, 16, 15, 1, 0]
            .iter()
            .filter_map(|d| at.checked_sub(*d))
            .chain([at + 1, at + 15])
            .filter(|b| *b < file.len());
        for byte in near {
            for bit in [0, 7] {
                let mut damaged = file.clone();
                damaged[byte] ^= 1 << bit;
                let err = read_both(&damaged).expect_err("a bit flip");
                assert!(
                    matches!(err.kind(), ErrorKind::Corrupt | ErrorKind::Unsupported),
                    "byte {byte} bit {bit}: {err}"
                );
            }
        }
    }
}
