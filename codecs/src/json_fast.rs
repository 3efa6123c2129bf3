//! The JSON reader's fast path: an envelope laid out byte for byte as this crate's writer lays
//! it out (key order, two-space indent, `\n` line ends, strings without escapes, plain
//! integers), read by matching those bytes literally instead of through serde's generic
//! visitors, which were most of a JSON load. It only ever succeeds: at the first byte it does
//! not expect (an escape, another key order, an extra or missing field, other whitespace, a
//! value over a limit, a duplicate address, a realm the caller refuses) it returns `None`, and
//! the caller reads the file through the serde path (`json::read_envelope`), which keeps every
//! behaviour for hand-edited files and makes every error. So this path must never accept a
//! file that the serde path rejects nor decode one differently (the property tests in
//! `json.rs` and the `json_envelope` fuzz target check both), and it must never allocate by a
//! count the file claims: every string is measured against its limit before it is copied.
//! A large entry list is read in parts on scoped threads ([`Split`]), cut where the writer
//! separates two entries, with exactly the one-thread result; any part giving up gives up.

use crate::addr::{self, MAX_ADDR_TEXT};
use crate::entry::{check_file_size, check_realm_len};
use crate::json::{strip_bom, DupCheck, EntryList, JsonHead};
use crate::{PeerEntry, PeerSource, MAX_CAPABILITIES, MAX_CAPABILITY_LEN, MAX_ENTRY_COUNT};
use crate::{MAX_NODE_ID_LEN, MAX_REALM_LEN};

/// The envelope's head up to the realm's text, as the writer puts it (`knownpeers` is 1).
const HEAD: &[u8; 52] = b"{\n  \"knownpeers\": 1,\n  \"codec\": \"json\",\n  \"realm\": \"";
const SAVED_AT: &[u8; 16] = b",\n  \"saved_at\": ";
const ENTRIES: &[u8; 16] = b",\n  \"entries\": [";
const EMPTY_TAIL: &[u8; 4] = b"]\n}\n";
const TAIL: &[u8; 7] = b"\n  ]\n}\n";
const ENTRY_OPEN: &[u8; 21] = b"    {\n      \"addr\": \"";
const SOURCE: &[u8; 19] = b",\n      \"source\": \"";
const LAST_SEEN: &[u8; 21] = b",\n      \"last_seen\": ";
const NODE_ID: &[u8; 20] = b",\n      \"node_id\": \"";
const CAPABILITIES: &[u8; 35] = b",\n      \"capabilities\": [\n        \"";
const NEXT_CAPABILITY: &[u8; 11] = b",\n        \"";
const CAPABILITIES_CLOSE: &[u8; 8] = b"\n      ]";
const ENTRY_CLOSE: &[u8; 6] = b"\n    }";

/// The envelope in `bytes` when it is laid out exactly as the writer lays it out and the
/// serde path would accept it with this result; `None` for anything else (see the module
/// docs). `check` is the caller's realm and policy check, run before the entries.
pub(crate) fn read(
    bytes: &[u8],
    check: &dyn Fn(&JsonHead) -> Result<(), crate::Error>,
    check_dups: bool,
) -> Option<(JsonHead, Vec<PeerEntry>)> {
    read_split(bytes, check, check_dups, Split::HOST)
}

