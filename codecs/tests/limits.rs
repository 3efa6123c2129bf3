//! FORMAT.md's limits on both sides: a writer refuses input a reader would reject (so it never
//! writes such a file), and a reader refuses a file over a limit, with the error class the
//! limit calls for, before allocating for it. Reader cases use hand-built MessagePack bodies.

mod common;

use common::{entry, msgpack_frame, msgpack_frame_v, SAVED_AT};
use knownpeers_codecs::{
    read, Codec, Error, ErrorKind, FrameVersion, JsonCodec, Key, MsgpackCodec, PeerEntry,
    PeerSource, ReadPolicy, SealedCodec,
};

fn codecs() -> Vec<Box<dyn Codec>> {
    let sealed = || SealedCodec::with_key(Key::from_bytes([3; 32]));
    vec![
        Box::new(JsonCodec),
        Box::new(MsgpackCodec),
        Box::new(MsgpackCodec::with_frame_version(FrameVersion::V1)),
        Box::new(sealed()),
        Box::new(sealed().with_frame_version(FrameVersion::V1)),
    ]
}

fn with(f: impl FnOnce(&mut PeerEntry)) -> Vec<PeerEntry> {
    let mut e = entry("192.0.2.1:1", PeerSource::Gossip, 1);
    f(&mut e);
    vec![e]
}

/// Every codec encodes `entries` as `realm` with the outcome `want`.
fn check_write(realm: &str, entries: Vec<PeerEntry>, want: Result<(), ErrorKind>) {
    for codec in codecs() {
        let mut out = b"stale".to_vec();
        let got = codec.encode_into(realm, SAVED_AT, &entries, &mut out);
        assert_eq!(got.map_err(|e| e.kind()), want, "{:?}", codec.kind());
        if want.is_err() {
            assert!(out.is_empty(), "a failed encode leaves nothing behind");
        } else {
            let back = codec
                .decode(&out, Some(realm))
                .expect("what was written reads");
            assert_eq!(back.entries, entries);
        }
    }
}

#[test]
fn writers_check_every_limit() {
    use ErrorKind::*;
    let s = |n: usize| "x".repeat(n);
    check_write("r", with(|_| {}), Ok(()));
    check_write(&s(255), with(|_| {}), Ok(()));
    check_write("", with(|_| {}), Err(LimitExceeded));
    check_write(&s(256), with(|_| {}), Err(LimitExceeded));
    check_write("r", with(|e| e.node_id = Some(s(255))), Ok(()));
    check_write("r", with(|e| e.node_id = Some(s(256))), Err(LimitExceeded));
    // Multi-byte characters count in bytes: 128 two-byte characters are 256 bytes.
    check_write(
        "r",
        with(|e| e.node_id = Some("é".repeat(128))),
        Err(LimitExceeded),
    );
    check_write("r", with(|e| e.capabilities = vec![s(64); 32]), Ok(()));
    check_write(
        "r",
        with(|e| e.capabilities = vec![s(1); 33]),
        Err(LimitExceeded),
    );
    check_write(
        "r",
        with(|e| e.capabilities = vec![s(65)]),
        Err(LimitExceeded),
    );
    check_write("r", with(|e| e.node_id = Some(String::new())), Ok(()));
    check_write("r", Vec::new(), Ok(()));
    let mut twice = with(|_| {});
    twice.push(twice[0].clone());
    check_write("r", twice, Err(Other));
    // Two IPv6 addresses that differ only in flow info print alike, so a file would hold one
    // address twice: refused too.
    let flow = |flowinfo| {
        let addr = std::net::SocketAddrV6::new(std::net::Ipv6Addr::LOCALHOST, 7, flowinfo, 0);
        PeerEntry {
            addr: addr.into(),
            ..entry("192.0.2.1:1", PeerSource::Gossip, 1)
        }
    };
    check_write("r", vec![flow(0), flow(1)], Err(Other));
}

/// A source that claims more entries than it yields.
struct Liar(Vec<PeerEntry>);

impl knownpeers_codecs::EntrySource for Liar {
    fn len(&self) -> usize {
        self.0.len() + 1
    }
    fn entries(&self) -> Box<dyn Iterator<Item = &PeerEntry> + '_> {
        Box::new(self.0.iter())
    }
}

