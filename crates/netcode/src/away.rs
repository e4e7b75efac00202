//! A host as one shard of a cluster (`ZoneHost::link_as`): the part of
//! [`ZoneHost`] that talks to the hosts of other shards through
//! [`HostMessage`]s, which the driver carries over the shard link.
//!
//! - As a **gateway** it keeps every client connected here, wherever its
//!   avatar is simulated: a join in a zone another shard serves is attached
//!   there, the client's inputs are forwarded there, and the frames that shard
//!   sends back become the client's snapshots. The connection never changes.
//! - As an **owner** it simulates the avatars of clients connected elsewhere
//!   in the zones it holds, and sends each gateway one frame per zone and tick.
//! - Players near a border are mirrored as ghosts into the neighbouring zone
//!   wherever it is served; a committed handoff to another shard's zone sends
//!   the avatar there (with the inputs that waited while it was frozen), and
//!   the ghost there becomes the avatar under the same network id.
//! - A zone this shard stops holding (its lease lapsed) stops being simulated
//!   at once; its clients' gateways attach them again to whoever takes it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use meridian_protocol::NetworkId;
use meridian_protocol::PROTOCOL_VERSION;
use meridian_protocol::messages::{
    AnimationState, ChatChannel, ChatRelay, Input, RefusalReason, ServerMessage, Welcome,
};
use meridian_sim::{AvatarSpawn, AvatarState, ClientId, ClientInput, GhostState, Vec2, Zone};

use crate::borders::{Borders, ZoneOwner};
use crate::host::{At, Away, Member, ZoneHost};
use crate::link::{GhostWire, HostMessage, LinkTo, Traveller, View};
use crate::server::ConnectionId;

/// Ticks without a frame before a gateway asks again who simulates its client.
const STALE_TICKS: u64 = 40;

/// Ticks a join waits for the owner to attach it before it is refused.
const ATTACH_PATIENCE: u64 = 200;

/// Ticks between asks to attach a join.
const ATTACH_EVERY: u64 = 20;

/// Ticks a stray input for a player handed to another shard is forwarded there.
const FORWARD_TICKS: u64 = 200;

/// Inputs one player may have waiting to be forwarded in one tick.
const MAX_FORWARDED: usize = 64;

/// Rings of free spots (1 m apart) an owner tries around a newcomer's spot.
const SPAWN_RINGS: usize = 4;

/// Connection ids of avatars simulated here for another gateway (never a
/// real connection's).
const FOR_GATEWAY: u64 = 1 << 63;

#[derive(Debug, Clone)]
struct Pending {
    connection: ConnectionId,
    name: String,
    appearance: u32,
    position: Vec2,
    heading: f32,
    since: u64,
    /// When its attach was last asked (it is asked again until answered: the
    /// link to the owner may not be up yet).
    asked: Option<u64>,
}

/// What a host keeps as one shard of a cluster.
#[derive(Debug, Default)]
pub(crate) struct ClusterState {
    /// Whether this host is one shard of a cluster.
    pub(crate) linked: bool,
    me: u32,
    ticks: u64,
    out: Vec<(LinkTo, HostMessage)>,
    pending: HashMap<u64, Pending>,
    /// Ghosts other shards mirror into our zones: (our zone, their zone) →
    /// (their shard, the ids).
    remote_ghosts: HashMap<(usize, u32), (u32, BTreeSet<NetworkId>)>,
    /// This tick's mirrors into other shards' zones: (our zone, their zone).
    mirrors: BTreeMap<(usize, usize), Vec<GhostWire>>,
    /// Last tick's, to end the ones that stopped.
    mirrored: BTreeSet<(usize, usize)>,
    /// Players handed to another shard: where, and when.
    moved: HashMap<u64, (u32, u64)>,
    away_inputs: HashMap<u64, (u32, Vec<Input>)>,
    /// The zone being sent: each gateway's views.
    views: BTreeMap<u32, Vec<View>>,
}

fn wire(position: Vec2) -> [f32; 2] {
    [position.x, position.y]
}

fn unwire(position: [f32; 2]) -> Vec2 {
    Vec2::new(position[0], position[1])
}

