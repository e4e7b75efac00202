//! [`Zone`]: one zone's world, its schedule, and the only way to advance it.

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::ScheduleLabel;
use meridian_protocol::snapshot::{EntityKind, EntityState};
use meridian_protocol::{AnimationState, NetworkId};
use thiserror::Error;

use crate::components::{
    Animation, Avatar, ClientId, Heading, InputState, Interest, Position, Replicated, Velocity,
};
use crate::input::{
    ClientInput, Clients, PendingInputs, Rejection, RejectionCounts, Rejections, inside_world,
    refill_input_credits, validate_inputs,
};
use crate::interest::{
    Arrived, Departed, InterestEvent, InterestEvents, MovingIndex, UniformGrid, VisibleSets,
    grid_cell_size, rebuild_moving_index, store_views, update_interest,
};
use crate::math::Vec2;
use crate::movement::apply_movement;
use crate::replication::{ReplicatedStates, collect_replicated_states};
use crate::statics::StaticIndex;
use crate::{
    ConfigError, GameplaySet, InputSet, InterestSet, LiveSettings, MovementSet, ReplicationSet,
    Settings, SimConfig, TickClock,
};

/// The phases of a tick, in the order they run. Each is one system set
/// ([`InputSet`], [`MovementSet`], ...) run by its own schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TickPhase {
    /// Input validation.
    Input,
    /// Movement.
    Movement,
    /// Gameplay rules.
    Gameplay,
    /// Spatial index and views.
    Interest,
    /// Quantizing and hashing the replicated state.
    Replication,
}

impl TickPhase {
    /// Every phase, in order.
    pub const ALL: [Self; 5] = [
        Self::Input,
        Self::Movement,
        Self::Gameplay,
        Self::Interest,
        Self::Replication,
    ];

    /// A stable snake_case name for reports.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Movement => "movement",
            Self::Gameplay => "gameplay",
            Self::Interest => "interest",
            Self::Replication => "replication",
        }
    }
}

#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
struct PhaseSchedule(TickPhase);

/// Why a spawn, despawn or placement was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The client already has an avatar here.
    #[error("client {0:?} already has an avatar in this zone")]
    ClientAlreadyPresent(ClientId),
    /// The client has no avatar here.
    #[error("client {0:?} has no avatar in this zone")]
    UnknownClient(ClientId),
    /// No element has this id.
    #[error("no element {0}")]
    UnknownElement(NetworkId),
    /// The position or footprint is not wholly inside the world.
    #[error("outside the world's bounds")]
    OutOfBounds,
    /// The spot is taken by an element (or, for an element, by an avatar).
    #[error("the spot is occupied")]
    Occupied,
    /// The zone has handed out every network id.
    #[error("no network ids left")]
    IdsExhausted,
    /// No ghost has this id.
    #[error("no ghost {0}")]
    UnknownGhost(NetworkId),
}

/// Where and how a new avatar appears.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AvatarSpawn {
    /// Where it stands.
    pub position: Vec2,
    /// Which way it faces, radians.
    pub heading: f32,
    /// Catalogue appearance.
    pub appearance: u32,
}

/// An avatar's state, for inspection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AvatarState {
    /// Its network id.
    pub id: NetworkId,
    /// Where it is.
    pub position: Vec2,
    /// Where it is going, metres per second.
    pub velocity: Vec2,
    /// Which way it faces.
    pub heading: f32,
    /// What it is doing.
    pub animation: AnimationState,
    /// The newest input sequence applied, if any.
    pub last_input_sequence: Option<u32>,
}

/// What one tick did. Borrows the zone's buffers, so a tick allocates nothing.
#[derive(Debug, Clone, Copy)]
pub struct TickOutput<'a> {
    /// The tick just simulated (the first is 1).
    pub tick: u64,
    /// Hash of the replicated state after this tick; equal inputs give equal hashes.
    pub state_hash: u64,
    /// Inputs accepted this tick.
    pub accepted_inputs: usize,
    /// Inputs rejected this tick, in arrival order.
    pub rejections: &'a [Rejection],
    /// Entities entering and leaving views, by subscriber then entity.
    pub interest_events: &'a [InterestEvent],
    /// Every replicated entity's quantized state (avatars, ghosts, placed
    /// elements), sorted by id.
    pub states: &'a [EntityState],
}

