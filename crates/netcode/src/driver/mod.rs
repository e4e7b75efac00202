//! The thin drivers that bind the sans-IO state machines to quinn and tokio
//! (feature `quic`). Raw QUIC with our own ALPN serves native clients and bots.

pub mod admission;
pub mod client;
pub mod server;
pub mod socket;
pub mod tls;
