//! Many zones in one process behind one gateway, sans IO: the embedded mode of
//! a sharded world.
//!
//! Every zone is its own simulation (in world coordinates, with its own range of
//! network ids) and its own [`ZoneAuthority`]. One netcode [`Server`] holds every
//! connection; a client's inputs go to the zone that owns its avatar and that
//! zone's snapshots come back. Each tick:
//!
//! 1. connection events: joins spawn an avatar where it stands (and claim it in
//!    the ledger), inputs go to the owning zone, or wait while it is frozen;
//! 2. every zone steps;
//! 3. every zone's authority learns where its real players stand, and each
//!    player near a border is mirrored as a ghost into the zones within interest
//!    range;
//! 4. authorities tick: handoffs freeze, prepare, commit (ledger operations come
//!    out of [`WorldHost::take_ledger_requests`] and their answers go back in
//!    through [`WorldHost::on_ledger`]); a commit turns the ghost at the
//!    destination into the avatar and the avatar at the source into a ghost, in
//!    place, and switches the route; inputs that waited are applied there;
//! 5. snapshots, zone by zone.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use meridian_netcode::{ConnectionId, Server, ServerEvent};
use meridian_protocol::messages::{Input, RefusalReason, Welcome};
use meridian_protocol::{NetworkId, PROTOCOL_VERSION};
use meridian_sim::{AvatarSpawn, ClientId, ClientInput, GhostState, SimConfig, Vec2, Zone};

use crate::handoff::{Avatar, Effect, ZoneAuthority};
use crate::ids::{EntityId, Epoch, ZoneId};
use crate::ledger::{LedgerOp, LedgerReply};
use crate::zone_map::ZoneMap;

/// Network ids each zone may hand out.
pub const IDS_PER_ZONE: u32 = 1 << 20;

#[derive(Debug, Clone)]
struct Member {
    client: ClientId,
    entity: EntityId,
    avatar: NetworkId,
    zone: ZoneId,
    /// Inputs that arrived while frozen, for whichever zone ends up owning it.
    waiting: Vec<Input>,
}

struct WorldZone {
    sim: Zone,
    authority: ZoneAuthority,
    inputs: Vec<ClientInput>,
    ghosts: BTreeSet<NetworkId>,
}

/// What one [`WorldHost::tick`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorldTick {
    /// Snapshots sent.
    pub snapshots: usize,
    /// Handoffs committed.
    pub handoffs: usize,
}

/// Zones and their clients in one process.
pub struct WorldHost {
    map: ZoneMap,
    server: Server,
    zones: BTreeMap<ZoneId, WorldZone>,
    members: HashMap<ConnectionId, Member>,
    by_entity: HashMap<EntityId, ConnectionId>,
    next_client: u64,
    next_request: u64,
    requests: HashMap<u64, (ZoneId, LedgerOp)>,
    outbox: Vec<(u64, LedgerOp)>,
    visible: Vec<NetworkId>,
    handoffs: usize,
}

impl std::fmt::Debug for WorldHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorldHost")
            .field("zones", &self.zones.len())
            .field("members", &self.members.len())
            .finish_non_exhaustive()
    }
}

impl WorldHost {
    /// Every zone of `map`, each held under the lease epoch in `epochs`, with
    /// `sim` as each zone's settings (its world size is set to the map's).
    pub fn new(
        map: ZoneMap,
        sim: &SimConfig,
        server: Server,
        epochs: &BTreeMap<ZoneId, Epoch>,
    ) -> Result<Self, meridian_sim::ConfigError> {
        let world = map.world_size();
        let mut zones = BTreeMap::new();
        for (&zone, &epoch) in epochs {
            let config = SimConfig {
                world_width: world.x,
                world_height: world.y,
                first_network_id: 1 + zone.0 * IDS_PER_ZONE,
                ..sim.clone()
            };
            zones.insert(
                zone,
                WorldZone {
                    sim: Zone::new(config)?,
                    authority: ZoneAuthority::new(zone, epoch, map),
                    inputs: Vec::new(),
                    ghosts: BTreeSet::new(),
                },
            );
        }
        Ok(Self {
            map,
            server,
            zones,
            members: HashMap::new(),
            by_entity: HashMap::new(),
            next_client: 1,
            next_request: 0,
            requests: HashMap::new(),
            outbox: Vec::new(),
            visible: Vec::new(),
            handoffs: 0,
        })
    }

