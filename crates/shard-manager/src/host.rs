//! Zones served to clients: the [`Server`] state machine joined to one [`Zone`]
//! or to several, behind one gateway.
//!
//! The host turns server events into zone calls (a verified hello spawns an
//! avatar and is welcomed; a departure despawns it; inputs queue for the next
//! step; chat is relayed to those who can hear it), steps the zones, and sends
//! every admitted client its snapshot from the zone that owns its avatar. Like
//! the server it is sans IO: the driver calls [`ZoneHost::tick`] at the tick
//! rate with the time.
//!
//! With several zones, a [`Borders`] implementation (the handoff protocol, in
//! `meridian-shard-manager`) says which zone owns a point, which players are
//! frozen in a handoff, and which handoffs committed; the host mirrors players
//! near a border into the neighbouring zones as ghosts and, on a commit, turns
//! the ghost into the avatar in place, so ids, connections and views carry on.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use meridian_protocol::NetworkId;
use meridian_protocol::PROTOCOL_VERSION;
use meridian_protocol::messages::{DisconnectReason, Input, RefusalReason, Welcome};
use meridian_sim::agents::SplitMix64;
use meridian_sim::{AvatarSpawn, ClientId, ClientInput, RejectReason, SpawnError, Vec2, Zone};

use meridian_netcode::moderation::Moderation;
use meridian_netcode::names::NameBook;
use meridian_netcode::server::{ConnectionId, Server, ServerEvent};
use meridian_netcode::small_keys::SmallKeyMap;

pub mod borders;
mod chat;
mod cluster;
mod crossing;
mod inventory;
mod live_settings;
pub mod members;
mod roster;
mod spawn_hints;
mod strikes;
mod voice;

pub use borders::{Borders, OneZone, ZoneOwner};
pub use cluster::voice::{CrossShardVoiceCounters, VoiceRelayPlan};
pub use live_settings::LiveSettingsError;
pub use members::{HostTick, InventoryRequest, MemberState, SaidLine, SpawnHint};
pub use spawn_hints::{DEFAULT_SPAWN_HINT_CAPACITY, DEFAULT_SPAWN_HINT_LIFETIME};
pub use voice::{VoiceOrder, VoiceRefusals};

pub(crate) use roster::{At, Away, Member, Roster};

pub use meridian_netcode::MAX_INVENTORY_IN_FLIGHT;

/// Avatars per square metre a spawn area holds before it grows (one per 200 m²).
pub const SPAWN_DENSITY: f32 = 0.005;

/// Zones and the clients connected to them.
///
/// Its fields are private to `host` and its submodules; the parts with rules
/// of their own own their fields ([`Roster`]: members and their indexes;
/// `Strikes`, `SpawnHints`, `HostVoice`, `ClusterState`).
#[derive(Debug)]
pub struct ZoneHost<B: Borders = OneZone> {
    zones: Vec<Zone>,
    borders: B,
    /// Per zone: the ghosts mirrored into it.
    ghosts: Vec<BTreeSet<NetworkId>>,
    /// Inputs of frozen players, for whichever zone ends up owning them.
    waiting: SmallKeyMap<ConnectionId, Vec<Input>>,
    targets: Vec<usize>,
    handoffs: u64,
    server: Server,
    zone_id: u32,
    /// Members and their indexes.
    members: Roster,
    /// Rejected inputs, and who keeps sending them.
    strikes: strikes::Strikes,
    spawn_random: SplitMix64,
    inputs: Vec<Vec<ClientInput>>,
    nearby: Vec<NetworkId>,
    visible: Vec<NetworkId>,
    spawn_hints: crate::host::spawn_hints::SpawnHints,
    departed: Vec<MemberState>,
    said: Vec<SaidLine>,
    inventory_requests: Vec<InventoryRequest>,
    names: NameBook,
    store_before_relay: bool,
    spawn_area: Option<(Vec2, f32)>,
    inventory_busy: u64,
    /// Inventory changes refused by the game's rules.
    inventory_not_allowed: u64,
    cluster: crate::host::cluster::ClusterState,
    /// Blocks, mutes and bans.
    moderation: Moderation,
    /// Voice sessions, self-mutes, the stage and what to tell the port.
    voice: voice::HostVoice,
}

