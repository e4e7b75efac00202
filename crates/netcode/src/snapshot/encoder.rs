//! One client's snapshots: baselines, the priority accumulator and the byte budget.
//!
//! Each tick, [`ClientReplication::encode`] compares the client's view now with
//! the view it holds as of the newest snapshot it acknowledged (its baseline) and
//! lists the pending changes: updates, leaves and enters. Every pending change adds
//! its weight (by kind, nearer counts more) to an accumulator kept per entity; the
//! changes with the highest accumulated priority are written first, while they fit
//! the tick's byte budget. A change that does not fit keeps its priority and waits:
//! the client keeps the baseline's state for that entity, and the ring records
//! exactly what the client will hold, so later deltas stay consistent.
//!
//! The common case costs little per (client, changed entity): the entity's index
//! comes from a table built once per tick, its record was packed once per tick
//! (see [`SharedEncodings`]) and is appended to the body a word at a time, runs
//! of unchanged entities are written as runs of zero bits, and when every change
//! fits the budget (usually) no priority is computed or sorted at all.

use meridian_protocol::NetworkId;
use meridian_protocol::bits::{BitWriter, PackedBits, varuint_bits};
use meridian_protocol::messages::Snapshot;
use meridian_protocol::snapshot::EntityState;
use meridian_protocol::{EncodeError, limits::MAX_DATAGRAM_PAYLOAD};

use super::ring::{RING_SIZE, ViewRing};
use super::shared::SharedEncodings;

/// The most bytes a snapshot message adds around its body: variant, tick,
/// baseline option and tick, input sequence and body length, as postcard varints.
pub const SNAPSHOT_HEADER_MAX: usize = 1 + 5 + 1 + 5 + 5 + 2;

/// The largest body that fits one datagram with its header.
pub const MAX_BODY_BYTES: usize = MAX_DATAGRAM_PAYLOAD - SNAPSHOT_HEADER_MAX;

/// Weight per tick of a pending leave, enter and update, before distance.
const LEAVE_WEIGHT: f32 = 4.0;
const ENTER_WEIGHT: f32 = 2.0;
const UPDATE_WEIGHT: f32 = 1.0;
/// Metres at which a change's weight halves.
const DISTANCE_SCALE: f32 = 10.0;

/// What one encode did, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeReport {
    /// Bytes of the whole snapshot message.
    pub bytes: usize,
    /// Bytes of its bit-packed body alone.
    pub body_bytes: usize,
    /// A keyframe (no acknowledged baseline)?
    pub keyframe: bool,
    /// Changes written.
    pub sent: usize,
    /// Changes that did not fit the budget and wait.
    pub deferred: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ChangeKind {
    /// Baseline entity at this index changes to the state at `new` (index into states).
    Update { baseline: usize, new: usize },
    /// Baseline entity at this index left the view.
    Leave { baseline: usize },
    /// The state at this index enters.
    Enter { new: usize },
}

#[derive(Debug, Clone, Copy)]
struct Change {
    id: NetworkId,
    kind: ChangeKind,
    /// The packed record of an update (`1 1` and the fields) or of an enter
    /// (without its id gap); empty for a leave.
    record: PackedBits,
    priority: f32,
    cost_bits: usize,
    chosen: bool,
}

/// A client's replication state on the server.
#[derive(Debug, Default)]
pub struct ClientReplication {
    ring: ViewRing,
    acked: Option<u32>,
    newest_sent: Option<u32>,
    work: Work,
}

/// Buffers and the priority accumulator, apart from the ring so that a baseline
/// borrowed from the ring can be read while they change.
#[derive(Debug, Default)]
struct Work {
    /// Accumulated priority of pending changes, sorted by id.
    priorities: Vec<(NetworkId, f32)>,
    next_priorities: Vec<(NetworkId, f32)>,
    changes: Vec<Change>,
    order: Vec<usize>,
    body: Vec<u8>,
    /// The view being built for the ring; swapped with the ring's slot.
    next_view: Vec<EntityState>,
}

impl ClientReplication {
    /// Records an acknowledgement. Returns false (and changes nothing) for a tick
    /// never sent or no longer held.
    pub fn acknowledge(&mut self, tick: u32) -> bool {
        let sent = self.newest_sent.is_some_and(|newest| tick <= newest);
        if !sent || self.ring.get(tick).is_none() {
            return false;
        }
        if self.acked.is_none_or(|acked| tick > acked) {
            self.acked = Some(tick);
        }
        true
    }

    /// The newest acknowledged tick.
    pub fn acked(&self) -> Option<u32> {
        self.acked
    }

