//! Interest management: which entities each subscriber sees.
//!
//! Every tick, [`rebuild_moving_index`] puts every moving entity in the
//! [`UniformGrid`], then [`update_interest`] recomputes each subscriber's visible set:
//! an entity enters within `interest_radius` and leaves only beyond
//! `interest_radius + interest_hysteresis` (hysteresis). When more than
//! `max_visible_entities` qualify, the nearest are kept. The difference against the
//! previous set becomes [`InterestEvent`]s, in subscriber order then id order.
//!
//! Static elements are not in the moving set; they live in the R-tree of
//! [`crate::statics`] and reach clients with the space, on the reliable stream.

mod grid;

use bevy_ecs::prelude::*;
use meridian_protocol::NetworkId;

pub use grid::{GridEntry, UniformGrid};

/// The ECS entity stored in each [`GridEntry`] (re-exported so that users of the
/// grid need not depend on `bevy_ecs`).
pub use bevy_ecs::entity::Entity as GridEntity;

use crate::Settings;
use crate::components::{Avatar, ClientId, Interest, Position, Replicated, StaticElement};

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

/// The grid of moving entities, as of the current tick.
#[derive(Resource, Debug)]
pub(crate) struct MovingIndex(pub(crate) UniformGrid);

/// Every subscriber's visible set, back to back in one arena, double-buffered: the
/// update reads last tick's sets from `current` while it writes this tick's into
/// `next`, then swaps. One arena's total size is far steadier than thousands of
/// per-subscriber vectors, so once warmed up it never grows.
#[derive(Resource, Debug, Default)]
pub(crate) struct VisibleSets {
    pub(crate) current: Vec<NetworkId>,
    next: Vec<NetworkId>,
}

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

/// InterestSet, first: index every moving entity.
pub(crate) fn rebuild_moving_index(
    mut index: ResMut<MovingIndex>,
    moving: Query<(Entity, &Replicated, &Position), Without<StaticElement>>,
) {
    index.0.rebuild(
        moving
            .iter()
            .map(|(entity, replicated, position)| (entity, replicated.id, position.0)),
    );
}

/// InterestSet, second: recompute every subscriber's view and emit the changes.
///
/// Subscribers are visited in grid order, not ECS order, so that consecutive
/// queries touch the same cells while they are still in cache (this halved the
/// update at 10k entities; see docs/BENCHMARKS.md).
pub(crate) fn update_interest(
    settings: Res<Settings>,
    index: Res<MovingIndex>,
    mut events: ResMut<InterestEvents>,
    mut sets: ResMut<VisibleSets>,
    mut scratch: Local<InterestScratch>,
    mut subscribers: Query<(&Avatar, &mut Interest)>,
) {
    let config = &settings.0;
    let enter_squared = config.interest_radius * config.interest_radius;
    let leave_radius = config.interest_radius + config.interest_hysteresis;
    let scratch = &mut *scratch;
    let VisibleSets { current, next } = &mut *sets;
    next.clear();
    // Headroom, so that a crowd slowly thickening does not reallocate every tick.
    next.reserve(current.len() + current.len() / 4 + 64);
    let previous_events = events.0.len();
    events.0.clear();
    events.0.reserve(2 * previous_events + 64);
    for subscriber in index.0.entries() {
        let Ok((avatar, mut interest)) = subscribers.get_mut(subscriber.entity) else {
            continue;
        };
        let previous = current.get(interest.range()).unwrap_or_default();
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
                    subscriber: avatar.client,
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
                subscriber: avatar.client,
                entity: id,
                change: InterestChange::Entered,
            });
        }
        if scratch.visible.len() > config.max_visible_entities {
            // Redo this subscriber's events for the capped view.
            events.0.truncate(first_event);
            keep_nearest(
                avatar.client,
                previous,
                scratch,
                config.max_visible_entities,
                &mut events.0,
            );
        }
        // Arena offsets fit u32: at most max_visible_entities (≤ 1,024) per
        // subscriber, and a zone holds far fewer than 4 million subscribers.
        *interest = Interest {
            start: next.len() as u32,
            len: scratch.visible.len() as u32,
        };
        next.extend_from_slice(&scratch.visible);
    }
    std::mem::swap(current, next);
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
