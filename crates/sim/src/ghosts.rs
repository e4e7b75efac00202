//! Ghosts: read-only mirrors of entities a neighbouring zone simulates, so a
//! player near a border sees across it.
//!
//! A ghost is indexed for interest and replicated like any moving entity, but it
//! has no client, takes no input and never moves by itself: its owner's zone
//! sends its state each tick ([`Zone::upsert_ghost`]). A handoff turns the
//! ghost into the real avatar in place ([`Zone::promote_ghost`]) and the real
//! avatar at the source into a ghost ([`Zone::demote_to_ghost`]), keeping its
//! network id, so nobody's view sees it leave and come back.

use std::collections::HashMap;

use bevy_ecs::prelude::*;
use meridian_protocol::snapshot::EntityKind;
use meridian_protocol::{AnimationState, NetworkId};

use crate::Settings;
use crate::components::{
    Animation, Avatar, ClientId, Heading, InputState, Interest, Position, Replicated, Velocity,
};
use crate::input::{Clients, inside_world};
use crate::interest::Departed;
use crate::math::Vec2;
use crate::zone::{SpawnError, Zone};

/// Marks a ghost.
#[derive(Component, Debug, Clone, Copy)]
pub(crate) struct Ghost;

/// The zone's ghosts by network id.
#[derive(Resource, Debug, Default)]
pub(crate) struct Ghosts(pub(crate) HashMap<NetworkId, Entity>);

/// What a neighbour says about one of its entities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GhostState {
    /// Its network id (from the owning zone's range).
    pub id: NetworkId,
    /// Catalogue appearance.
    pub appearance: u32,
    /// Where it stands, metres (world coordinates, like every zone's).
    pub position: Vec2,
    /// Facing, radians.
    pub heading: f32,
    /// What it is doing.
    pub animation: AnimationState,
}

impl Zone {
    /// How many ghosts the zone mirrors.
    pub fn ghost_count(&self) -> usize {
        self.world.resource::<Ghosts>().0.len()
    }

    /// Creates or updates a ghost. Refused outside the world.
    pub fn upsert_ghost(&mut self, ghost: GhostState) -> Result<(), SpawnError> {
        let config = &self.world.resource::<Settings>().0;
        if !inside_world(config, ghost.position) || !ghost.heading.is_finite() {
            return Err(SpawnError::OutOfBounds);
        }
        let existing = self.world.resource::<Ghosts>().0.get(&ghost.id).copied();
        let components = (
            Position(ghost.position),
            Heading(ghost.heading),
            Animation(ghost.animation),
        );
        match existing {
            Some(entity) => {
                self.world.entity_mut(entity).insert(components);
            }
            None => {
                let entity = self
                    .world
                    .spawn((
                        Replicated {
                            id: ghost.id,
                            kind: EntityKind::Avatar,
                            appearance: ghost.appearance,
                        },
                        components,
                        Ghost,
                    ))
                    .id();
                self.world
                    .resource_mut::<Ghosts>()
                    .0
                    .insert(ghost.id, entity);
            }
        }
        Ok(())
    }

    /// Removes a ghost (its entity went out of reach): views lose it next step.
    pub fn remove_ghost(&mut self, id: NetworkId) -> Result<(), SpawnError> {
        let entity = self
            .world
            .resource_mut::<Ghosts>()
            .0
            .remove(&id)
            .ok_or(SpawnError::UnknownGhost(id))?;
        self.world.despawn(entity);
        self.world.resource_mut::<Departed>().0.push(id);
        Ok(())
    }

    /// A handoff arrived: the ghost `id` becomes `client`'s avatar here, with
    /// the same network id and no gap in anyone's view. Its input sequence
    /// carries on from `last_sequence` (inputs up to it were applied at the
    /// source).
    pub fn promote_ghost(
        &mut self,
        id: NetworkId,
        client: ClientId,
        last_sequence: Option<u32>,
    ) -> Result<(), SpawnError> {
        if self.world.resource::<Clients>().0.contains_key(&client) {
            return Err(SpawnError::ClientAlreadyPresent(client));
        }
        let entity = self
            .world
            .resource_mut::<Ghosts>()
            .0
            .remove(&id)
            .ok_or(SpawnError::UnknownGhost(id))?;
        let burst = self.world.resource::<Settings>().0.input_burst;
        self.world.entity_mut(entity).remove::<Ghost>().insert((
            Avatar { client },
            Velocity(Vec2::ZERO),
            InputState {
                last_sequence,
                credits: burst,
                ticks_since_input: 0,
            },
            Interest::default(),
        ));
        self.world
            .resource_mut::<Clients>()
            .0
            .insert(client, entity);
        Ok(())
    }

    /// A handoff left: `client`'s avatar stops being simulated here and stays
    /// as a ghost with the same id (the new owner's updates keep it current).
    /// Returns its id.
    pub fn demote_to_ghost(&mut self, client: ClientId) -> Result<NetworkId, SpawnError> {
        let (entity, id) = self.take_client(client)?;
        self.world
            .entity_mut(entity)
            .remove::<(Avatar, Velocity, InputState, Interest)>()
            .insert(Ghost);
        self.world.resource_mut::<Ghosts>().0.insert(id, entity);
        Ok(id)
    }
}
