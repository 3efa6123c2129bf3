//! The store's three recency tiers as intrusive doubly linked lists over slot numbers, with each
//! slot's dial state and address hash beside its links. It owns the list links and nothing
//! else: it knows no address, entry, source or time (the hash is an opaque word the state
//! module computes), and it trusts its caller to pass only slot numbers that are, or are not,
//! in the tier it names (see each method).
//!
//! Why not a linked hash map per tier: the tiers are keyed by our own dense slot numbers, so a
//! vector indexed by slot does what a hash map did without a hash, a probe or a heap node per
//! entry. A move to the back, a removal and an eviction are a few writes to two or three
//! 24-byte nodes; the memory is 24 bytes per slot ever allocated (a linked hash map node was 32
//! bytes plus its allocation and its table slot). The address hash rides along because an
//! eviction has just read the victim's node: taking the victim out of the index then needs no
//! second hash of its address, and growing the index rehashes nothing.

use super::backoff::DialState;

/// "No slot": the end of a list. Slot numbers stay below `u32::MAX` (the state module caps
/// `max_entries` there), so it is never a real slot.
const NIL: u32 = u32::MAX;

/// Number of tiers: Gossip 0, Bootstrap 1, Connected 2 (`state::rank`).
pub(crate) const TIERS: usize = 3;

/// One slot's links within its tier, its dial state and its address's index hash.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// The next less recent slot of the same tier, or `NIL` at the front.
    prev: u32,
    /// The next more recent slot of the same tier, or `NIL` at the back.
    next: u32,
    dial: DialState,
    hash: u64,
}

impl Node {
    const UNLINKED: Node = Node {
        prev: NIL,
        next: NIL,
        dial: DialState::NEVER_FAILED,
        hash: 0,
    };
}

/// One tier's ends and length.
#[derive(Debug, Clone, Copy)]
struct Ends {
    /// Least recently seen slot, or `NIL` when empty.
    front: u32,
    /// Most recently seen slot, or `NIL` when empty.
    back: u32,
    len: usize,
}

impl Ends {
    const EMPTY: Ends = Ends {
        front: NIL,
        back: NIL,
        len: 0,
    };
}

/// Three lists over one node vector indexed by slot number.
///
/// Invariant: every slot in a list is in exactly one list, once; following `next` from a
/// tier's `front` visits its `len` slots and ends at its `back`, and `prev` links the same
/// slots the other way. A slot taken out of its list keeps its node's dial state and hash
/// until it is linked again (so a caller may read them after `remove` or `pop_front`).
#[derive(Debug)]
pub(crate) struct Tiers {
    nodes: Vec<Node>,
    ends: [Ends; TIERS],
}

impl Default for Tiers {
    fn default() -> Tiers {
        Tiers {
            nodes: Vec::new(),
            ends: [Ends::EMPTY; TIERS],
        }
    }
}

impl Tiers {
    /// Room for slot numbers below `slots` without growing.
    pub(crate) fn reserve_slots(&mut self, slots: usize) {
        self.nodes.reserve(slots.saturating_sub(self.nodes.len()));
    }

    /// The tiers of a bulk load: each tier's slots in `order`, front (least recent) first, all
    /// with a fresh dial state. `tier_of` and `hashes` give each slot's tier and hash, and
    /// their length is the slot count. The tiers must be empty.
    pub(crate) fn fill(
        &mut self,
        order: impl Iterator<Item = u32>,
        tier_of: &[u8],
        hashes: &[u64],
    ) {
        debug_assert!(self.ends.iter().all(|e| e.len == 0));
        self.nodes.clear();
        self.nodes.extend(hashes.iter().map(|&hash| Node {
            hash,
            ..Node::UNLINKED
        }));
        for slot in order {
            let tier = usize::from(tier_of[slot as usize]);
            let back = self.ends[tier].back;
            self.nodes[slot as usize].prev = back;
            match back {
                NIL => self.ends[tier].front = slot,
                back => self.nodes[back as usize].next = slot,
            }
            self.ends[tier].back = slot;
            self.ends[tier].len += 1;
        }
    }

    pub(crate) fn len(&self, tier: usize) -> usize {
        self.ends[tier].len
    }

    pub(crate) fn is_empty(&self, tier: usize) -> bool {
        self.ends[tier].len == 0
    }

    /// The least recently seen slot of `tier`.
    pub(crate) fn front(&self, tier: usize) -> Option<u32> {
        Some(self.ends[tier].front).filter(|&s| s != NIL)
    }

    /// Appends `slot`, which is in no tier, at the back (most recent) of `tier` with `dial`
    /// and `hash`.
    pub(crate) fn push_back(&mut self, tier: usize, slot: u32, dial: DialState, hash: u64) {
        let at = slot as usize;
        if at >= self.nodes.len() {
            // Slots are numbered densely: the slab hands out the next number or a freed one.
            self.nodes.resize(at + 1, Node::UNLINKED);
        }
        self.nodes[at].dial = dial;
        self.nodes[at].hash = hash;
        self.link_back(tier, slot);
    }

