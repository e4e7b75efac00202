//! `loadbot`: swarms of headless bots for Meridian load tests.
//!
//! Every bot is a real client: it logs in (signing its account up the first time,
//! see [`account`]), asks `POST /api/v1/space/{id}/join` for a realtime token, connects
//! over raw QUIC from one client loop thread that drives every bot, decodes every snapshot against its own baselines (reconstructing
//! the world it sees), acknowledges them, and sends an input every tick. Bots
//! random-walk, flock to hot spots, idle or chat. The swarm reports connected /
//! failed / dropped bots, input→acknowledgement round trips, snapshot jitter,
//! bytes per client per second, decode errors and the server's tick p99.

pub mod account;
pub mod bot;
mod cpu;
pub mod html;
pub mod http;
mod obstacles;
pub mod report;
pub mod rooms;
mod roster;
pub mod samples;
pub mod swarm;
pub mod voice;

pub use bot::BehaviourKind;
pub use report::Report;
pub use rooms::{Destination, SpaceShape};
pub use swarm::{SwarmConfig, SwarmError, run, run_into};
pub use voice::{VoiceFigures, VoiceLoad};