/// [`read`] with the entry list split as `split` says (the tests and the fuzz target force
/// the split on small files).
pub(crate) fn read_split(
    bytes: &[u8],
    check: &dyn Fn(&JsonHead) -> Result<(), crate::Error>,
    check_dups: bool,
    split: Split,
) -> Option<(JsonHead, Vec<PeerEntry>)> {
    check_file_size(bytes.len() as u64).ok()?;
    let mut c = Cursor {
        b: strip_bom(bytes),
        at: 0,
    };
    c.lit(HEAD)?;
    let realm = std::str::from_utf8(c.string(MAX_REALM_LEN)?).ok()?;
    check_realm_len(realm).ok()?;
    c.lit(SAVED_AT)?;
    let saved_at = c.integer()?;
    c.lit(ENTRIES)?;
    let head = JsonHead {
        realm: realm.to_owned(),
        saved_at,
        entry_count: None,
    };
    check(&head).ok()?;
    // Duplicates are looked for once at the end, by sorting (any gives up).
    let dups = if check_dups {
        DupCheck::AtEnd
    } else {
        DupCheck::Off
    };
    if c.eat(EMPTY_TAIL) {
        return c
            .at_end()
            .then(|| finish(head, EntryList::new(0, dups)))
            .flatten();
    }
    c.lit(b"\n")?;
    let text = &c.b[c.at..];
    if let Some(parts) = split.parts(text.len()) {
        let parts = read_parts(text.strip_suffix(TAIL)?, parts)?;
        return finish(head, EntryList::joined(parts, dups).ok()?);
    }
    // As the serde path: what the bytes could typically hold (a written entry takes ~100-250
    // bytes), never a count the file claims.
    let capacity = (c.b.len() / 160).min(MAX_ENTRY_COUNT as usize);
    let mut list = EntryList::new(capacity, dups);
    loop {
        let entry = c.entry()?;
        list.push_with(|_| Ok(entry)).ok()?;
        if !c.eat(b",\n") {
            break;
        }
    }
    c.lit(TAIL)?;
    c.at_end().then(|| finish(head, list)).flatten()
}

/// When the fast path reads the entry list in parts on scoped threads, one part each: a
/// large file's list is most of a JSON load, and its entries read apart. The parts are cut
/// where the writer separates two entries ([`SEPARATOR`]), and the result is the one-thread
/// read's, bit for bit (see [`read_parts`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Split {
    /// Entry text (in bytes) below which one thread reads the list, as before the split.
    pub(crate) min_text: usize,
    /// How many parts at most; `None` for as many as the host's cores, at most [`MAX_PARTS`].
    pub(crate) parts: Option<usize>,
}

/// Entry text below which the list is read on one thread: 1 MiB is ~5 500 written entries,
/// a few milliseconds to read, against tens of microseconds to start a thread; the 1k and
/// 100k loads of the benches lie either side of it.
const MIN_PARALLEL_TEXT: usize = 1 << 20;
/// Most parts (threads) a list is read in: past this, the join and the duplicate check,
/// which stay on one thread, and memory bandwidth dominate.
const MAX_PARTS: usize = 4;

impl Split {
    /// What hosts get: parts above [`MIN_PARALLEL_TEXT`], as many as the cores (at most
    /// [`MAX_PARTS`]); one thread on a one-core host.
    pub(crate) const HOST: Split = Split {
        min_text: MIN_PARALLEL_TEXT,
        parts: None,
    };

    /// How many parts to read `text` bytes of entries in, when more than one. The cores are
    /// only asked about (a few system calls) for a list large enough to split.
    fn parts(self, text: usize) -> Option<usize> {
        if text < self.min_text {
            return None;
        }
        let parts = self.parts.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_PARTS))
        });
        (parts > 1).then_some(parts)
    }
}

/// What the writer puts between one entry's closing brace and the next entry's opening one.
/// It holds a raw newline, which no string on the fast path holds ([`Cursor::string`] gives
/// up on every byte below 0x20), and in the writer's layout a newline followed by four spaces
/// and a brace only opens an entry: so in a file the fast path reads, it occurs only between
/// entries.
const SEPARATOR: &[u8; 8] = b"},\n    {";