/// One zone: a `bevy_ecs` world and schedule that advance only in [`Zone::step`].
///
/// No clock, thread or random source lives inside; the same calls in the same order
/// give the same state, tick by tick.
pub struct Zone {
    pub(crate) world: World,
    /// One schedule per phase, in [`TickPhase::ALL`] order.
    phases: Vec<(TickPhase, Schedule)>,
    next_network_id: u32,
}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zone")
            .field("tick", &self.tick())
            .field("avatars", &self.avatar_count())
            .finish_non_exhaustive()
    }
}

impl Zone {
    /// A new, empty zone.
    pub fn new(config: SimConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut world = World::new();
        let cell = grid_cell_size(config.interest_radius, config.interest_hysteresis);
        world.insert_resource(MovingIndex(
            UniformGrid::new(config.world_width, config.world_height, cell),
            Vec::new(),
        ));
        world.insert_resource(Settings(config));
        world.insert_resource(TickClock { tick: 0 });
        world.insert_resource(PendingInputs::default());
        world.insert_resource(Clients::default());
        world.insert_resource(Rejections::default());
        world.insert_resource(StaticIndex::default());
        world.insert_resource(InterestEvents::default());
        world.insert_resource(VisibleSets::default());
        world.insert_resource(Departed::default());
        world.insert_resource(Arrived::default());
        world.insert_resource(ReplicatedStates::default());
        world.insert_resource(crate::ghosts::Ghosts::default());

        let phases = TickPhase::ALL
            .into_iter()
            .map(|phase| {
                let mut schedule = Schedule::new(PhaseSchedule(phase));
                match phase {
                    TickPhase::Input => schedule.add_systems(
                        (refill_input_credits, validate_inputs)
                            .chain()
                            .in_set(InputSet),
                    ),
                    TickPhase::Movement => schedule.add_systems(apply_movement.in_set(MovementSet)),
                    TickPhase::Gameplay => schedule.configure_sets(GameplaySet),
                    TickPhase::Interest => schedule.add_systems(
                        (rebuild_moving_index, update_interest, store_views)
                            .chain()
                            .in_set(InterestSet),
                    ),
                    TickPhase::Replication => {
                        schedule.add_systems(collect_replicated_states.in_set(ReplicationSet))
                    }
                };
                (phase, schedule)
            })
            .collect();
        let next_network_id = world.resource::<Settings>().0.first_network_id;
        Ok(Self {
            world,
            phases,
            next_network_id,
        })
    }

    /// The zone's configuration.
    pub fn config(&self) -> &SimConfig {
        &self.world.resource::<Settings>().0
    }

    /// Takes new live knobs from the next step on: the tick rate, interest
    /// (the moving-entity grid is re-cut for the new radius) and speed limits.
    /// Checked with the rest of the configuration first; on an error nothing
    /// changes. Views carry over and follow the new radius at their next
    /// refresh.
    pub fn apply_live_settings(&mut self, live: &LiveSettings) -> Result<(), ConfigError> {
        let changed = self.config().with_live_settings(live)?;
        let cell = grid_cell_size(changed.interest_radius, changed.interest_hysteresis);
        let mut grid = UniformGrid::new(changed.world_width, changed.world_height, cell);
        let mut index = self.world.resource_mut::<MovingIndex>();
        // Keep what it holds for queries before the next step (proximity
        // chat); the step rebuilds it, and the slots beside it, anyway.
        grid.rebuild(
            index
                .0
                .entries()
                .iter()
                .map(|entry| (entry.id, entry.position)),
        );
        index.0 = grid;
        self.world.resource_mut::<Settings>().0 = changed;
        Ok(())
    }

    /// The last tick simulated (0 before the first step).
    pub fn tick(&self) -> u64 {
        self.world.resource::<TickClock>().tick
    }

    /// Moves the tick counter forward to `tick` (never back), without
    /// simulating the ticks skipped: zones of a cluster number their ticks
    /// from one shared clock, so a client handed between them sees one count.
    pub fn align_tick(&mut self, tick: u64) {
        let clock = &mut self.world.resource_mut::<TickClock>().tick;
        *clock = (*clock).max(tick);
    }