#[test]
fn writers_refuse_a_source_whose_length_lies() {
    for codec in codecs() {
        let err = codec.encode("r", 1, &Liar(with(|_| {}))).expect_err("liar");
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    }
}

/// Appends the MessagePack string `s`.
fn str(out: &mut Vec<u8>, s: &str) {
    rmp::encode::write_str(out, s).expect("vec");
}

/// A body of one map with the standard fields plus `extra` raw key/value bytes (`extra_fields`
/// pairs of them).
fn body_with(extra_fields: u32, extra: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    rmp::encode::write_array_len(&mut b, 1).expect("vec");
    rmp::encode::write_map_len(&mut b, 3 + extra_fields).expect("vec");
    str(&mut b, "addr");
    str(&mut b, "192.0.2.1:1");
    str(&mut b, "source");
    str(&mut b, "Gossip");
    str(&mut b, "last_seen");
    rmp::encode::write_uint(&mut b, 5).expect("vec");
    b.extend_from_slice(extra);
    b
}

fn field(key: &str, value: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = Vec::new();
    str(&mut b, key);
    value(&mut b);
    b
}

/// Reads a msgpack frame around `body` declaring `count` entries.
fn check_read(count: u32, body: &[u8], want: Result<usize, ErrorKind>) {
    let file = msgpack_frame("r", count, body);
    let got = read(&file, &ReadPolicy::plaintext(Some("r")));
    assert_eq!(
        got.map(|d| d.file.entries.len()).map_err(|e| e.kind()),
        want,
        "{body:02x?}"
    );
}

#[test]
fn readers_check_every_limit_and_field() {
    use ErrorKind::*;
    let s = |n: usize| "x".repeat(n);
    check_read(1, &body_with(0, &[]), Ok(1));
    // Unknown fields of any shape are skipped.
    let nested = field("future", |b| {
        rmp::encode::write_array_len(b, 2).expect("vec");
        rmp::encode::write_map_len(b, 1).expect("vec");
        str(b, "k");
        rmp::encode::write_nil(b).expect("vec");
        rmp::encode::write_f64(b, 1.5).expect("vec");
    });
    check_read(1, &body_with(1, &nested), Ok(1));
    let bin = field("blob", |b| {
        rmp::encode::write_bin(b, &[1, 2, 3]).expect("vec")
    });
    check_read(1, &body_with(1, &bin), Ok(1));
    // Optional fields: nil is absent.
    let nil_id = field("node_id", |b| rmp::encode::write_nil(b).expect("vec"));
    check_read(1, &body_with(1, &nil_id), Ok(1));
    let nil_caps = field("capabilities", |b| rmp::encode::write_nil(b).expect("vec"));
    check_read(1, &body_with(1, &nil_caps), Ok(1));
    // Field limits.
    let long_id = field("node_id", |b| str(b, &s(256)));
    check_read(1, &body_with(1, &long_id), Err(LimitExceeded));
    let many_caps = field("capabilities", |b| {
        rmp::encode::write_array_len(b, 33).expect("vec");
        for _ in 0..33 {
            str(b, "c");
        }
    });
    check_read(1, &body_with(1, &many_caps), Err(LimitExceeded));
    let long_cap = field("capabilities", |b| {
        rmp::encode::write_array_len(b, 1).expect("vec");
        str(b, &s(65));
    });
    check_read(1, &body_with(1, &long_cap), Err(LimitExceeded));
    // A capability count over the limit is the limit it breaks, whatever the bytes left (issue
    // #10 finding 9: it read as corrupt), and never an allocation.
    let lying_caps = field("capabilities", |b| {
        rmp::encode::write_array_len(b, u32::MAX).expect("vec");
    });
    check_read(1, &body_with(1, &lying_caps), Err(LimitExceeded));
    // A count within the limit but beyond the bytes present is corrupt (truncated).
    let short_caps = field("capabilities", |b| {
        rmp::encode::write_array_len(b, 20).expect("vec");
        str(b, "x");
    });
    check_read(1, &body_with(1, &short_caps), Err(Corrupt));
    // Malformed fields.
    let dup = field("addr", |b| str(b, "192.0.2.2:1"));
    check_read(1, &body_with(1, &dup), Err(Corrupt));
    let neg = field("last_seen", |b| {
        rmp::encode::write_sint(b, -1).expect("vec");
    });
    check_read(1, &body_with(1, &neg), Err(Corrupt));
    let id_int = field("node_id", |b| {
        rmp::encode::write_uint(b, 7).expect("vec");
    });
    check_read(1, &body_with(1, &id_int), Err(Corrupt));
    // The count must match; trailing bytes are corrupt.
    check_read(2, &body_with(0, &[]), Err(Corrupt));
    check_read(0, &body_with(0, &[]), Err(Corrupt));
    let mut trailing = body_with(0, &[]);
    trailing.push(0xc0);
    check_read(1, &trailing, Err(Corrupt));
    // An entry_count over the limit is refused from the header, before any body work.
    check_read(10_000_001, &body_with(0, &[]), Err(LimitExceeded));
    // Nesting deeper than the skip limit is refused, not recursed into.
    let deep = field("deep", |b| {
        for _ in 0..10_000 {
            rmp::encode::write_array_len(b, 1).expect("vec");
        }
        rmp::encode::write_nil(b).expect("vec");
    });
    check_read(1, &body_with(1, &deep), Err(Corrupt));
}