/// The entries of `text` (from the first entry's first byte to the last entry's last one),
/// read in at most `parts` parts on scoped threads and joined in file order; `None` when any
/// part gives up. The cuts are searched forward from even shares for [`SEPARATOR`], and each
/// part must read to its end exactly, entry after entry, as the one-thread loop would: so
/// when every part reads, the one-thread loop reads the same entries from the same bytes
/// (a cut found elsewhere than between entries makes a part give up, never read otherwise).
fn read_parts(text: &[u8], parts: usize) -> Option<Vec<Vec<PeerEntry>>> {
    let mut spans = Vec::with_capacity(parts);
    let mut start = 0;
    for k in 1..parts {
        let from = (text.len() / parts * k).max(start);
        let Some(at) = text
            .get(from..)
            .and_then(|rest| rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR))
        else {
            break;
        };
        // The part ends after the closing brace; the next starts at the opening one's line.
        let cut = from + at + 1;
        spans.push(start..cut);
        start = cut + 2;
    }
    spans.push(start..text.len());
    let mut spans = spans.into_iter();
    let first = spans.next()?;
    std::thread::scope(|scope| {
        // A part whose thread the system refuses to start is read here, after the first.
        let rest: Vec<_> = spans
            .map(|span| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, {
                        let span = span.clone();
                        move || read_part(&text[span])
                    })
                    .map_err(|_| span)
            })
            .collect();
        // This thread reads the first part meanwhile.
        let mut read = vec![read_part(&text[first])];
        read.extend(rest.into_iter().map(|part| match part {
            Ok(thread) => thread.join().ok().flatten(),
            Err(span) => read_part(&text[span]),
        }));
        read.into_iter().collect()
    })
}

/// One part of [`read_parts`]: entries separated by `,\n`, to the part's last byte. Its
/// vector's capacity is bounded by its bytes, as the one-thread list's (a written entry takes
/// ~100-250 bytes), never by a count the file claims; past [`MAX_ENTRY_COUNT`] it gives up.
fn read_part(text: &[u8]) -> Option<Vec<PeerEntry>> {
    let mut c = Cursor { b: text, at: 0 };
    let mut entries = Vec::with_capacity((text.len() / 160).min(MAX_ENTRY_COUNT as usize));
    loop {
        if entries.len() as u64 >= MAX_ENTRY_COUNT {
            return None;
        }
        entries.push(c.entry()?);
        if !c.eat(b",\n") {
            break;
        }
    }
    c.at_end().then_some(entries)
}

fn finish(head: JsonHead, list: EntryList) -> Option<(JsonHead, Vec<PeerEntry>)> {
    let entries = list.finish().ok()?;
    Some((
        JsonHead {
            entry_count: Some(entries.len() as u64),
            ..head
        },
        entries,
    ))
}

/// Which bytes end a string's text on the fast path: the closing quote (1), and what makes
/// the fast path give up (2): a backslash (an escape) and the control characters, which JSON
/// does not allow unescaped.
const STOP: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = 2;
        b += 1;
    }
    t[b'"' as usize] = 1;
    t[b'\\' as usize] = 2;
    t
};