    /// The baseline for a snapshot at `tick`: the newest acknowledged one, if the
    /// ring still holds it.
    fn baseline_tick(&self, tick: u32) -> Option<u32> {
        let acked = self.acked?;
        (tick.wrapping_sub(acked) < RING_SIZE as u32 && self.ring.get(acked).is_some())
            .then_some(acked)
    }

    /// Encodes this tick's snapshot into `out` (cleared first).
    ///
    /// `visible` are the ids the client sees, sorted; `states` this tick's states
    /// of every entity, sorted by id; `viewer` the client's own position (for
    /// distance priority). The message fits one datagram.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call per client per tick; a struct would only rename them"
    )]
    pub fn encode(
        &mut self,
        tick: u32,
        visible: &[NetworkId],
        states: &[EntityState],
        shared: &mut SharedEncodings,
        viewer: Option<[f32; 2]>,
        budget_bytes: usize,
        last_input_sequence: u32,
        out: &mut Vec<u8>,
    ) -> Result<EncodeReport, EncodeError> {
        let baseline_tick = self.baseline_tick(tick);
        let empty: &[EntityState] = &[];
        let baseline = baseline_tick
            .and_then(|baseline| self.ring.get(baseline))
            .unwrap_or(empty);
        let work = &mut self.work;
        work.list_changes(baseline, visible, states, shared);
        let budget_bits = 8 * budget_bytes.min(MAX_BODY_BYTES);
        let fixed_bits = baseline.len() + varuint_bits(MAX_ENTER_COUNT);
        let (sent, deferred) = work.choose(
            budget_bits.saturating_sub(fixed_bits),
            baseline,
            states,
            viewer,
        );
        work.write_body(baseline.len());
        work.apply_chosen(baseline, states);
        std::mem::swap(self.ring.slot(tick), &mut work.next_view);
        self.newest_sent = Some(tick);
        out.clear();
        Snapshot::encode_parts(
            tick,
            baseline_tick,
            last_input_sequence,
            &self.work.body,
            out,
        )?;
        Ok(EncodeReport {
            bytes: out.len(),
            body_bytes: self.work.body.len(),
            keyframe: baseline_tick.is_none(),
            sent,
            deferred,
        })
    }
}

/// The weight of a pending change at `state` for a viewer at `viewer`: nearer
/// counts more.
fn weight(viewer: Option<[f32; 2]>, state: &EntityState, base: f32) -> f32 {
    match viewer {
        Some([x, y]) => {
            let [ex, ey] = state.position();
            let distance = ((ex - x).powi(2) + (ey - y).powi(2)).sqrt();
            base / (1.0 + distance / DISTANCE_SCALE)
        }
        None => base,
    }
}

impl Work {
    /// Merges baseline and view (both sorted by id) into the pending changes, in
    /// id order, each with its packed record and cost (priorities come later,
    /// and only if the changes do not all fit).
    fn list_changes(
        &mut self,
        baseline: &[EntityState],
        visible: &[NetworkId],
        states: &[EntityState],
        shared: &mut SharedEncodings,
    ) {
        self.changes.clear();
        let (mut b, mut v) = (0usize, 0usize);
        let push = |changes: &mut Vec<Change>, id, kind, record: PackedBits, cost_bits| {
            changes.push(Change {
                id,
                kind,
                record,
                priority: 0.0,
                cost_bits,
                chosen: true,
            });
        };
        loop {
            let old = baseline.get(b);
            let new_id = visible.get(v).copied();
            let new = new_id.and_then(|id| shared.index_of(states, id).map(|index| (id, index)));
            if new_id.is_some() && new.is_none() {
                // Visible but without a state (cannot happen within one tick);
                // skip it rather than send garbage.
                v += 1;
                continue;
            }
            match (old, new) {
                (Some(old), Some((id, index)))
                    if old.id == id && old.same_spawn(&states[index]) =>
                {
                    if states[index] != *old {
                        let record = shared.update(old, states, index);
                        let kind = ChangeKind::Update {
                            baseline: b,
                            new: index,
                        };
                        // The record replaces the unchanged bit already counted.
                        push(&mut self.changes, id, kind, record, record.len() - 1);
                    }
                    b += 1;
                    v += 1;
                }
                (Some(old), new) if new.is_none_or(|(id, _)| old.id <= id) => {
                    // Gone from the view (or its kind or footprint changed: it
                    // leaves, then enters again below).
                    let kind = ChangeKind::Leave { baseline: b };
                    push(&mut self.changes, old.id, kind, PackedBits::default(), 1);
                    b += 1;
                }
                (_, Some((id, index))) => {
                    let record = shared.entered(states, index);
                    // The id gap is at most the id itself.
                    let cost = varuint_bits(id.0) + record.len();
                    let kind = ChangeKind::Enter { new: index };
                    push(&mut self.changes, id, kind, record, cost);
                    v += 1;
                }
                // (Some, None) is a leave above; only (None, None) reaches here.
                (_, None) => break,
            }
        }
    }

