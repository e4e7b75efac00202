//! Durable state for Meridian on sqlx with the `Any` driver: PostgreSQL in
//! production, SQLite embedded, one set of migrations for both.
//!
//! Built so far (issue #4, in progress): the schema (accounts, characters, spaces
//! and placed elements, the avatar and element catalogues, chat, moderation, and
//! the ownership ledger's tables), the migrator, and repositories for accounts,
//! characters (with the batched checkpoint statement) and chat history. Not built
//! yet: the write-behind checkpointer task, argon2 accounts and JWT access tokens,
//! and the HTTP API; nothing in `meridian serve` persists anything yet.

mod accounts;
mod characters;
mod chat;
mod error;
mod ids;
mod migrate;
mod store;
mod testing;

pub use accounts::{Account, Role};
pub use characters::CharacterState;
pub use chat::ChatLine;
pub use error::StoreError;
pub use migrate::MIGRATIONS;
pub use store::{Backend, DatabaseConfig, Store};
