//! Interest management: which entities each subscriber sees.
//!
//! Every tick, [`rebuild_moving_index`] puts every replicated entity (avatars,
//! ghosts and placed elements) in the
//! [`UniformGrid`], then [`update_interest`] recomputes each subscriber's visible set:
//! an entity enters within `interest_radius` and leaves only beyond
//! `interest_radius + interest_hysteresis` (hysteresis). When more than
//! `max_visible_entities` qualify, the nearest are kept. The difference against the
//! previous set becomes [`InterestEvent`]s, in subscriber order then id order.
//!
//! A view is recomputed every `interest_refresh_ticks` ticks, staggered by network
//! id (and every tick while it is empty); on other ticks it is carried over, less
//! the entities that left the zone ([`Departed`]), plus the elements placed or
//! moved since the last update within `interest_radius` ([`Arrived`]), so that a
//! placement reaches every view near it at the next step. The hysteresis band
//! absorbs the movement in between; see docs/BENCHMARKS.md.
//!
//! Placed elements are indexed here like avatars (a client sees the elements near
//! it, docs/PROTOCOL.md 11.10); the blocking ones are also in the R-tree of
//! [`crate::statics`] for collision.

mod grid;

use bevy_ecs::prelude::*;
use meridian_protocol::NetworkId;

pub use grid::{GridEntry, UniformGrid};

use crate::components::{Avatar, ClientId, Interest, Position, Replicated};
use crate::{Settings, TickClock};

/// Whether an entity entered or left a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InterestChange {
    /// It is now visible.
    Entered,
    /// It is no longer visible.
    Left,
}

/// One change to one subscriber's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InterestEvent {
    /// Whose view changed.
    pub subscriber: ClientId,
    /// Which entity.
    pub entity: NetworkId,
    /// How.
    pub change: InterestChange,
}

/// Every subscriber's visible set, back to back in one arena, double-buffered: the
/// update reads last tick's sets from `current` while it writes this tick's into
/// `next`, then swaps. One arena's total size is far steadier than thousands of
/// per-subscriber vectors, so once warmed up it never grows.
#[derive(Resource, Debug, Default)]
pub(crate) struct VisibleSets {
    pub(crate) current: Vec<NetworkId>,
    next: Vec<NetworkId>,
}

/// Network ids despawned since the last interest update, so that views not
/// refreshed this tick still lose them at once.
#[derive(Resource, Debug, Default)]
pub(crate) struct Departed(pub(crate) Vec<NetworkId>);

/// Elements placed or moved since the last interest update, with where they
/// stand now, so that views not refreshed this tick still take them at once.
#[derive(Resource, Debug, Default)]
pub(crate) struct Arrived(pub(crate) Vec<(NetworkId, crate::math::Vec2)>);

/// This tick's interest events.
#[derive(Resource, Debug, Default)]
pub(crate) struct InterestEvents(pub(crate) Vec<InterestEvent>);

/// Buffers reused by [`update_interest`] across subscribers and ticks.
#[derive(Default)]
pub(crate) struct InterestScratch {
    /// Everything within the leave radius of the current subscriber.
    candidates: Vec<(NetworkId, f32)>,
    /// Newcomers to the current subscriber's view.
    entered: Vec<NetworkId>,
    /// The current subscriber's new view, sorted.
    visible: Vec<NetworkId>,
    /// Per network id: a stamp saying "in this subscriber's previous view" or
    /// "in it and found again this tick". Stamps grow by two per subscriber, so
    /// stale marks from other subscribers never match.
    marks: Vec<u32>,
    stamp: u32,
}

impl InterestScratch {
    /// Stamps for the next subscriber: (previously visible, and found again).
    fn next_stamps(&mut self) -> (u32, u32) {
        if self.stamp >= u32::MAX - 2 {
            self.marks.fill(0);
            self.stamp = 0;
        }
        self.stamp += 2;
        (self.stamp, self.stamp + 1)
    }

