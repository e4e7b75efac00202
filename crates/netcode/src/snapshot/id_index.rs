//! Where each network id sits in one batch's states (sorted by id), found in
//! constant time whatever the ids look like.
//!
//! A zone's ids come in a few dense runs: its elements and server-driven
//! avatars from the zone's own range, players' avatars from a range by
//! account far above it (one process is a cluster of one). One table over
//! the whole span would be mostly holes, so each run gets a table of its own;
//! ids too scattered for a few runs (accounts far apart) go to a hash map.
//! Either way a lookup never searches the states: the encoder asks once per
//! client and visible entity, every tick.

use meridian_protocol::NetworkId;
use meridian_protocol::snapshot::EntityState;

use crate::small_keys::SmallKeyMap;

/// An id with no state in this batch.
const NO_INDEX: u32 = u32::MAX;

/// A gap between neighbouring ids wider than this starts a new run.
const RUN_GAP: u32 = 256;

/// Runs a batch may have before its ids go to the map instead.
const MAX_RUNS: usize = 8;

/// The runs' tables may hold at most this many slots per state (plus
/// [`TABLE_SLACK`]) before the ids go to the map instead.
const TABLE_FACTOR: usize = 4;
const TABLE_SLACK: usize = 1_024;

/// One dense run of ids: `first..first + span`, its indexes at
/// `table[offset..offset + span]`; `states` of them have a state.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    first: u32,
    span: u32,
    offset: usize,
    states: usize,
}

/// One batch's id → index lookup.
#[derive(Debug, Default)]
pub(crate) struct IdIndex {
    /// The run with the most states, asked first (empty when hashed).
    main: Run,
    /// The other runs.
    runs: Vec<Run>,
    table: Vec<u32>,
    /// Used instead of the runs when the ids are too scattered.
    scattered: SmallKeyMap<u32, u32>,
    hashed: bool,
}

impl IdIndex {
    /// Indexes `states` (sorted by id), reusing the tables' memory.
    pub(crate) fn build(&mut self, states: &[EntityState]) {
        self.main = Run::default();
        self.runs.clear();
        self.table.clear();
        self.scattered.clear();
        self.hashed = false;
        let Some(first) = states.first() else {
            return;
        };
        let mut run = Run {
            first: first.id.0,
            span: 1,
            offset: 0,
            states: 1,
        };
        let mut slots = 0usize;
        for pair in states.windows(2) {
            let (before, after) = (pair[0].id.0, pair[1].id.0);
            if after.wrapping_sub(before) > RUN_GAP {
                slots += run.span as usize;
                self.runs.push(run);
                run = Run {
                    first: after,
                    span: 1,
                    offset: slots,
                    states: 1,
                };
            } else {
                run.span = after - run.first + 1;
                run.states += 1;
            }
        }
        slots += run.span as usize;
        self.runs.push(run);
        if self.runs.len() > MAX_RUNS || slots > TABLE_FACTOR * states.len() + TABLE_SLACK {
            self.runs.clear();
            self.hashed = true;
            self.scattered.reserve(states.len());
            for (index, state) in states.iter().enumerate() {
                // A batch holds far fewer than u32::MAX states.
                self.scattered.insert(state.id.0, index as u32);
            }
            return;
        }
        self.table.resize(slots, NO_INDEX);
        let mut runs = self.runs.iter().peekable();
        for (index, state) in states.iter().enumerate() {
            while let Some(run) = runs.peek() {
                if state.id.0.wrapping_sub(run.first) < run.span {
                    break;
                }
                runs.next();
            }
            if let Some(run) = runs.peek() {
                let slot = run.offset + state.id.0.wrapping_sub(run.first) as usize;
                self.table[slot] = index as u32;
            }
        }
        let main = (0..self.runs.len())
            .max_by_key(|&at| self.runs[at].states)
            .unwrap_or_default();
        self.main = self.runs.swap_remove(main);
    }