impl ZoneHost<OneZone> {
    /// Hosts `zone` (as zone `zone_id`) through `server`; `seed` picks spawn points.
    pub fn new(zone: Zone, server: Server, zone_id: u32, seed: u64) -> Self {
        Self::with_borders(vec![zone], OneZone, server, zone_id, seed)
    }
}

impl<B: Borders> ZoneHost<B> {
    /// Hosts several zones (world coordinates, disjoint network-id ranges)
    /// through one `server`, handing players across borders as `borders` says.
    /// `zone_id` names the first zone in welcomes; `seed` picks spawn points.
    pub fn with_borders(
        zones: Vec<Zone>,
        borders: B,
        server: Server,
        zone_id: u32,
        seed: u64,
    ) -> Self {
        let count = zones.len();
        Self {
            zones,
            borders,
            ghosts: vec![BTreeSet::new(); count],
            waiting: SmallKeyMap::default(),
            targets: Vec::new(),
            handoffs: 0,
            server,
            zone_id,
            members: Roster::new(count),
            strikes: strikes::Strikes::default(),
            spawn_random: SplitMix64::new(seed),
            inputs: vec![Vec::new(); count],
            nearby: Vec::new(),
            visible: Vec::new(),
            spawn_hints: crate::host::spawn_hints::SpawnHints::default(),
            departed: Vec::new(),
            said: Vec::new(),
            inventory_requests: Vec::new(),
            names: NameBook::new(),
            store_before_relay: false,
            spawn_area: None,
            inventory_busy: 0,
            inventory_not_allowed: 0,
            cluster: crate::host::cluster::ClusterState::default(),
            moderation: Moderation::default(),
            voice: voice::HostVoice::default(),
        }
    }

    /// The first zone (the only one of a single-zone host).
    pub fn zone(&self) -> &Zone {
        &self.zones[0]
    }

    /// The first zone, to place elements or spawn server-driven avatars.
    pub fn zone_mut(&mut self) -> &mut Zone {
        &mut self.zones[0]
    }

    /// Every zone.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// Every zone, to place elements.
    pub fn zones_mut(&mut self) -> &mut [Zone] {
        &mut self.zones
    }

    /// The handoff protocol.
    pub fn borders(&self) -> &B {
        &self.borders
    }

    /// The handoff protocol, to answer its ledger requests.
    pub fn borders_mut(&mut self) -> &mut B {
        &mut self.borders
    }

    /// The zone that owns a player's avatar now.
    pub fn zone_of(&self, account: u64) -> Option<usize> {
        self.members
            .by_account(account)
            .map(|(_, member)| member.zone)
    }

    /// Handoffs committed since the start.
    pub fn handoffs(&self) -> u64 {
        self.handoffs
    }

    /// Avatars in every zone.
    pub fn avatar_count(&self) -> usize {
        self.zones.iter().map(Zone::avatar_count).sum()
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
        self.strikes.by_reason()
    }

    /// Newcomers without a spawn hint appear within `radius` metres of `centre`
    /// (clamped to the zone) instead of anywhere in the zone. As the zone fills,
    /// the area grows so that it holds at most [`SPAWN_DENSITY`] avatars per
    /// square metre: a crowd spreads out instead of spawning on one spot.
    pub fn set_spawn_area(&mut self, centre: Vec2, radius: f32) {
        self.spawn_area = Some((centre, radius.max(0.0)));
    }

    /// Where and how `hint.account` should appear when it joins within the
    /// hints' lifetime from `now` (its saved place, its chosen appearance). A
    /// place outside the zone or blocked falls back to a spot in the spawn
    /// area. A hint not taken by a join expires (see [`Self::limit_spawn_hints`]).
    pub fn set_spawn_hint(&mut self, now: Instant, hint: SpawnHint) {
        self.spawn_hints.insert(now, hint);
    }

