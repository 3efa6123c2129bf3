//! A reader accepts every MessagePack form of a valid body, not only the shortest ones our
//! writer produces: strings as fixstr/str8/str16/str32, integers in any width (signed ones
//! too, when non-negative), maps and arrays in their 16- and 32-bit forms, keys in any order,
//! and unknown keys of any type. Bodies are built here by hand from the MessagePack spec.

mod common;

use knownpeers_codecs::{read, PeerEntry, PeerSource, ReadPolicy};
use proptest::prelude::*;

/// How to write one value: `form` picks among the encodings that can hold it.
fn put_str(out: &mut Vec<u8>, s: &str, form: u8) {
    let n = s.len();
    match form % 4 {
        0 if n < 32 => out.push(0xa0 | n as u8),
        1 if n < 256 => out.extend_from_slice(&[0xd9, n as u8]),
        2 if n < 65_536 => {
            out.push(0xda);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdb);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
    out.extend_from_slice(s.as_bytes());
}

fn put_uint(out: &mut Vec<u8>, v: u64, form: u8) {
    match form % 8 {
        0 if v < 128 => out.push(v as u8),
        1 if v < 256 => out.extend_from_slice(&[0xcc, v as u8]),
        2 if v < 65_536 => {
            out.push(0xcd);
            out.extend_from_slice(&(v as u16).to_be_bytes());
        }
        3 if v < 1 << 32 => {
            out.push(0xce);
            out.extend_from_slice(&(v as u32).to_be_bytes());
        }
        4 if v < 128 => out.extend_from_slice(&[0xd0, v as u8]),
        5 if v < 1 << 15 => {
            out.push(0xd1);
            out.extend_from_slice(&(v as u16).to_be_bytes());
        }
        6 if v < 1 << 31 => {
            out.push(0xd2);
            out.extend_from_slice(&(v as u32).to_be_bytes());
        }
        7 if v < 1 << 63 => {
            out.push(0xd3);
            out.extend_from_slice(&v.to_be_bytes());
        }
        _ => {
            out.push(0xcf);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

/// An array (`map` = false) or map header.
fn put_len(out: &mut Vec<u8>, n: u32, map: bool, form: u8) {
    let (fix, m16) = if map { (0x80, 0xde) } else { (0x90, 0xdc) };
    match form % 3 {
        0 if n < 16 => out.push(fix | n as u8),
        1 if n < 65_536 => {
            out.push(m16);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(m16 + 1);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

/// Unknown values of several types, each a complete MessagePack value.
const UNKNOWN_VALUES: &[&[u8]] = &[
    &[0xc0],                               // nil
    &[0xc3],                               // true
    &[0xff],                               // negative fixint
    &[0xca, 0, 0, 0, 0],                   // float32
    &[0xcb, 0, 0, 0, 0, 0, 0, 0, 0],       // float64
    &[0xc4, 2, 1, 2],                      // bin8
    &[0xd4, 1, 9],                         // fixext1
    &[0xc7, 2, 5, 1, 2],                   // ext8
    &[0x92, 0x81, 0xa1, b'k', 0xc0, 0x90], // [ {"k": nil}, [] ]
    &[0xdc, 0, 1, 0xa0],                   // array16 [""]
];

fn source() -> impl Strategy<Value = PeerSource> {
    prop_oneof![
        Just(PeerSource::Gossip),
        Just(PeerSource::Bootstrap),
        Just(PeerSource::Connected)
    ]
}

/// One entry with how to write it: forms, key order, unknown fields.
#[derive(Debug, Clone)]
struct Written {
    entry: PeerEntry,
    forms: Vec<u8>,
    order: Vec<usize>,
    unknown: Vec<usize>,
    nil_optionals: bool,
}

fn written() -> impl Strategy<Value = Written> {
    (
        (any::<[u8; 4]>(), any::<u16>()),
        source(),
        any::<u64>(),
        proptest::option::of("[a-z0-9-]{0,40}"),
        proptest::collection::vec("[a-z]{0,12}", 0..4),
        proptest::collection::vec(any::<u8>(), 16),
        Just(vec![0usize, 1, 2, 3, 4]).prop_shuffle(),
        proptest::collection::vec(0..UNKNOWN_VALUES.len(), 0..3),
        any::<bool>(),
    )
        .prop_map(
            |((ip, port), source, last_seen, node_id, capabilities, forms, order, unknown, nil)| {
                Written {
                    entry: PeerEntry {
                        addr: (ip, port).into(),
                        source,
                        last_seen,
                        node_id,
                        capabilities,
                    },
                    forms,
                    order,
                    unknown,
                    nil_optionals: nil,
                }
            },
        )
}

fn write_entry(out: &mut Vec<u8>, w: &Written) {
    let e = &w.entry;
    let f = &w.forms;
    // Which of the five fields are written (absent optionals may be written as nil).
    let present = |i: usize| match i {
        3 => e.node_id.is_some() || w.nil_optionals,
        4 => !e.capabilities.is_empty() || w.nil_optionals,
        _ => true,
    };
    let fields = (0..5).filter(|&i| present(i)).count() + w.unknown.len();
    put_len(out, fields as u32, true, f[0]);
    for (n, &u) in w.unknown.iter().enumerate() {
        put_str(out, &format!("future_{n}"), f[1]);
        out.extend_from_slice(UNKNOWN_VALUES[u]);
    }
    for &i in w.order.iter().filter(|&&i| present(i)) {
        match i {
            0 => {
                put_str(out, "addr", f[2]);
                put_str(out, &e.addr.to_string(), f[3]);
            }
            1 => {
                put_str(out, "source", f[4]);
                put_str(out, e.source.as_str(), f[5]);
            }
            2 => {
                put_str(out, "last_seen", f[6]);
                put_uint(out, e.last_seen, f[7]);
            }
            3 => {
                put_str(out, "node_id", f[8]);
                match &e.node_id {
                    Some(id) => put_str(out, id, f[9]),
                    None => out.push(0xc0),
                }
            }
            _ => {
                put_str(out, "capabilities", f[10]);
                if e.capabilities.is_empty() && w.nil_optionals {
                    out.push(0xc0);
                } else {
                    put_len(out, e.capabilities.len() as u32, false, f[11]);
                    for c in &e.capabilities {
                        put_str(out, c, f[12]);
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_valid_encoding_of_a_body_reads(
        entries in proptest::collection::vec(written(), 0..8),
        array_form in any::<u8>(),
    ) {
        // Unique addresses, as a file requires.
        let mut seen = std::collections::HashSet::new();
        let entries: Vec<Written> =
            entries.into_iter().filter(|w| seen.insert(w.entry.addr)).collect();
        let mut body = Vec::new();
        put_len(&mut body, entries.len() as u32, false, array_form);
        for w in &entries {
            write_entry(&mut body, w);
        }
        let file = common::msgpack_frame("r", entries.len() as u32, &body);
        let decoded = read(&file, &ReadPolicy::plaintext(Some("r"))).expect("a valid body reads");
        let want: Vec<PeerEntry> = entries.into_iter().map(|w| w.entry).collect();
        prop_assert_eq!(decoded.file.entries, want);
    }
}
