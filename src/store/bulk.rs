//! The bulk hydrate: a file's entries turned into a store's slab, address index and tiers in a
//! few passes, for a store that never held an entry (the load at open). It owns the order of
//! that build and the duplicate-address rule it applies (FORMAT.md: no two entries with one
//! stored address); it never touches a live store: the state module installs what it built,
//! or nothing, so a refused file leaves the store exactly as it was.
//!
//! Why not the general path (one observation-like insert per entry, oldest first): on 1M
//! entries that path's cost was a random probe of the index per entry, a sort of the entries,
//! and a heap node per entry in the tiers. Here:
//! - the entries are moved once, in file order, straight into fresh leaves (slot = the entry's
//!   rank among the unexpired ones);
//! - the index is filled in the order of its buckets (a counting sort of the hashes on the top
//!   bits of the bucket number), so its memory is swept instead of probed at random; an address
//!   met again is the duplicate check, the only one a load makes (the reader defers its own);
//! - the recency order (`last_seen`, then file position) is a radix sort of packed 8-byte keys,
//!   skipped when the file is already in order, and the tiers are linked in one walk.

use std::hash::RandomState;
use std::net::SocketAddr;
use std::sync::Arc;

use hashbrown::{hash_table, HashTable};
use knownpeers_codecs::{stored_addr, PeerEntry};

use super::slab::{Leaf, Slab, CHUNK};
use super::state::{hash_addr, is_expired, rank};
use super::tiers::Tiers;

/// A store's tables built from a file, ready to install into a pristine store.
pub(crate) struct Built {
    pub(crate) slab: Slab,
    pub(crate) index: HashTable<u32>,
    pub(crate) tiers: Tiers,
    /// The newest `last_seen` stored (0 if none).
    pub(crate) latest_s: u64,
    /// Entries dropped as expired.
    pub(crate) expired: usize,
}

/// A build stopped by a repeated address.
pub(crate) struct Repeated {
    /// The index in the input of the first entry whose address an earlier entry has (expired
    /// entries count): what a reader names in its corrupt error.
    pub(crate) first: usize,
    /// The unexpired entries, stored in the slab in input order.
    slab: Slab,
    /// Entries dropped as expired.
    pub(crate) expired: usize,
}

impl Repeated {
    /// The unexpired entries in input order (addresses in stored form), for the general path.
    pub(crate) fn into_entries(self) -> Vec<PeerEntry> {
        self.slab.into_entries()
    }
}

