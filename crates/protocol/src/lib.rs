//! Meridian's wire protocol: every message a client and a server exchange, and the
//! bit-packed snapshot format.
//!
//! This crate does no I/O and knows nothing of the simulation. It has three parts:
//!
//! - [`messages`]: control messages ([`ClientMessage`], [`ServerMessage`]) encoded with
//!   `postcard`, with hard size limits and validation on decode;
//! - [`bits`] and [`quantize`]: the bit writer / reader and the per-field quantizers that
//!   the snapshot format is built from;
//! - [`snapshot`]: the snapshot body, a keyframe or a delta against a baseline the
//!   client acknowledged, entity ids sent as gaps, unchanged entities costing one bit.
//!
//! [`framing`] splits a reliable byte stream into messages. Every byte of all of it is
//! specified in `docs/PROTOCOL.md`; `tests/vectors/protocol.json` holds test vectors
//! (bytes and the values they mean) that every codec, Rust or JavaScript, must pass.
//!
//! Every decoder returns a typed [`DecodeError`]; no input can make one panic, and no
//! input can make one allocate more than the size limits in [`limits`] allow.

pub mod bits;
mod error;
pub mod framing;
mod ids;
pub mod limits;
pub mod messages;
pub mod quantize;
mod session_limits;
pub mod snapshot;
mod voice;

pub use error::{DecodeError, EncodeError};
pub use ids::NetworkId;
pub use messages::{
    Ack, AnimationState, ChatChannel, ChatRelay, ChatSend, ClientMessage, Disconnect,
    DisconnectReason, Hello, Input, InventoryChange, InventoryResult, InventoryStatus,
    MovementIntent, Presence, Refusal, RefusalReason, ServerMessage, SessionLimits,
    SettingsChanged, Snapshot, VoiceAnswer, VoiceLine, VoiceLines, VoiceMute, VoiceOffer,
    VoiceRefusalReason, VoiceRefused, Welcome,
};

/// The protocol version this build speaks. A hello with another version is refused
/// with [`RefusalReason::VersionMismatch`]. Version 2 added [`SessionLimits`] to the
/// [`Welcome`] and [`DisconnectReason::SessionReplaced`]; version 3 added
/// [`ServerMessage::SettingsChanged`]; version 4 put placed elements into
/// snapshots, with a [`snapshot::Footprint`] in an element's entered record;
/// version 5 added voice signaling ([`ClientMessage::VoiceOffer`],
/// [`ClientMessage::VoiceMute`], [`ClientMessage::VoiceOff`],
/// [`ServerMessage::VoiceAnswer`], [`ServerMessage::VoiceLines`],
/// [`ServerMessage::VoiceRefused`]); version 6 added
/// [`DisconnectReason::Moved`] (a drained shard handed the room on).
pub const PROTOCOL_VERSION: u16 = 6;