#[test]
fn a_duplicate_address_in_a_body_is_corrupt() {
    let mut b = Vec::new();
    rmp::encode::write_array_len(&mut b, 2).expect("vec");
    for _ in 0..2 {
        rmp::encode::write_map_len(&mut b, 3).expect("vec");
        str(&mut b, "addr");
        str(&mut b, "[2001:db8::1]:7");
        str(&mut b, "source");
        str(&mut b, "Connected");
        str(&mut b, "last_seen");
        rmp::encode::write_uint(&mut b, u64::MAX).expect("vec");
    }
    check_read(2, &b, Err(ErrorKind::Corrupt));
}

#[test]
fn readers_refuse_an_empty_realm() {
    let mut file = msgpack_frame("r", 1, &body_with(0, &[]));
    // An empty realm, with a valid CRC: the header is intact, the realm is out of bounds.
    file.remove(13);
    file[12] = 0;
    common::fix_header_crc(&mut file);
    let err = read(&file, &ReadPolicy::plaintext(None)).expect_err("empty realm");
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
}

/// A version-2 body of one entry array: `fields` elements announced, then `elements` (raw).
fn compact_with(fields: u32, elements: &[u8]) -> Vec<u8> {
    let mut b = vec![0x91];
    rmp::encode::write_array_len(&mut b, fields).expect("vec");
    b.extend_from_slice(elements);
    b
}

/// The five elements of a valid IPv4 entry, with `node_id` and `capabilities` given raw.
fn five(addr: &[u8], source: &[u8], id: &[u8], caps: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    rmp::encode::write_bin(&mut b, addr).expect("vec");
    b.extend_from_slice(source);
    b.push(0x05); // last_seen
    b.extend_from_slice(id);
    b.extend_from_slice(caps);
    b
}

const V4: [u8; 6] = [192, 0, 2, 1, 0, 1];

/// Reads a version-2 msgpack frame around `body` declaring `count` entries.
fn check_read_v2(count: u32, body: &[u8], want: Result<usize, ErrorKind>) {
    let file = msgpack_frame_v(2, "r", count, body);
    let got = read(&file, &ReadPolicy::plaintext(Some("r")));
    assert_eq!(
        got.map(|d| d.file.entries.len()).map_err(|e| e.kind()),
        want,
        "{body:02x?}"
    );
}