impl ClusterState {
    pub(crate) fn forget_pending(&mut self, connection: ConnectionId) {
        self.pending
            .retain(|_, pending| pending.connection != connection);
    }

    pub(crate) fn mirror(&mut self, from: usize, to: usize, ghost: GhostState) {
        self.mirrors.entry((from, to)).or_default().push(GhostWire {
            id: ghost.id,
            appearance: ghost.appearance,
            position: wire(ghost.position),
            heading: ghost.heading,
            animation: ghost.animation,
        });
    }

    /// A player simulated here for `gateway`: what it sees this tick.
    pub(crate) fn view_for(
        &mut self,
        gateway: u32,
        zone: &Zone,
        member: &Member,
        avatar: &AvatarState,
    ) {
        let mut visible: Vec<NetworkId> = zone.visible(member.client).unwrap_or_default().to_vec();
        visible.push(member.avatar);
        visible.sort_unstable();
        visible.dedup();
        self.views.entry(gateway).or_default().push(View {
            account: member.account,
            visible,
            position: wire(avatar.position),
            heading: avatar.heading,
            last_input: avatar.last_input_sequence.unwrap_or(0),
        });
    }

    /// The zone's views are all taken: one frame per gateway.
    pub(crate) fn end_zone(&mut self, index: usize, zone: &Zone) {
        if self.views.is_empty() {
            return;
        }
        let states = zone.replicated_states();
        for (gateway, views) in std::mem::take(&mut self.views) {
            let seen: BTreeSet<NetworkId> = views
                .iter()
                .flat_map(|view| view.visible.iter().copied())
                .collect();
            let frame = HostMessage::Frame {
                zone: index as u32,
                tick: zone.tick(),
                tick_rate: zone.config().tick_rate_hz,
                states: states
                    .iter()
                    .filter(|state| seen.contains(&state.id))
                    .copied()
                    .collect(),
                views,
            };
            self.out.push((LinkTo::Shard(gateway), frame));
        }
    }
}

impl<B: Borders> ZoneHost<B> {
    /// Makes this host shard `me` of a cluster: from now on it talks to other
    /// shards through [`Self::take_link_messages`] and [`Self::handle_link`].
    pub fn link_as(&mut self, me: u32) {
        self.cluster.linked = true;
        self.cluster.me = me;
    }

    /// Numbers every zone's ticks from a clock the cluster shares: the next
    /// step is `tick` + 1 at the earliest.
    pub fn align_ticks(&mut self, tick: u64) {
        for zone in &mut self.zones {
            zone.align_tick(tick);
        }
    }

    /// Messages for other shards since the last call.
    pub fn take_link_messages(&mut self) -> Vec<(LinkTo, HostMessage)> {
        std::mem::take(&mut self.cluster.out)
    }

    /// A link to `shard` came up: tell it the names of our clients' avatars.
    pub fn introduce(&mut self, shard: u32) {
        let names = self
            .members
            .values()
            .filter(|member| !matches!(member.at, At::ForGateway(_)))
            .filter_map(|member| {
                let name = self.names.name_of(member.avatar)?;
                Some((member.avatar, name.to_owned()))
            })
            .collect();
        self.cluster
            .out
            .push((LinkTo::Shard(shard), HostMessage::Names(names)));
    }

    /// The link to `shard` is gone: its ghosts go, avatars simulated here for
    /// it go (its clients are gone, or will be attached again), and our
    /// clients it simulated are attached again to whoever serves their zone.
    pub fn shard_lost(&mut self, shard: u32) {
        let gone: Vec<(usize, u32)> = self
            .cluster
            .remote_ghosts
            .iter()
            .filter(|(_, (sender, _))| *sender == shard)
            .map(|(key, _)| *key)
            .collect();
        for key in gone {
            if let Some((_, ids)) = self.cluster.remote_ghosts.remove(&key) {
                for id in ids {
                    let _ = self.zones[key.0].remove_ghost(id);
                }
            }
        }
        let hosted: Vec<ConnectionId> = self
            .members
            .iter()
            .filter(|(_, member)| member.at == At::ForGateway(shard))
            .map(|(connection, _)| *connection)
            .collect();
        for connection in hosted {
            self.leave(connection);
        }
        for member in self.members.values_mut() {
            if let At::Away(away) = &mut member.at
                && away.shard == Some(shard)
            {
                away.shard = None;
            }
        }
    }