    /// Marks the highest-priority changes that fit `budget_bits`, and keeps the
    /// accumulated priority of the rest. Returns (chosen, deferred).
    ///
    /// When every change fits (the usual case) every one is chosen, as the
    /// priority order would have chosen them, without computing priorities.
    fn choose(
        &mut self,
        budget_bits: usize,
        baseline: &[EntityState],
        states: &[EntityState],
        viewer: Option<[f32; 2]>,
    ) -> (usize, usize) {
        let (mut total_bits, mut enters) = (0usize, 0usize);
        for change in &self.changes {
            total_bits += change.cost_bits;
            enters += usize::from(matches!(change.kind, ChangeKind::Enter { .. }));
        }
        if total_bits <= budget_bits && enters <= MAX_ENTER_COUNT as usize {
            // `list_changes` marks every change chosen.
            self.priorities.clear();
            return (self.changes.len(), 0);
        }
        for change in &mut self.changes {
            change.chosen = false;
        }
        self.add_priorities(baseline, states, viewer);
        self.order.clear();
        // Grown with the changes' capacity (doubling), not to each new count.
        self.order.reserve(self.changes.capacity());
        self.order.extend(0..self.changes.len());
        let changes = &self.changes;
        self.order.sort_unstable_by(|&a, &b| {
            changes[b]
                .priority
                .total_cmp(&changes[a].priority)
                .then(changes[a].id.cmp(&changes[b].id))
        });
        let mut used = 0usize;
        let mut enters = 0usize;
        for &index in &self.order {
            let change = &mut self.changes[index];
            let is_enter = matches!(change.kind, ChangeKind::Enter { .. });
            if used + change.cost_bits <= budget_bits
                && (!is_enter || enters < MAX_ENTER_COUNT as usize)
            {
                used += change.cost_bits;
                enters += usize::from(is_enter);
                change.chosen = true;
            }
        }
        // A kind (or footprint) change is a leave and an enter of the same id; the enter may only
        // go with its leave, or the client would hold the id twice.
        for pair in 1..self.changes.len() {
            let (leave, enter) = (self.changes[pair - 1], self.changes[pair]);
            if leave.id == enter.id && !leave.chosen && enter.chosen {
                self.changes[pair].chosen = false;
            }
        }
        self.next_priorities.clear();
        self.next_priorities.extend(
            self.changes
                .iter()
                .filter(|change| !change.chosen)
                .map(|change| (change.id, change.priority)),
        );
        std::mem::swap(&mut self.priorities, &mut self.next_priorities);
        let deferred = self.priorities.len();
        (self.changes.len() - deferred, deferred)
    }

    /// Gives every change its accumulated priority: what it carried from earlier
    /// ticks plus this tick's weight.
    fn add_priorities(
        &mut self,
        baseline: &[EntityState],
        states: &[EntityState],
        viewer: Option<[f32; 2]>,
    ) {
        let mut previous_priority = self.priorities.iter().peekable();
        for change in &mut self.changes {
            let id = change.id;
            while previous_priority.next_if(|(old, _)| *old < id).is_some() {}
            let carried = previous_priority
                .next_if(|(old, _)| *old == id)
                .map_or(0.0, |(_, priority)| *priority);
            let added = match change.kind {
                ChangeKind::Update { new, .. } => weight(viewer, &states[new], UPDATE_WEIGHT),
                ChangeKind::Leave { baseline: index } => {
                    weight(viewer, &baseline[index], LEAVE_WEIGHT)
                }
                ChangeKind::Enter { new } => weight(viewer, &states[new], ENTER_WEIGHT),
            };
            change.priority = carried + added;
        }
    }