/// A position in the text; every reader either moves past what it matched or gives up.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// Moves past `s` when the text continues with it. `s` is an array, so that the compare
    /// is inlined at its known length rather than a call to `memcmp`.
    #[inline]
    fn eat<const N: usize>(&mut self, s: &[u8; N]) -> bool {
        let found = self
            .b
            .get(self.at..)
            .and_then(|rest| rest.first_chunk::<N>())
            .is_some_and(|next| next == s);
        if found {
            self.at += N;
        }
        found
    }

    /// [`Cursor::eat`] that gives up when the text does not continue with `s`.
    #[inline]
    fn lit<const N: usize>(&mut self, s: &[u8; N]) -> Option<()> {
        self.eat(s).then_some(())
    }

    fn at_end(&self) -> bool {
        self.at == self.b.len()
    }

    /// The text of a string whose opening quote was matched, and moves past its closing quote.
    /// Gives up on an escape, a control character, or text longer than `max` bytes (the
    /// serde path refuses that with a limit error).
    #[inline]
    fn string(&mut self, max: usize) -> Option<&'a [u8]> {
        let start = self.at;
        let window = self.b.get(start..)?;
        let window = &window[..window.len().min(max + 1)];
        for (i, &b) in window.iter().enumerate() {
            match STOP[usize::from(b)] {
                0 => {}
                1 => {
                    self.at = start + i + 1;
                    return Some(&window[..i]);
                }
                _ => return None,
            }
        }
        None
    }

    /// [`Cursor::string`] as an owned `String` (valid UTF-8, as serde requires).
    #[inline]
    fn owned(&mut self, max: usize) -> Option<String> {
        let text = self.string(max)?;
        std::str::from_utf8(text).ok().map(str::to_owned)
    }

    /// An unsigned integer as serde_json reads one into a `u64`: digits without a leading zero
    /// (but `0` itself), within `u64`. Any fraction or exponent is left unread, and the next
    /// literal then fails to match.
    #[inline]
    fn integer(&mut self) -> Option<u64> {
        let digits = self.b.get(self.at..)?;
        let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 || (len > 1 && digits[0] == b'0') || len > 20 {
            return None;
        }
        let mut n: u64 = 0;
        if len < 20 {
            // At most 19 digits: below 10^19, within u64.
            for &d in &digits[..len] {
                n = n * 10 + u64::from(d - b'0');
            }
        } else {
            for &d in &digits[..len] {
                n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            }
        }
        self.at += len;
        Some(n)
    }

    /// One entry as the writer writes it, checked against the entry limits.
    fn entry(&mut self) -> Option<PeerEntry> {
        self.lit(ENTRY_OPEN)?;
        let addr = addr::parse(self.string(MAX_ADDR_TEXT)?)?;
        self.lit(SOURCE)?;
        let source = if self.eat(b"Gossip\"") {
            PeerSource::Gossip
        } else if self.eat(b"Connected\"") {
            PeerSource::Connected
        } else {
            self.lit(b"Bootstrap\"")?;
            PeerSource::Bootstrap
        };
        self.lit(LAST_SEEN)?;
        let last_seen = self.integer()?;
        let node_id = if self.eat(NODE_ID) {
            Some(self.owned(MAX_NODE_ID_LEN)?)
        } else {
            None
        };
        let mut capabilities = Vec::new();
        if self.eat(CAPABILITIES) {
            loop {
                if capabilities.len() == MAX_CAPABILITIES {
                    return None;
                }
                capabilities.push(self.owned(MAX_CAPABILITY_LEN)?);
                if !self.eat(NEXT_CAPABILITY) {
                    break;
                }
            }
            self.lit(CAPABILITIES_CLOSE)?;
        }
        self.lit(ENTRY_CLOSE)?;
        Some(PeerEntry {
            addr,
            source,
            last_seen,
            node_id,
            capabilities,
        })
    }
}

/// The two paths side by side, for the tests here and the `json_envelope` fuzz target: the
/// fast path alone (`None` when it gives up) and the serde path alone, both with the realm
/// check of [`crate::JsonCodec`]'s `decode`.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn both_paths(
    bytes: &[u8],
    realm: Option<&str>,
) -> (
    Option<crate::PeerFile>,
    Result<crate::PeerFile, crate::Error>,
) {
    let check = |head: &JsonHead| crate::check::realm(&head.realm, realm);
    let file = |(head, entries): (JsonHead, Vec<PeerEntry>)| crate::PeerFile {
        realm: head.realm,
        saved_at: head.saved_at,
        entries,
    };
    (
        read(bytes, &check, true).map(file),
        crate::json::read_envelope_serde(bytes, &check, true).map(file),
    )
}

