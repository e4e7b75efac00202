//! Encoding work shared by every client in one tick.
//!
//! An entity's update depends only on the state the client last acknowledged for
//! it and its state now. Clients that acknowledged the same tick share that old
//! state, so the record is packed once per (old state) per tick and appended to
//! each body that needs it. An entering entity's record does not depend on the
//! client at all (its id gap is written per body).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use meridian_protocol::NetworkId;
use meridian_protocol::bits::PackedBits;
use meridian_protocol::snapshot::{EntityState, pack_entered, pack_update};

use super::id_index::IdIndex;

/// A small multiplicative hasher for the tick cache: keys are a few integers
/// produced by this server, not attacker-chosen strings.
#[derive(Default)]
pub(crate) struct StateHasher(u64);

impl Hasher for StateHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }

    fn write_u16(&mut self, value: u16) {
        self.write_u64(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }
}

/// This tick's packed records, reused across ticks.
///
/// Update records sit in one slot per state index, for the first old state any
/// client asked about (clients that acknowledged the same tick share it, which is
/// the common case), so a lookup is an index and one comparison; other old states
/// (clients on an older baseline, or with a change deferred) go to a map.
#[derive(Debug, Default)]
pub struct SharedEncodings {
    tick: Option<u32>,
    /// Whether `index` describes this batch's states.
    index_built: bool,
    /// This batch's index of each id.
    index: IdIndex,
    /// Per index into this tick's states: the entered record, packed on first use.
    entered: Vec<Option<PackedBits>>,
    /// Per index into this tick's states: the first old state asked about and
    /// its update record.
    first_updates: Vec<Option<(EntityState, PackedBits)>>,
    /// Update records by the old state (the new one is this tick's state of the
    /// same id), for old states other than the first.
    updates: HashMap<EntityState, PackedBits, BuildHasherDefault<StateHasher>>,
    packed: u64,
    reused: u64,
}

impl SharedEncodings {
    /// Starts encoding against a new set of states (one zone's, this tick):
    /// forgets everything packed before, even within the same tick, because
    /// another zone's states are indexed differently.
    pub fn begin_batch(&mut self, tick: u32, state_count: usize) {
        self.tick = None;
        self.begin_tick(tick, state_count);
    }

    /// Starts a tick whose states (sorted by id) number `state_count`.
    pub fn begin_tick(&mut self, tick: u32, state_count: usize) {
        if self.tick != Some(tick) {
            self.tick = Some(tick);
            self.index_built = false;
            self.entered.clear();
            self.entered.resize(state_count, None);
            self.first_updates.clear();
            self.first_updates.resize(state_count, None);
            self.updates.clear();
        }
    }

    /// The index of `id` in this batch's `states` (sorted by id), through an
    /// index built once per batch ([`IdIndex`]).
    #[inline]
    pub(crate) fn index_of(&mut self, states: &[EntityState], id: NetworkId) -> Option<usize> {
        if !self.index_built {
            self.index.build(states);
            self.index_built = true;
        }
        match self.index.get(id) {
            None => None,
            Some(index) if states.get(index).is_some_and(|s| s.id == id) => Some(index),
            // Checked against the states, so a caller that passes other states
            // within one batch still gets a right answer (by search).
            Some(_) => states.binary_search_by_key(&id, |state| state.id).ok(),
        }
    }

    /// The update record from `old` to `states[index]` (same id), packed once per
    /// tick per old state.
    #[inline]
    pub(crate) fn update(
        &mut self,
        old: &EntityState,
        states: &[EntityState],
        index: usize,
    ) -> PackedBits {
        let new = &states[index];
        match self.first_updates.get_mut(index) {
            Some(Some((first_old, packed))) if first_old == old => {
                self.reused += 1;
                *packed
            }
            Some(slot @ None) => {
                self.packed += 1;
                let packed = pack_update(old, new);
                *slot = Some((*old, packed));
                packed
            }
            _ => {
                if let Some(packed) = self.updates.get(old) {
                    self.reused += 1;
                    return *packed;
                }
                self.packed += 1;
                let packed = pack_update(old, new);
                self.updates.insert(*old, packed);
                packed
            }
        }
    }

    /// The entered record of `states[index]`, packed once per tick.
    #[inline]
    pub(crate) fn entered(&mut self, states: &[EntityState], index: usize) -> PackedBits {
        match self.entered.get(index).copied().flatten() {
            Some(packed) => {
                self.reused += 1;
                packed
            }
            None => {
                self.packed += 1;
                let packed = pack_entered(&states[index]);
                if let Some(slot) = self.entered.get_mut(index) {
                    *slot = Some(packed);
                }
                packed
            }
        }
    }

    /// Records packed, and records reused from the cache, since the start.
    pub fn counts(&self) -> (u64, u64) {
        (self.packed, self.reused)
    }
}