/// Builds the tables of `entries` (at most `u32::MAX`, the caller's cap) as of `now_s`,
/// dropping the expired ones, or stops at a repeated address.
pub(crate) fn build(
    entries: Vec<PeerEntry>,
    hasher: &RandomState,
    now_s: u64,
    ttl_secs: u64,
) -> Result<Built, Box<Repeated>> {
    let n = entries.len();
    let mut slab = Slab::default();
    // Per slot: the address's hash, `last_seen`, and tier.
    let mut hashes: Vec<u64> = Vec::with_capacity(n);
    let mut seen: Vec<u64> = Vec::with_capacity(n);
    let mut tier_of: Vec<u8> = Vec::with_capacity(n);
    // Expired entries take no slot, but their addresses still count for the duplicate rule.
    let mut expired: Vec<(usize, SocketAddr)> = Vec::new();
    let mut leaf = Arc::new(Leaf::empty());
    let mut fill = 0usize;
    for (pos, mut entry) in entries.into_iter().enumerate() {
        entry.addr = stored_addr(entry.addr);
        if is_expired(&entry, now_s, ttl_secs) {
            expired.push((pos, entry.addr));
            continue;
        }
        hashes.push(hash_addr(hasher, &entry.addr));
        seen.push(entry.last_seen);
        tier_of.push(rank(entry.source) as u8);
        Arc::get_mut(&mut leaf).expect("a leaf not yet in the slab is not shared")[fill] =
            Some(entry);
        fill += 1;
        if fill == CHUNK {
            slab.push_leaf(std::mem::replace(&mut leaf, Arc::new(Leaf::empty())), CHUNK);
            fill = 0;
        }
    }
    if fill > 0 {
        slab.push_leaf(leaf, fill);
    }
    let position = |slot: u32| position_of(slot, &expired);

    let mut index: HashTable<u32> = HashTable::with_capacity(hashes.len());
    let mut first: Option<usize> = None;
    let mut repeat = |at: usize| first = Some(first.map_or(at, |f| f.min(at)));
    for (hash, slot) in bucket_order(&hashes, index.capacity()) {
        // The entries are read only on a tag match (rarely): in bucket order the slots come
        // in random order, so an eager read would be a cache miss per entry.
        let found = index.entry(
            hash,
            |&s| slab.get(s).addr == slab.get(slot).addr,
            |&s| hashes[s as usize],
        );
        match found {
            hash_table::Entry::Vacant(vacant) => {
                vacant.insert(slot);
            }
            // Equal addresses hash alike, so they come in input order: the one found is the
            // earlier one.
            hash_table::Entry::Occupied(_) => repeat(position(slot)),
        }
    }
    if !expired.is_empty() {
        let mut earlier: HashTable<usize> = HashTable::with_capacity(expired.len());
        for (i, &(pos, addr)) in expired.iter().enumerate() {
            let hash = hash_addr(hasher, &addr);
            if let Some(&slot) = index.find(hash, |&s| slab.get(s).addr == addr) {
                repeat(pos.max(position(slot)));
            }
            let found = earlier.entry(
                hash,
                |&j| expired[j].1 == addr,
                |&j| hash_addr(hasher, &expired[j].1),
            );
            match found {
                hash_table::Entry::Vacant(vacant) => {
                    vacant.insert(i);
                }
                hash_table::Entry::Occupied(_) => repeat(pos),
            }
        }
    }
    if let Some(first) = first {
        return Err(Box::new(Repeated {
            first,
            slab,
            expired: expired.len(),
        }));
    }
    let latest_s = seen.iter().copied().max().unwrap_or(0);
    let order = recency_order(&seen);
    drop(seen);
    let mut tiers = Tiers::default();
    tiers.fill(order.iter().map(|&key| key as u32), &tier_of, &hashes);
    Ok(Built {
        slab,
        index,
        tiers,
        latest_s,
        expired: expired.len(),
    })
}

