//! A zone served to clients: the [`Server`] state machine joined to a [`Zone`].
//!
//! The host turns server events into zone calls (a verified hello spawns an
//! avatar and is welcomed; a departure despawns it; inputs queue for the next
//! step; chat is relayed to those who can hear it), steps the zone, and sends
//! every admitted client its snapshot. Like the server it is sans IO: the
//! driver calls [`ZoneHost::tick`] at the tick rate with the time.

use std::collections::HashMap;
use std::time::Instant;

use meridian_protocol::NetworkId;
use meridian_protocol::PROTOCOL_VERSION;
use meridian_protocol::messages::{
    ChatChannel, ChatRelay, DisconnectReason, InventoryChange, InventoryResult, InventoryStatus,
    RefusalReason, ServerMessage, Welcome,
};
use meridian_sim::agents::SplitMix64;
use meridian_sim::{AvatarSpawn, ClientId, ClientInput, RejectReason, SpawnError, Vec2, Zone};

use crate::names::NameBook;
use crate::server::{ConnectionId, Server, ServerEvent};

/// Rejected inputs a client may accumulate (one forgiven per tick) before it is
/// disconnected as a repeat offender.
const REJECTION_STRIKES: f32 = 40.0;

/// Inventory changes one client may have waiting for the database; more are
/// answered `Busy` at once.
pub const MAX_INVENTORY_IN_FLIGHT: u8 = 8;

/// Avatars per square metre a spawn area holds before it grows (one per 200 m²).
pub const SPAWN_DENSITY: f32 = 0.005;

#[derive(Debug, Clone, Copy)]
struct Member {
    client: ClientId,
    avatar: NetworkId,
    account: u64,
    appearance: u32,
    inventory_in_flight: u8,
}

/// Where an account's avatar stands: what a checkpoint stores and a spawn hint
/// restores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemberState {
    /// The account (the token's subject).
    pub account: u64,
    /// Position, metres.
    pub position: Vec2,
    /// Facing, radians.
    pub heading: f32,
    /// Catalogue appearance.
    pub appearance: u32,
}

/// A chat line said in the zone, for the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaidLine {
    /// The speaker's connection.
    pub connection: ConnectionId,
    /// The speaker's account.
    pub account: u64,
    /// Where it was said.
    pub channel: ChatChannel,
    /// The text.
    pub text: String,
}

/// An inventory change for the database; answer it with
/// [`ZoneHost::finish_inventory`] once it is committed or refused.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryRequest {
    /// Who asked.
    pub connection: ConnectionId,
    /// What they asked.
    pub change: InventoryChange,
    /// Where their avatar stands (the row to create if it was never stored).
    pub state: MemberState,
}

/// How an account's avatar should appear when it next joins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpawnHint {
    /// The account (the token's subject).
    pub account: u64,
    /// Where it stood when it left, and its facing; none for a newcomer.
    pub place: Option<(Vec2, f32)>,
    /// The appearance it chose (its catalogue avatar); none picks one.
    pub appearance: Option<u32>,
}

/// What one [`ZoneHost::tick`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostTick {
    /// The zone tick just simulated.
    pub tick: u64,
    /// Inputs the zone accepted and rejected.
    pub accepted_inputs: usize,
    /// Inputs rejected.
    pub rejected_inputs: usize,
    /// Snapshots sent.
    pub snapshots: usize,
    /// Snapshot bytes queued.
    pub snapshot_bytes: usize,
}

/// A zone and the clients connected to it.
#[derive(Debug)]
pub struct ZoneHost {
    zone: Zone,
    server: Server,
    zone_id: u32,
    members: HashMap<ConnectionId, Member>,
    by_avatar: HashMap<NetworkId, ConnectionId>,
    by_client: HashMap<ClientId, ConnectionId>,
    strikes: HashMap<ClientId, f32>,
    next_client: u64,
    spawn_random: SplitMix64,
    inputs: Vec<ClientInput>,
    nearby: Vec<NetworkId>,
    visible: Vec<NetworkId>,
    rejections_by_reason: HashMap<RejectReason, u64>,
    spawn_hints: HashMap<u64, SpawnHint>,
    departed: Vec<MemberState>,
    said: Vec<SaidLine>,
    inventory_requests: Vec<InventoryRequest>,
    names: NameBook,
    store_before_relay: bool,
    spawn_area: Option<(Vec2, f32)>,
    inventory_busy: u64,
}