    /// Links `slot`, which is in no tier, at the back of `tier`, with the payload its node has.
    fn link_back(&mut self, tier: usize, slot: u32) {
        let at = slot as usize;
        let back = self.ends[tier].back;
        self.nodes[at].prev = back;
        self.nodes[at].next = NIL;
        match back {
            NIL => self.ends[tier].front = slot,
            back => self.nodes[back as usize].next = slot,
        }
        self.ends[tier].back = slot;
        self.ends[tier].len += 1;
    }

    /// Takes `slot`, which is in `tier`, out of it; returns its dial state.
    pub(crate) fn remove(&mut self, tier: usize, slot: u32) -> DialState {
        let Node {
            prev, next, dial, ..
        } = self.nodes[slot as usize];
        match prev {
            NIL => self.ends[tier].front = next,
            prev => self.nodes[prev as usize].next = next,
        }
        match next {
            NIL => self.ends[tier].back = prev,
            next => self.nodes[next as usize].prev = prev,
        }
        self.ends[tier].len -= 1;
        dial
    }

    /// Takes the front (least recent) slot out of `tier`.
    pub(crate) fn pop_front(&mut self, tier: usize) -> Option<u32> {
        let slot = self.front(tier)?;
        self.remove(tier, slot);
        Some(slot)
    }

    /// Moves `slot` from `from`, where it is, to the back (most recent) of `to`, keeping its
    /// dial state and hash.
    pub(crate) fn relink(&mut self, from: usize, to: usize, slot: u32) {
        if from != to || self.ends[to].back != slot {
            self.remove(from, slot);
            self.link_back(to, slot);
        }
    }

    /// The dial state of `slot`, which is in a tier.
    pub(crate) fn dial(&self, slot: u32) -> DialState {
        self.nodes[slot as usize].dial
    }

    /// The hash `slot` was linked with (also right after it left its tier).
    pub(crate) fn hash(&self, slot: u32) -> u64 {
        self.nodes[slot as usize].hash
    }

    /// The dial state of `slot`, which is in a tier, for writing.
    pub(crate) fn dial_mut(&mut self, slot: u32) -> &mut DialState {
        &mut self.nodes[slot as usize].dial
    }

    /// The slots of `tier`, front (least recent) to back; `.rev()` walks most recent first.
    pub(crate) fn iter(&self, tier: usize) -> Iter<'_> {
        let ends = self.ends[tier];
        Iter {
            nodes: &self.nodes,
            front: ends.front,
            back: ends.back,
            left: ends.len,
        }
    }

    /// Heap bytes held (for the memory figures in ARCHITECTURE.md).
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
    }
}

/// A walk of one tier from either end.
pub(crate) struct Iter<'a> {
    nodes: &'a [Node],
    front: u32,
    back: u32,
    /// Slots not yet yielded from either end.
    left: usize,
}

