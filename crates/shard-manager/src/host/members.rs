//! What a host says about its members to its driver: their states for
//! checkpoints, the lines they said, their inventory requests, how they should
//! appear when they join, and what a tick did.

use meridian_protocol::messages::{ChatChannel, InventoryChange};
use meridian_sim::Vec2;

use meridian_netcode::server::ConnectionId;

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
