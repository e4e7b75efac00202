//! A Meridian zone: a fixed-tick `bevy_ecs` simulation with server-authoritative
//! movement and interest management.
//!
//! A [`Zone`] owns a `World` and a `Schedule` and advances only when
//! [`Zone::step`] is called with that tick's inputs. There is no clock, thread or
//! unseeded randomness inside: the caller decides when a tick happens, and the same
//! inputs give the same [`TickOutput::state_hash`].
//!
//! # One tick
//!
//! A tick runs five system sets, each in its own schedule ([`TickPhase`]), in this
//! order and no other:
//!
//! 1. [`InputSet`]: refill each avatar's input credits, then validate every input
//!    (see [`input`]); accepted ones set velocity, heading and animation, rejected
//!    ones are counted by [`RejectReason`] and never applied.
//! 2. [`MovementSet`]: integrate velocities, stopping at the world's edge, at static
//!    elements, and when a client has been silent for `input_hold_ticks`.
//! 3. [`GameplaySet`]: gameplay rules (empty in this release).
//! 4. [`InterestSet`]: rebuild the moving-entity grid and every subscriber's view,
//!    with hysteresis, emitting enter / leave events (see [`interest`]).
//! 5. [`ReplicationSet`]: quantize every replicated entity once for all clients and
//!    hash the result.
//!
//! Placed elements are replicated entities like avatars (they enter and leave views
//! through the same interest sets); the blocking ones are also in an R-tree
//! (collision, region queries). Every replicated entity is indexed in a uniform grid
//! rebuilt each tick, which the `interest_index` bench chose over an
//! R-tree (docs/BENCHMARKS.md). A tick in steady state allocates nothing.

pub mod agents;
mod components;
mod config;
mod elements;
mod ghosts;
pub mod input;
pub mod interest;
mod live_settings;
pub mod math;
mod movement;
mod replication;
mod statics;
mod zone;

use bevy_ecs::prelude::*;

pub use components::ClientId;
pub use config::{ConfigError, SimConfig};
pub use elements::ElementPlacement;
pub use ghosts::GhostState;
pub use input::{ClientInput, RejectReason, Rejection, RejectionCounts};
pub use interest::{InterestChange, InterestEvent};
pub use live_settings::LiveSettings;
pub use math::{Aabb, Vec2};
pub use zone::{AvatarSpawn, AvatarState, SpawnError, TickOutput, TickPhase, Zone};

/// Validate inputs and apply the accepted ones.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InputSet;

/// Move avatars.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MovementSet;

/// Gameplay rules.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GameplaySet;

/// Update the spatial index and every subscriber's view.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InterestSet;

/// Quantize the replicated state once for all clients.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplicationSet;

/// The zone's configuration, as a resource.
#[derive(Resource, Debug)]
pub(crate) struct Settings(pub(crate) SimConfig);

/// The tick counter.
#[derive(Resource, Debug)]
pub(crate) struct TickClock {
    pub(crate) tick: u64,
}
