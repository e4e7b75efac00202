//! The components and ids of a zone's entities.

use bevy_ecs::component::Component;
use meridian_protocol::snapshot::EntityKind;
use meridian_protocol::{AnimationState, NetworkId};
use serde::{Deserialize, Serialize};

use crate::math::{Aabb, Vec2};

/// A connected client, as the zone knows it. The transport layer hands these out;
/// the zone only uses them to route inputs and views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientId(pub u64);

/// What every replicated entity carries: its stable network id and what it looks like.
#[derive(Component, Debug, Clone, Copy)]
pub(crate) struct Replicated {
    /// The id clients know it by.
    pub(crate) id: NetworkId,
    /// What kind of thing it is.
    pub(crate) kind: EntityKind,
    /// Catalogue appearance.
    pub(crate) appearance: u32,
}

/// Where an entity is, zone-local metres.
#[derive(Component, Debug, Clone, Copy)]
pub(crate) struct Position(pub(crate) Vec2);

/// Which way an entity faces, radians counter-clockwise from +x.
#[derive(Component, Debug, Clone, Copy)]
pub(crate) struct Heading(pub(crate) f32);

/// How fast an entity moves, metres per second.
#[derive(Component, Debug, Clone, Copy)]
pub(crate) struct Velocity(pub(crate) Vec2);

/// What an entity's body is doing.
#[derive(Component, Debug, Clone, Copy)]
pub(crate) struct Animation(pub(crate) AnimationState);

/// A player's avatar, driven by one client's inputs.
#[derive(Component, Debug, Clone, Copy)]
pub(crate) struct Avatar {
    /// The client that drives it.
    pub(crate) client: ClientId,
}

/// Per-avatar input bookkeeping for validation.
#[derive(Component, Debug, Clone, Copy)]
pub(crate) struct InputState {
    /// The newest sequence applied.
    pub(crate) last_sequence: Option<u32>,
    /// Input credits left (the rate limit's token bucket).
    pub(crate) credits: u32,
    /// Ticks since the last accepted input.
    pub(crate) ticks_since_input: u32,
}

/// Where a subscriber's visible set (sorted by network id) lies in the zone's
/// [`crate::interest::VisibleSets`] arena.
#[derive(Component, Debug, Default, Clone, Copy)]
pub(crate) struct Interest {
    pub(crate) start: u32,
    pub(crate) len: u32,
}

impl Interest {
    pub(crate) fn range(self) -> std::ops::Range<usize> {
        self.start as usize..(self.start + self.len) as usize
    }
}

/// A placed element: its footprint, and whether it blocks movement (a blocking
/// one is also in the static R-tree).
#[derive(Component, Debug, Clone, Copy)]
pub(crate) struct PlacedElement {
    pub(crate) bounds: Aabb,
    pub(crate) blocking: bool,
}
