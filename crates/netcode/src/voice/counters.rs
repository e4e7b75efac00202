//! What the forwarding unit did, as monotonic counters for metrics.

use super::demux::Refusal;

/// Datagrams dropped on the voice port before reaching a session, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefusedDatagrams {
    /// Empty or too long.
    pub size: u64,
    /// Neither STUN, DTLS, RTP nor RTCP.
    pub not_webrtc: u64,
    /// Unreadable.
    pub malformed: u64,
    /// STUN for a ufrag no session has.
    pub unknown_ufrag: u64,
    /// From an address no session knows.
    pub unknown_address: u64,
    /// Above its session's rate.
    pub rate_limited: u64,
    /// Not accepted by its session's `Rtc`.
    pub not_accepted: u64,
    /// Its session's `Rtc` returned an error.
    pub rejected: u64,
}

impl RefusedDatagrams {
    /// Counts one refusal.
    pub fn count(&mut self, refusal: Refusal) {
        let counter = match refusal {
            Refusal::Size => &mut self.size,
            Refusal::NotWebRtc => &mut self.not_webrtc,
            Refusal::Malformed => &mut self.malformed,
            Refusal::UnknownUfrag => &mut self.unknown_ufrag,
            Refusal::UnknownAddress => &mut self.unknown_address,
            Refusal::RateLimited => &mut self.rate_limited,
            Refusal::NotAccepted => &mut self.not_accepted,
            Refusal::Rejected => &mut self.rejected,
        };
        *counter += 1;
    }

    /// All refusals together.
    pub fn total(&self) -> u64 {
        self.size
            + self.not_webrtc
            + self.malformed
            + self.unknown_ufrag
            + self.unknown_address
            + self.rate_limited
            + self.not_accepted
            + self.rejected
    }
}

/// Monotonic counters of one [`Sfu`](super::Sfu) (and one gauge, `sessions`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VoiceCounters {
    /// Voice sessions open now.
    pub sessions: u64,
    /// Sessions opened by an accepted offer.
    pub sessions_opened: u64,
    /// Sessions closed (by the caller, a timeout or an error).
    pub sessions_closed: u64,
    /// Offers refused (each with an [`OfferError`](super::OfferError)).
    pub offers_refused: u64,
    /// Datagrams received on the voice port.
    pub datagrams_in: u64,
    /// Datagrams handed out by `poll_transmit`.
    pub datagrams_out: u64,
    /// Bytes of those datagrams.
    pub datagram_bytes_out: u64,
    /// Datagrams dropped because the outbound queue was full.
    pub transmits_dropped: u64,
    /// Opus packets received from speakers.
    pub packets_in: u64,
    /// Opus payload bytes received from speakers.
    pub bytes_in: u64,
    /// Opus packets written to listeners (one per listener per packet).
    pub packets_forwarded: u64,
    /// Opus payload bytes written to listeners.
    pub bytes_forwarded: u64,
    /// Events dropped because [`MAX_PENDING_EVENTS`](super::sfu::MAX_PENDING_EVENTS)
    /// were waiting for `poll_event`.
    pub events_dropped: u64,
    /// Copies not written because the listener's line had no Opus payload
    /// type (or was gone).
    pub forward_failed: u64,
    /// Copies dropped as too late for their line: a speaker's packet that
    /// arrived after the next speaker's first on that line, whose number
    /// the line already used.
    pub forward_late: u64,
    /// Packets of speakers here copied out for other shards' ports
    /// (`VoiceEvent::Relayed`).
    pub relayed_out: u64,
    /// Packets relayed from other shards' ports and taken.
    pub relayed_in: u64,
    /// Relayed packets refused: empty or too large, or of a speaker that is
    /// not remote here.
    pub relayed_refused: u64,
    /// Datagrams dropped before any session saw them.
    pub refused: RefusedDatagrams,
}

/// What one room's voice sessions sent and received through the forwarding
/// unit (monotonic while the room has a session; see
/// [`Sfu::room_traffic`](super::Sfu::room_traffic)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomTraffic {
    /// Opus packets its speakers sent, and their payload bytes.
    pub packets_in: u64,
    /// Payload bytes of those packets.
    pub bytes_in: u64,
    /// Copies written to its listeners' lines, and their payload bytes.
    pub packets_forwarded: u64,
    /// Payload bytes of those copies.
    pub bytes_forwarded: u64,
    /// Datagram bytes its sessions' peers sent to the port (everything:
    /// STUN, DTLS, SRTP, SRTCP).
    pub datagram_bytes_in: u64,
    /// Datagram bytes the port sent to its sessions' peers.
    pub datagram_bytes_out: u64,
}