    /// The gateway, for the driver's `handle_*` and `poll_*` calls.
    pub fn server(&mut self) -> &mut Server {
        &mut self.server
    }

    /// A zone's simulation.
    pub fn zone(&self, zone: ZoneId) -> Option<&Zone> {
        self.zones.get(&zone).map(|z| &z.sim)
    }

    /// The zone that owns a player's avatar now, as the gateway routes it.
    pub fn route_of(&self, entity: EntityId) -> Option<ZoneId> {
        let connection = self.by_entity.get(&entity)?;
        self.members.get(connection).map(|member| member.zone)
    }

    /// Ledger operations to carry out; answer each with [`Self::on_ledger`].
    pub fn take_ledger_requests(&mut self) -> Vec<(u64, LedgerOp)> {
        std::mem::take(&mut self.outbox)
    }

    /// The ledger answered `request`.
    pub fn on_ledger(&mut self, request: u64, reply: &LedgerReply) {
        let Some((zone, op)) = self.requests.remove(&request) else {
            return;
        };
        if let (
            LedgerOp::Claim { entity, .. },
            LedgerReply::Claimed {
                claimed: true,
                owner: Some(owner),
            },
        ) = (&op, reply)
        {
            self.adopt(zone, *entity, *owner);
        } else if let Some(world_zone) = self.zones.get_mut(&zone) {
            world_zone.authority.on_ledger(&op, reply);
        }
        self.run_effects();
    }

    /// The answer to `request` was lost: the zone reads the ledger instead.
    pub fn on_ledger_lost(&mut self, request: u64) {
        let Some((zone, op)) = self.requests.remove(&request) else {
            return;
        };
        match op {
            LedgerOp::Claim { .. } => self.ask(zone, op),
            _ => {
                if let Some(world_zone) = self.zones.get_mut(&zone) {
                    world_zone.authority.on_ledger_lost(&op);
                }
                self.run_effects();
            }
        }
    }

    fn ask(&mut self, zone: ZoneId, op: LedgerOp) {
        self.next_request += 1;
        self.requests.insert(self.next_request, (zone, op.clone()));
        self.outbox.push((self.next_request, op));
    }

    fn adopt(&mut self, zone: ZoneId, entity: EntityId, owner: crate::ids::Owner) {
        let Some(member) = self
            .by_entity
            .get(&entity)
            .and_then(|connection| self.members.get(connection))
        else {
            return;
        };
        let client = member.client;
        let Some(world_zone) = self.zones.get_mut(&zone) else {
            return;
        };
        let Some(state) = world_zone.sim.avatar(client) else {
            return;
        };
        let avatar = Avatar {
            position: state.position,
            last_input: state.last_input_sequence.unwrap_or(0),
        };
        world_zone.authority.adopt(entity, owner, avatar);
        // Route and keyframe effects need nothing here: the avatar is where it is.
        world_zone.authority.take_effects();
    }

    /// Steps every zone and sends every client its snapshot.
    pub fn tick(&mut self, now: Instant) -> WorldTick {
        self.server.handle_timeout(now);
        self.drain_events();
        for world_zone in self.zones.values_mut() {
            let inputs = std::mem::take(&mut world_zone.inputs);
            world_zone.sim.step(&inputs);
        }
        self.observe_and_ghost();
        for world_zone in self.zones.values_mut() {
            world_zone.authority.tick();
        }
        let before = self.handoffs;
        self.run_effects();
        self.drain_events();
        let snapshots = self.send_snapshots();
        WorldTick {
            snapshots,
            handoffs: self.handoffs - before,
        }
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.server.poll_event() {
            match event {
                ServerEvent::Joined { connection, claims } => {
                    self.join(connection, EntityId(claims.sub));
                }
                ServerEvent::Input { connection, input } => self.input(connection, input),
                ServerEvent::Left { connection, .. } => self.leave(connection),
                // Chat and inventory are the zone host's business; this host
                // carries movement across zones.
                ServerEvent::Chat { .. } | ServerEvent::Inventory { .. } => {}
            }
        }
    }