impl Iterator for Iter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let slot = self.front;
        self.front = self.nodes[slot as usize].next;
        Some(slot)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<u32> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let slot = self.back;
        self.back = self.nodes[slot as usize].prev;
        Some(slot)
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    /// The lists' size per slot, which ARCHITECTURE.md's memory figures use.
    #[test]
    fn a_node_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Node>(), 24);
        let mut tiers = Tiers::default();
        tiers.reserve_slots(1000);
        assert_eq!(tiers.heap_bytes(), 24_000);
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Push slot (a free one picked by index) to the back of a tier.
        Push(usize, u8, u64),
        /// Remove a linked slot (picked by index).
        Remove(usize),
        PopFront(u8),
        /// Move a linked slot (picked by index) to the back of a tier (its own or another).
        Relink(usize, u8),
        /// Set a linked slot's dial state.
        Dial(usize, u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<usize>(), 0u8..3, 0u64..1000).prop_map(|(i, t, d)| Op::Push(i, t, d)),
            any::<usize>().prop_map(Op::Remove),
            (0u8..3).prop_map(Op::PopFront),
            (any::<usize>(), 0u8..3).prop_map(|(i, t)| Op::Relink(i, t)),
            (any::<usize>(), 0u64..1000).prop_map(|(i, d)| Op::Dial(i, d)),
        ]
    }

    fn dial(n: u64) -> DialState {
        DialState::NEVER_FAILED.after_failure(
            n * 1000,
            &crate::store::Backoff {
                base_ms: 1,
                cap_ms: 1,
                jitter_permille: 0,
            },
            |_| 0,
        )
    }

    /// Each tier against a `VecDeque` of (slot, dial), front = least recent; a slot's hash is
    /// its number plus 1000.
    fn check(tiers: &Tiers, model: &[VecDeque<(u32, DialState)>; TIERS]) {
        for (t, m) in model.iter().enumerate() {
            let want: Vec<u32> = m.iter().map(|&(s, _)| s).collect();
            assert_eq!(tiers.iter(t).collect::<Vec<_>>(), want);
            let mut back: Vec<u32> = tiers.iter(t).rev().collect();
            back.reverse();
            assert_eq!(back, want);
            assert_eq!(tiers.len(t), m.len());
            assert_eq!(tiers.is_empty(t), m.is_empty());
            assert_eq!(tiers.front(t), m.front().map(|&(s, _)| s));
            for &(s, d) in m {
                assert_eq!(tiers.dial(s), d);
                assert_eq!(tiers.hash(s), u64::from(s) + 1000);
            }
            // Both ends at once meet in the middle without repeating a slot.
            let mut it = tiers.iter(t);
            let mut both = Vec::new();
            while let Some(s) = it.next() {
                both.push(s);
                if let Some(b) = it.next_back() {
                    both.push(b);
                }
            }
            both.sort_unstable();
            let mut sorted = want.clone();
            sorted.sort_unstable();
            assert_eq!(both, sorted);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every operation does to the lists what it does to a model of three deques, and a
        /// bulk fill gives the lists a pushes in the same order would.
        #[test]
        fn tiers_match_a_deque_model(
            ops in prop::collection::vec(op(), 0..200),
            bulk in prop::collection::vec(0u8..3, 0..40),
        ) {
            const SLOTS: u32 = 24;
            let mut tiers = Tiers::default();
            let mut model: [VecDeque<(u32, DialState)>; TIERS] = Default::default();
            let tier_of = |model: &[VecDeque<(u32, DialState)>; TIERS], slot: u32| {
                model.iter().position(|m| m.iter().any(|&(s, _)| s == slot))
            };
            for op in ops {
                let linked: Vec<u32> = (0..SLOTS).filter(|&s| tier_of(&model, s).is_some()).collect();
                let free: Vec<u32> = (0..SLOTS).filter(|&s| tier_of(&model, s).is_none()).collect();
                match op {
                    Op::Push(i, t, d) if !free.is_empty() => {
                        let slot = free[i % free.len()];
                        tiers.push_back(usize::from(t), slot, dial(d), u64::from(slot) + 1000);
                        model[usize::from(t)].push_back((slot, dial(d)));
                    }
                    Op::Remove(i) if !linked.is_empty() => {
                        let slot = linked[i % linked.len()];
                        let t = tier_of(&model, slot).expect("linked");
                        let at = model[t].iter().position(|&(s, _)| s == slot).expect("in it");
                        let (_, d) = model[t].remove(at).expect("in it");
                        prop_assert_eq!(tiers.remove(t, slot), d);
                        prop_assert_eq!(tiers.hash(slot), u64::from(slot) + 1000);
                    }
                    Op::PopFront(t) => {
                        let t = usize::from(t);
                        prop_assert_eq!(tiers.pop_front(t), model[t].pop_front().map(|(s, _)| s));
                    }
                    Op::Relink(i, to) if !linked.is_empty() => {
                        let slot = linked[i % linked.len()];
                        let t = tier_of(&model, slot).expect("linked");
                        let at = model[t].iter().position(|&(s, _)| s == slot).expect("in it");
                        let item = model[t].remove(at).expect("in it");
                        model[usize::from(to)].push_back(item);
                        tiers.relink(t, usize::from(to), slot);
                    }
                    Op::Dial(i, d) if !linked.is_empty() => {
                        let slot = linked[i % linked.len()];
                        let t = tier_of(&model, slot).expect("linked");
                        for item in model[t].iter_mut().filter(|(s, _)| *s == slot) {
                            item.1 = dial(d);
                        }
                        *tiers.dial_mut(slot) = dial(d);
                    }
                    _ => {}
                }
                check(&tiers, &model);
            }

            // A bulk fill of slots 0.. in a shuffled order equals pushes in that order.
            let n = bulk.len() as u32;
            let order: Vec<u32> = (0..n).map(|i| (i * 7 + 3) % n.max(1)).collect();
            let order = if n % 7 == 0 { (0..n).collect() } else { order };
            let hashes: Vec<u64> = (0..n).map(|s| u64::from(s) + 1000).collect();
            let mut filled = Tiers::default();
            filled.fill(order.iter().copied(), &bulk, &hashes);
            let mut pushed = Tiers::default();
            let mut model: [VecDeque<(u32, DialState)>; TIERS] = Default::default();
            for &slot in &order {
                let t = usize::from(bulk[slot as usize]);
                pushed.push_back(t, slot, DialState::NEVER_FAILED, u64::from(slot) + 1000);
                model[t].push_back((slot, DialState::NEVER_FAILED));
            }
            check(&filled, &model);
            check(&pushed, &model);
        }
    }
}
