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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use meridian_protocol::NetworkId;
use meridian_protocol::messages::{
    AnimationState, ChatChannel, ChatRelay, DisconnectReason, Input, RefusalReason, ServerMessage,
};
use meridian_sim::{AvatarSpawn, AvatarState, ClientId, ClientInput, GhostState, Vec2, Zone};

use crate::host::borders::{Borders, ZoneOwner};
use crate::host::{At, Away, Member, ZoneHost};
use crate::link::{GhostWire, HostMessage, LinkTo, Traveller, View};
use meridian_netcode::server::ConnectionId;

mod gateway;
mod owner;
pub(crate) mod voice;

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
    avatar_ids_from: u32,
    pub(crate) ticks: u64,
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
    /// The wall clock (milliseconds) the driver last gave.
    pub(crate) wall_ms: u64,
    /// Players frozen in a handoff: since when (wall clock).
    /// (When it began, whether it was seen unfrozen once: a commit releases
    /// the player one observation before its switch takes the entry; a second
    /// unfrozen observation means the handoff was abandoned.)
    pub(crate) freezing: HashMap<u64, (u64, bool)>,
    /// Players handed in here whose first snapshot from this zone is still
    /// to go: when their freeze began.
    pub(crate) crossed: HashMap<u64, u64>,
    /// Players handed in here for another gateway whose first view is still
    /// to go (it tells the gateway its route changed).
    pub(crate) handed_in: HashSet<u64>,
    /// Freeze-to-first-snapshot times of our clients, milliseconds.
    pub(crate) crossings: Vec<u64>,
    /// Voice between this gateway and the others.
    pub(crate) voice: voice::CrossShardVoice,
}

/// Accounts whose avatars get distinct ids in a cluster; beyond, ids repeat
/// (two players 2^24 accounts apart could then share one).
const AVATAR_IDS: u64 = 1 << 24;

fn wire(position: Vec2) -> [f32; 2] {
    [position.x, position.y]
}

fn unwire(position: [f32; 2]) -> Vec2 {
    Vec2::new(position[0], position[1])
}

/// Crossing times a host keeps before the driver takes them.
const MAX_CROSSINGS: usize = 65_536;

impl ClusterState {
    /// A client of ours got its first snapshot from the zone it crossed into.
    pub(crate) fn crossing_done(&mut self, frozen_at: u64) {
        if self.crossings.len() < MAX_CROSSINGS {
            self.crossings.push(self.wall_ms.saturating_sub(frozen_at));
        }
    }

    /// Notes whether a player is frozen now: when its freeze began, once per
    /// handoff, and forgets a freeze that ended without a switch.
    pub(crate) fn frozen(&mut self, account: u64, frozen: bool) {
        if !frozen && self.freezing.is_empty() {
            // The common case, per player per tick: nothing to note.
            return;
        }
        let now = self.wall_ms;
        if frozen {
            self.freezing.entry(account).or_insert((now, false)).1 = false;
        } else if let Some((_, unfrozen_once)) = self.freezing.get_mut(&account) {
            if *unfrozen_once {
                self.freezing.remove(&account);
            } else {
                *unfrozen_once = true;
            }
        }
    }

