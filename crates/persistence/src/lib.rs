//! Durable state for Meridian on sqlx with the `Any` driver: PostgreSQL in
//! production, SQLite embedded, one set of migrations for both.
//!
//! The schema holds accounts, characters, spaces and placed elements, the avatar
//! and element catalogues, chat, moderation, and the ownership ledger's tables.
//! Movement is written behind by the [`Checkpointer`] in batches; inventory
//! changes are written one transaction each, before they are acknowledged.
//! A space full of players overflows into rooms (copies of it) whose seats are
//! reserved atomically (see [`Store::reserve_seat`]).

mod accounts;
mod catalogue;
mod characters;
mod chat;
mod checkpoint_statements;
mod checkpointer;
mod error;
mod ids;
mod instance_leases;
mod inventory;
mod ledger;
mod migrate;
mod moderation;
mod refresh_tokens;
mod rooms;
mod sanctions;
mod space_settings;
mod spaces;
mod starter;
mod store;
mod testing;

pub use accounts::{Account, GUEST_PASSWORD_HASH, GUEST_PREFIX, Role};
pub use catalogue::{CatalogueAvatar, CatalogueElement};
pub use characters::CharacterState;
pub use chat::ChatLine;
pub use checkpointer::{CheckpointCounters, CheckpointQueue, Checkpointer, QueueError};
pub use error::StoreError;
pub use instance_leases::{InstanceLease, InstanceLeaseOutcome, InstanceRoom};
pub use inventory::{InventoryOutcome, Items, MAX_STACK, parse_items};
pub use ledger::{ClaimOutcome, Lease, LeaseOutcome, MoveOutcome, Owner};
pub use migrate::MIGRATIONS;
pub use refresh_tokens::{NewRefreshToken, RefreshOutcome, RefreshedAccount};
pub use rooms::{RoomOccupancy, Seat, SeatError, SeatState, SpaceCapacity};
pub use sanctions::{Ban, BlockRelations, Report};
pub use space_settings::{SettingAudit, SettingChange};
pub use spaces::{PlacedElement, SpaceSummary};
pub use store::{Backend, DatabaseConfig, Store};