impl ZoneHost {
    /// Hosts `zone` (as zone `zone_id`) through `server`; `seed` picks spawn points.
    pub fn new(zone: Zone, server: Server, zone_id: u32, seed: u64) -> Self {
        Self {
            zone,
            server,
            zone_id,
            members: HashMap::new(),
            by_avatar: HashMap::new(),
            by_client: HashMap::new(),
            strikes: HashMap::new(),
            next_client: 1,
            spawn_random: SplitMix64::new(seed),
            inputs: Vec::new(),
            nearby: Vec::new(),
            visible: Vec::new(),
            rejections_by_reason: HashMap::new(),
            spawn_hints: HashMap::new(),
            departed: Vec::new(),
            said: Vec::new(),
            inventory_requests: Vec::new(),
            names: NameBook::new(),
            store_before_relay: false,
            spawn_area: None,
            inventory_busy: 0,
        }
    }

    /// The zone.
    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// The zone, to place elements or spawn server-driven avatars.
    pub fn zone_mut(&mut self) -> &mut Zone {
        &mut self.zone
    }

    /// The server state machine, for the driver's `handle_*` and `poll_*` calls.
    pub fn server(&mut self) -> &mut Server {
        &mut self.server
    }

    /// The server, read-only.
    pub fn server_ref(&self) -> &Server {
        &self.server
    }

    /// The zone client behind a connection.
    pub fn client_of(&self, connection: ConnectionId) -> Option<ClientId> {
        self.members.get(&connection).map(|member| member.client)
    }

    /// Admitted clients.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// Rejected inputs by reason since start.
    pub fn rejections_by_reason(&self) -> &HashMap<RejectReason, u64> {
        &self.rejections_by_reason
    }

    /// Newcomers without a spawn hint appear within `radius` metres of `centre`
    /// (clamped to the zone) instead of anywhere in the zone. As the zone fills,
    /// the area grows so that it holds at most [`SPAWN_DENSITY`] avatars per
    /// square metre: a crowd spreads out instead of spawning on one spot.
    pub fn set_spawn_area(&mut self, centre: Vec2, radius: f32) {
        self.spawn_area = Some((centre, radius.max(0.0)));
    }

    /// Where and how `hint.account` should appear when it next joins (its saved
    /// place, its chosen appearance). A place outside the zone or blocked falls
    /// back to a spot in the spawn area.
    pub fn set_spawn_hint(&mut self, hint: SpawnHint) {
        self.spawn_hints.insert(hint.account, hint);
    }

    /// Every admitted member's current state (for a checkpoint).
    pub fn member_states(&self) -> Vec<MemberState> {
        self.members
            .values()
            .filter_map(|member| self.state_of(member))
            .collect()
    }

    fn state_of(&self, member: &Member) -> Option<MemberState> {
        let avatar = self.zone.avatar(member.client)?;
        Some(MemberState {
            account: member.account,
            position: avatar.position,
            heading: avatar.heading,
            appearance: member.appearance,
        })
    }

    /// The last states of members who left since the last call.
    pub fn take_departed(&mut self) -> Vec<MemberState> {
        std::mem::take(&mut self.departed)
    }

    /// The chat lines said since the last call.
    pub fn take_said(&mut self) -> Vec<SaidLine> {
        std::mem::take(&mut self.said)
    }

    /// With `true`, chat lines are relayed only when the caller hands them back
    /// through [`ZoneHost::relay_said`] (after storing them), so no line anyone
    /// heard can be lost; with `false` (the default) they are relayed at once.
    pub fn store_chat_before_relay(&mut self, enabled: bool) {
        self.store_before_relay = enabled;
    }

    /// Relays a line taken from [`ZoneHost::take_said`] to those who can hear
    /// its speaker now.
    pub fn relay_said(&mut self, line: SaidLine) {
        // A speaker who left meanwhile has no avatar to name as the sender: the
        // line stays in the history only.
        let Some(member) = self.members.get(&line.connection).copied() else {
            return;
        };
        let relay = ChatRelay {
            from: member.avatar,
            channel: line.channel,
            text: line.text,
        };
        let listeners: Vec<ConnectionId> = match line.channel {
            ChatChannel::Zone => self.members.keys().copied().collect(),
            ChatChannel::Proximity => {
                let Some(speaker) = self.zone.avatar(member.client) else {
                    return;
                };
                self.nearby.clear();
                let radius = self.server.config().chat_hearing_radius;
                self.zone
                    .avatars_near(speaker.position, radius, &mut self.nearby);
                self.nearby
                    .iter()
                    .filter_map(|avatar| self.by_avatar.get(avatar).copied())
                    .collect()
            }
        };
        for listener in listeners {
            // A zone-wide line may come from someone never in view: name them first.
            self.names.tell(&mut self.server, listener, member.avatar);
            // Listeners are admitted members.
            let _ = self.server.send_chat(listener, relay.clone());
        }
    }

