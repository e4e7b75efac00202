//! The names of things the sharding layer moves around.

use serde::{Deserialize, Serialize};

/// A zone: its index in the zone map, row by row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ZoneId(pub u32);

/// A player (its account id): what a handoff moves between zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntityId(pub u64);

/// A process that hosts zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ShardId(pub u32);

/// A lease epoch: the fencing token of one tenure of a zone. Never goes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Epoch(pub u64);

/// Who owns a player, as the ledger says: the zone, the epoch of that zone's
/// lease when it took the player, and how many times the row has moved (so an
/// old compare-and-set can never apply again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Owner {
    /// The owning zone.
    pub zone: ZoneId,
    /// Its lease epoch then.
    pub epoch: Epoch,
    /// Moves so far.
    pub version: u64,
}