    fn mark(&mut self, id: NetworkId) -> &mut u32 {
        let index = id.0 as usize;
        if index >= self.marks.len() {
            // Grows only when ids beyond any seen before appear (new spawns).
            self.marks.resize((index + 1).next_power_of_two(), 0);
        }
        &mut self.marks[index]
    }
}

/// The grid cell size for a zone: half the outer (leave) radius, so a query spans
/// at most 5 × 5 cells and scans about twice the circle's area. Chosen by the
/// `interest_index` bench (see docs/BENCHMARKS.md).
pub fn grid_cell_size(interest_radius: f32, interest_hysteresis: f32) -> f32 {
    (interest_radius + interest_hysteresis) / 2.0
}

/// A replicated entity's interest bookkeeping, kept beside the grid in grid order so
/// that the update never has to reach into the ECS at random.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubscriberSlot {
    /// The client, if the entity is a subscriber (an avatar).
    client: Option<ClientId>,
    /// Its view in the [`VisibleSets`] arena: last tick's before the update,
    /// this tick's after.
    view: Interest,
    entity: Entity,
}

/// The moving entities this tick: a grid, and beside it (same order) their slots.
#[derive(Resource, Debug)]
pub(crate) struct MovingIndex(pub(crate) UniformGrid, pub(crate) Vec<SubscriberSlot>);

/// The replicated entities, as the interest systems see them. Both systems use
/// this one query type, so both walk the same entities in the same (archetype)
/// order.
type MovingQuery<'w, 's, I> = Query<
    'w,
    's,
    (
        Entity,
        &'static Replicated,
        &'static Position,
        Option<&'static Avatar>,
        I,
    ),
>;

/// Slots in query order, before they are put in grid order.
#[derive(Default)]
pub(crate) struct SlotStaging(Vec<SubscriberSlot>);

/// InterestSet, first: index every replicated entity, and put each subscriber's
/// client and last view beside it in grid order.
pub(crate) fn rebuild_moving_index(
    mut index: ResMut<MovingIndex>,
    mut staging: Local<SlotStaging>,
    moving: MovingQuery<Option<&Interest>>,
) {
    let MovingIndex(grid, slots) = &mut *index;
    grid.rebuild(
        moving
            .iter()
            .map(|(_, replicated, position, _, _)| (replicated.id, position.0)),
    );
    staging.0.clear();
    staging.0.extend(
        moving
            .iter()
            .map(|(entity, _, _, avatar, interest)| SubscriberSlot {
                client: avatar.map(|avatar| avatar.client),
                view: interest.copied().unwrap_or_default(),
                entity,
            }),
    );
    slots.clear();
    slots.resize(
        staging.0.len(),
        SubscriberSlot {
            client: None,
            view: Interest::default(),
            entity: Entity::PLACEHOLDER,
        },
    );
    for (input, slot) in staging.0.iter().enumerate() {
        slots[grid.placed_at(input)] = *slot;
    }
}

