//! What the hosts of a cluster's shards say to each other about players: a
//! gateway (the shard a client is connected to) attaches the client's avatar
//! to the shard that simulates its zone, forwards its inputs there, and gets
//! back, every tick, what the avatar sees; owners mirror ghosts into each
//! other's zones and hand avatars over when a handoff commits.
//!
//! The types are plain data (serde); the shard link encodes them.

use meridian_protocol::NetworkId;
use meridian_protocol::messages::{AnimationState, ChatChannel, Input};
use meridian_protocol::snapshot::EntityState;
use serde::{Deserialize, Serialize};

use meridian_netcode::voice::RelayedPacket;

/// Whom a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkTo {
    /// One shard.
    Shard(u32),
    /// Every shard linked now.
    Everyone,
}

/// One player's view this tick, for its gateway to send as a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// Whose view.
    pub account: u64,
    /// The entities it sees, sorted (itself included).
    pub visible: Vec<NetworkId>,
    /// Where it stands.
    pub position: [f32; 2],
    /// Its facing.
    pub heading: f32,
    /// The newest input applied.
    pub last_input: u32,
    /// Its first view since a handoff brought it here: when its freeze began
    /// (wall clock, milliseconds), so the gateway can time the crossing.
    pub frozen_at_ms: Option<u64>,
    /// Its first view since it was handed here: the gateway takes this shard
    /// as its route from now on (any other shard's views are strays).
    pub handed_in: bool,
}

/// An avatar mirrored read-only into a neighbouring zone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GhostWire {
    /// Its network id.
    pub id: NetworkId,
    /// Catalogue appearance.
    pub appearance: u32,
    /// Where it stands.
    pub position: [f32; 2],
    /// Facing, radians.
    pub heading: f32,
    /// What it is doing.
    pub animation: AnimationState,
}

/// An avatar as it moves between hosts: what one needs to go on simulating it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Traveller {
    /// The player.
    pub account: u64,
    /// Its display name.
    pub name: String,
    /// Catalogue appearance.
    pub appearance: u32,
    /// Its network id; none for a newcomer (the owner picks one).
    pub avatar: Option<NetworkId>,
    /// Where it stands.
    pub position: [f32; 2],
    /// Facing, radians.
    pub heading: f32,
    /// The newest input applied, if any.
    pub last_input: Option<u32>,
}

/// A voice speaker connected to the sending gateway, as its listeners'
/// gateways need it to choose whom their listeners hear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceSpeaker {
    /// The speaker's account (its voice participant).
    pub account: u64,
    /// Its avatar's network id (named to listeners on their lines).
    pub avatar: NetworkId,
    /// Where its avatar stands.
    pub position: [f32; 2],
    /// Its last audio level (dBov), if current.
    pub audio_level: Option<i8>,
    /// On the world's stage (heard by everyone with voice).
    pub on_stage: bool,
    /// The accounts it blocked or was blocked by, as its gateway knows
    /// them (a block made through its gateway holds at every listener's).
    pub apart: Vec<u64>,
}

/// One message between the hosts of two shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HostMessage {
    /// Gateway → owner: simulate this player in your zone at its position.
    Attach(Traveller),
    /// Owner → gateway: attached in `zone` under `avatar`, the zone at `tick`.
    Attached {
        /// The player.
        account: u64,
        /// Its network id.
        avatar: NetworkId,
        /// The zone (world index).
        zone: u32,
        /// The zone's tick.
        tick: u64,
    },
    /// Owner → gateway: not attached (not my zone now, or no room).
    NotAttached {
        /// The player.
        account: u64,
    },
    /// Gateway → owner: the player left the world.
    Detach {
        /// The player.
        account: u64,
        /// Its gateway (a forwarded detach comes from someone else).
        gateway: u32,
    },
    /// Gateway → owner: inputs, in the order they came.
    Inputs {
        /// Whose.
        account: u64,
        /// The inputs.
        inputs: Vec<Input>,
    },
    /// Owner → gateway: one zone's tick, for the gateway's players in it.
    Frame {
        /// The zone.
        zone: u32,
        /// Its tick.
        tick: u64,
        /// Its tick rate.
        tick_rate: u32,
        /// The states of everything some view holds.
        states: Vec<EntityState>,
        /// Each player's view.
        views: Vec<View>,
    },
    /// Owner → owner: every ghost zone `from` mirrors into zone `to` now (an
    /// empty list ends the mirror).
    Ghosts {
        /// The zone they are real in.
        from: u32,
        /// The zone they are mirrored into.
        to: u32,
        /// The ghosts.
        ghosts: Vec<GhostWire>,
    },
    /// Source → destination owner: a handoff committed; the avatar is yours,
    /// with the inputs that waited while it was frozen.
    HandIn {
        /// The avatar.
        traveller: Traveller,
        /// The zone it now belongs to.
        zone: u32,
        /// The shard its client is connected to.
        gateway: u32,
        /// What it was doing.
        animation: AnimationState,
        /// Inputs that waited.
        inputs: Vec<Input>,
        /// When its freeze began (wall clock, milliseconds), if known.
        frozen_at_ms: Option<u64>,
    },
    /// Gateway → everyone: this account's session is here now; any other
    /// session of it ends (one avatar per player in the world).
    Session {
        /// The player.
        account: u64,
        /// The gateway of the new session.
        gateway: u32,
    },
    /// Gateway → everyone: these avatars are called so.
    Names(Vec<(NetworkId, String)>),
    /// Gateway → everyone: this avatar left.
    Unnamed(NetworkId),
    /// Gateway → everyone: a line said (already stored), for those who hear it.
    Said {
        /// The speaker's avatar.
        from: NetworkId,
        /// The speaker's account (for the blocks of those who hear it).
        account: u64,
        /// Where the speaker stood.
        position: [f32; 2],
        /// Zone-wide or nearby.
        channel: ChatChannel,
        /// The line.
        text: String,
    },
    /// Gateway → everyone: its voice speakers who may be heard now (with a
    /// session, not muted, not banned), the whole list, each tick; an empty
    /// list once when the last stops.
    VoiceSpeakers(Vec<VoiceSpeaker>),
    /// Gateway → a speakers' gateway: the accounts of its speakers whom
    /// listeners here hear now (the whole set; an empty one ends it).
    VoiceWanted(Vec<u64>),
    /// Gateway → gateway: Opus packets of speakers the receiver wanted, in
    /// the order they came, payloads unchanged.
    VoiceAudio(Vec<RelayedPacket>),
}