    /// When a player's freeze began, taken by its switch.
    pub(crate) fn take_frozen_at(&mut self, account: u64) -> Option<u64> {
        self.freezing.remove(&account).map(|(at, _)| at)
    }

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
        let frozen_at_ms = self.crossed.remove(&member.account);
        let handed_in = self.handed_in.remove(&member.account);
        self.views.entry(gateway).or_default().push(View {
            frozen_at_ms,
            handed_in,
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
            let mut seen: Vec<NetworkId> = views
                .iter()
                .flat_map(|view| view.visible.iter().copied())
                .collect();
            seen.sort_unstable();
            seen.dedup();
            let frame = HostMessage::Frame {
                zone: index as u32,
                tick: zone.tick(),
                tick_rate: zone.config().tick_rate_hz,
                states: states
                    .iter()
                    .filter(|state| seen.binary_search(&state.id).is_ok())
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
    /// Players' avatars get ids from `avatar_ids_from` on, by account (past
    /// every zone's own range), so no two shards ever give one id to two
    /// avatars, whoever took over which zone.
    pub fn link_as(&mut self, me: u32, avatar_ids_from: u32) {
        self.cluster.linked = true;
        self.cluster.me = me;
        self.cluster.avatar_ids_from = avatar_ids_from;
    }

    /// A player's avatar id in a cluster.
    pub(crate) fn avatar_id_for(&self, account: u64) -> NetworkId {
        NetworkId(self.cluster.avatar_ids_from + (account % AVATAR_IDS) as u32)
    }

    /// Numbers every zone's ticks from a clock the cluster shares: the next
    /// step is `tick` + 1 at the earliest.
    pub fn align_ticks(&mut self, tick: u64) {
        for zone in &mut self.zones {
            zone.align_tick(tick);
        }
    }

    /// The wall clock in milliseconds (the same on every shard of a machine),
    /// for timing crossings between shards.
    pub fn set_wall_clock(&mut self, milliseconds: u64) {
        self.cluster.wall_ms = milliseconds;
        // A freeze that never led anywhere is forgotten after a minute.
        let recent = |_: &u64, at: &mut u64| milliseconds.saturating_sub(*at) < 60_000;
        if self.cluster.freezing.len() > self.members.len() {
            self.cluster
                .freezing
                .retain(|account, (at, _)| recent(account, at));
        }
        if self.cluster.crossed.len() > self.members.len() {
            self.cluster.crossed.retain(recent);
        }
    }

    /// Each crossing's freeze-to-first-snapshot time since the last call,
    /// milliseconds, for the clients connected here.
    pub fn take_crossings(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.cluster.crossings)
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
        self.voice_shard_lost(shard);
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
            .map(|(connection, _)| connection)
            .collect();
        for connection in hosted {
            self.leave(connection);
        }
        self.members.forget_shard(shard);
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
                } else if let Some(connection) = self.members.connection_of(account)
                    && let Some(away) = self.members.away_mut(connection)
                {
                    away.shard = None;
                }
            }
            HostMessage::Detach { account, gateway } => {
                if let Some(connection) = self.members.connection_of(account) {
                    if self.members.get(&connection).map(|m| m.at) == Some(At::ForGateway(gateway))
                    {
                        self.leave(connection);
                    }
                } else if let Some(&(shard, _)) = self.cluster.moved.get(&account) {
                    // Handed on before the gateway heard: its new owner drops it.
                    self.cluster.out.push((
                        LinkTo::Shard(shard),
                        HostMessage::Detach { account, gateway },
                    ));
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
                frozen_at_ms,
            } => {
                if let Some(at) = frozen_at_ms {
                    self.cluster.crossed.insert(traveller.account, at);
                }
                self.hand_in(traveller, zone as usize, gateway, animation, inputs);
            }
            HostMessage::Session { account, gateway } => {
                let Some(connection) = self.members.connection_of(account) else {
                    return;
                };
                match self.members.get(&connection).map(|member| member.at) {
                    Some(At::ForGateway(old)) if old != gateway => self.leave(connection),
                    Some(At::Here | At::Away(_)) => self.end_session(connection),
                    _ => {}
                }
            }
            HostMessage::Names(names) => {
                for (avatar, name) in names {
                    self.names.name_remote(avatar, &name);
                }
            }
            HostMessage::Unnamed(avatar) => {
                if self.members.connection_of_avatar(avatar).is_none() {
                    self.names.forget_avatar(avatar);
                }
            }
            HostMessage::Said {
                from,
                account,
                position,
                channel,
                text,
            } => {
                let speaker = gateway::Speaker {
                    avatar: from,
                    account,
                    position: unwire(position),
                };
                self.relay_near(speaker, channel, text);
            }
            HostMessage::VoiceSpeakers(speakers) => self.voice_speakers_from(from, speakers),
            HostMessage::VoiceWanted(wanted) => self.voice_wanted_by(from, wanted),
            HostMessage::VoiceAudio(packets) => self.voice_audio_from(from, packets),
        }
    }

    /// A player's session ends because a newer one began: its client is told
    /// so (`SessionReplaced`, not a moderator's `Kicked`), and its avatar goes.
    pub(crate) fn end_session(&mut self, connection: ConnectionId) {
        self.server
            .disconnect(connection, DisconnectReason::SessionReplaced);
        self.leave(connection);
    }

    /// A session of `account` began here (one avatar per player: any other
    /// ends). Its member must be in place before this is called.
    pub(crate) fn replace_older_session(&mut self, account: u64, connection: ConnectionId) {
        if let Some(old) = self.members.connection_of(account)
            && old != connection
        {
            match self.members.get(&old).map(|member| member.at) {
                Some(At::ForGateway(_)) => self.leave(old),
                Some(_) => self.end_session(old),
                None => {}
            }
        }
    }

    /// Tells every shard a session of `account` is here now.
    pub(crate) fn announce_session(&mut self, account: u64) {
        if self.cluster.linked {
            let gateway = self.cluster.me;
            self.cluster
                .out
                .push((LinkTo::Everyone, HostMessage::Session { account, gateway }));
        }
    }

    /// Spawns a newcomer's avatar in `zone`: in a cluster under the id its
    /// account names (the same on every shard, and after any takeover), else
    /// under the zone's next id.
    pub(crate) fn spawn_newcomer(
        &mut self,
        zone: usize,
        client: ClientId,
        account: u64,
        spawn: AvatarSpawn,
    ) -> Result<NetworkId, meridian_sim::SpawnError> {
        if self.cluster.linked {
            let id = self.avatar_id_for(account);
            self.zones[zone].spawn_avatar_as(client, spawn, id)
        } else {
            self.zones[zone].spawn_avatar(client, spawn)
        }
    }
}
