//! Maps and sets keyed by the server's own small integers (quinn's
//! connection handles, connection ids, session keys, avatars' network ids),
//! hashed with one multiply per word instead of SipHash.
//!
//! SipHash guards a map against keys an attacker picks; these keys are
//! handed out by quinn's endpoint and by the server's own counters, never
//! taken from the network, so the guard buys nothing and costs a visible
//! share of the loop's turn and of the zone's tick (they look connections
//! and avatars up several times per datagram, per member and per view).
//! Keys that come from the network (account ids in requests, addresses)
//! stay on SipHash.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` for keys the server hands out itself.
pub type SmallKeyMap<K, V> = HashMap<K, V, BuildHasherDefault<SmallKeyHasher>>;

/// A `HashSet` for keys the server hands out itself.
pub type SmallKeySet<K> = HashSet<K, BuildHasherDefault<SmallKeyHasher>>;

/// An odd constant with well-spread bits (2^64 / the golden ratio).
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

/// Multiply-rotate hashing of integer words: each word is folded into the
/// state with a rotate, xor and multiply, so neighbouring keys land far
/// apart in the table's buckets (which hashbrown picks from the top bits).
#[derive(Debug, Default, Clone, Copy)]
pub struct SmallKeyHasher {
    state: u64,
}

impl SmallKeyHasher {
    fn add(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(SPREAD);
    }
}

impl Hasher for SmallKeyHasher {
    fn finish(&self) -> u64 {
        self.state
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    fn write_u16(&mut self, value: u16) {
        self.add(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn consecutive_keys_spread_over_the_buckets_top_bits() {
        let build = BuildHasherDefault::<SmallKeyHasher>::default();
        // hashbrown takes the control byte from the top 7 bits and the
        // bucket from the low bits: both must vary over a run of handles.
        let top: HashSet<u64> = (0..10_000_usize)
            .map(|key| build.hash_one(key) >> 57)
            .collect();
        let low: HashSet<u64> = (0..10_000_usize)
            .map(|key| build.hash_one(key) & 0x3fff)
            .collect();
        assert_eq!(top.len(), 128);
        assert!(low.len() > 5_000, "{} distinct low parts", low.len());
    }

    #[test]
    fn the_map_keeps_every_key() {
        let mut map: SmallKeyMap<(usize, u64), usize> = SmallKeyMap::default();
        for key in 0..50_000_usize {
            map.insert((key % 7, key as u64), key);
        }
        assert_eq!(map.len(), 50_000);
        assert!((0..50_000_usize).all(|key| map[&(key % 7, key as u64)] == key));
    }
}