    /// Inventory changes answered `Busy` here (past the in-flight limit) since
    /// the start.
    pub fn inventory_busy(&self) -> u64 {
        self.inventory_busy
    }

    /// The inventory changes asked for since the last call, for the database.
    pub fn take_inventory_requests(&mut self) -> Vec<InventoryRequest> {
        std::mem::take(&mut self.inventory_requests)
    }

    /// Answers an inventory change: the database committed it (or refused it,
    /// or could not take it). A client that left meanwhile is not told.
    pub fn finish_inventory(&mut self, connection: ConnectionId, result: InventoryResult) {
        let Some(member) = self.members.get_mut(&connection) else {
            return;
        };
        member.inventory_in_flight = member.inventory_in_flight.saturating_sub(1);
        // The member is admitted, so this cannot fail.
        let _ = self
            .server
            .send_admitted(connection, &ServerMessage::Inventory(result));
    }

    fn request_inventory(&mut self, connection: ConnectionId, change: InventoryChange) {
        let Some(member) = self.members.get(&connection).copied() else {
            return;
        };
        let state = self.state_of(&member);
        match state {
            Some(state) if member.inventory_in_flight < MAX_INVENTORY_IN_FLIGHT => {
                if let Some(member) = self.members.get_mut(&connection) {
                    member.inventory_in_flight += 1;
                }
                self.inventory_requests.push(InventoryRequest {
                    connection,
                    change,
                    state,
                });
            }
            _ => {
                self.inventory_busy += 1;
                let busy = InventoryResult {
                    request: change.request,
                    item: change.item,
                    quantity: 0,
                    status: InventoryStatus::Busy,
                };
                let _ = self
                    .server
                    .send_admitted(connection, &ServerMessage::Inventory(busy));
            }
        }
    }

    /// Handles what the server reported, steps the zone, and sends snapshots.
    pub fn tick(&mut self, now: Instant) -> HostTick {
        self.server.handle_timeout(now);
        self.drain_events();
        let output = self.zone.step(&self.inputs);
        self.inputs.clear();
        let mut report = HostTick {
            tick: output.tick,
            accepted_inputs: output.accepted_inputs,
            rejected_inputs: output.rejections.len(),
            ..HostTick::default()
        };
        let mut offenders = Vec::new();
        for rejection in output.rejections {
            *self
                .rejections_by_reason
                .entry(rejection.reason)
                .or_default() += 1;
            let strikes = self.strikes.entry(rejection.client).or_default();
            *strikes += 1.0;
            if *strikes > REJECTION_STRIKES {
                offenders.push((rejection.client, rejection.reason));
            }
        }
        self.strikes.retain(|_, strikes| {
            *strikes -= 1.0;
            *strikes > 0.0
        });
        for (client, reason) in offenders {
            if let Some(&connection) = self.by_client.get(&client) {
                let reason = match reason {
                    RejectReason::RateLimited => DisconnectReason::RateLimited,
                    _ => DisconnectReason::ProtocolViolation,
                };
                self.server.disconnect(connection, reason);
            }
        }
        // Departures above are despawned now, before snapshots are built.
        self.drain_events();
        self.send_snapshots(&mut report);
        report
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.server.poll_event() {
            match event {
                ServerEvent::Joined { connection, claims } => {
                    self.join(connection, claims.sub, claims.name);
                }
                ServerEvent::Input { connection, input } => {
                    if let Some(member) = self.members.get(&connection) {
                        self.inputs.push(ClientInput {
                            client: member.client,
                            input,
                        });
                    }
                }
                ServerEvent::Chat { connection, chat } => {
                    self.said(connection, chat.channel, chat.text);
                }
                ServerEvent::Inventory { connection, change } => {
                    self.request_inventory(connection, change);
                }
                ServerEvent::Left { connection, .. } => self.leave(connection),
            }
        }
    }