/// InterestSet, second: recompute every subscriber's view and emit the changes.
///
/// Subscribers are visited in grid order, and everything they need is in the grid
/// and its slots, so consecutive subscribers touch the same memory (see
/// docs/BENCHMARKS.md for what this did at 100k).
pub(crate) fn update_interest(
    settings: Res<Settings>,
    clock: Res<TickClock>,
    (mut departed, mut arrived): (ResMut<Departed>, ResMut<Arrived>),
    mut index: ResMut<MovingIndex>,
    mut events: ResMut<InterestEvents>,
    mut sets: ResMut<VisibleSets>,
    mut scratch: Local<InterestScratch>,
) {
    let config = &settings.0;
    let enter_squared = config.interest_radius * config.interest_radius;
    let leave_radius = config.interest_radius + config.interest_hysteresis;
    let refresh_ticks = u64::from(config.interest_refresh_ticks);
    departed.0.sort_unstable();
    let index = &mut *index;
    let scratch = &mut *scratch;
    let VisibleSets { current, next } = &mut *sets;
    next.clear();
    // Headroom, so that a crowd slowly thickening does not reallocate every tick.
    next.reserve(current.len() + current.len() / 4 + 64);
    let previous_events = events.0.len();
    events.0.clear();
    events.0.reserve(2 * previous_events + 64);
    for (subscriber, slot) in index.0.entries().iter().zip(&mut index.1) {
        let Some(client) = slot.client else {
            continue;
        };
        let previous = current.get(slot.view.range()).unwrap_or_default();
        let due = (clock.tick + u64::from(subscriber.id.0)).is_multiple_of(refresh_ticks);
        if !due && !previous.is_empty() {
            slot.view = keep_view(client, previous, &departed.0, next, &mut events.0);
            if !arrived.0.is_empty() {
                let newcomers = Newcomers {
                    subscriber: (client, subscriber.id, subscriber.position),
                    arrived: &arrived.0,
                    enter_squared,
                    cap: config.max_visible_entities,
                };
                slot.view = newcomers.add_to(slot.view, next, &mut events.0);
            }
            continue;
        }
        let first_event = events.0.len();
        let (was_visible, still_visible) = scratch.next_stamps();
        for &id in previous {
            *scratch.mark(id) = was_visible;
        }
        scratch.candidates.clear();
        scratch.entered.clear();
        index
            .0
            .collect_within(subscriber.position, leave_radius, &mut scratch.candidates);
        for index in 0..scratch.candidates.len() {
            let (id, distance_squared) = scratch.candidates[index];
            let mark = scratch.mark(id);
            if *mark == was_visible {
                *mark = still_visible;
            } else if distance_squared <= enter_squared && id != subscriber.id {
                scratch.entered.push(id);
            }
        }
        // The new view: the previous one, in order, less those not found again,
        // merged with the (few) newcomers.
        scratch.entered.sort_unstable();
        scratch.visible.clear();
        let mut newcomers = scratch.entered.iter().copied().peekable();
        for &id in previous {
            if scratch.marks[id.0 as usize] != still_visible {
                events.0.push(InterestEvent {
                    subscriber: client,
                    entity: id,
                    change: InterestChange::Left,
                });
                continue;
            }
            while let Some(newcomer) = newcomers.next_if(|&newcomer| newcomer < id) {
                scratch.visible.push(newcomer);
            }
            scratch.visible.push(id);
        }
        scratch.visible.extend(newcomers);
        for &id in &scratch.entered {
            events.0.push(InterestEvent {
                subscriber: client,
                entity: id,
                change: InterestChange::Entered,
            });
        }
        if scratch.visible.len() > config.max_visible_entities {
            // Redo this subscriber's events for the capped view.
            events.0.truncate(first_event);
            keep_nearest(
                client,
                previous,
                scratch,
                config.max_visible_entities,
                &mut events.0,
            );
        }
        // Arena offsets fit u32: at most max_visible_entities (≤ 1,024) per
        // subscriber, and a zone holds far fewer than 4 million subscribers.
        slot.view = Interest {
            start: next.len() as u32,
            len: scratch.visible.len() as u32,
        };
        next.extend_from_slice(&scratch.visible);
    }
    std::mem::swap(current, next);
    departed.0.clear();
    arrived.0.clear();
}

/// Elements placed or moved since the last update, offered to a view that is
/// not due for a refresh.
struct Newcomers<'a> {
    /// The subscriber: its client, its own id and where it stands.
    subscriber: (ClientId, NetworkId, crate::math::Vec2),
    arrived: &'a [(NetworkId, crate::math::Vec2)],
    enter_squared: f32,
    cap: usize,
}

impl Newcomers<'_> {
    /// Adds to the view (the tail of `next` that `view` names) every arrival
    /// within the enter radius that it does not hold, while it has room.
    fn add_to(
        &self,
        view: Interest,
        next: &mut Vec<NetworkId>,
        events: &mut Vec<InterestEvent>,
    ) -> Interest {
        let (client, own, position) = self.subscriber;
        let start = view.start as usize;
        for &(id, at) in self.arrived {
            let (dx, dy) = (at.x - position.x, at.y - position.y);
            if id == own || dx * dx + dy * dy > self.enter_squared || next.len() - start >= self.cap
            {
                continue;
            }
            if let Err(offset) = next[start..].binary_search(&id) {
                next.insert(start + offset, id);
                events.push(InterestEvent {
                    subscriber: client,
                    entity: id,
                    change: InterestChange::Entered,
                });
            }
        }
        // Arena offsets fit u32, as in `update_interest`.
        Interest {
            start: view.start,
            len: (next.len() - start) as u32,
        }
    }
}

