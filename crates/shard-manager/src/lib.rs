//! Zone map, zone leases and the sans-IO handoff protocol for Meridian, with its
//! Redis and Postgres adapters.
//!
//! **Not built yet.** This crate is reserved by the workspace layout and is filled
//! by the sharding issue (#6). It exports nothing. Until then a world is a single
//! zone, run in-process by `meridian simulate`.