    /// The index of `id` in the states last built, if it has one.
    #[inline]
    pub(crate) fn get(&self, id: NetworkId) -> Option<usize> {
        let slot = id.0.wrapping_sub(self.main.first);
        if slot < self.main.span {
            return self.at(self.main.offset + slot as usize);
        }
        self.beyond_main(id)
    }

    /// [`Self::get`] for an id outside the main run.
    fn beyond_main(&self, id: NetworkId) -> Option<usize> {
        if self.hashed {
            return self.scattered.get(&id.0).map(|&index| index as usize);
        }
        for run in &self.runs {
            let slot = id.0.wrapping_sub(run.first);
            if slot < run.span {
                return self.at(run.offset + slot as usize);
            }
        }
        None
    }

    #[inline]
    fn at(&self, slot: usize) -> Option<usize> {
        match self.table.get(slot) {
            Some(&NO_INDEX) | None => None,
            Some(&index) => Some(index as usize),
        }
    }

    /// Whether the ids were too scattered for runs (a figure for tests).
    #[cfg(test)]
    pub(crate) fn is_hashed(&self) -> bool {
        self.hashed
    }

    /// Runs in use (0 when hashed; a figure for tests).
    #[cfg(test)]
    pub(crate) fn runs(&self) -> usize {
        if self.main.span == 0 {
            0
        } else {
            1 + self.runs.len()
        }
    }
}

#[cfg(test)]
mod tests {
    use meridian_protocol::messages::AnimationState;
    use meridian_protocol::snapshot::EntityKind;

    use super::*;

    fn states(ids: impl IntoIterator<Item = u32>) -> Vec<EntityState> {
        ids.into_iter()
            .map(|id| {
                EntityState::quantize(
                    NetworkId(id),
                    EntityKind::Avatar,
                    0,
                    [1.0, 1.0],
                    0.0,
                    AnimationState::Idle,
                )
            })
            .collect()
    }

    fn every_id_is_found(index: &IdIndex, states: &[EntityState]) {
        for (at, state) in states.iter().enumerate() {
            assert_eq!(index.get(state.id), Some(at), "id {}", state.id.0);
        }
    }

    #[test]
    fn elements_and_players_far_above_them_are_two_runs() {
        // A fresh world as one process runs it: 40 starter elements from the
        // zone's range, 1,000 players from 2^20 + 1 + account.
        let states = states((1..=40).chain((1..=1000).map(|account| (1 << 20) + 1 + account)));
        let mut index = IdIndex::default();
        index.build(&states);
        assert!(!index.is_hashed());
        assert_eq!(index.runs(), 2);
        every_id_is_found(&index, &states);
        assert_eq!(index.get(NetworkId(41)), None);
        assert_eq!(index.get(NetworkId(1 << 20)), None);
        assert_eq!(index.get(NetworkId(u32::MAX)), None);
    }

    #[test]
    fn holes_inside_a_run_are_absent() {
        let states = states([10, 12, 13, 200, 201]);
        let mut index = IdIndex::default();
        index.build(&states);
        assert_eq!(index.runs(), 1);
        every_id_is_found(&index, &states);
        assert_eq!(index.get(NetworkId(11)), None);
        assert_eq!(index.get(NetworkId(9)), None);
    }

    #[test]
    fn scattered_ids_go_to_the_map() {
        // Players whose accounts are far apart (a large database).
        let states = states((0..500).map(|n| 5 + n * 10_000));
        let mut index = IdIndex::default();
        index.build(&states);
        assert!(index.is_hashed());
        every_id_is_found(&index, &states);
        assert_eq!(index.get(NetworkId(6)), None);
    }

    #[test]
    fn a_rebuild_forgets_the_last_batch() {
        let mut index = IdIndex::default();
        index.build(&states((0..500).map(|n| 5 + n * 10_000)));
        let dense = states(1..=100);
        index.build(&dense);
        assert!(!index.is_hashed());
        every_id_is_found(&index, &dense);
        assert_eq!(index.get(NetworkId(10_005)), None);
        index.build(&[]);
        assert_eq!(index.get(NetworkId(1)), None);
    }
}