    fn join(&mut self, connection: ConnectionId, account: u64, name: String) {
        let client = ClientId(self.next_client);
        self.next_client += 1;
        let config = self.zone.config().clone();
        let mut spawned = Err(SpawnError::Occupied);
        let hint = self.spawn_hints.remove(&account);
        let chosen = hint.and_then(|hint| hint.appearance);
        let mut appearance = chosen.unwrap_or(0);
        if let Some((position, heading)) = hint.and_then(|hint| hint.place) {
            let spawn = AvatarSpawn {
                position,
                heading,
                appearance,
            };
            spawned = self.zone.spawn_avatar(client, spawn);
        }
        // Else, or if the saved spot is taken: a few tries for a free one.
        for _ in 0..16 {
            if spawned.is_ok() {
                break;
            }
            let (low, high) = match self.spawn_area {
                Some((centre, radius)) => {
                    let crowd = self.members.len() as f32 / (std::f32::consts::PI * SPAWN_DENSITY);
                    let radius = radius.max(crowd.sqrt());
                    (
                        Vec2::new((centre.x - radius).max(1.0), (centre.y - radius).max(1.0)),
                        Vec2::new(
                            (centre.x + radius).min(config.world_width - 1.0),
                            (centre.y + radius).min(config.world_height - 1.0),
                        ),
                    )
                }
                None => (
                    Vec2::new(1.0, 1.0),
                    Vec2::new(config.world_width - 1.0, config.world_height - 1.0),
                ),
            };
            let spawn = AvatarSpawn {
                position: Vec2::new(
                    low.x + self.spawn_random.next_f32() * (high.x - low.x).max(0.0),
                    low.y + self.spawn_random.next_f32() * (high.y - low.y).max(0.0),
                ),
                heading: 0.0,
                appearance: chosen.unwrap_or_else(|| self.spawn_random.range_u32(0, 8)),
            };
            appearance = spawn.appearance;
            spawned = self.zone.spawn_avatar(client, spawn);
            if !matches!(spawned, Err(SpawnError::Occupied | SpawnError::OutOfBounds)) {
                break;
            }
        }
        let avatar = match spawned {
            Ok(avatar) => avatar,
            Err(error) => {
                // Refusing a connection the server just verified cannot fail.
                let _ =
                    self.server
                        .refuse(connection, RefusalReason::ServerFull, &error.to_string());
                return;
            }
        };
        let welcome = Welcome {
            protocol_version: PROTOCOL_VERSION,
            avatar_id: avatar,
            zone_id: self.zone_id,
            tick_rate_hz: u16::try_from(config.tick_rate_hz).unwrap_or(u16::MAX),
            // Ticks fit u32 for over six years at 20 Hz.
            tick: self.zone.tick() as u32,
            zone_width: config.world_width,
            zone_height: config.world_height,
        };
        if self.server.admit(connection, welcome).is_ok() {
            let member = Member {
                client,
                avatar,
                account,
                appearance,
                inventory_in_flight: 0,
            };
            self.members.insert(connection, member);
            self.names.join(connection, avatar, &name, account);
            self.by_avatar.insert(avatar, connection);
            self.by_client.insert(client, connection);
        } else {
            let _ = self.zone.despawn_avatar(client);
        }
    }

    fn leave(&mut self, connection: ConnectionId) {
        if let Some(member) = self.members.remove(&connection) {
            if let Some(state) = self.state_of(&member) {
                self.departed.push(state);
            }
            self.by_avatar.remove(&member.avatar);
            self.names.leave(connection, member.avatar);
            self.by_client.remove(&member.client);
            self.strikes.remove(&member.client);
            // The avatar may already be gone; nothing else to undo.
            let _ = self.zone.despawn_avatar(member.client);
        }
    }

    fn said(&mut self, connection: ConnectionId, channel: ChatChannel, text: String) {
        let Some(member) = self.members.get(&connection).copied() else {
            return;
        };
        let line = SaidLine {
            connection,
            account: member.account,
            channel,
            text,
        };
        if !self.store_before_relay {
            self.relay_said(line.clone());
        }
        self.said.push(line);
    }

    fn send_snapshots(&mut self, report: &mut HostTick) {
        // Ticks fit u32 for over six years at 20 Hz.
        let tick = self.zone.tick() as u32;
        let tick_rate = self.zone.config().tick_rate_hz;
        let states = self.zone.replicated_states();
        self.server.begin_snapshots(tick, states);
        for (&connection, member) in &self.members {
            let Some(avatar) = self.zone.avatar(member.client) else {
                continue;
            };
            self.visible.clear();
            // The client sees itself too, so it can reconcile its own movement.
            let own = std::iter::once(member.avatar);
            let others = self.zone.visible(member.client).unwrap_or_default();
            self.visible.extend(others.iter().copied().chain(own));
            self.visible.sort_unstable();
            self.visible.dedup();
            self.names
                .after_view(&mut self.server, connection, &self.visible);
            let sent = self.server.send_snapshot(
                connection,
                tick,
                tick_rate,
                &self.visible,
                states,
                Some([avatar.position.x, avatar.position.y]),
                avatar.last_input_sequence.unwrap_or(0),
            );
            if let Ok(encoded) = sent {
                report.snapshots += 1;
                report.snapshot_bytes += encoded.bytes;
            }
        }
    }
}
