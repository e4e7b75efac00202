//! Durable state for Meridian on sqlx with the `Any` driver: PostgreSQL in
//! production, SQLite embedded, one set of migrations for both.
//!
//! Built so far (issue #4, in progress): the schema (accounts, characters, spaces
//! and placed elements, the avatar and element catalogues, chat, moderation, and
//! the ownership ledger's tables), the migrator, and repositories for accounts,
//! characters (with the batched checkpoint statement) and chat history, and the
//! write-behind [`Checkpointer`]. Not built yet: spaces and catalogue
//! repositories, argon2 accounts and JWT access tokens, the HTTP API, and the
//! wiring into `meridian serve` (which persists nothing yet).

mod accounts;
mod catalogue;
mod characters;
mod chat;
mod checkpointer;
mod error;
mod ids;
mod migrate;
mod moderation;
mod spaces;
mod store;
mod testing;

pub use accounts::{Account, Role};
pub use catalogue::{CatalogueAvatar, CatalogueElement};
pub use characters::CharacterState;
pub use chat::ChatLine;
pub use checkpointer::{CheckpointCounters, CheckpointQueue, Checkpointer, QueueError};
pub use error::StoreError;
pub use migrate::MIGRATIONS;
pub use spaces::{PlacedElement, SpaceSummary};
pub use store::{Backend, DatabaseConfig, Store};
