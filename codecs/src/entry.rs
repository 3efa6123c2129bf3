//! The logical entry every codec stores (FORMAT.md "The entry"), its limits, and the checks a
//! writer and a reader share (limits, unique addresses). Knows no byte layout and no codec.

use std::collections::HashSet;
use std::net::SocketAddr;

use crate::piece::{Piece, PieceEncoder};
use crate::{Error, MAX_CAPABILITIES, MAX_CAPABILITY_LEN, MAX_ENTRY_COUNT, MAX_NODE_ID_LEN};
use crate::{MAX_FILE_SIZE, MAX_REALM_LEN};

/// How a peer became known. Ranks `Gossip < Bootstrap < Connected` (the derived `Ord`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum PeerSource {
    /// Heard in another peer's PeerList: untrusted.
    Gossip,
    /// Seeded from configuration.
    Bootstrap,
    /// A successful connect and handshake.
    Connected,
}

impl PeerSource {
    /// The name a file stores (`Gossip`, `Bootstrap`, `Connected`).
    pub fn as_str(self) -> &'static str {
        match self {
            PeerSource::Gossip => "Gossip",
            PeerSource::Bootstrap => "Bootstrap",
            PeerSource::Connected => "Connected",
        }
    }

    /// The source a file names, spelled exactly as [`PeerSource::as_str`] does.
    pub(crate) fn from_name(name: &str) -> Option<PeerSource> {
        PeerSource::from_name_bytes(name.as_bytes())
    }

    /// [`PeerSource::from_name`] of bytes not yet checked to be UTF-8 (any match is ASCII).
    pub(crate) fn from_name_bytes(name: &[u8]) -> Option<PeerSource> {
        match name {
            b"Gossip" => Some(PeerSource::Gossip),
            b"Bootstrap" => Some(PeerSource::Bootstrap),
            b"Connected" => Some(PeerSource::Connected),
            _ => None,
        }
    }
}

/// `addr` as a file stores it: an IPv6 address loses its flow info, which no codec writes (the
/// scope id stays). Two addresses with the same stored form are one peer, and a writer refuses
/// a second entry for it, so whatever keeps entries for saving (the store) keys them by this.
pub fn stored_addr(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(mut a) if a.flowinfo() != 0 => {
            a.set_flowinfo(0);
            SocketAddr::V6(a)
        }
        other => other,
    }
}

/// One remembered peer, exactly the metadata a file holds.
///
/// An IPv6 address keeps its scope id (`[fe80::1%3]:7447`) but not its flow info, because a
/// file stores the address as Rust's `SocketAddr` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PeerEntry {
    /// The peer's socket address.
    pub addr: SocketAddr,
    /// How it became known.
    pub source: PeerSource,
    /// Unix seconds of the last observation.
    pub last_seen: u64,
    /// The node id its handshake gave, at most 255 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Capabilities, at most 32 of at most 64 bytes each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
}

impl PeerEntry {
    /// Checks the entry limits of FORMAT.md (node_id, capabilities).
    #[inline]
    pub fn check_limits(&self) -> Result<(), Error> {
        // One pass of length comparisons in the common case; the error is built out of line.
        let id_ok = self
            .node_id
            .as_ref()
            .is_none_or(|id| id.len() <= MAX_NODE_ID_LEN);
        if id_ok
            && self.capabilities.len() <= MAX_CAPABILITIES
            && self
                .capabilities
                .iter()
                .all(|c| c.len() <= MAX_CAPABILITY_LEN)
        {
            return Ok(());
        }
        self.limit_error()
    }

    #[cold]
    fn limit_error(&self) -> Result<(), Error> {
        if let Some(id) = &self.node_id {
            check_node_id_len(id.len())?;
        }
        check_capability_count(self.capabilities.len())?;
        for cap in &self.capabilities {
            check_capability_len(cap.len())?;
        }
        Ok(())
    }
}

pub(crate) fn check_node_id_len(len: usize) -> Result<(), Error> {
    if len > MAX_NODE_ID_LEN {
        return Err(Error::limit(format!(
            "a node_id of {len} bytes is over {MAX_NODE_ID_LEN}"
        )));
    }
    Ok(())
}

pub(crate) fn check_capability_count(count: usize) -> Result<(), Error> {
    if count > MAX_CAPABILITIES {
        return Err(Error::limit(format!(
            "{count} capabilities in one entry is over {MAX_CAPABILITIES}"
        )));
    }
    Ok(())
}

pub(crate) fn check_capability_len(len: usize) -> Result<(), Error> {
    if len > MAX_CAPABILITY_LEN {
        return Err(Error::limit(format!(
            "a capability of {len} bytes is over {MAX_CAPABILITY_LEN}"
        )));
    }
    Ok(())
}

