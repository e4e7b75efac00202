//! What runs the sans-IO state machines against real services: the SQL ledger
//! (`meridian-persistence`, PostgreSQL or SQLite) and Redis hints.

pub mod redis;
mod redis_connection;
pub mod sql;
