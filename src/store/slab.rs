//! The entry slab: every stored [`PeerEntry`] lives in a slot of a chunk, and chunks are shared
//! (`Arc`) with snapshots, copy-on-write. It owns slot allocation and the copy-on-write rule; it
//! knows nothing of addresses, tiers, TTL or locks (the state module keeps the index and order).
//!
//! Why chunks: a snapshot must be taken under the store's lock in well under a millisecond even
//! at 1M entries (issue 6), so it cannot copy the entries. The slots form a two-level tree of
//! `Arc`s: leaves of [`CHUNK`] entries, branches of [`FANOUT`] leaves. A snapshot clones the
//! branch pointers only (~250 `Arc` increments at 1M entries). A later write to a slot a snapshot
//! still shares first copies its branch (64 pointers) and its leaf (64 entries with their strings,
//! `Arc::make_mut`), which bounds the extra work of one write to ~25 µs, and the extra memory to
//! what the snapshot pins while it lives. (One level of 1024-entry chunks made the copy ~400 µs;
//! one level of 64-entry chunks made the snapshot ~16k pointer copies, ~0.7 ms at 1M on the
//! loaded 2-core machine: both too close to the 1 ms budget.)

use std::sync::{Arc, OnceLock};

use knownpeers_codecs::{EncodedPiece, PeerEntry};

/// Slots per leaf: the unit of copy-on-write (~0.3-0.4 µs per entry to clone with its strings).
pub(crate) const CHUNK: usize = 64;
/// Leaves per branch: a snapshot copies one pointer per `CHUNK * FANOUT` = 4096 slots.
pub(crate) const FANOUT: usize = 64;

/// One leaf of slots; `None` is a free (or not yet used) slot. A fixed array rather than a `Vec`
/// saves one dependent pointer load on every access (the profile's hottest path is reading a
/// random entry).
///
/// Beside the slots it keeps the encoded bytes of its occupied entries for one codec body
/// ([`EncodedPiece`]), filled by the first save that writes the leaf and reused by every later
/// save until the leaf changes, so that a save copies bytes instead of encoding. Every mutable
/// access (`IndexMut`) drops them, and a copy-on-write clone starts without them, so they never
/// describe other entries than the slots'. A leaf shared with a snapshot is immutable, which is
/// why a saver may fill the cell of a shared leaf: a `OnceLock` is filled at most once.
pub(crate) struct Leaf {
    slots: [Option<PeerEntry>; CHUNK],
    encoded: OnceLock<EncodedPiece>,
}

impl Leaf {
    /// A leaf of free slots.
    pub(crate) fn empty() -> Leaf {
        Leaf {
            slots: std::array::from_fn(|_| None),
            encoded: OnceLock::new(),
        }
    }

    /// The slots, in slot order.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Option<PeerEntry>> {
        self.slots.iter()
    }

    /// The kept encoding of the occupied slots, if a save filled it since the last change.
    pub(crate) fn encoded(&self) -> &OnceLock<EncodedPiece> {
        &self.encoded
    }
}

impl Clone for Leaf {
    /// The slots only: a copy is made to be written (`Arc::make_mut`), which would drop the
    /// kept encoding at once.
    fn clone(&self) -> Leaf {
        Leaf {
            slots: self.slots.clone(),
            encoded: OnceLock::new(),
        }
    }
}

impl std::ops::Index<usize> for Leaf {
    type Output = Option<PeerEntry>;
    #[inline]
    fn index(&self, i: usize) -> &Option<PeerEntry> {
        &self.slots[i]
    }
}

impl std::ops::IndexMut<usize> for Leaf {
    /// Drops the kept encoding: the caller may change the slot.
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut Option<PeerEntry> {
        if self.encoded.get().is_some() {
            drop(self.encoded.take());
        }
        &mut self.slots[i]
    }
}

/// One branch of leaves.
pub(crate) type Branch = Vec<Arc<Leaf>>;

/// Slot storage. Invariant: a slot number below `slots` is either in `free` and its slot is
/// `None`, or its slot is `Some` and exactly one index/tier entry of the state module refers to
/// it; slots from `slots` on are `None` and unused. Every branch but the last has `FANOUT` leaves.
#[derive(Default)]
pub(crate) struct Slab {
    branches: Vec<Arc<Branch>>,
    free: Vec<u32>,
    /// Slots ever allocated (occupied or free).
    slots: usize,
}

impl Slab {
    fn locate(slot: u32) -> (usize, usize, usize) {
        let slot = slot as usize;
        (
            slot / (CHUNK * FANOUT),
            (slot / CHUNK) % FANOUT,
            slot % CHUNK,
        )
    }

    /// The slot for writing, copying its branch and leaf first if a snapshot shares them.
    #[inline]
    fn slot_mut(&mut self, slot: u32) -> &mut Option<PeerEntry> {
        let (b, l, i) = Self::locate(slot);
        &mut Arc::make_mut(&mut Arc::make_mut(&mut self.branches[b])[l])[i]
    }