    fn join(&mut self, connection: ConnectionId, entity: EntityId) {
        let client = ClientId(self.next_client);
        self.next_client += 1;
        // Newcomers appear in the middle of the first zone.
        let zone = ZoneId(0);
        let (low, high) = self.map.bounds(zone);
        let position = Vec2::new((low.x + high.x) / 2.0, (low.y + high.y) / 2.0);
        let Some(world_zone) = self.zones.get_mut(&zone) else {
            let _ = self.server.refuse(
                connection,
                RefusalReason::ServerFull,
                "zone not hosted here",
            );
            return;
        };
        let spawned = world_zone.sim.spawn_avatar(
            client,
            AvatarSpawn {
                position,
                heading: 0.0,
                appearance: (entity.0 % 8) as u32,
            },
        );
        let Ok(avatar) = spawned else {
            let _ = self
                .server
                .refuse(connection, RefusalReason::ServerFull, "no room to spawn");
            return;
        };
        let world = self.map.world_size();
        let config = world_zone.sim.config();
        let welcome = Welcome {
            protocol_version: PROTOCOL_VERSION,
            avatar_id: avatar,
            zone_id: zone.0,
            tick_rate_hz: u16::try_from(config.tick_rate_hz).unwrap_or(u16::MAX),
            // Ticks fit u32 for over six years at 20 Hz.
            tick: world_zone.sim.tick() as u32,
            zone_width: world.x,
            zone_height: world.y,
        };
        let epoch = world_zone.authority.epoch();
        if self.server.admit(connection, welcome).is_err() {
            let _ = world_zone.sim.despawn_avatar(client);
            return;
        }
        self.members.insert(
            connection,
            Member {
                client,
                entity,
                avatar,
                zone,
                waiting: Vec::new(),
            },
        );
        self.by_entity.insert(entity, connection);
        self.ask(
            zone,
            LedgerOp::Claim {
                entity,
                zone,
                epoch,
            },
        );
    }

    fn input(&mut self, connection: ConnectionId, input: Input) {
        let Some(member) = self.members.get_mut(&connection) else {
            return;
        };
        let Some(world_zone) = self.zones.get_mut(&member.zone) else {
            return;
        };
        if world_zone.authority.is_frozen(member.entity) {
            member.waiting.push(input);
        } else {
            world_zone.inputs.push(ClientInput {
                client: member.client,
                input,
            });
        }
    }

    fn leave(&mut self, connection: ConnectionId) {
        let Some(member) = self.members.remove(&connection) else {
            return;
        };
        self.by_entity.remove(&member.entity);
        if let Some(world_zone) = self.zones.get_mut(&member.zone) {
            world_zone.authority.forget(member.entity);
            let _ = world_zone.sim.despawn_avatar(member.client);
        }
        self.run_effects();
    }

    /// Tells each authority where its real players stand, and mirrors players
    /// near a border into the zones within interest range.
    fn observe_and_ghost(&mut self) {
        let mut mirrors: BTreeMap<ZoneId, Vec<GhostState>> = BTreeMap::new();
        for member in self.members.values() {
            let Some(world_zone) = self.zones.get_mut(&member.zone) else {
                continue;
            };
            let Some(state) = world_zone.sim.avatar(member.client) else {
                continue;
            };
            world_zone.authority.observe(
                member.entity,
                state.position,
                state.last_input_sequence.unwrap_or(0),
            );
            let config = world_zone.sim.config();
            let reach = config.interest_radius + config.interest_hysteresis;
            let appearance = world_zone
                .sim
                .replicated_states()
                .binary_search_by_key(&state.id, |s| s.id)
                .ok()
                .map_or(0, |index| {
                    world_zone.sim.replicated_states()[index].appearance
                });
            for target in self.map.ghost_zones(member.zone, state.position, reach) {
                mirrors.entry(target).or_default().push(GhostState {
                    id: state.id,
                    appearance,
                    position: state.position,
                    heading: state.heading,
                    animation: state.animation,
                });
            }
        }
        for (&zone, world_zone) in &mut self.zones {
            let wanted = mirrors.remove(&zone).unwrap_or_default();
            let ids: BTreeSet<NetworkId> = wanted.iter().map(|ghost| ghost.id).collect();
            for gone in world_zone.ghosts.difference(&ids) {
                // A ghost promoted to an avatar here is not a ghost any more.
                let _ = world_zone.sim.remove_ghost(*gone);
            }
            for ghost in wanted {
                // Outside the world it cannot be; a refusal only skips a mirror.
                let _ = world_zone.sim.upsert_ghost(ghost);
            }
            world_zone.ghosts = ids;
        }
    }