    /// A message from shard `from`.
    pub fn handle_link(&mut self, from: u32, message: HostMessage) {
        match message {
            HostMessage::Attach(traveller) => self.attach(from, traveller),
            HostMessage::Attached {
                account,
                avatar,
                zone,
                tick,
            } => self.attached(from, account, avatar, zone as usize, tick),
            HostMessage::NotAttached { account } => {
                if self.cluster.pending.contains_key(&account) {
                    // Asked again in a while (who serves the zone may have
                    // changed), and refused when patience runs out.
                } else if let Some(member) = self.member_by_account(account)
                    && let At::Away(away) = &mut member.at
                {
                    away.shard = None;
                }
            }
            HostMessage::Detach { account } => {
                if let Some(&connection) = self.by_account.get(&account)
                    && self.members.get(&connection).map(|m| m.at) == Some(At::ForGateway(from))
                {
                    self.leave(connection);
                }
            }
            HostMessage::Inputs { account, inputs } => self.inputs_from_gateway(account, inputs),
            HostMessage::Frame {
                zone,
                tick,
                tick_rate,
                states,
                views,
            } => self.frame(from, zone as usize, tick, tick_rate, &states, views),
            HostMessage::Ghosts {
                from: source,
                to,
                ghosts,
            } => {
                self.ghosts_from(from, source, to as usize, &ghosts);
            }
            HostMessage::HandIn {
                traveller,
                zone,
                gateway,
                animation,
                inputs,
            } => self.hand_in(traveller, zone as usize, gateway, animation, inputs),
            HostMessage::Names(names) => {
                for (avatar, name) in names {
                    self.names.name_remote(avatar, &name);
                }
            }
            HostMessage::Unnamed(avatar) => {
                if !self.by_avatar.contains_key(&avatar) {
                    self.names.forget_avatar(avatar);
                }
            }
            HostMessage::Said {
                from: speaker,
                position,
                channel,
                text,
            } => self.relay_near(speaker, unwire(position), channel, text),
        }
    }

    fn member_by_account(&mut self, account: u64) -> Option<&mut Member> {
        let connection = self.by_account.get(&account)?;
        self.members.get_mut(connection)
    }

    fn traveller(
        &self,
        member: &Member,
        position: Vec2,
        heading: f32,
        last_input: Option<u32>,
    ) -> Traveller {
        Traveller {
            account: member.account,
            name: self
                .names
                .name_of(member.avatar)
                .unwrap_or_default()
                .to_owned(),
            appearance: member.appearance,
            avatar: Some(member.avatar),
            position: wire(position),
            heading,
            last_input,
        }
    }

    /// Puts an avatar with a known network id into `zone` for `client`, the
    /// way a handoff does: as a ghost, then promoted.
    fn place(
        &mut self,
        zone: usize,
        client: ClientId,
        traveller: &Traveller,
        animation: AnimationState,
    ) -> Option<NetworkId> {
        let target = &mut self.zones[zone];
        let Some(id) = traveller.avatar else {
            // A newcomer: where its gateway chose, or the nearest free spot
            // around it (the gateway cannot see who stands here).
            let wanted = unwire(traveller.position);
            let bounds = self.borders.zone_bounds(zone);
            for (ring, step) in
                (0..=SPAWN_RINGS).flat_map(|ring| (0..8).map(move |step| (ring, step)))
            {
                if ring == 0 && step > 0 {
                    continue;
                }
                let angle = step as f32 * std::f32::consts::FRAC_PI_4;
                let offset = Vec2::new(angle.cos(), angle.sin()) * ring as f32;
                let position = wanted + offset;
                if bounds.is_some_and(|(low, high)| {
                    position.x < low.x
                        || position.y < low.y
                        || position.x >= high.x
                        || position.y >= high.y
                }) {
                    continue;
                }
                let spawn = AvatarSpawn {
                    position,
                    heading: traveller.heading,
                    appearance: traveller.appearance,
                };
                if let Ok(avatar) = target.spawn_avatar(client, spawn) {
                    return Some(avatar);
                }
            }
            return None;
        };
        target
            .upsert_ghost(GhostState {
                id,
                appearance: traveller.appearance,
                position: unwire(traveller.position),
                heading: traveller.heading,
                animation,
            })
            .ok()?;
        target
            .promote_ghost(id, client, traveller.last_input)
            .ok()?;
        for (_, ids) in self.cluster.remote_ghosts.values_mut() {
            ids.remove(&id);
        }
        Some(id)
    }

