//! A test [`EntrySource`] that claims unique addresses without checking them, so a writer skips
//! its own duplicate check: the only way to write a file with a repeated address, as a buggy or
//! hostile writer would. Shared by the codecs tests and (by `#[path]`) the store's tests.
#![allow(dead_code)]

use knownpeers_codecs::{EntrySource, PeerEntry};

/// Entries written as they are, repeats included.
pub struct Unchecked(pub Vec<PeerEntry>);

impl EntrySource for Unchecked {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn entries(&self) -> Box<dyn Iterator<Item = &PeerEntry> + '_> {
        Box::new(self.0.iter())
    }
    fn addrs_unique(&self) -> bool {
        true
    }
}
