//! `EntrySource::pieces` from the writer's side: a source handing kept pieces and runs of
//! entries, mixed, gives every codec and binary version the file the entry-by-entry writer
//! gives; a source whose pieces disagree with it is refused, never written. No timing.

mod common;

use std::sync::OnceLock;

use knownpeers_codecs::{
    read, Codec, EncodedPiece, EntrySource, Error, ErrorKind, FrameVersion, JsonCodec, Key,
    MsgpackCodec, PeerEntry, PeerSource, Piece, PieceEncoder, ReadPolicy, SealedCodec,
};

/// How a test source cuts its entries into pieces.
#[derive(Clone, Copy, PartialEq)]
enum Cut {
    /// Runs of 5, every other one kept (encoded by the writer's encoder on first use).
    Mixed,
    /// One entry missing from the last run.
    Short,
    /// The first run kept under another codec's encoding.
    ForeignKept,
}

struct Pieced {
    entries: Vec<PeerEntry>,
    kept: Vec<OnceLock<EncodedPiece>>,
    cut: Cut,
}

impl Pieced {
    fn new(entries: Vec<PeerEntry>, cut: Cut) -> Pieced {
        let runs = entries.len().div_ceil(5);
        Pieced {
            entries,
            kept: (0..runs).map(|_| OnceLock::new()).collect(),
            cut,
        }
    }
}

impl EntrySource for Pieced {
    fn len(&self) -> usize {
        self.entries.len()
    }
    fn entries(&self) -> Box<dyn Iterator<Item = &PeerEntry> + '_> {
        Box::new(self.entries.iter())
    }
    fn addrs_unique(&self) -> bool {
        true
    }
    fn pieces(&self, encoder: &PieceEncoder) -> Option<Result<Vec<Piece<'_>>, Error>> {
        let mut out = Vec::new();
        let runs: Vec<&[PeerEntry]> = self.entries.chunks(5).collect();
        let last = runs.len().saturating_sub(1);
        for (i, run) in runs.into_iter().enumerate() {
            let run = if self.cut == Cut::Short && i == last {
                &run[1..]
            } else {
                run
            };
            if i % 2 == 0 {
                let piece = if self.cut == Cut::ForeignKept && i == 0 {
                    // Kept by a save of the other binary version.
                    let other = Pieced::new(run.to_vec(), Cut::Mixed);
                    let _ = MsgpackCodec::with_frame_version(FrameVersion::V1)
                        .encode("r", 1, &other)
                        .expect("encodes");
                    other.kept[0].get().is_some().then(|| {
                        let p = other.kept.into_iter().next().expect("one run");
                        p.into_inner().expect("kept")
                    })
                } else {
                    None
                };
                let piece = match piece {
                    Some(p) => p,
                    None => match encoder.encode(run.iter()) {
                        Ok(p) => p,
                        Err(e) => return Some(Err(e)),
                    },
                };
                let _ = self.kept[i].set(piece);
                out.push(Piece::Kept(self.kept[i].get().expect("set above")));
            } else {
                out.push(Piece::Entries(run.iter().collect()));
            }
        }
        Some(Ok(out))
    }
}

fn entries(n: u16) -> Vec<PeerEntry> {
    (0..n)
        .map(|i| PeerEntry {
            addr: if i % 3 == 0 {
                format!("[2001:db8::{i:x}]:{}", 7000 + i)
            } else {
                format!("10.0.{}.{}:7447", i >> 8, i & 0xff)
            }
            .parse()
            .expect("an address"),
            source: [
                PeerSource::Gossip,
                PeerSource::Bootstrap,
                PeerSource::Connected,
            ][usize::from(i % 3)],
            last_seen: 1_764_000_000 - u64::from(i) * 977,
            node_id: (i % 2 == 0).then(|| format!("node \"{i}\"\n")),
            capabilities: (0..i % 3).map(|c| format!("cap{c}")).collect(),
        })
        .collect()
}

fn codecs() -> Vec<Box<dyn Codec>> {
    vec![
        Box::new(JsonCodec),
        Box::new(MsgpackCodec),
        Box::new(MsgpackCodec::with_frame_version(FrameVersion::V1)),
        Box::new(SealedCodec::with_key(Key::from_bytes([9; 32]))),
        Box::new(
            SealedCodec::with_key(Key::from_bytes([9; 32])).with_frame_version(FrameVersion::V1),
        ),
    ]
}

#[test]
fn kept_pieces_and_runs_write_what_entries_write() {
    for n in [0u16, 1, 4, 5, 6, 23, 300] {
        let list = entries(n);
        for codec in codecs() {
            // A fresh source per codec: its kept pieces are that codec's.
            let source = Pieced::new(list.clone(), Cut::Mixed);
            let plain = codec.encode("r", 5, &list).expect("encodes");
            for round in 0..2 {
                let pieced = codec.encode("r", 5, &source).expect("encodes");
                if codec.kind() == knownpeers_codecs::CodecKind::Sealed {
                    assert_eq!(pieced.len(), plain.len(), "{codec:?}, {n}, {round}");
                    let key = SealedCodec::with_key(Key::from_bytes([9; 32]));
                    let policy = ReadPolicy::sealed(Some("r"), &key, true);
                    let opened = read(&pieced, &policy).expect("opens");
                    assert_eq!(opened.file.entries, list, "{codec:?}, {n}, {round}");
                } else {
                    assert!(pieced == plain, "{codec:?}, {n} entries, round {round}");
                }
            }
        }
    }
}

#[test]
fn pieces_that_disagree_with_the_source_are_refused() {
    for codec in codecs() {
        let short = Pieced::new(entries(12), Cut::Short);
        let err = codec.encode("r", 5, &short).expect_err("one entry short");
        assert!(
            matches!(err, Error::InvalidInput { .. }),
            "{codec:?}: {err}"
        );
    }
    // A piece kept for version 1's body handed to a version-2 writer.
    let foreign = Pieced::new(entries(12), Cut::ForeignKept);
    let err = MsgpackCodec
        .encode("r", 5, &foreign)
        .expect_err("another encoding");
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
}

#[test]
fn a_piece_checks_entry_limits() {
    let mut list = entries(3);
    list[1].node_id = Some("x".repeat(256));
    let err = MsgpackCodec
        .encode("r", 5, &Pieced::new(list, Cut::Mixed))
        .expect_err("over the node_id limit");
    assert_eq!(err.kind(), ErrorKind::LimitExceeded);
}