    fn fresh_client(&mut self) -> ClientId {
        let client = ClientId(self.next_client);
        self.next_client += 1;
        client
    }

    /// Hosts an avatar here for the client `gateway` serves.
    fn host_for(
        &mut self,
        gateway: u32,
        zone: usize,
        traveller: &Traveller,
        animation: AnimationState,
    ) -> Option<NetworkId> {
        let client = self.fresh_client();
        let avatar = self.place(zone, client, traveller, animation)?;
        let connection = ConnectionId(FOR_GATEWAY | traveller.account);
        self.members.insert(
            connection,
            Member {
                client,
                avatar,
                account: traveller.account,
                appearance: traveller.appearance,
                inventory_in_flight: 0,
                zone,
                at: At::ForGateway(gateway),
            },
        );
        self.by_account.insert(traveller.account, connection);
        self.by_avatar.insert(avatar, connection);
        self.by_client.insert(client, connection);
        self.names
            .join(connection, avatar, &traveller.name, traveller.account);
        Some(avatar)
    }

    fn attach(&mut self, gateway: u32, traveller: Traveller) {
        let account = traveller.account;
        let zone = self
            .borders
            .zone_at(unwire(traveller.position))
            .min(self.zones.len() - 1);
        let refuse = HostMessage::NotAttached { account };
        if self.borders.owner(zone) != ZoneOwner::Here {
            self.cluster.out.push((LinkTo::Shard(gateway), refuse));
            return;
        }
        let avatar = match self
            .by_account
            .get(&account)
            .and_then(|c| self.members.get(c))
            .copied()
        {
            // Already simulated here (an attach asked twice, or the client
            // came back through another gateway): it carries on.
            Some(member) if matches!(member.at, At::ForGateway(_)) => {
                if let Some(member) = self.member_by_account(account) {
                    member.at = At::ForGateway(gateway);
                }
                Some((member.avatar, member.zone))
            }
            Some(_) => None,
            None => self
                .host_for(gateway, zone, &traveller, AnimationState::Idle)
                .map(|avatar| {
                    self.borders.joined(account, zone);
                    (avatar, zone)
                }),
        };
        let answer = match avatar {
            Some((avatar, zone)) => HostMessage::Attached {
                account,
                avatar,
                zone: zone as u32,
                tick: self.zones[zone].tick(),
            },
            None => refuse,
        };
        self.cluster.out.push((LinkTo::Shard(gateway), answer));
    }

    fn attached(&mut self, owner: u32, account: u64, avatar: NetworkId, zone: usize, tick: u64) {
        let heard = self.cluster.ticks;
        if let Some(pending) = self.cluster.pending.remove(&account) {
            let config = self.zones[0].config().clone();
            let welcome = Welcome {
                protocol_version: PROTOCOL_VERSION,
                avatar_id: avatar,
                zone_id: self.zone_id + zone as u32,
                tick_rate_hz: u16::try_from(config.tick_rate_hz).unwrap_or(u16::MAX),
                tick: tick as u32,
                zone_width: config.world_width,
                zone_height: config.world_height,
            };
            if self.server.admit(pending.connection, welcome).is_err() {
                self.cluster
                    .out
                    .push((LinkTo::Shard(owner), HostMessage::Detach { account }));
                return;
            }
            let client = self.fresh_client();
            self.members.insert(
                pending.connection,
                Member {
                    client,
                    avatar,
                    account,
                    appearance: pending.appearance,
                    inventory_in_flight: 0,
                    zone,
                    at: At::Away(Away {
                        shard: Some(owner),
                        position: pending.position,
                        heading: pending.heading,
                        heard,
                    }),
                },
            );
            self.by_account.insert(account, pending.connection);
            self.by_avatar.insert(avatar, pending.connection);
            self.names
                .join(pending.connection, avatar, &pending.name, account);
            self.announce_name(avatar);
        } else if let Some(member) = self.member_by_account(account)
            && let At::Away(away) = &mut member.at
        {
            away.shard = Some(owner);
            away.heard = heard;
            member.zone = zone;
        }
    }