/// The fast path alone with its entry list split in `parts` parts however small the file (as
/// [`both_paths`]'s fast path when `parts` is 1): it must give what the one-thread read gives.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn split_path(
    bytes: &[u8],
    realm: Option<&str>,
    parts: usize,
) -> Option<crate::PeerFile> {
    let check = |head: &JsonHead| crate::check::realm(&head.realm, realm);
    let split = Split {
        min_text: 0,
        parts: Some(parts),
    };
    read_split(bytes, &check, true, split).map(|(head, entries)| crate::PeerFile {
        realm: head.realm,
        saved_at: head.saved_at,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::tests::{entry, text, unique};
    use crate::{Codec, Error, ErrorKind, JsonCodec, PeerFile};
    use proptest::prelude::*;

    /// Asserts what the module docs promise for `bytes`: when the fast path accepts, the
    /// serde path accepts with the same file; and the reader (fast path first) gives exactly
    /// the serde path's result, errors included. Returns whether the fast path accepted.
    fn agree(bytes: &[u8], realm: Option<&str>) -> Result<bool, TestCaseError> {
        let (fast, serde) = both_paths(bytes, realm);
        let accepted = fast.is_some();
        // The list read in parts (cut at entry boundaries, on threads) is the one-thread read.
        for parts in [2, 3, 5] {
            prop_assert_eq!(&split_path(bytes, realm, parts), &fast, "{} parts", parts);
        }
        if let Some(fast) = fast {
            match &serde {
                Ok(serde) => prop_assert_eq!(&fast, serde),
                Err(e) => prop_assert!(false, "the fast path accepted what serde refuses: {e}"),
            }
        }
        let check = |h: &JsonHead| crate::check::realm(&h.realm, realm);
        let combined = crate::json::read_envelope(bytes, &check, true);
        match (combined, serde) {
            (Ok((head, entries)), Ok(serde)) => {
                prop_assert_eq!(
                    PeerFile {
                        realm: head.realm,
                        saved_at: head.saved_at,
                        entries,
                    },
                    serde
                );
            }
            (Err(a), Err(b)) => {
                prop_assert_eq!(a.kind(), b.kind());
                prop_assert_eq!(a.to_string(), b.to_string());
            }
            (a, b) => prop_assert!(false, "the paths disagree: {:?} vs {:?}", a, b),
        }
        Ok(accepted)
    }

    /// Text the writer writes without an escape: what the fast path must take.
    fn plain(max: usize) -> impl Strategy<Value = String> {
        text(max).prop_map(|s| {
            s.chars()
                .filter(|&c| c >= ' ' && c != '"' && c != '\\')
                .collect()
        })
    }

    fn plain_entry() -> impl Strategy<Value = PeerEntry> {
        (
            entry(),
            prop::option::of(plain(64)),
            prop::collection::vec(plain(16), 0..4),
        )
            .prop_map(|(e, node_id, capabilities)| PeerEntry {
                node_id,
                capabilities,
                ..e
            })
    }

    fn needs_escape(s: &str) -> bool {
        s.bytes().any(|b| STOP[usize::from(b)] != 0)
    }

    /// A file the writer wrote, changed in up to four places: a byte replaced, inserted or
    /// removed (random or one JSON cares about), a span copied elsewhere (a repeated entry,
    /// field or key), or the tail cut.
    fn mutated() -> impl Strategy<Value = (Vec<u8>, String)> {
        let file = (
            plain(12).prop_filter("a realm is not empty", |r| !r.is_empty()),
            any::<u64>(),
            prop::collection::vec(plain_entry(), 0..5),
        )
            .prop_map(|(realm, saved_at, entries)| {
                let bytes = JsonCodec
                    .encode(&realm, saved_at, &unique(entries))
                    .expect("encodes");
                (bytes, realm)
            });
        let special =
            prop::sample::select(b"\\\"\n\r\t {}[],:0129-+.eE\x00\x7f\xc3\xff/u".to_vec());
        let edit = prop_oneof![
            (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| (0u8, i, i, b)),
            (any::<prop::sample::Index>(), special.clone()).prop_map(|(i, b)| (0, i, i, b)),
            (any::<prop::sample::Index>(), special).prop_map(|(i, b)| (1, i, i, b)),
            any::<prop::sample::Index>().prop_map(|i| (2, i, i, 0)),
            (
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
                1u8..120
            )
                .prop_map(|(i, j, n)| (3, i, j, n)),
            any::<prop::sample::Index>().prop_map(|i| (4, i, i, 0)),
        ];
        (file, prop::collection::vec(edit, 1..5)).prop_map(|((mut bytes, realm), edits)| {
            for (kind, i, j, b) in edits {
                if bytes.is_empty() {
                    break;
                }
                let at = i.index(bytes.len());
                match kind {
                    0 => bytes[at] = b,
                    1 => bytes.insert(at, b),
                    2 => {
                        bytes.remove(at);
                    }
                    3 => {
                        let end = (at + usize::from(b)).min(bytes.len());
                        let span = bytes[at..end].to_vec();
                        let to = j.index(bytes.len());
                        bytes.splice(to..to, span);
                    }
                    _ => bytes.truncate(at),
                }
            }
            (bytes, realm)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn takes_what_the_writer_writes_and_agrees(
            realm in text(24).prop_filter("a realm is not empty", |r| !r.is_empty()),
            saved_at in any::<u64>(),
            entries in prop::collection::vec(
                prop_oneof![3 => plain_entry(), 1 => entry()],
                0..8,
            ),
        ) {
            let entries = unique(entries);
            let bytes = JsonCodec.encode(&realm, saved_at, &entries).expect("encodes");
            let escaped = needs_escape(&realm)
                || entries.iter().any(|e| {
                    e.node_id.as_deref().is_some_and(needs_escape)
                        || e.capabilities.iter().any(|c| needs_escape(c))
                });
            let taken = agree(&bytes, Some(&realm))?;
            // Every file the writer writes without an escape is read by the fast path.
            prop_assert_eq!(taken, !escaped);
            // With a BOM, with no expected realm, and with another realm.
            let mut bom = crate::json::UTF8_BOM.to_vec();
            bom.extend_from_slice(&bytes);
            prop_assert_eq!(agree(&bom, None)?, !escaped);
            prop_assert!(!agree(&bytes, Some("another realm"))?);
        }

        #[test]
        fn the_sorted_duplicate_check_finds_what_the_set_finds(
            entries in prop::collection::vec(entry(), 0..12),
            repeat in prop::collection::vec(
                (any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u32>()),
                0..3,
            ),
        ) {
            // Some entries take another's address, some with another flow info (not stored,
            // so still the same peer).
            let mut entries = entries;
            for (from, to, flow) in repeat {
                if entries.is_empty() {
                    break;
                }
                let mut addr = entries[from.index(entries.len())].addr;
                if let std::net::SocketAddr::V6(a) = &mut addr {
                    a.set_flowinfo(flow);
                }
                let at = to.index(entries.len());
                entries[at].addr = addr;
            }
            let mut set = crate::entry::UniqueAddrs::new(crate::entry::Side::Read, 0);
            let set_finds = entries
                .iter()
                .enumerate()
                .any(|(i, e)| set.insert(e.addr, i).is_err());
            prop_assert_eq!(crate::entry::has_duplicate_addr(&entries), set_finds);
        }

        #[test]
        fn a_changed_file_is_given_up_or_read_alike((bytes, realm) in mutated()) {
            agree(&bytes, Some(&realm))?;
            agree(&bytes, None)?;
        }
    }

    fn one_entry(fields: &str) -> Vec<u8> {
        format!(
            "{{\n  \"knownpeers\": 1,\n  \"codec\": \"json\",\n  \"realm\": \"r\",\n  \"saved_at\": 5,\n  \"entries\": [\n    {{\n      \"addr\": \"192.0.2.1:7\",\n      \"source\": \"Gossip\",\n      \"last_seen\": {fields}\n    }}\n  ]\n}}\n"
        )
        .into_bytes()
    }

    /// The serde path's error for `bytes`, after checking that the fast path gave up.
    fn given_up(bytes: &[u8]) -> Error {
        let (fast, serde) = both_paths(bytes, Some("r"));
        assert!(fast.is_none(), "{}", String::from_utf8_lossy(bytes));
        serde.expect_err("refused")
    }

    #[test]
    fn gives_up_at_each_limit_and_leaves_the_error_to_serde() {
        let ok = one_entry("3");
        assert!(both_paths(&ok, Some("r")).0.is_some());
        let id = |n: usize| one_entry(&format!("3,\n      \"node_id\": \"{}\"", "x".repeat(n)));
        assert!(both_paths(&id(MAX_NODE_ID_LEN), Some("r")).0.is_some());
        assert_eq!(
            given_up(&id(MAX_NODE_ID_LEN + 1)).kind(),
            ErrorKind::LimitExceeded
        );
        let caps = |n: usize, len: usize| {
            let list = vec![format!("\"{}\"", "c".repeat(len)); n].join(",\n        ");
            one_entry(&format!(
                "3,\n      \"capabilities\": [\n        {list}\n      ]"
            ))
        };
        assert!(
            both_paths(&caps(MAX_CAPABILITIES, MAX_CAPABILITY_LEN), Some("r"))
                .0
                .is_some()
        );
        assert_eq!(
            given_up(&caps(MAX_CAPABILITIES + 1, 1)).kind(),
            ErrorKind::LimitExceeded
        );
        assert_eq!(
            given_up(&caps(1, MAX_CAPABILITY_LEN + 1)).kind(),
            ErrorKind::LimitExceeded
        );
        // Numbers serde refuses or reads otherwise: a leading zero, past u64, a fraction.
        for bad in ["03", "18446744073709551616", "3.0", "-3", "3e2"] {
            assert_eq!(
                given_up(&one_entry(bad)).kind(),
                ErrorKind::Corrupt,
                "{bad}"
            );
        }
        assert!(both_paths(&one_entry("18446744073709551615"), Some("r"))
            .0
            .is_some());
        // A repeated address, and a realm the caller refuses.
        let text = String::from_utf8(ok.clone()).expect("ASCII");
        let start = text.find("    {").expect("an entry");
        let end = text.find("\n  ]").expect("the end");
        let twice = format!("{},\n{}", &text[..end], &text[start..]);
        assert_eq!(given_up(twice.as_bytes()).kind(), ErrorKind::Corrupt);
        let (fast, serde) = both_paths(&ok, Some("other"));
        assert!(fast.is_none());
        assert!(matches!(serde, Err(Error::RealmMismatch { .. })));
        // An escape in a string, other whitespace, an unknown field: serde reads them alike.
        for (from, to) in [
            ("\"Gossip\"", "\"Gos\\u0073ip\""),
            ("\n  ]", "\r\n  ]"),
            (
                "\"last_seen\": 3",
                "\"last_seen\": 3,\n      \"failures\": 0",
            ),
        ] {
            let changed = text.replacen(from, to, 1);
            let (fast, serde) = both_paths(changed.as_bytes(), Some("r"));
            assert!(fast.is_none(), "{changed}");
            assert_eq!(serde.expect("serde reads it").entries.len(), 1);
        }
    }

    /// A written file of `n` entries, each with a node id, the `k`th's being `kth_id`.
    fn written(n: usize, k: usize, kth_id: &str) -> Vec<u8> {
        let entries: Vec<PeerEntry> = (0..n)
            .map(|i| PeerEntry {
                addr: std::net::SocketAddr::from(([192, 0, 2, (i % 250) as u8], 7000 + i as u16)),
                source: PeerSource::Gossip,
                last_seen: i as u64,
                node_id: Some(if i == k {
                    kth_id.to_owned()
                } else {
                    format!("n{i}")
                }),
                capabilities: vec!["relay".to_owned(); i % 3],
            })
            .collect();
        JsonCodec.encode("r", 5, &entries).expect("encodes")
    }

    /// The entry list of a written file: from the first entry's first byte to the last's last.
    fn entry_text(file: &str) -> &str {
        let start = file.find("    {").expect("an entry");
        &file[start..file.rfind("\n  ]\n}\n").expect("the tail")]
    }

    #[test]
    fn a_written_list_splits_between_entries_and_joins_in_order() {
        let bytes = written(40, 0, "n0");
        let one = both_paths(&bytes, Some("r"))
            .0
            .expect("the fast path reads it");
        let text = String::from_utf8(bytes.clone()).expect("ASCII");
        let list = entry_text(&text);
        for parts in 1..=MAX_PARTS + 2 {
            let read = read_parts(list.as_bytes(), parts).expect("every part reads");
            // Cut as asked: the shares are entries apart, so each cut finds a separator.
            assert_eq!(read.len(), parts);
            assert!(read.iter().all(|part| !part.is_empty()));
            assert_eq!(read.concat(), one.entries);
            assert_eq!(split_path(&bytes, Some("r"), parts).as_ref(), Some(&one));
        }
        // The host's split: one thread below the threshold.
        assert_eq!(Split::HOST.parts(MIN_PARALLEL_TEXT - 1), None);
    }

    #[test]
    fn separator_bytes_inside_a_string_give_up_or_read_alike() {
        // Raw, the newline is a control character: the fast path gives up on it wherever the
        // cuts fall (one may fall inside the string), and serde refuses it.
        let raw = "},\n    {\n      \"addr\": \"192.0.2.9:1";
        let plain = written(12, 6, "x");
        let text = String::from_utf8(plain).expect("ASCII");
        let bytes = text
            .replacen("\"x\"", &format!("\"{raw}\""), 1)
            .into_bytes();
        for parts in 1..=8 {
            assert_eq!(split_path(&bytes, Some("r"), parts), None, "{parts} parts");
        }
        assert_eq!(given_up(&bytes).kind(), ErrorKind::Corrupt);
        // Written (the newline escaped), the fast path gives up and serde reads it.
        let bytes = written(12, 6, raw);
        for parts in 1..=8 {
            assert_eq!(split_path(&bytes, Some("r"), parts), None, "{parts} parts");
        }
        let (_, serde) = both_paths(&bytes, Some("r"));
        assert_eq!(
            serde.expect("serde reads it").entries[6].node_id.as_deref(),
            Some(raw)
        );
        // Without the newline it is plain text, which every split reads alike.
        let bytes = written(12, 6, "},    {");
        let one = both_paths(&bytes, Some("r"))
            .0
            .expect("the fast path reads it");
        for parts in 2..=8 {
            assert_eq!(split_path(&bytes, Some("r"), parts).as_ref(), Some(&one));
        }
    }

    #[test]
    fn a_part_that_gives_up_gives_the_file_to_serde() {
        // The last entry has an escape: the last part gives up, the others read.
        let bytes = written(30, 29, "quote\"d");
        let text = String::from_utf8(bytes.clone()).expect("ASCII");
        let list = entry_text(&text);
        assert_eq!(read_parts(list.as_bytes(), 3), None);
        assert_eq!(
            read_parts(&list.as_bytes()[..list.find(",\n    {").expect("two")], 1).map(|p| p.len()),
            Some(1)
        );
        for parts in 1..=4 {
            assert_eq!(split_path(&bytes, Some("r"), parts), None);
        }
        let (_, serde) = both_paths(&bytes, Some("r"));
        assert_eq!(serde.expect("serde reads it").entries.len(), 30);
        // A bad number in the first part, and a repeated address across two parts.
        let bad = text.replacen("\"last_seen\": 1,", "\"last_seen\": 01,", 1);
        let twice = text.replacen("192.0.2.29:7029", "192.0.2.0:7000", 1);
        for changed in [bad, twice] {
            for parts in 1..=4 {
                assert_eq!(split_path(changed.as_bytes(), Some("r"), parts), None);
            }
            assert_eq!(given_up(changed.as_bytes()).kind(), ErrorKind::Corrupt);
        }
    }

    #[test]
    fn a_joined_list_keeps_each_duplicate_check_and_the_order() {
        let e = |i: u8| PeerEntry {
            addr: std::net::SocketAddr::from(([192, 0, 2, i], 7)),
            source: PeerSource::Gossip,
            last_seen: 0,
            node_id: None,
            capabilities: Vec::new(),
        };
        let apart = || vec![vec![e(1), e(2)], vec![e(3)], vec![e(4)]];
        let twice = || vec![vec![e(1), e(2)], vec![e(3), e(1)]];
        for dups in [DupCheck::EachEntry, DupCheck::AtEnd, DupCheck::Off] {
            let list = EntryList::joined(apart(), dups).and_then(EntryList::finish);
            assert_eq!(list.expect("no duplicate"), vec![e(1), e(2), e(3), e(4)]);
            let list = EntryList::joined(twice(), dups).and_then(EntryList::finish);
            assert_eq!(list.is_err(), dups != DupCheck::Off);
        }
    }
}