    /// Spawn hints expire `lifetime` after they are set (default
    /// [`crate::host::DEFAULT_SPAWN_HINT_LIFETIME`]: set it to the realtime token's
    /// lifetime) and at most `capacity` wait, the oldest dropped first
    /// (default [`crate::host::DEFAULT_SPAWN_HINT_CAPACITY`]).
    pub fn limit_spawn_hints(&mut self, lifetime: std::time::Duration, capacity: usize) {
        self.spawn_hints.set_limits(lifetime, capacity);
    }

    /// Spawn hints waiting for their player.
    pub fn spawn_hints_waiting(&self) -> usize {
        self.spawn_hints.len()
    }

    /// Spawn hints dropped unused: expired, or the oldest when full.
    pub fn spawn_hints_dropped(&self) -> u64 {
        self.spawn_hints.dropped()
    }

    /// Every admitted member's current state (for a checkpoint).
    pub fn member_states(&self) -> Vec<MemberState> {
        // A gateway checkpoints its own clients, wherever they are simulated.
        self.members
            .values()
            .filter(|member| !matches!(member.at, At::ForGateway(_)))
            .filter_map(|member| self.state_of(member))
            .collect()
    }

    pub(crate) fn state_of(&self, member: &Member) -> Option<MemberState> {
        if let At::Away(away) = member.at {
            return Some(MemberState {
                account: member.account,
                position: away.position,
                heading: away.heading,
                appearance: member.appearance,
            });
        }
        let avatar = self.zones[member.zone].avatar(member.client)?;
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

    /// Blocks, mutes and bans, to load and change them.
    pub fn moderation_mut(&mut self) -> &mut Moderation {
        &mut self.moderation
    }

    /// Blocks, mutes and bans, for their counters.
    pub fn moderation(&self) -> &Moderation {
        &self.moderation
    }

    /// Ends the session of `account` connected here, telling its client
    /// `reason`; `false` if it has none here.
    pub fn disconnect_account(&mut self, account: u64, reason: DisconnectReason) -> bool {
        let Some(connection) = self.members.connection_of(account) else {
            return false;
        };
        match self.members.get(&connection).map(|member| member.at) {
            Some(At::Here | At::Away(_)) => {
                self.server.disconnect(connection, reason);
                true
            }
            _ => false,
        }
    }

    /// Handles what the server reported, steps the zones, hands players
    /// across borders, and sends snapshots: [`Self::step`], then
    /// [`Self::replicate`].
    pub fn tick(&mut self, now: Instant) -> HostTick {
        let mut report = self.step(now);
        self.replicate(&mut report);
        report
    }

    /// The first half of a tick: steps the zones and hands players across
    /// borders. In a cluster it also builds what other shards need this tick
    /// (handoff messages, frames for their clients, forwarded inputs), so a
    /// driver can send those before the snapshots of its own clients are
    /// encoded.
    pub fn step(&mut self, now: Instant) -> HostTick {
        self.moderation.advance(now);
        self.server.handle_timeout(now);
        self.spawn_hints.expire(now);
        self.drain_events();
        let mut report = HostTick::default();
        let mut offenders = Vec::new();
        if self.cluster.linked {
            self.evict_unowned();
        }
        for (index, (zone, inputs)) in self.zones.iter_mut().zip(&mut self.inputs).enumerate() {
            if self.borders.owner(index) != ZoneOwner::Here {
                // Another shard simulates it (or nobody, for now).
                inputs.clear();
                continue;
            }
            let output = zone.step(inputs);
            inputs.clear();
            report.tick = output.tick;
            report.accepted_inputs += output.accepted_inputs;
            report.rejected_inputs += output.rejections.len();
            offenders.extend(
                output
                    .rejections
                    .iter()
                    .filter_map(|rejection| self.strikes.count(rejection)),
            );
        }
        self.strikes.forgive_one();
        for (client, reason) in offenders {
            if let Some(connection) = self.members.connection_of_client(client) {
                let reason = match reason {
                    RejectReason::RateLimited => DisconnectReason::RateLimited,
                    _ => DisconnectReason::ProtocolViolation,
                };
                self.server.disconnect(connection, reason);
            }
        }
        if self.zones.len() > 1 {
            self.observe_and_mirror();
        }
        // Every step, whatever the zone count: the borders keep their leases
        // (renewals, fencing, takeovers) as they advance the handoffs.
        for (account, from, to) in self.borders.advance() {
            match self.borders.owner(to) {
                ZoneOwner::Here => self.switch(account, from, to),
                owner => self.switch_out(account, from, to, owner),
            }
        }
        if self.cluster.linked {
            // The host's own tick count: the cluster's timeouts are in ticks.
            self.cluster.ticks += 1;
            self.reattach_strays();
        }
        // Departures above are despawned now, before snapshots are built.
        self.drain_events();
        if self.cluster.linked {
            self.members.group_by_zone();
            self.build_frames();
            self.flush_away_inputs();
        }
        report
    }

    /// The second half of a tick: the snapshots of this host's own clients.
    pub fn replicate(&mut self, report: &mut HostTick) {
        self.members.group_by_zone();
        self.send_snapshots(report);
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.server.poll_event() {
            match event {
                ServerEvent::Joined { connection, claims } => {
                    self.join(connection, claims.sub, claims.name);
                }
                ServerEvent::Input { connection, input } => {
                    if let Some(member) = self.members.get(&connection) {
                        if let At::Away(away) = member.at {
                            self.forward_input(member.account, away.shard, input);
                        } else if self.borders.is_frozen(member.account, member.zone) {
                            self.waiting.entry(connection).or_default().push(input);
                        } else {
                            self.inputs[member.zone].push(ClientInput {
                                client: member.client,
                                input,
                            });
                        }
                    }
                }
                ServerEvent::Chat { connection, chat } => {
                    self.said(connection, chat.channel, chat.text);
                }
                ServerEvent::Inventory { connection, change } => {
                    self.request_inventory(connection, change);
                }
                ServerEvent::Voice {
                    connection,
                    request,
                } => self.on_voice(connection, request),
                ServerEvent::Left { connection, reason } => {
                    if let Some(member) = self.members.get(&connection) {
                        let _span = connection_span(connection).entered();
                        tracing::info!(
                            account = member.account,
                            reason = meridian_netcode::metrics::disconnect_label(reason),
                            "left"
                        );
                    }
                    self.leave(connection);
                }
            }
        }
    }

    fn join(&mut self, connection: ConnectionId, account: u64, name: String) {
        let span = connection_span(connection);
        let _entered = span.enter();
        if self.moderation.is_banned(account) {
            tracing::info!(account, "refused: the account is banned");
            // Refusing a connection the server just verified cannot fail.
            let _ = self
                .server
                .refuse(connection, RefusalReason::Banned, "this account is banned");
            return;
        }
        // One avatar per player: an older session of this account ends first.
        self.replace_older_session(account, connection);
        let client = self.members.fresh_client();
        let config = self.zones[0].config().clone();
        let mut spawned = Err(SpawnError::Occupied);
        let mut zone = 0;
        let hint = self.spawn_hints.take(account);
        let chosen = hint.and_then(|hint| hint.appearance);
        let mut appearance = chosen.unwrap_or(0);
        if let Some((position, heading)) = hint.and_then(|hint| hint.place) {
            let spawn = AvatarSpawn {
                position,
                heading,
                appearance,
            };
            zone = self.borders.zone_at(position).min(self.zones.len() - 1);
            match self.spawn_or_attach(connection, account, &name, zone, client, spawn) {
                Some(result) => spawned = result,
                None => return,
            }
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
            zone = self
                .borders
                .zone_at(spawn.position)
                .min(self.zones.len() - 1);
            match self.spawn_or_attach(connection, account, &name, zone, client, spawn) {
                Some(result) => spawned = result,
                None => return,
            }
            if !matches!(spawned, Err(SpawnError::Occupied | SpawnError::OutOfBounds)) {
                break;
            }
        }
        let avatar = match spawned {
            Ok(avatar) => avatar,
            Err(error) => {
                tracing::warn!(account, %error, "refused: no free spot to spawn in");
                // Refusing a connection the server just verified cannot fail.
                let _ =
                    self.server
                        .refuse(connection, RefusalReason::ServerFull, &error.to_string());
                return;
            }
        };
        // Ticks fit u32 for over six years at 20 Hz.
        let welcome = self.welcome(avatar, zone, self.zones[zone].tick() as u32);
        if self.server.admit(connection, welcome).is_ok() {
            tracing::info!(
                account,
                avatar = avatar.0,
                zone = self.zone_id + zone as u32,
                "joined"
            );
            let member = Member {
                client,
                avatar,
                account,
                appearance,
                inventory_in_flight: 0,
                zone,
                at: At::Here,
            };
            self.members.insert(connection, member);
            self.moderation.joined(account);
            self.borders.joined(account, zone);
            self.names.join(connection, avatar, &name, account);
            self.announce_name(avatar);
            self.announce_session(account);
        } else {
            let _ = self.zones[zone].despawn_avatar(client);
        }
    }

    /// The welcome of a client whose avatar `avatar` is in `zone` at `tick`:
    /// the zone's size and rate, and every limit the client is held to.
    pub(crate) fn welcome(&self, avatar: NetworkId, zone: usize, tick: u32) -> Welcome {
        let config = self.zones[0].config();
        Welcome {
            protocol_version: PROTOCOL_VERSION,
            avatar_id: avatar,
            zone_id: self.zone_id + zone as u32,
            tick_rate_hz: u16::try_from(config.tick_rate_hz).unwrap_or(u16::MAX),
            tick,
            zone_width: config.world_width,
            zone_height: config.world_height,
            limits: meridian_netcode::session_limits(config, self.server.config()),
        }
    }

    pub(crate) fn leave(&mut self, connection: ConnectionId) {
        self.cluster.forget_pending(connection);
        if let Some(member) = self.members.remove(connection) {
            if self.cluster.linked && !matches!(member.at, At::ForGateway(_)) {
                self.said_goodbye(member);
            }
            if let Some(state) = self.state_of(&member) {
                self.departed.push(state);
            }
            self.names.leave(connection, member.avatar);
            self.strikes.forget(member.client);
            self.waiting.remove(&connection);
            self.moderation.left(member.account);
            self.voice_left(member.account);
            if matches!(member.at, At::Away(_)) {
                return;
            }
            self.borders.left(member.account, member.zone);
            // The avatar may already be gone; nothing else to undo.
            let _ = self.zones[member.zone].despawn_avatar(member.client);
        }
    }

    /// What the players simulated here for other shards' clients see: one
    /// frame per zone and gateway.
    fn build_frames(&mut self) {
        for (index, zone) in self.zones.iter().enumerate() {
            for connection in self.members.in_zone(index) {
                let Some(member) = self.members.get(connection) else {
                    continue;
                };
                if let At::ForGateway(gateway) = member.at
                    && let Some(avatar) = zone.avatar(member.client)
                {
                    self.cluster.view_for(gateway, zone, member, &avatar);
                }
            }
            self.cluster.end_zone(index, zone);
        }
    }

    fn send_snapshots(&mut self, report: &mut HostTick) {
        for (index, zone) in self.zones.iter().enumerate() {
            // Ticks fit u32 for over six years at 20 Hz.
            let tick = zone.tick() as u32;
            let tick_rate = zone.config().tick_rate_hz;
            let states = zone.replicated_states();
            self.server.begin_snapshots(tick, states);
            for connection in self.members.in_zone(index) {
                let connection = *connection;
                let Some(member) = self.members.get(&connection) else {
                    continue;
                };
                if let At::ForGateway(_) = member.at {
                    // In a frame, built by `step`.
                    continue;
                }
                let Some(avatar) = zone.avatar(member.client) else {
                    continue;
                };
                self.visible.clear();
                // The client sees itself too, so it can reconcile its own movement.
                let own = std::iter::once(member.avatar);
                let others = zone.visible(member.client).unwrap_or_default();
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
                    if !self.cluster.crossed.is_empty()
                        && let Some(at) = self.cluster.crossed.remove(&member.account)
                    {
                        self.cluster.crossing_done(at);
                    }
                }
            }
        }
    }
}

/// The zone side's span of a connection's events: `connection` with its id,
/// the name the transports use too.
fn connection_span(connection: ConnectionId) -> tracing::Span {
    tracing::info_span!("connection", id = connection.0)
}
