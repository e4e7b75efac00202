//! Durable state for Meridian on sqlx (PostgreSQL in production, SQLite embedded):
//! migrations, repositories, the write-behind checkpointer and the ownership ledger.
//!
//! **Not built yet.** This crate is reserved by the workspace layout and is filled
//! by the persistence issue (#4). It exports nothing, and no part of Meridian
//! claims to persist anything yet.