    fn inputs_from_gateway(&mut self, account: u64, inputs: Vec<Input>) {
        let Some(&connection) = self.by_account.get(&account) else {
            if let Some(&(shard, _)) = self.cluster.moved.get(&account) {
                self.cluster.out.push((
                    LinkTo::Shard(shard),
                    HostMessage::Inputs { account, inputs },
                ));
            }
            return;
        };
        let Some(member) = self.members.get(&connection).copied() else {
            return;
        };
        if !matches!(member.at, At::ForGateway(_)) {
            return;
        }
        if self.borders.is_frozen(account, member.zone) {
            self.waiting.entry(connection).or_default().extend(inputs);
        } else {
            self.inputs[member.zone].extend(inputs.into_iter().map(|input| ClientInput {
                client: member.client,
                input,
            }));
        }
    }

    fn frame(
        &mut self,
        owner: u32,
        zone: usize,
        tick: u64,
        tick_rate: u32,
        states: &[meridian_protocol::snapshot::EntityState],
        views: Vec<View>,
    ) {
        let heard = self.cluster.ticks;
        // Ticks fit u32 for over six years at 20 Hz.
        self.server.begin_snapshots(tick as u32, states);
        for view in views {
            let Some(&connection) = self.by_account.get(&view.account) else {
                continue;
            };
            let Some(member) = self.members.get_mut(&connection) else {
                continue;
            };
            let At::Away(away) = &mut member.at else {
                continue;
            };
            away.shard = Some(owner);
            away.position = unwire(view.position);
            away.heading = view.heading;
            away.heard = heard;
            member.zone = zone;
            self.names
                .after_view(&mut self.server, connection, &view.visible);
            let _ = self.server.send_snapshot(
                connection,
                tick as u32,
                tick_rate,
                &view.visible,
                states,
                Some(view.position),
                view.last_input,
            );
        }
    }

    fn ghosts_from(&mut self, sender: u32, source: u32, to: usize, ghosts: &[GhostWire]) {
        if to >= self.zones.len() || self.borders.owner(to) != ZoneOwner::Here {
            return;
        }
        let ids: BTreeSet<NetworkId> = ghosts.iter().map(|ghost| ghost.id).collect();
        let zone = &mut self.zones[to];
        if let Some((_, before)) = self.cluster.remote_ghosts.get(&(to, source)) {
            for gone in before.difference(&ids) {
                let _ = zone.remove_ghost(*gone);
            }
        }
        for ghost in ghosts {
            // An avatar of ours under that id (a handoff just arrived) is not
            // overwritten: upsert refuses it.
            let _ = zone.upsert_ghost(GhostState {
                id: ghost.id,
                appearance: ghost.appearance,
                position: unwire(ghost.position),
                heading: ghost.heading,
                animation: ghost.animation,
            });
        }
        if ids.is_empty() {
            self.cluster.remote_ghosts.remove(&(to, source));
        } else {
            self.cluster
                .remote_ghosts
                .insert((to, source), (sender, ids));
        }
    }

    fn hand_in(
        &mut self,
        traveller: Traveller,
        zone: usize,
        gateway: u32,
        animation: AnimationState,
        inputs: Vec<Input>,
    ) {
        if zone >= self.zones.len() || self.borders.owner(zone) != ZoneOwner::Here {
            // We lost the zone meanwhile: its gateway attaches it again.
            return;
        }
        let account = traveller.account;
        let client = if gateway == self.cluster.me {
            // Our own client comes back to a zone of ours.
            let Some(&connection) = self.by_account.get(&account) else {
                return;
            };
            let client = self.fresh_client();
            if self.place(zone, client, &traveller, animation).is_none() {
                return;
            }
            if let Some(member) = self.members.get_mut(&connection) {
                member.client = client;
                member.zone = zone;
                member.at = At::Here;
            }
            self.by_client.insert(client, connection);
            client
        } else {
            if self.by_account.contains_key(&account) {
                return;
            }
            if self
                .host_for(gateway, zone, &traveller, animation)
                .is_none()
            {
                return;
            }
            let Some(member) = self.member_by_account(account) else {
                return;
            };
            member.client
        };
        self.inputs[zone].extend(
            inputs
                .into_iter()
                .map(|input| ClientInput { client, input }),
        );
    }

