//! Encoding work shared by every client in one tick.
//!
//! An entity's update depends only on the state the client last acknowledged for
//! it and its state now. Clients that acknowledged the same tick share that old
//! state, so the record is packed once per (old state) per tick and appended to
//! each body that needs it. An entering entity's record does not depend on the
//! client at all (its id gap is written per body).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use meridian_protocol::bits::PackedBits;
use meridian_protocol::snapshot::{EntityState, pack_entered, pack_update};

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
#[derive(Debug, Default)]
pub struct SharedEncodings {
    tick: Option<u32>,
    /// Per index into this tick's states: the entered record, packed on first use.
    entered: Vec<Option<PackedBits>>,
    /// Update records by the old state (the new one is this tick's state of the
    /// same id).
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
            self.entered.clear();
            self.entered.resize(state_count, None);
            self.updates.clear();
        }
    }

    /// The update record from `old` to `new` (same id), packed once per tick.
    pub(crate) fn update(&mut self, old: &EntityState, new: &EntityState) -> PackedBits {
        if let Some(packed) = self.updates.get(old) {
            self.reused += 1;
            return *packed;
        }
        self.packed += 1;
        let packed = pack_update(old, new);
        self.updates.insert(*old, packed);
        packed
    }

    /// The entered record of `states[index]`, packed once per tick.
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
