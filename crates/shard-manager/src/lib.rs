//! Spatial sharding for Meridian: the zone map, the ownership ledger's rules,
//! and the handoff protocol, all sans IO (time comes in as an argument; every
//! effect goes out as a value), so the same code runs in one process, across
//! processes, and under a deterministic simulation.
//!
//! - [`zone_map`]: a world cut into a grid of zones; where a handoff is due and
//!   which neighbours must see a ghost.
//! - [`ledger`]: leases with epochs (fencing tokens) and owner rows that move by
//!   one compare-and-set; [`ledger::MemoryLedger`] is the model and the
//!   specification of the SQL ledger in `meridian-persistence`.
//! - [`handoff`]: one zone's side of freezing, preparing, committing and
//!   settling handoffs.
//! - [`leases`]: one process's side of leases: renewing, fencing itself, taking
//!   over lapsed zones and reloading their players.
//!
//! - [`shard`]: [`Shard`], one shard (one process is a cluster of one): its
//!   host and what it says to other shards, behind one `handle_*` / `poll_*`
//!   surface whose documentation shows the driver loop.
//! - [`host`]: [`ZoneHost`], the zones of this process and the clients
//!   connected to them (netcode's `Server` joined to the simulation), as one
//!   shard of a cluster when linked; [`link`]: the messages hosts of different
//!   shards exchange; [`peers`]: one shard's side of the shard link
//!   ([`Peers`], [`LinkMessage`]), the order and timing of what it says.
//! - [`cluster`]: the handoff protocol plugged into [`ZoneHost`] as one shard
//!   of a cluster (one process is a cluster of one): the [`Leases`] hold
//!   this process's leases, and zones of other shards are reached through
//!   messages the driver carries over the shard link.
//! - [`adapters`]: the SQL ledger behind the same operations, and Redis hints.
//! - [`link_handshake`]: how two shards prove on each link connection that
//!   both hold the cluster's link key; [`shard_entry`]: the signed, dated
//!   entries through which shards find each other's links in Redis.

pub mod adapters;
pub mod cluster;
pub mod handoff;
pub mod host;
pub mod ids;
pub mod leases;
pub mod ledger;
pub mod link;
pub mod link_handshake;
pub mod peers;
pub mod shard;
pub mod shard_entry;
pub mod shard_load;
pub mod zone_map;

pub use handoff::{Avatar, Effect, HandoffId, Input, PeerMessage, ZoneAuthority};
pub use host::{
    Borders, CrossShardVoiceCounters, DEFAULT_SPAWN_HINT_CAPACITY, DEFAULT_SPAWN_HINT_LIFETIME,
    HostTick, InventoryRequest, LiveSettingsError, MAX_INVENTORY_IN_FLIGHT, MemberState, OneZone,
    SaidLine, SpawnHint, VoiceOrder, VoiceRefusals, VoiceRelayPlan, ZoneHost, ZoneOwner,
};
pub use ids::{EntityId, Epoch, Owner, ShardId, ZoneId};
pub use leases::{LeaseEffect, LeaseTiming, Leases};
pub use ledger::{Lease, LedgerKey, LedgerOp, LedgerReply, MemoryLedger};
pub use link::{HostMessage, LinkTo, VoiceSpeaker};
pub use peers::{LinkMessage, Peers};
pub use shard::Shard;
pub use zone_map::{ZoneMap, ZoneMapConfig, ZoneMapError};