    /// Writes the body: each chosen update's record appended whole, runs of
    /// unchanged baseline entities as runs of zero bits, then the enters.
    fn write_body(&mut self, baseline_len: usize) {
        self.body.clear();
        let mut writer = BitWriter::new(&mut self.body);
        let mut next_baseline = 0usize;
        let mut entering = 0u32;
        for change in self.changes.iter().filter(|change| change.chosen) {
            match change.kind {
                ChangeKind::Update { baseline, .. } => {
                    writer.write_zeros(baseline - next_baseline);
                    writer.write_packed(&change.record);
                    next_baseline = baseline + 1;
                }
                ChangeKind::Leave { baseline } => {
                    writer.write_zeros(baseline - next_baseline);
                    // changed = 1, present = 0.
                    writer.write_bits(0b01, 2);
                    next_baseline = baseline + 1;
                }
                ChangeKind::Enter { .. } => entering += 1,
            }
        }
        writer.write_zeros(baseline_len - next_baseline);
        // `choose` caps enters at MAX_ENTER_COUNT.
        writer.write_varuint(entering);
        if entering > 0 {
            let mut next_id = 0u32;
            for change in &self.changes {
                if change.chosen && matches!(change.kind, ChangeKind::Enter { .. }) {
                    writer.write_varuint(change.id.0 - next_id);
                    writer.write_packed(&change.record);
                    next_id = change.id.0.saturating_add(1);
                }
            }
        }
        writer.finish();
    }

    /// Builds in `next_view` the view the client will hold after this snapshot:
    /// the baseline with the chosen changes applied. Runs of baseline entities
    /// without a chosen change are copied whole.
    fn apply_chosen(&mut self, baseline: &[EntityState], states: &[EntityState]) {
        let view = &mut self.next_view;
        view.clear();
        // The view holds at most the baseline and the enters. The ring's buffers
        // circulate through here, each back once per turn of the ring, so one
        // that must grow gets a quarter's headroom: views that wobble in size
        // then stop reallocating within a turn or two.
        let enters = self
            .changes
            .iter()
            .filter(|change| change.chosen && matches!(change.kind, ChangeKind::Enter { .. }))
            .count();
        let needed = baseline.len() + enters;
        if view.capacity() < needed {
            view.reserve(needed + needed / 4 + 8);
        }
        let mut kept_from = 0usize;
        for change in self.changes.iter().filter(|change| change.chosen) {
            match change.kind {
                ChangeKind::Update {
                    baseline: index,
                    new,
                } => {
                    view.extend_from_slice(&baseline[kept_from..index]);
                    view.push(states[new]);
                    kept_from = index + 1;
                }
                ChangeKind::Leave { baseline: index } => {
                    view.extend_from_slice(&baseline[kept_from..index]);
                    kept_from = index + 1;
                }
                ChangeKind::Enter { new } => {
                    // Every baseline entity of a lower id with a chosen change was
                    // handled above (changes are in id order); the rest are kept.
                    let state = states[new];
                    let below = baseline[kept_from..].partition_point(|old| old.id < state.id);
                    view.extend_from_slice(&baseline[kept_from..kept_from + below]);
                    kept_from += below;
                    view.push(state);
                }
            }
        }
        view.extend_from_slice(&baseline[kept_from..]);
    }
}

/// The most entities one snapshot enters (the protocol's view limit).
const MAX_ENTER_COUNT: u32 = meridian_protocol::limits::MAX_VISIBLE_ENTITIES as u32;

#[cfg(test)]
mod tests {
    use meridian_protocol::messages::{Channel, ServerMessage};
    use meridian_protocol::snapshot::{EntityKind, decode_body};
    use meridian_protocol::{AnimationState, NetworkId};

    use super::*;

    /// A world of `count` entities walking on a line; entity i sits at x = i + t.
    fn states(count: u32, tick: u32) -> Vec<EntityState> {
        (1..=count)
            .map(|id| EntityState {
                id: NetworkId(id),
                kind: EntityKind::Avatar,
                appearance: id % 3,
                x: 64 * (id * 4 + tick) + (id * tick) % 7,
                y: 64 * 100,
                heading: (tick * 13 % 1024) as u16,
                animation: AnimationState::Walk,
                footprint: None,
            })
            .collect()
    }

    /// The client's side: decode against its own ring, return the view.
    fn decode(bytes: &[u8], ring: &mut ViewRing) -> (u32, Vec<EntityState>) {
        let ServerMessage::Snapshot(snapshot) =
            ServerMessage::decode(bytes, Channel::Datagram).expect("decodes")
        else {
            panic!("not a snapshot");
        };
        let baseline = snapshot
            .baseline_tick
            .map(|tick| ring.get(tick).expect("client holds the baseline").to_vec());
        let mut view = Vec::new();
        decode_body(baseline.as_deref(), &snapshot.body, &mut view).expect("body decodes");
        ring.slot(snapshot.tick).clone_from(&view);
        (snapshot.tick, view)
    }