    /// Members simulated here in a zone we no longer hold stop being simulated
    /// at once (another shard may hold it now): our own clients wait to be
    /// attached again, others' are dropped (their gateways attach them again).
    pub(crate) fn evict_unowned(&mut self) {
        let evicted: Vec<(ConnectionId, Member)> = self
            .members
            .iter()
            .filter(|(_, member)| !matches!(member.at, At::Away(_)))
            .filter(|(_, member)| self.borders.owner(member.zone) != ZoneOwner::Here)
            .map(|(connection, member)| (*connection, *member))
            .collect();
        for (connection, member) in evicted {
            if let At::ForGateway(_) = member.at {
                self.leave(connection);
                continue;
            }
            let state = self.zones[member.zone].avatar(member.client);
            let _ = self.zones[member.zone].despawn_avatar(member.client);
            self.by_client.remove(&member.client);
            self.waiting.remove(&connection);
            if let (Some(member), Some(state)) = (self.members.get_mut(&connection), state) {
                member.at = At::Away(Away {
                    shard: None,
                    position: state.position,
                    heading: state.heading,
                    heard: 0,
                });
            }
        }
    }

    /// A handoff committed into a zone of another shard: the avatar goes
    /// there (a ghost of it stays here until that shard stops mirroring it).
    pub(crate) fn switch_out(&mut self, account: u64, from: usize, to: usize, owner: ZoneOwner) {
        let Some(&connection) = self.by_account.get(&account) else {
            return;
        };
        let Some(member) = self.members.get(&connection).copied() else {
            return;
        };
        if member.zone != from || matches!(member.at, At::Away(_)) {
            return;
        }
        let Some(state) = self.zones[from].avatar(member.client) else {
            return;
        };
        if self.zones[from].demote_to_ghost(member.client).is_ok() {
            self.cluster
                .remote_ghosts
                .entry((from, to as u32))
                .or_insert_with(|| (0, BTreeSet::new()))
                .1
                .insert(member.avatar);
        }
        let shard = match owner {
            ZoneOwner::Shard(shard) => Some(shard),
            _ => None,
        };
        if let Some(entry) = self.cluster.remote_ghosts.get_mut(&(from, to as u32)) {
            entry.0 = shard.unwrap_or_default();
        }
        let gateway = match member.at {
            At::ForGateway(gateway) => gateway,
            _ => self.cluster.me,
        };
        let traveller = self.traveller(
            &member,
            state.position,
            state.heading,
            state.last_input_sequence,
        );
        let waited = self.waiting.remove(&connection).unwrap_or_default();
        if let Some(shard) = shard {
            self.cluster.out.push((
                LinkTo::Shard(shard),
                HostMessage::HandIn {
                    traveller,
                    zone: to as u32,
                    gateway,
                    animation: state.animation,
                    inputs: waited,
                },
            ));
            self.cluster
                .moved
                .insert(account, (shard, self.cluster.ticks));
        }
        self.handoffs += 1;
        self.by_client.remove(&member.client);
        if member.at == At::Here {
            if let Some(member) = self.members.get_mut(&connection) {
                member.zone = to;
                member.at = At::Away(Away {
                    shard,
                    position: state.position,
                    heading: state.heading,
                    heard: self.cluster.ticks,
                });
            }
        } else {
            self.members.remove(&connection);
            self.by_account.remove(&account);
            self.by_avatar.remove(&member.avatar);
            self.names.detach(connection);
        }
    }

