//! The entry slab: every stored [`PeerEntry`] lives in a slot of a chunk, and chunks are shared
//! (`Arc`) with snapshots, copy-on-write. It owns slot allocation and the copy-on-write rule; it
//! knows nothing of addresses, tiers, TTL or locks (the state module keeps the index and order).
//!
//! Why chunks: a snapshot must be taken under the store's lock in well under a millisecond even
//! at 1M entries (issue 6), so it cannot copy the entries. It clones the `Vec` of chunk pointers
//! instead (one `Arc` increment per [`CHUNK`] entries). A later write to a chunk that a snapshot
//! still holds copies that one chunk first (`Arc::make_mut`), which bounds the extra work of any
//! single observation to one chunk copy, and the total extra memory to what the snapshot pins.

use std::sync::Arc;

use knownpeers_codecs::PeerEntry;

/// Slots per chunk. 1024 keeps a snapshot's pointer copy at ~1k `Arc`s per 1M entries and the
/// copy-on-write of one chunk (~100 KB plus its strings) far below the 1 ms stall budget.
pub(crate) const CHUNK: usize = 1024;

/// One chunk of slots; `None` is a free slot.
pub(crate) type Chunk = Vec<Option<PeerEntry>>;

/// Slot storage. Invariant: a slot number is either in `free` and its slot is `None`, or its
/// slot is `Some` and exactly one index/tier entry of the state module refers to it.
#[derive(Default)]
pub(crate) struct Slab {
    chunks: Vec<Arc<Chunk>>,
    free: Vec<u32>,
}

impl Slab {
    fn locate(slot: u32) -> (usize, usize) {
        let slot = slot as usize;
        (slot / CHUNK, slot % CHUNK)
    }

    /// The entry in an occupied slot.
    pub(crate) fn get(&self, slot: u32) -> &PeerEntry {
        let (c, i) = Self::locate(slot);
        self.chunks[c][i]
            .as_ref()
            .expect("the state module only holds occupied slot numbers")
    }

    /// The entry in an occupied slot, for writing; copies the chunk first if a snapshot shares it.
    pub(crate) fn get_mut(&mut self, slot: u32) -> &mut PeerEntry {
        let (c, i) = Self::locate(slot);
        Arc::make_mut(&mut self.chunks[c])[i]
            .as_mut()
            .expect("the state module only holds occupied slot numbers")
    }

    /// Stores `entry` in a free slot (reusing freed slots first) and returns its number.
    pub(crate) fn insert(&mut self, entry: PeerEntry) -> u32 {
        if let Some(slot) = self.free.pop() {
            let (c, i) = Self::locate(slot);
            Arc::make_mut(&mut self.chunks[c])[i] = Some(entry);
            return slot;
        }
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
        }
        let c = self.chunks.len() - 1;
        let chunk = Arc::make_mut(&mut self.chunks[c]);
        if chunk.capacity() < CHUNK {
            // A copy-on-write clone of the last chunk has capacity == len; reserve once so the
            // chunk does not reallocate slot by slot.
            chunk.reserve_exact(CHUNK - chunk.len());
        }
        chunk.push(Some(entry));
        u32::try_from(c * CHUNK + chunk.len() - 1).expect("slot count is capped below u32::MAX")
    }

    /// Frees an occupied slot and returns its entry.
    pub(crate) fn remove(&mut self, slot: u32) -> PeerEntry {
        let (c, i) = Self::locate(slot);
        let entry = Arc::make_mut(&mut self.chunks[c])[i]
            .take()
            .expect("the state module only frees occupied slots");
        self.free.push(slot);
        entry
    }

    /// The chunk pointers, for a snapshot: O(number of chunks), no entry is copied.
    pub(crate) fn share(&self) -> Vec<Arc<Chunk>> {
        self.chunks.clone()
    }
}