    /// How many avatars are in the zone.
    pub fn avatar_count(&self) -> usize {
        self.world.resource::<Clients>().0.len()
    }

    pub(crate) fn allocate_id(&mut self) -> Result<NetworkId, SpawnError> {
        let id = NetworkId(self.next_network_id);
        self.next_network_id = self
            .next_network_id
            .checked_add(1)
            .ok_or(SpawnError::IdsExhausted)?;
        Ok(id)
    }

    /// Puts a client's avatar into the zone. It takes part from the next step.
    pub fn spawn_avatar(
        &mut self,
        client: ClientId,
        spawn: AvatarSpawn,
    ) -> Result<NetworkId, SpawnError> {
        self.spawn_avatar_with(client, spawn, None)
    }

    /// [`Self::spawn_avatar`] under a network id the caller chose (a cluster
    /// names a player's avatar after its account, so that the id stays the
    /// same whichever process spawns it). The id must not be another entity's
    /// here; a ghost under it is replaced.
    pub fn spawn_avatar_as(
        &mut self,
        client: ClientId,
        spawn: AvatarSpawn,
        id: NetworkId,
    ) -> Result<NetworkId, SpawnError> {
        self.spawn_avatar_with(client, spawn, Some(id))
    }

    fn spawn_avatar_with(
        &mut self,
        client: ClientId,
        spawn: AvatarSpawn,
        chosen: Option<NetworkId>,
    ) -> Result<NetworkId, SpawnError> {
        let config = self.config();
        if self.world.resource::<Clients>().0.contains_key(&client) {
            return Err(SpawnError::ClientAlreadyPresent(client));
        }
        if !inside_world(config, spawn.position) || !spawn.heading.is_finite() {
            return Err(SpawnError::OutOfBounds);
        }
        let radius = config.avatar_radius;
        let burst = config.input_burst;
        if self
            .world
            .resource::<StaticIndex>()
            .blocks(spawn.position, radius)
        {
            return Err(SpawnError::Occupied);
        }
        let id = match chosen {
            Some(id) => {
                let taken = self.world.resource::<Clients>().0.values().any(|entity| {
                    self.world
                        .get::<Replicated>(*entity)
                        .is_some_and(|replicated| replicated.id == id)
                });
                if taken {
                    return Err(SpawnError::Occupied);
                }
                // A ghost of this very avatar (mirrored from where it was) goes.
                let _ = self.remove_ghost(id);
                id
            }
            None => self.allocate_id()?,
        };
        let entity = self
            .world
            .spawn((
                Replicated {
                    id,
                    kind: EntityKind::Avatar,
                    appearance: spawn.appearance,
                },
                Position(spawn.position),
                Heading(spawn.heading),
                Velocity(Vec2::ZERO),
                Animation(AnimationState::Idle),
                Avatar { client },
                InputState {
                    last_sequence: None,
                    credits: burst,
                    ticks_since_input: 0,
                },
                Interest::default(),
            ))
            .id();
        self.world
            .resource_mut::<Clients>()
            .0
            .insert(client, entity);
        Ok(id)
    }

    /// Removes a client's avatar. Others see it leave on the next step.
    pub fn despawn_avatar(&mut self, client: ClientId) -> Result<NetworkId, SpawnError> {
        let (entity, id) = self.take_client(client)?;
        self.world.despawn(entity);
        self.world.resource_mut::<Departed>().0.push(id);
        Ok(id)
    }

    /// Detaches a client from its avatar: the avatar's entity and network id.
    pub(crate) fn take_client(
        &mut self,
        client: ClientId,
    ) -> Result<(Entity, NetworkId), SpawnError> {
        let entity = self
            .world
            .resource_mut::<Clients>()
            .0
            .remove(&client)
            .ok_or(SpawnError::UnknownClient(client))?;
        let id = self
            .world
            .get::<Replicated>(entity)
            .map(|replicated| replicated.id)
            .ok_or(SpawnError::UnknownClient(client))?;
        Ok((entity, id))
    }