    /// Our clients whose avatar nobody is known to simulate (or whose frames
    /// stopped) are attached again to whoever serves the zone they stand in.
    pub(crate) fn reattach_strays(&mut self) {
        self.cluster.ticks += 1;
        let now = self.cluster.ticks;
        self.cluster
            .moved
            .retain(|_, (_, when)| now.saturating_sub(*when) < FORWARD_TICKS);
        let late: Vec<u64> = self
            .cluster
            .pending
            .iter()
            .filter(|(_, pending)| now.saturating_sub(pending.since) > ATTACH_PATIENCE)
            .map(|(account, _)| *account)
            .collect();
        for account in late {
            if let Some(pending) = self.cluster.pending.remove(&account) {
                let _ = self.server.refuse(
                    pending.connection,
                    RefusalReason::ServerFull,
                    "nobody could take you into that zone; try again",
                );
            }
        }
        let again: Vec<u64> = self
            .cluster
            .pending
            .iter()
            .filter(|(_, pending)| {
                pending
                    .asked
                    .is_none_or(|asked| now.saturating_sub(asked) >= ATTACH_EVERY)
            })
            .map(|(account, _)| *account)
            .collect();
        for account in again {
            self.ask_to_attach(account);
        }
        let strays: Vec<(ConnectionId, Member, Away)> = self
            .members
            .iter()
            .filter_map(|(connection, member)| match member.at {
                At::Away(away)
                    if away.shard.is_none() || now.saturating_sub(away.heard) > STALE_TICKS =>
                {
                    Some((*connection, *member, away))
                }
                _ => None,
            })
            .collect();
        for (connection, member, away) in strays {
            let zone = self
                .borders
                .zone_at(away.position)
                .min(self.zones.len() - 1);
            let traveller = self.traveller(&member, away.position, away.heading, None);
            match self.borders.owner(zone) {
                ZoneOwner::Here => {
                    let client = self.fresh_client();
                    if self
                        .place(zone, client, &traveller, AnimationState::Idle)
                        .is_none()
                    {
                        continue;
                    }
                    if let Some(member) = self.members.get_mut(&connection) {
                        member.client = client;
                        member.zone = zone;
                        member.at = At::Here;
                    }
                    self.by_client.insert(client, connection);
                    self.borders.joined(member.account, zone);
                }
                ZoneOwner::Shard(shard) => {
                    self.cluster
                        .out
                        .push((LinkTo::Shard(shard), HostMessage::Attach(traveller)));
                    if let Some(member) = self.members.get_mut(&connection)
                        && let At::Away(away) = &mut member.at
                    {
                        away.shard = Some(shard);
                        away.heard = now;
                    }
                }
                ZoneOwner::Nobody => {}
            }
        }
    }

    /// Sends this tick's mirrors into other shards' zones, and ends the ones
    /// that stopped.
    pub(crate) fn mirror_across_shards(&mut self) {
        let mirrors = std::mem::take(&mut self.cluster.mirrors);
        let mut sent = BTreeSet::new();
        let stopped: Vec<(usize, usize)> = self
            .cluster
            .mirrored
            .iter()
            .filter(|key| !mirrors.contains_key(key))
            .copied()
            .collect();
        let ended = stopped.into_iter().map(|key| (key, Vec::new()));
        for ((from, to), ghosts) in mirrors.into_iter().chain(ended) {
            let ZoneOwner::Shard(shard) = self.borders.owner(to) else {
                continue;
            };
            if !ghosts.is_empty() {
                sent.insert((from, to));
            }
            self.cluster.out.push((
                LinkTo::Shard(shard),
                HostMessage::Ghosts {
                    from: from as u32,
                    to: to as u32,
                    ghosts,
                },
            ));
        }
        self.cluster.mirrored = sent;
    }

    pub(crate) fn forward_input(&mut self, account: u64, shard: Option<u32>, input: Input) {
        // With nobody known to simulate it, the input is lost like a dropped
        // datagram; the client's next ones carry on.
        let Some(shard) = shard else {
            return;
        };
        let (to, inputs) = self
            .cluster
            .away_inputs
            .entry(account)
            .or_insert_with(|| (shard, Vec::new()));
        *to = shard;
        if inputs.len() < MAX_FORWARDED {
            inputs.push(input);
        }
    }