    /// The entry in an occupied slot.
    #[inline]
    pub(crate) fn get(&self, slot: u32) -> &PeerEntry {
        let (b, l, i) = Self::locate(slot);
        self.branches[b][l][i]
            .as_ref()
            .expect("the state module only holds occupied slot numbers")
    }

    /// The entry in an occupied slot, for writing (copy-on-write, see the module doc).
    pub(crate) fn get_mut(&mut self, slot: u32) -> &mut PeerEntry {
        self.slot_mut(slot)
            .as_mut()
            .expect("the state module only holds occupied slot numbers")
    }

    /// Slots ever allocated (occupied or free): every slot number is below it.
    pub(crate) fn slots(&self) -> usize {
        self.slots
    }

    /// The occupied slots' entries in slot order, taking the slab apart (a bulk load that
    /// found it must go the general way after all). Leaves still shared with a snapshot are
    /// copied.
    pub(crate) fn into_entries(self) -> Vec<PeerEntry> {
        let mut out = Vec::with_capacity(self.slots - self.free.len());
        for branch in self.branches {
            for leaf in Arc::unwrap_or_clone(branch) {
                let mut leaf = Arc::unwrap_or_clone(leaf);
                out.extend((0..CHUNK).filter_map(|i| leaf[i].take()));
            }
        }
        out
    }

    /// Whether no slot was ever allocated (a bulk load may then append whole leaves).
    pub(crate) fn is_pristine(&self) -> bool {
        self.slots == 0
    }

    /// Appends a fresh leaf whose first `filled` slots are occupied and the rest `None`, for a
    /// bulk load: no copy-on-write check per entry, since no snapshot can share a leaf not yet
    /// in the slab. Only on a slab whose slot count is a multiple of [`CHUNK`] and that has no
    /// free slot (a pristine slab filled by full leaves so far); the slots are numbered on.
    /// The leaf comes already in its `Arc` (see [`Leaf::empty`]), so its entries are moved once.
    pub(crate) fn push_leaf(&mut self, leaf: Arc<Leaf>, filled: usize) {
        assert!(
            self.slots / CHUNK * CHUNK == self.slots && self.free.is_empty() && filled <= CHUNK,
            "push_leaf appends whole leaves only"
        );
        let b = self.slots / (CHUNK * FANOUT);
        if b == self.branches.len() {
            self.branches.push(Arc::new(Vec::with_capacity(FANOUT)));
        }
        Arc::make_mut(&mut self.branches[b]).push(leaf);
        self.slots += filled;
    }

    /// Stores `entry` in a free slot (reusing freed slots first) and returns its number.
    pub(crate) fn insert(&mut self, entry: PeerEntry) -> u32 {
        if let Some(slot) = self.free.pop() {
            *self.slot_mut(slot) = Some(entry);
            return slot;
        }
        let slot = u32::try_from(self.slots).expect("slot count is capped below u32::MAX");
        let (b, l, _) = Self::locate(slot);
        if b == self.branches.len() {
            self.branches.push(Arc::new(Vec::with_capacity(FANOUT)));
        }
        let branch = Arc::make_mut(&mut self.branches[b]);
        if l == branch.len() {
            branch.push(Arc::new(Leaf::empty()));
        }
        self.slots += 1;
        *self.slot_mut(slot) = Some(entry);
        slot
    }

    /// Frees an occupied slot and returns its entry.
    pub(crate) fn remove(&mut self, slot: u32) -> PeerEntry {
        let entry = self
            .slot_mut(slot)
            .take()
            .expect("the state module only frees occupied slots");
        self.free.push(slot);
        entry
    }

    /// The branch pointers, for a snapshot: O(slots / 4096), no entry is copied.
    pub(crate) fn share(&self) -> Vec<Arc<Branch>> {
        self.branches.clone()
    }
}

/// Every leaf of shared branches, in slot order.
pub(crate) fn leaves(branches: &[Arc<Branch>]) -> impl Iterator<Item = &Leaf> + '_ {
    branches
        .iter()
        .flat_map(|branch| branch.iter())
        .map(|leaf| &**leaf)
}

/// Every occupied slot of shared branches, in slot order.
pub(crate) fn entries(branches: &[Arc<Branch>]) -> impl Iterator<Item = &PeerEntry> + '_ {
    branches
        .iter()
        .flat_map(|branch| branch.iter())
        .flat_map(|leaf| leaf.iter())
        .filter_map(Option::as_ref)
}

#[cfg(test)]
mod tests {
    use super::*;
    use knownpeers_codecs::PeerSource;

    fn entry(n: u16) -> PeerEntry {
        PeerEntry {
            addr: std::net::SocketAddr::from(([10, 0, 0, 1], n)),
            source: PeerSource::Gossip,
            last_seen: u64::from(n),
            node_id: Some(format!("id{n}")),
            capabilities: vec![],
        }
    }

