//! Sans-IO replication for Meridian: connections, acknowledgements, baselines,
//! delta snapshots and byte budgets, plus the thin drivers that bind them to
//! QUIC / WebTransport and tokio.
//!
//! **Not built yet.** This crate is reserved by the workspace layout and is filled
//! by the netcode issue (#3). It exports nothing, so nothing can depend on it by
//! mistake. The snapshot wire format it will drive already lives in
//! `meridian-protocol` (`meridian_protocol::snapshot`).
