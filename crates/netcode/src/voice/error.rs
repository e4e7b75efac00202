//! Why an offer is refused.

use super::routing::ParticipantId;

/// Why [`Sfu::handle_offer`](super::Sfu::handle_offer) refused an offer.
/// Every refusal is counted in
/// [`VoiceCounters::offers_refused`](super::VoiceCounters::offers_refused).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OfferError {
    /// The offer is not SDP that str0m can read.
    #[error("voice offer is not valid SDP: {0}")]
    Malformed(#[source] str0m::error::SdpError),
    /// The participant already has a voice session; close it first.
    #[error("participant {0:?} already has a voice session")]
    SessionExists(ParticipantId),
    /// The server holds its most voice sessions.
    #[error("voice is full ({0} sessions)")]
    Full(usize),
    /// The offer has no audio line that negotiated Opus.
    #[error("voice offer has no audio line with Opus")]
    NoAudio,
    /// The offer asks to receive on more audio lines than allowed.
    #[error("voice offer has {offered} receiving audio lines, at most {allowed} are allowed")]
    TooManySlots {
        /// Receiving audio lines in the offer.
        offered: usize,
        /// [`VoiceConfig::max_slots`](super::VoiceConfig::max_slots).
        allowed: usize,
    },
    /// str0m refused the offer (for example, no usable transport).
    #[error("voice offer refused by the WebRTC stack: {0}")]
    Refused(#[source] str0m::RtcError),
}