    /// Carries out what the authorities asked for until none asks more.
    fn run_effects(&mut self) {
        loop {
            let mut effects = Vec::new();
            for (&zone, world_zone) in &mut self.zones {
                effects.extend(
                    world_zone
                        .authority
                        .take_effects()
                        .into_iter()
                        .map(|effect| (zone, effect)),
                );
            }
            if effects.is_empty() {
                return;
            }
            for (zone, effect) in effects {
                match effect {
                    Effect::Send { to, message } => {
                        if let Some(target) = self.zones.get_mut(&to) {
                            target.authority.on_message(message);
                        }
                    }
                    Effect::Ledger(op) => self.ask(zone, op),
                    Effect::Route { entity, to } => self.switch(entity, zone, to),
                    Effect::HandedOff { .. } => self.handoffs += 1,
                    Effect::Keyframe { .. } | Effect::Applied { .. } | Effect::NotHere { .. } => {}
                }
            }
        }
    }

    /// The ledger moved `entity` from `from` to `to`: the avatar becomes a
    /// ghost at the source and the ghost the avatar at the destination, with the
    /// same network id; the gateway now routes to `to`, and inputs that waited
    /// are applied there.
    fn switch(&mut self, entity: EntityId, from: ZoneId, to: ZoneId) {
        let Some(connection) = self.by_entity.get(&entity).copied() else {
            return;
        };
        let Some(member) = self.members.get_mut(&connection) else {
            return;
        };
        if member.zone == to || from == to {
            return;
        }
        let Some(source) = self.zones.get_mut(&from) else {
            return;
        };
        let Some(state) = source.sim.avatar(member.client) else {
            return;
        };
        let appearance = source
            .sim
            .replicated_states()
            .binary_search_by_key(&state.id, |s| s.id)
            .ok()
            .map_or(0, |index| source.sim.replicated_states()[index].appearance);
        if source.sim.demote_to_ghost(member.client).is_ok() {
            source.ghosts.insert(member.avatar);
        }
        let Some(destination) = self.zones.get_mut(&to) else {
            return;
        };
        let ghost = GhostState {
            id: member.avatar,
            appearance,
            position: state.position,
            heading: state.heading,
            animation: state.animation,
        };
        let _ = destination.sim.upsert_ghost(ghost);
        destination.ghosts.remove(&member.avatar);
        let _ =
            destination
                .sim
                .promote_ghost(member.avatar, member.client, state.last_input_sequence);
        member.zone = to;
        for input in member.waiting.drain(..) {
            destination.inputs.push(ClientInput {
                client: member.client,
                input,
            });
        }
    }

    fn send_snapshots(&mut self) -> usize {
        let mut sent = 0;
        for (&zone, world_zone) in &self.zones {
            // Ticks fit u32 for over six years at 20 Hz.
            let tick = world_zone.sim.tick() as u32;
            let tick_rate = world_zone.sim.config().tick_rate_hz;
            let states = world_zone.sim.replicated_states();
            self.server.begin_snapshots(tick, states);
            for (&connection, member) in &self.members {
                if member.zone != zone {
                    continue;
                }
                let Some(avatar) = world_zone.sim.avatar(member.client) else {
                    continue;
                };
                self.visible.clear();
                let others = world_zone.sim.visible(member.client).unwrap_or_default();
                self.visible
                    .extend(others.iter().copied().chain(std::iter::once(member.avatar)));
                self.visible.sort_unstable();
                self.visible.dedup();
                if self
                    .server
                    .send_snapshot(
                        connection,
                        tick,
                        tick_rate,
                        &self.visible,
                        states,
                        Some([avatar.position.x, avatar.position.y]),
                        avatar.last_input_sequence.unwrap_or(0),
                    )
                    .is_ok()
                {
                    sent += 1;
                }
            }
        }
        sent
    }
}
