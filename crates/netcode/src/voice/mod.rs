//! Proximity voice (issue #17): a selective forwarding unit on `str0m`.
//!
//! Sans-IO like the rest of the crate: [`Sfu`] owns one WebRTC session
//! ([`str0m::Rtc`]) per participant who turned voice on, all of them behind
//! one UDP port of the server (ICE-lite, DTLS-SRTP). It never touches a socket
//! or the clock; its caller passes datagrams and time in
//! (`handle_offer`, `handle_datagram`, `handle_timeout`) and takes datagrams,
//! deadlines and events out (`poll_transmit`, `poll_timeout`, `poll_event`).
//!
//! Opus is forwarded as it arrives, never decoded. Which listener receives
//! which speaker is not decided here: the caller computes it each tick with
//! [`select_heard`] (radius, loudest N, stage, mutes, blocks, bans) and hands
//! the result to [`Sfu::set_routing`].
//!
//! One file per idea: [`config`] (the knobs), [`demux`] (which session a
//! datagram belongs to), `session` (one participant's `Rtc`), [`sfu`] (the
//! forwarding unit), [`counters`] (what was forwarded and refused), [`delay`] (how long a
//! forwarded copy spent inside the server),
//! [`routing`] (the per-tick input), [`selection`] (who hears whom),
//! [`error`] (why an offer is refused) and, with the `quic` feature, `port`
//! (the thread that owns the voice UDP socket and the forwarding unit).

pub mod config;
pub mod counters;
pub mod delay;
pub mod demux;
pub mod error;
#[cfg(feature = "quic")]
pub mod port;
pub mod routing;
pub mod selection;
mod session;
pub mod sfu;

pub use config::{VoiceConfig, VoiceConfigError};
pub use counters::{RefusedDatagrams, RoomTraffic, VoiceCounters};
pub use delay::{FORWARD_DELAY_BOUNDS, ForwardDelays};
pub use demux::{DatagramClass, Refusal};
pub use error::OfferError;
#[cfg(feature = "quic")]
pub use port::{VoiceCommand, VoiceOutcome, VoicePort, VoicePortStats};
pub use routing::{Heard, ParticipantId, Routing};
pub use selection::{
    Block, InstanceKey, ListenerState, SelectionConfig, SelectionConfigError, SpeakerState,
    select_heard,
};
pub use sfu::{CloseReason, MAX_RELAYED_PAYLOAD, RelayedPacket, Sfu, VoiceEvent, VoiceTransmit};