/// Realm length 1..=255 bytes, for writers and readers alike.
pub(crate) fn check_realm_len(realm: &str) -> Result<(), Error> {
    if realm.is_empty() || realm.len() > MAX_REALM_LEN {
        return Err(Error::limit(format!(
            "a realm of {} bytes is not within 1..={MAX_REALM_LEN}",
            realm.len()
        )));
    }
    Ok(())
}

/// At most [`MAX_ENTRY_COUNT`] entries in one file.
pub(crate) fn check_entry_count(count: u64) -> Result<(), Error> {
    if count > MAX_ENTRY_COUNT {
        return Err(Error::limit(format!(
            "{count} entries is over {MAX_ENTRY_COUNT}"
        )));
    }
    Ok(())
}

/// At most [`MAX_FILE_SIZE`] bytes in one file.
pub(crate) fn check_file_size(len: u64) -> Result<(), Error> {
    if len > MAX_FILE_SIZE {
        return Err(Error::limit(format!(
            "a file of {len} bytes is over {MAX_FILE_SIZE} bytes"
        )));
    }
    Ok(())
}

/// Whose side a [`UniqueAddrs`] check is on: a duplicate is a writer's caller's mistake but a
/// reader's corrupt file.
#[derive(Clone, Copy)]
pub(crate) enum Side {
    Write,
    Read,
}

/// Tracks the addresses seen so far in one file, so that no file holds one address twice.
///
/// Addresses are keyed by what a file stores (the printed form): IP, port and, for IPv6, the
/// scope id, but not the flow info, which is not stored. IPv4 keys are packed into a u64 so
/// that a million of them fit in 8 MB rather than 32: this set's cache misses were most of an
/// encode's time.
pub(crate) struct UniqueAddrs {
    // foldhash's quality hasher with a per-process random seed: several times faster than
    // SipHash here, and still seeded, so a hostile file cannot aim for collisions.
    v4: HashSet<u64, foldhash::quality::RandomState>,
    v6: HashSet<(u128, u16, u32), foldhash::quality::RandomState>,
    side: Side,
}

impl UniqueAddrs {
    /// `capacity` must already be bounded by the caller (never a count read from a file
    /// without checking it against the bytes that are there).
    pub(crate) fn new(side: Side, capacity: usize) -> UniqueAddrs {
        UniqueAddrs {
            v4: HashSet::with_capacity_and_hasher(capacity, Default::default()),
            v6: HashSet::default(),
            side,
        }
    }

    /// A set sized exactly for `entries` (IPv4 and IPv6 apart), so that neither table grows
    /// (a growing table briefly holds its old and new allocation at once).
    pub(crate) fn for_entries(side: Side, entries: &[PeerEntry]) -> UniqueAddrs {
        let v6 = entries.iter().filter(|e| e.addr.is_ipv6()).count();
        UniqueAddrs {
            v4: HashSet::with_capacity_and_hasher(entries.len() - v6, Default::default()),
            v6: HashSet::with_capacity_and_hasher(v6, Default::default()),
            side,
        }
    }

    /// Records `addr`, failing when it was already recorded. `index` names the entry in the
    /// error (never the address: it is peer data).
    pub(crate) fn insert(&mut self, addr: SocketAddr, index: usize) -> Result<(), Error> {
        let new = match addr {
            SocketAddr::V4(a) => self
                .v4
                .insert((u64::from(a.ip().to_bits()) << 16) | u64::from(a.port())),
            SocketAddr::V6(a) => self.v6.insert((a.ip().to_bits(), a.port(), a.scope_id())),
        };
        if new {
            return Ok(());
        }
        Err(match self.side {
            Side::Write => Error::InvalidInput {
                what: repeat_what(index),
            },
            Side::Read => duplicate_address(index),
        })
    }
}

fn repeat_what(index: usize) -> String {
    format!("entry {index} repeats the address of an earlier entry")
}

/// The error every reader gives for a file whose entry `index` repeats the (stored) address
/// of an earlier entry ([`stored_addr`]; FORMAT.md: such a file is corrupt): for a caller that
/// read with [`ReadPolicy::defer_duplicate_check`](crate::ReadPolicy::defer_duplicate_check)
/// and applies the rule itself, so that its refusal is classified and worded exactly as the
/// reader's own would be. `index` is the first entry, in file order, whose address an earlier
/// entry has.
pub fn duplicate_address(index: usize) -> Error {
    Error::corrupt(repeat_what(index))
}

