//! Sans-IO replication for Meridian: connections, acknowledgements, baselines,
//! delta snapshots and byte budgets.
//!
//! Nothing here touches a socket, a thread or the clock: state machines take the
//! time as an argument (`handle_*(now, ..)`, `poll_transmit`, `poll_event`,
//! `poll_timeout`), in the manner of `quinn-proto`. The thin drivers that bind
//! them to quinn and tokio are in [`driver`], behind the `quic` feature, so the
//! core builds without tokio.

pub mod client;
pub mod config;
#[cfg(feature = "quic")]
pub mod driver;
pub mod emulator;
pub mod metrics;
pub mod moderation;
pub mod names;
pub mod server;
mod session_limits;
pub mod small_keys;
pub mod snapshot;
pub mod token;
#[cfg(feature = "quic")]
pub mod transport;
mod used_tokens;
pub mod voice;

pub use client::{Client, ClientEvent, ClientPhase, ClientStats, ClientTransmit};
pub use config::{NetcodeConfig, NetcodeConfigError};
pub use metrics::NetcodeMetrics;
pub use server::{
    ConnectionError, ConnectionEvents, ConnectionId, Payload, Redirect, Server, ServerEvent,
    Transmit, VoiceRequest,
};
pub use session_limits::{MAX_INVENTORY_IN_FLIGHT, session_limits};
pub use token::{RealtimeClaims, TokenAuthority, TokenError};