/// A view not due for a refresh: carried into the next arena as it is, less the
/// entities that left the zone.
fn keep_view(
    subscriber: ClientId,
    previous: &[NetworkId],
    departed: &[NetworkId],
    next: &mut Vec<NetworkId>,
    events: &mut Vec<InterestEvent>,
) -> Interest {
    let start = next.len();
    if departed.is_empty() {
        next.extend_from_slice(previous);
    } else {
        for &id in previous {
            if departed.binary_search(&id).is_ok() {
                events.push(InterestEvent {
                    subscriber,
                    entity: id,
                    change: InterestChange::Left,
                });
            } else {
                next.push(id);
            }
        }
    }
    // Arena offsets fit u32, as in `update_interest`.
    Interest {
        start: start as u32,
        len: (next.len() - start) as u32,
    }
}

/// InterestSet, third: store each subscriber's new view range in its component,
/// walking the ECS in the same order as [`rebuild_moving_index`] did.
pub(crate) fn store_views(index: Res<MovingIndex>, mut moving: MovingQuery<Option<&mut Interest>>) {
    let MovingIndex(grid, slots) = &*index;
    let mut in_step = true;
    for (input, (entity, _, _, _, interest)) in moving.iter_mut().enumerate() {
        let Some(mut interest) = interest else {
            continue;
        };
        match grid.len().gt(&input).then(|| slots[grid.placed_at(input)]) {
            Some(slot) if slot.entity == entity => *interest = slot.view,
            _ => {
                in_step = false;
                break;
            }
        }
    }
    if !in_step {
        // The two walks disagreed (they never should: nothing changes the world
        // between them). Fall back to looking each subscriber up.
        for slot in slots.iter().filter(|slot| slot.client.is_some()) {
            if let Ok((_, _, _, _, Some(mut interest))) = moving.get_mut(slot.entity) {
                *interest = slot.view;
            }
        }
    }
}

/// The rare crowded case: more qualify than a view may hold. Keeps the nearest
/// (ties by id) and emits this subscriber's events for the capped view.
fn keep_nearest(
    subscriber: ClientId,
    previous: &[NetworkId],
    scratch: &mut InterestScratch,
    cap: usize,
    events: &mut Vec<InterestEvent>,
) {
    let visible = &scratch.visible;
    scratch
        .candidates
        .retain(|(id, _)| visible.binary_search(id).is_ok());
    scratch
        .candidates
        .select_nth_unstable_by(cap, |a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    scratch.candidates.truncate(cap);
    scratch.candidates.sort_unstable_by_key(|&(id, _)| id);
    emit_changes(subscriber, previous, &scratch.candidates, events);
    scratch.visible.clear();
    scratch
        .visible
        .extend(scratch.candidates.iter().map(|&(id, _)| id));
}

/// Walks two sorted id lists and records what entered and what left.
fn emit_changes(
    subscriber: ClientId,
    before: &[NetworkId],
    after: &[(NetworkId, f32)],
    events: &mut Vec<InterestEvent>,
) {
    let (mut i, mut j) = (0, 0);
    let mut push = |entity, change| {
        events.push(InterestEvent {
            subscriber,
            entity,
            change,
        })
    };
    while i < before.len() || j < after.len() {
        match (before.get(i), after.get(j)) {
            (Some(&old), Some(&(new, _))) if old == new => {
                i += 1;
                j += 1;
            }
            (Some(&old), Some(&(new, _))) if old < new => {
                push(old, InterestChange::Left);
                i += 1;
            }
            (Some(&old), None) => {
                push(old, InterestChange::Left);
                i += 1;
            }
            (_, Some(&(new, _))) => {
                push(new, InterestChange::Entered);
                j += 1;
            }
            (None, None) => break,
        }
    }
}