/// Whether two of `entries` have one stored address (the keys of [`UniqueAddrs`]), found by
/// sorting the keys once instead of probing a hash set per entry: a sort walks memory in order,
/// where a million probes of a table larger than the caches miss on nearly every one (that was
/// most of a 1M-entry JSON decode). It cannot tell which entry repeats an earlier one, so it
/// serves a reader that then hands the file to a path that does ([`UniqueAddrs`]).
pub(crate) fn has_duplicate_addr(entries: &[PeerEntry]) -> bool {
    let v6 = entries.iter().filter(|e| e.addr.is_ipv6()).count();
    let mut v4_keys = Vec::with_capacity(entries.len() - v6);
    let mut v6_keys = Vec::with_capacity(v6);
    for e in entries {
        match e.addr {
            SocketAddr::V4(a) => {
                v4_keys.push((u64::from(a.ip().to_bits()) << 16) | u64::from(a.port()));
            }
            SocketAddr::V6(a) => v6_keys.push((
                a.ip().to_bits(),
                (u64::from(a.port()) << 32) | u64::from(a.scope_id()),
            )),
        }
    }
    v4_keys.sort_unstable();
    v6_keys.sort_unstable();
    v4_keys.windows(2).any(|w| w[0] == w[1]) || v6_keys.windows(2).any(|w| w[0] == w[1])
}

/// Everything a writer checks before it writes one entry, so that it never writes a file a
/// reader would reject. The duplicate-address set is skipped when the source guarantees unique
/// addresses ([`EntrySource::addrs_unique`]: a store snapshot, whose index already holds each
/// address once), so that a save makes one duplicate check per entry, not two.
pub(crate) struct WriteCheck {
    unique: Option<UniqueAddrs>,
    index: usize,
}

impl WriteCheck {
    pub(crate) fn new(entries: &dyn EntrySource) -> Result<WriteCheck, Error> {
        let expected = entries.len();
        check_entry_count(expected as u64)?;
        Ok(WriteCheck {
            unique: (!entries.addrs_unique()).then(|| UniqueAddrs::new(Side::Write, expected)),
            index: 0,
        })
    }

    #[inline]
    pub(crate) fn check(&mut self, entry: &PeerEntry) -> Result<(), Error> {
        entry.check_limits()?;
        if let Some(unique) = &mut self.unique {
            unique.insert(entry.addr, self.index)?;
        }
        self.index += 1;
        Ok(())
    }

    /// Fails when the source yielded another number of entries than its `len()` said (the
    /// header count is written from `len()`).
    pub(crate) fn finish(self, expected: usize) -> Result<(), Error> {
        if self.index != expected {
            return Err(Error::InvalidInput {
                what: format!(
                    "the entry source said {expected} entries but yielded {}",
                    self.index
                ),
            });
        }
        Ok(())
    }
}

/// Anything a codec can encode: a slice, a vec, or a store snapshot.
pub trait EntrySource {
    /// How many entries [`EntrySource::entries`] yields.
    fn len(&self) -> usize;
    /// The entries, in the order they are written.
    fn entries(&self) -> Box<dyn Iterator<Item = &PeerEntry> + '_>;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether the source guarantees that no two of its entries have the same stored address
    /// ([`stored_addr`]), so that a writer need not check (default: `false`, and the writer
    /// checks). A store snapshot says `true`: the store's index holds each address once. A
    /// source that says `true` wrongly makes the writer produce a file every reader refuses as
    /// corrupt.
    fn addrs_unique(&self) -> bool {
        false
    }
    /// The entries as pieces encoded by `encoder`, in the order and number of
    /// [`EntrySource::entries`], for a source that keeps encoded pieces beside its entries (a
    /// store snapshot keeps one per slab leaf), so that a save copies bytes instead of
    /// encoding every entry. Asked only of a source whose [`EntrySource::addrs_unique`] is
    /// true. A piece the source keeps is handed as [`Piece::Kept`] if it is
    /// [`crate::EncodedPiece::is_for`] this encoder; anything else is encoded with `encoder` (which
    /// checks entry limits) and kept or handed as [`Piece::Fresh`]. A kept piece must never
    /// hold an entry that [`EntrySource::entries`] would not yield now (an expired one).
    ///
    /// Default: `None`, and the writer encodes entry by entry.
    fn pieces(&self, encoder: &PieceEncoder) -> Option<Result<Vec<Piece<'_>>, Error>> {
        let _ = encoder;
        None
    }
}

impl EntrySource for [PeerEntry] {
    fn len(&self) -> usize {
        <[PeerEntry]>::len(self)
    }
    fn entries(&self) -> Box<dyn Iterator<Item = &PeerEntry> + '_> {
        Box::new(self.iter())
    }
}

impl EntrySource for &[PeerEntry] {
    fn len(&self) -> usize {
        <[PeerEntry]>::len(self)
    }
    fn entries(&self) -> Box<dyn Iterator<Item = &PeerEntry> + '_> {
        Box::new(self.iter())
    }
}

impl EntrySource for Vec<PeerEntry> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn entries(&self) -> Box<dyn Iterator<Item = &PeerEntry> + '_> {
        Box::new(self.iter())
    }
}