    /// Advances the zone by one tick with these inputs.
    pub fn step(&mut self, inputs: &[ClientInput]) -> TickOutput<'_> {
        self.step_observed(inputs, |_| {})
    }

    /// [`Zone::step`], calling `after_phase` as each phase ends (for a caller that
    /// wants to time the phases with its own clock).
    pub fn step_observed(
        &mut self,
        inputs: &[ClientInput],
        mut after_phase: impl FnMut(TickPhase),
    ) -> TickOutput<'_> {
        self.world.resource_mut::<TickClock>().tick += 1;
        {
            let mut pending = self.world.resource_mut::<PendingInputs>();
            pending.0.clear();
            pending.0.extend_from_slice(inputs);
        }
        {
            let mut rejections = self.world.resource_mut::<Rejections>();
            rejections.this_tick.clear();
            rejections.accepted_this_tick = 0;
        }
        for (phase, schedule) in &mut self.phases {
            schedule.run(&mut self.world);
            after_phase(*phase);
        }

        let rejections = self.world.resource::<Rejections>();
        let replicated = self.world.resource::<ReplicatedStates>();
        TickOutput {
            tick: self.world.resource::<TickClock>().tick,
            state_hash: replicated.hash,
            accepted_inputs: rejections.accepted_this_tick,
            rejections: &rejections.this_tick,
            interest_events: &self.world.resource::<InterestEvents>().0,
            states: &replicated.states,
        }
    }

    /// Every rejection counted since the zone started, by reason.
    pub fn rejection_counts(&self) -> RejectionCounts {
        self.world.resource::<Rejections>().totals
    }

    /// A client's avatar.
    pub fn avatar(&self, client: ClientId) -> Option<AvatarState> {
        let entity = *self.world.resource::<Clients>().0.get(&client)?;
        let entity = self.world.get_entity(entity).ok()?;
        Some(AvatarState {
            id: entity.get::<Replicated>()?.id,
            position: entity.get::<Position>()?.0,
            velocity: entity.get::<Velocity>()?.0,
            heading: entity.get::<Heading>()?.0,
            animation: entity.get::<Animation>()?.0,
            last_input_sequence: entity.get::<InputState>()?.last_sequence,
        })
    }

    /// The ids a client saw after the last step, sorted.
    pub fn visible(&self, client: ClientId) -> Option<&[NetworkId]> {
        let entity = *self.world.resource::<Clients>().0.get(&client)?;
        let interest = *self.world.get::<Interest>(entity)?;
        self.world
            .resource::<VisibleSets>()
            .current
            .get(interest.range())
    }

    /// Visits every avatar after the last step with where it stands and how
    /// many entities it sees (its view's size), in no particular order: what
    /// a dashboard samples for its density map and view sizes, with no
    /// allocation and one lookup per avatar.
    pub fn for_each_avatar_view(&self, mut visit: impl FnMut(Vec2, usize)) {
        for entity in self.world.resource::<Clients>().0.values() {
            let Ok(entity) = self.world.get_entity(*entity) else {
                continue;
            };
            let Some(position) = entity.get::<Position>() else {
                continue;
            };
            let seen = entity.get::<Interest>().map_or(0, |interest| interest.len);
            visit(position.0, seen as usize);
        }
    }

    /// Every replicated entity's quantized state after the last step, sorted by id:
    /// what replication encodes, once for all clients.
    pub fn replicated_states(&self) -> &[EntityState] {
        &self.world.resource::<ReplicatedStates>().states
    }

    /// Writes a client's view after the last step (the quantized states of what it
    /// sees, sorted by id) into `out`, which is cleared first. False if the client
    /// has no avatar here.
    pub fn view_of(&self, client: ClientId, out: &mut Vec<EntityState>) -> bool {
        out.clear();
        let Some(visible) = self.visible(client) else {
            return false;
        };
        let states = &self.world.resource::<ReplicatedStates>().states;
        out.extend(visible.iter().filter_map(|id| {
            states
                .binary_search_by_key(id, |state| state.id)
                .ok()
                .map(|index| states[index])
        }));
        true
    }

    /// Appends the ids of entities within `radius` of `center`, as of the last
    /// step: avatars (and ghosts of them), and placed elements, which a caller
    /// looking for people skips (for proximity chat and region effects).
    pub fn avatars_near(&self, center: Vec2, radius: f32, out: &mut Vec<NetworkId>) {
        self.world
            .resource::<MovingIndex>()
            .0
            .for_each_within(center, radius, |entry, _| out.push(entry.id));
    }
}
