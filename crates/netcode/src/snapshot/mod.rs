//! Snapshots: the ring of views per client, the work shared by all clients in a
//! tick, and the per-client delta encoder with its priority accumulator.

mod encoder;
mod id_index;
mod ring;
mod shared;

pub use encoder::{ClientReplication, EncodeReport, MAX_BODY_BYTES, SNAPSHOT_HEADER_MAX};
pub use ring::{RING_SIZE, ViewRing};
pub use shared::SharedEncodings;