    fn contents(branches: &[Arc<Branch>]) -> Vec<u64> {
        entries(branches).map(|e| e.last_seen).collect()
    }

    #[test]
    fn slots_are_reused_and_shared_chunks_are_copied_on_write() {
        let mut slab = Slab::default();
        let slots: Vec<u32> = (0..(CHUNK as u16 * 2 + 3))
            .map(|n| slab.insert(entry(n)))
            .collect();
        assert_eq!(slots, (0..slots.len() as u32).collect::<Vec<_>>());
        let shared = slab.share();
        let before = contents(&shared);

        slab.get_mut(5).last_seen = 9999;
        assert_eq!(slab.remove(7).last_seen, 7);
        assert_eq!(slab.insert(entry(7000)), 7, "a freed slot is reused first");
        slab.insert(entry(8000)); // the last chunk grows
        assert_eq!(contents(&shared), before, "the shared view did not change");
        assert_eq!(slab.get(5).last_seen, 9999);
        assert_eq!(slab.get(7).last_seen, 7000);
        // The written branch and leaves were copied; untouched leaves are still shared.
        let now = slab.share();
        assert!(!Arc::ptr_eq(&shared[0], &now[0]));
        assert!(!Arc::ptr_eq(&shared[0][0], &now[0][0]));
        assert!(Arc::ptr_eq(&shared[0][1], &now[0][1]));
        assert_eq!(contents(&now).len(), slots.len() + 1);

        // Past one branch: slots keep counting across branches.
        let last = (0..CHUNK * FANOUT).map(|_| slab.insert(entry(1))).last();
        assert_eq!(last, Some((CHUNK * FANOUT + slots.len()) as u32));
        assert_eq!(slab.share().len(), 2);
    }

    /// A leaf's kept encoding survives reads and sharing, and is dropped by any write to the
    /// leaf (in place or through a copy-on-write copy) and by nothing else.
    #[test]
    fn kept_pieces_are_dropped_by_writes_only() {
        let mut slab = Slab::default();
        for n in 0..(CHUNK as u16 * 2) {
            slab.insert(entry(n));
        }
        let codec = knownpeers_codecs::MsgpackCodec;
        let encode = |branches: &[Arc<Branch>]| {
            // Through a one-leaf-per-piece source, as a snapshot hands them.
            struct Leaves<'a>(&'a [Arc<Branch>]);
            impl knownpeers_codecs::EntrySource for Leaves<'_> {
                fn len(&self) -> usize {
                    entries(self.0).count()
                }
                fn entries(&self) -> Box<dyn Iterator<Item = &PeerEntry> + '_> {
                    Box::new(entries(self.0))
                }
                fn addrs_unique(&self) -> bool {
                    true
                }
                fn pieces(
                    &self,
                    encoder: &knownpeers_codecs::PieceEncoder,
                ) -> Option<Result<Vec<knownpeers_codecs::Piece<'_>>, knownpeers_codecs::Error>>
                {
                    let mut out = Vec::new();
                    for leaf in leaves(self.0) {
                        if leaf.encoded().get().is_none() {
                            match encoder.encode(leaf.iter().flatten()) {
                                Ok(piece) => {
                                    let _ = leaf.encoded().set(piece);
                                }
                                Err(e) => return Some(Err(e)),
                            }
                        }
                        let kept = leaf.encoded().get().expect("set above");
                        out.push(knownpeers_codecs::Piece::Kept(kept));
                    }
                    Some(Ok(out))
                }
            }
            knownpeers_codecs::Codec::encode(&codec, "r", 1, &Leaves(branches))
                .expect("the entries encode")
        };
        let kept = |slab: &Slab| -> Vec<bool> {
            leaves(&slab.share())
                .map(|leaf| leaf.encoded().get().is_some())
                .collect()
        };
        let shared = slab.share();
        let before = encode(&shared);
        assert_eq!(
            kept(&slab),
            [true, true],
            "the shared leaves are the slab's"
        );
        let _ = slab.get(3);
        assert_eq!(kept(&slab), [true, true], "a read keeps them");

        slab.get_mut(3).last_seen = 7777;
        assert_eq!(kept(&slab), [false, true], "a copied leaf starts without");
        assert!(leaves(&shared).all(|leaf| leaf.encoded().get().is_some()));
        assert_eq!(encode(&shared), before, "the snapshot's file is unchanged");
        drop(shared);

        encode(&slab.share());
        assert_eq!(kept(&slab), [true, true]);
        slab.remove(CHUNK as u32 + 1);
        assert_eq!(kept(&slab), [true, false], "a write in place drops it");
        let after = encode(&slab.share());
        let plain = knownpeers_codecs::Codec::encode(
            &codec,
            "r",
            1,
            &entries(&slab.share()).cloned().collect::<Vec<_>>(),
        )
        .expect("the entries encode");
        assert_eq!(after, plain);
    }
}