    pub(crate) fn flush_away_inputs(&mut self) {
        for (account, (shard, inputs)) in self.cluster.away_inputs.drain() {
            self.cluster.out.push((
                LinkTo::Shard(shard),
                HostMessage::Inputs { account, inputs },
            ));
        }
    }

    /// A join whose spawn point is in a zone this shard does not simulate:
    /// attach it to the shard that does, and welcome it once attached.
    pub(crate) fn join_elsewhere(
        &mut self,
        connection: ConnectionId,
        account: u64,
        name: &str,
        appearance: u32,
        spawn: AvatarSpawn,
    ) {
        let name = crate::names::display_name(name, account);
        self.cluster.pending.insert(
            account,
            Pending {
                connection,
                name,
                appearance,
                position: spawn.position,
                heading: spawn.heading,
                since: self.cluster.ticks,
                asked: None,
            },
        );
        self.ask_to_attach(account);
    }

    /// Asks whoever serves a waiting join's zone to attach it, if anyone is
    /// known to.
    fn ask_to_attach(&mut self, account: u64) {
        let Some(pending) = self.cluster.pending.get(&account) else {
            return;
        };
        let zone = self
            .borders
            .zone_at(pending.position)
            .min(self.zones.len() - 1);
        let ZoneOwner::Shard(shard) = self.borders.owner(zone) else {
            return;
        };
        let traveller = Traveller {
            account,
            name: pending.name.clone(),
            appearance: pending.appearance,
            avatar: None,
            position: wire(pending.position),
            heading: pending.heading,
            last_input: None,
        };
        if let Some(pending) = self.cluster.pending.get_mut(&account) {
            pending.asked = Some(self.cluster.ticks);
        }
        self.cluster
            .out
            .push((LinkTo::Shard(shard), HostMessage::Attach(traveller)));
    }

    pub(crate) fn announce_name(&mut self, avatar: NetworkId) {
        if !self.cluster.linked {
            return;
        }
        if let Some(name) = self.names.name_of(avatar) {
            let names = vec![(avatar, name.to_owned())];
            self.cluster
                .out
                .push((LinkTo::Everyone, HostMessage::Names(names)));
        }
    }

    /// Our client left: its owner drops its avatar, everyone its name.
    pub(crate) fn said_goodbye(&mut self, member: Member) {
        if let At::Away(Away {
            shard: Some(shard), ..
        }) = member.at
        {
            self.cluster.out.push((
                LinkTo::Shard(shard),
                HostMessage::Detach {
                    account: member.account,
                },
            ));
        }
        self.cluster
            .out
            .push((LinkTo::Everyone, HostMessage::Unnamed(member.avatar)));
    }

    /// A stored line: our clients who hear it are told, and every other shard
    /// does the same for its own.
    pub(crate) fn relay_across_shards(&mut self, member: Member, line: crate::SaidLine) {
        let Some(state) = self.state_of(&member) else {
            return;
        };
        self.cluster.out.push((
            LinkTo::Everyone,
            HostMessage::Said {
                from: member.avatar,
                position: wire(state.position),
                channel: line.channel,
                text: line.text.clone(),
            },
        ));
        self.relay_near(member.avatar, state.position, line.channel, line.text);
    }

    /// Relays a line to our clients who hear it: everyone for the zone channel,
    /// those within hearing of `position` for the nearby one.
    fn relay_near(&mut self, from: NetworkId, position: Vec2, channel: ChatChannel, text: String) {
        let radius = self.server.config().chat_hearing_radius;
        let listeners: Vec<ConnectionId> = self
            .members
            .iter()
            .filter(|(_, member)| !matches!(member.at, At::ForGateway(_)))
            .filter(|(_, member)| {
                channel == ChatChannel::Zone
                    || self.state_of(member).is_some_and(|state| {
                        state.position.distance_squared(position) <= radius * radius
                    })
            })
            .map(|(connection, _)| *connection)
            .collect();
        let relay = ServerMessage::Chat(ChatRelay {
            from,
            channel,
            text,
        });
        for listener in listeners {
            self.names.tell(&mut self.server, listener, from);
            let _ = self.server.send_admitted(listener, &relay);
        }
    }
}