#[test]
fn v2_readers_check_every_limit_and_element() {
    use ErrorKind::*;
    let s = |n: usize| "x".repeat(n);
    let text = |t: &str| {
        let mut b = Vec::new();
        str(&mut b, t);
        b
    };
    let nil = [0xc0];
    let no_caps = [0x90];
    let ok = five(&V4, &[0x01], &nil, &no_caps);
    check_read_v2(1, &compact_with(5, &ok), Ok(1));
    // The smallest entry is 13 bytes: a count the body's length cannot hold is corrupt before
    // anything is allocated, even a count far beyond it.
    assert_eq!(compact_with(5, &ok).len(), 1 + 13);
    check_read_v2(2, &compact_with(5, &ok), Err(Corrupt));
    check_read_v2(10_000_000, &compact_with(5, &ok), Err(Corrupt));
    // Extra elements are skipped, however they nest up to the depth limit; deeper is corrupt.
    let mut extra = ok.clone();
    extra.extend_from_slice(&[0x91; 32]);
    extra.push(0x90);
    check_read_v2(1, &compact_with(6, &extra), Ok(1));
    let mut deep = ok.clone();
    deep.extend_from_slice(&[0x91; 33]);
    deep.push(0x90);
    check_read_v2(1, &compact_with(6, &deep), Err(Corrupt));
    // Fewer than five elements.
    check_read_v2(1, &compact_with(4, &ok[..ok.len() - 1]), Err(Corrupt));
    // addr: only bin of 6, 18 or 22 bytes; a str is corrupt.
    check_read_v2(
        1,
        &compact_with(5, &five(&[1; 16], &[1], &nil, &no_caps)),
        Err(Corrupt),
    );
    check_read_v2(
        1,
        &compact_with(5, &five(&[1; 18], &[1], &nil, &no_caps)),
        Ok(1),
    );
    check_read_v2(
        1,
        &compact_with(5, &five(&[1; 22], &[1], &nil, &no_caps)),
        Ok(1),
    );
    let mut str_addr = text("192.0.2.1:1");
    str_addr.extend_from_slice(&ok[8..]);
    check_read_v2(1, &compact_with(5, &str_addr), Err(Corrupt));
    // source: 0..=2 in any integer encoding; 3, negative or a name is corrupt.
    for source in [
        &[0x02][..],
        &[0xcc, 0x02],
        &[0xd0, 0x01],
        &[0xcf, 0, 0, 0, 0, 0, 0, 0, 0],
    ] {
        check_read_v2(
            1,
            &compact_with(5, &five(&V4, source, &nil, &no_caps)),
            Ok(1),
        );
    }
    for source in [&[0x03][..], &[0xff], &[0xc0], &text("Gossip")[..]] {
        check_read_v2(
            1,
            &compact_with(5, &five(&V4, source, &nil, &no_caps)),
            Err(Corrupt),
        );
    }
    // node_id: nil or str of at most 255 bytes; an empty string is present and empty.
    check_read_v2(
        1,
        &compact_with(5, &five(&V4, &[1], &text(""), &no_caps)),
        Ok(1),
    );
    check_read_v2(
        1,
        &compact_with(5, &five(&V4, &[1], &text(&s(255)), &no_caps)),
        Ok(1),
    );
    check_read_v2(
        1,
        &compact_with(5, &five(&V4, &[1], &text(&s(256)), &no_caps)),
        Err(LimitExceeded),
    );
    check_read_v2(
        1,
        &compact_with(5, &five(&V4, &[1], &[0x07], &no_caps)),
        Err(Corrupt),
    );
    // capabilities: an array of at most 32 strings of at most 64 bytes; nil is corrupt.
    let caps = |n: u32, len: usize| {
        let mut b = Vec::new();
        rmp::encode::write_array_len(&mut b, n).expect("vec");
        for _ in 0..n {
            str(&mut b, &s(len));
        }
        b
    };
    check_read_v2(
        1,
        &compact_with(5, &five(&V4, &[1], &nil, &caps(32, 64))),
        Ok(1),
    );
    check_read_v2(
        1,
        &compact_with(5, &five(&V4, &[1], &nil, &caps(33, 1))),
        Err(LimitExceeded),
    );
    check_read_v2(
        1,
        &compact_with(5, &five(&V4, &[1], &nil, &caps(1, 65))),
        Err(LimitExceeded),
    );
    check_read_v2(
        1,
        &compact_with(5, &five(&V4, &[1], &nil, &nil)),
        Err(Corrupt),
    );
    let mut lying = Vec::new();
    rmp::encode::write_array_len(&mut lying, u32::MAX).expect("vec");
    check_read_v2(
        1,
        &compact_with(5, &five(&V4, &[1], &nil, &lying)),
        Err(Corrupt),
    );
    // A 22-byte address with scope id 0 is its 18-byte form's address: a duplicate of it.
    let mut v6 = [0u8; 22];
    v6[15] = 1;
    let mut two = vec![0x92];
    for len in [18, 22] {
        two.push(0x95);
        two.extend_from_slice(&five(&v6[..len], &[1], &nil, &no_caps));
    }
    check_read_v2(2, &two, Err(Corrupt));
    // Bytes after the last entry.
    let mut trailing = compact_with(5, &ok);
    trailing.push(0xc0);
    check_read_v2(1, &trailing, Err(Corrupt));
}