/// The input position of the entry in `slot`, given the positions of the expired entries
/// (ascending), which take no slot.
fn position_of(slot: u32, expired: &[(usize, SocketAddr)]) -> usize {
    // Before the i-th expired entry come `pos - i` unexpired ones; count the expired entries
    // with at most `slot` unexpired ones before them.
    let mut lo = 0;
    let mut hi = expired.len();
    while lo < hi {
        let mid = (lo + hi) / 2;
        if expired[mid].0 - mid <= slot as usize {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    slot as usize + lo
}

/// The index of the first entry whose stored address an earlier entry has, if any: the
/// duplicate rule for a hydrate that cannot take the bulk path.
pub(crate) fn first_repeat(entries: &[PeerEntry], hasher: &RandomState) -> Option<usize> {
    let mut seen: HashTable<usize> = HashTable::with_capacity(entries.len());
    let at = |i: usize| stored_addr(entries[i].addr);
    for i in 0..entries.len() {
        let addr = at(i);
        let found = seen.entry(
            hash_addr(hasher, &addr),
            |&j| at(j) == addr,
            |&j| hash_addr(hasher, &at(j)),
        );
        match found {
            hash_table::Entry::Vacant(vacant) => {
                vacant.insert(i);
            }
            hash_table::Entry::Occupied(_) => return Some(i),
        }
    }
    None
}

/// The (hash, slot) pairs in the order of the index buckets they land in, so that filling the
/// index sweeps its memory: a stable counting sort on the top (up to) 11 bits of the bucket
/// number. hashbrown puts a hash in bucket `hash & (buckets - 1)`, and a table of `capacity`
/// has the power of two at or above `capacity * 8 / 7` buckets; were that to change, only the
/// speed would (any order fills the same index). Stable: equal hashes keep slot order.
fn bucket_order(hashes: &[u64], capacity: usize) -> Vec<(u64, u32)> {
    let buckets = (capacity.saturating_mul(8) / 7).max(1).next_power_of_two();
    let bits = buckets.trailing_zeros();
    let digit = bits.min(11);
    let shift = bits - digit;
    let mask = (1u64 << digit) - 1;
    let bucket = |hash: u64| ((hash >> shift) & mask) as usize;
    let mut starts = vec![0usize; 1 << digit];
    for &hash in hashes {
        starts[bucket(hash)] += 1;
    }
    let mut sum = 0;
    for start in &mut starts {
        let count = *start;
        *start = sum;
        sum += count;
    }
    let mut out = vec![(0u64, 0u32); hashes.len()];
    for (slot, &hash) in hashes.iter().enumerate() {
        let at = &mut starts[bucket(hash)];
        out[*at] = (hash, slot as u32);
        *at += 1;
    }
    out
}

/// The slots ordered by (`last_seen`, slot), as keys whose low 32 bits are the slot: the
/// order the general path inserts in (slots are in input order). Free when the input is in
/// order already (a file written by a store that loaded a sorted file and saw few changes); a
/// radix sort on `last_seen - oldest` when that fits 32 bits (always, in practice: unexpired
/// entries are within the TTL of now); a comparison sort otherwise.
fn recency_order(seen: &[u64]) -> Vec<u64> {
    let slots = 0..seen.len() as u64;
    let (Some(&oldest), Some(&newest)) = (seen.iter().min(), seen.iter().max()) else {
        return Vec::new();
    };
    if seen.is_sorted() {
        return slots.collect();
    }
    let span = newest - oldest;
    let Ok(span) = u32::try_from(span) else {
        let mut order: Vec<u64> = slots.collect();
        order.sort_by_key(|&slot| seen[slot as usize]);
        return order;
    };
    let mut keys: Vec<u64> = seen
        .iter()
        .zip(slots)
        .map(|(&t, slot)| ((t - oldest) << 32) | slot)
        .collect();
    radix_sort_high(&mut keys, 32 - span.leading_zeros());
    keys
}

/// Sorts `keys` stably by their high 32 bits, of which only the low `bits` may be set: an LSD
/// radix sort in passes of at most 11 bits (two passes for a week of seconds).
fn radix_sort_high(keys: &mut Vec<u64>, bits: u32) {
    if bits == 0 {
        return;
    }
    let passes = bits.div_ceil(11);
    let width = bits.div_ceil(passes);
    let mask = (1u64 << width) - 1;
    let mut other = vec![0u64; keys.len()];
    let mut starts = vec![0usize; 1 << width];
    for pass in 0..passes {
        let shift = 32 + pass * width;
        let digit = |key: u64| ((key >> shift) & mask) as usize;
        starts.fill(0);
        for &key in keys.iter() {
            starts[digit(key)] += 1;
        }
        let mut sum = 0;
        for start in &mut starts {
            let count = *start;
            *start = sum;
            sum += count;
        }
        for &key in keys.iter() {
            let at = &mut starts[digit(key)];
            other[*at] = key;
            *at += 1;
        }
        std::mem::swap(keys, &mut other);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ManualClock, PeerStore, StoreConfig};
    use knownpeers_codecs::PeerSource;
    use proptest::prelude::*;

    const NOW: u64 = 1_000_000;

    /// The first entry whose stored address an earlier one has, the slow obvious way.
    fn naive_first_repeat(entries: &[PeerEntry]) -> Option<usize> {
        (0..entries.len())
            .find(|&j| (0..j).any(|i| stored_addr(entries[i].addr) == stored_addr(entries[j].addr)))
    }

    fn entries_of(list: &[(u8, u8, u8, u32)]) -> Vec<PeerEntry> {
        list.iter()
            .map(|&(a, s, age, flow)| PeerEntry {
                // IPv6 with flow info: the flow info is not part of the stored address.
                addr: if a % 2 == 0 {
                    SocketAddr::from(([10, 0, 0, a], 7447))
                } else {
                    SocketAddr::V6(std::net::SocketAddrV6::new(
                        std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(a)),
                        7447,
                        flow,
                        0,
                    ))
                },
                source: [
                    PeerSource::Gossip,
                    PeerSource::Bootstrap,
                    PeerSource::Connected,
                ][usize::from(s % 3)],
                // TTL 10: ages above 10 are expired.
                last_seen: NOW - u64::from(age % 14),
                node_id: None,
                capabilities: vec![],
            })
            .collect()
    }

    fn store(max_entries: usize) -> PeerStore {
        PeerStore::new(
            StoreConfig {
                max_entries,
                ttl_secs: 10,
                jitter_seed: Some(1),
                ..StoreConfig::default()
            },
            std::sync::Arc::new(ManualClock::at_secs(NOW)),
        )
    }

    fn contents(store: &PeerStore) -> (usize, u64, Vec<SocketAddr>) {
        (store.len(), store.generation(), store.live_addrs())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// `hydrate_unique` refuses exactly the lists with a repeated stored address (expired
        /// entries count), naming the first repeat as a reader would, and then leaves the store
        /// as it was, pristine or not, on the bulk path or the general one; without a repeat it
        /// loads what `hydrate` loads.
        #[test]
        fn hydrate_unique_refuses_a_repeat_atomically(
            list in prop::collection::vec((0u8..120, any::<u8>(), any::<u8>(), 0u32..3), 0..150),
            max_entries in prop_oneof![Just(1000usize), 0usize..100],
            used in any::<bool>(),
        ) {
            let entries = entries_of(&list);
            let target = store(max_entries);
            if used {
                target.observe_bootstrap(SocketAddr::from(([10, 0, 0, 2], 7447)));
            }
            let pristine = |s: &PeerStore| s.is_pristine();
            let before = (contents(&target), pristine(&target));
            let got = target.hydrate_unique(entries.clone());
            match naive_first_repeat(&entries) {
                Some(first) => {
                    prop_assert_eq!(got, Err(first));
                    prop_assert_eq!((contents(&target), pristine(&target)), before);
                }
                None => {
                    let reference = store(max_entries);
                    if used {
                        reference.observe_bootstrap(SocketAddr::from(([10, 0, 0, 2], 7447)));
                    }
                    prop_assert_eq!(got, Ok(reference.hydrate(entries)));
                    prop_assert_eq!(contents(&target), contents(&reference));
                }
            }
        }
    }

    proptest! {
        /// The radix path, the sorted shortcut and the wide fallback all give the order of a
        /// plain sort of (`last_seen`, slot).
        #[test]
        fn recency_order_is_last_seen_then_slot(
            seen in prop::collection::vec(
                prop_oneof![0u64..50, 1_000u64..1_000_000, Just(u64::MAX), any::<u64>()],
                0..300,
            ),
            sorted in any::<bool>(),
        ) {
            let mut seen = seen;
            if sorted {
                seen.sort_unstable();
            }
            let mut want: Vec<(u64, u64)> =
                seen.iter().enumerate().map(|(s, &t)| (t, s as u64)).collect();
            want.sort_unstable();
            let got: Vec<u64> = recency_order(&seen).iter().map(|&k| k & 0xffff_ffff).collect();
            let want: Vec<u64> = want.into_iter().map(|(_, s)| s).collect();
            prop_assert_eq!(got, want);
        }

        /// The position of a slot, with expired entries (which take no slot) anywhere.
        #[test]
        fn position_of_counts_expired_entries_before_a_slot(
            expired_at in prop::collection::vec(any::<bool>(), 0..100),
        ) {
            let addr = SocketAddr::from(([192, 0, 2, 1], 1));
            let expired: Vec<(usize, SocketAddr)> = expired_at
                .iter()
                .enumerate()
                .filter(|&(_, &e)| e)
                .map(|(pos, _)| (pos, addr))
                .collect();
            let live: Vec<usize> = (0..expired_at.len()).filter(|&p| !expired_at[p]).collect();
            for (slot, &pos) in live.iter().enumerate() {
                prop_assert_eq!(position_of(slot as u32, &expired), pos);
            }
        }
    }
}