    #[test]
    fn every_snapshot_decodes_to_the_view_the_server_recorded() {
        for budget in [MAX_BODY_BYTES, 60] {
            let mut server = ClientReplication::default();
            let mut shared = SharedEncodings::default();
            let mut client_ring = ViewRing::default();
            let mut out = Vec::new();
            let mut deferred_total = 0;
            for tick in 1..200u32 {
                let states = states(120, tick);
                // The view slides along the line: some leave, some enter.
                let low = tick / 3;
                let visible: Vec<NetworkId> = states
                    .iter()
                    .map(|state| state.id)
                    .filter(|id| (low..low + 40).contains(&id.0))
                    .collect();
                shared.begin_tick(tick, states.len());
                let report = server
                    .encode(
                        tick,
                        &visible,
                        &states,
                        &mut shared,
                        Some([0.0, 0.0]),
                        budget,
                        tick,
                        &mut out,
                    )
                    .expect("encodes");
                assert!(out.len() <= MAX_DATAGRAM_PAYLOAD);
                deferred_total += report.deferred;
                // Lose every fifth snapshot; acknowledge the rest.
                if tick % 5 == 0 {
                    continue;
                }
                let (decoded_tick, view) = decode(&out, &mut client_ring);
                assert_eq!(decoded_tick, tick);
                assert_eq!(Some(view.as_slice()), server.ring.get(tick), "tick {tick}");
                if budget == MAX_BODY_BYTES {
                    let expected: Vec<_> = states
                        .iter()
                        .filter(|state| visible.contains(&state.id))
                        .copied()
                        .collect();
                    assert_eq!(view, expected, "an ample budget sends everything");
                }
                assert!(server.acknowledge(tick));
            }
            if budget == 60 {
                assert!(deferred_total > 0, "a small budget defers changes");
            } else {
                assert_eq!(deferred_total, 0);
            }
        }
    }

    #[test]
    fn clients_on_different_baselines_share_records_and_decode_their_own() {
        // Four clients see the same entities through one SharedEncodings, each
        // acknowledging at its own pace, so an entity's old state differs between
        // them (the first asked is cached by index, the others by the map); some
        // entities change kind (a leave and an enter of the same id).
        let mut shared = SharedEncodings::default();
        let mut clients: Vec<(ClientReplication, ViewRing, u32)> = [1u32, 1, 3, 7]
            .into_iter()
            .map(|pace| (ClientReplication::default(), ViewRing::default(), pace))
            .collect();
        let mut out = Vec::new();
        for tick in 1..120u32 {
            let mut states = states(90, tick);
            for state in &mut states {
                if state.id.0 % 17 == 0 && tick % 10 >= 5 {
                    state.kind = EntityKind::Npc;
                }
            }
            let visible: Vec<NetworkId> = states
                .iter()
                .map(|state| state.id)
                .filter(|id| (tick / 4..tick / 4 + 50).contains(&id.0))
                .collect();
            shared.begin_tick(tick, states.len());
            for (server, client_ring, pace) in &mut clients {
                server
                    .encode(
                        tick,
                        &visible,
                        &states,
                        &mut shared,
                        None,
                        MAX_BODY_BYTES,
                        tick,
                        &mut out,
                    )
                    .expect("encodes");
                if tick % *pace != 0 {
                    continue;
                }
                let (_, view) = decode(&out, client_ring);
                assert_eq!(Some(view.as_slice()), server.ring.get(tick), "tick {tick}");
                let expected: Vec<_> = states
                    .iter()
                    .filter(|state| visible.contains(&state.id))
                    .copied()
                    .collect();
                assert_eq!(view, expected, "tick {tick}, pace {pace}");
                assert!(server.acknowledge(tick));
            }
        }
        let (packed, reused) = shared.counts();
        // The two clients that acknowledge every tick share every record.
        assert!(reused >= packed / 2, "{packed} packed, {reused} reused");
    }

    #[test]
    fn acknowledgements_of_unsent_ticks_are_refused() {
        let mut server = ClientReplication::default();
        assert!(!server.acknowledge(3));
        let mut shared = SharedEncodings::default();
        shared.begin_tick(1, 0);
        server
            .encode(
                1,
                &[],
                &[],
                &mut shared,
                None,
                MAX_BODY_BYTES,
                0,
                &mut Vec::new(),
            )
            .expect("encodes");
        assert!(server.acknowledge(1));
        assert!(!server.acknowledge(2));
        assert_eq!(server.acked(), Some(1));
    }
}
