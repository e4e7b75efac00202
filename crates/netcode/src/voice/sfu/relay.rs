//! Voice between the ports of a cluster's shards: a listener whose gateway
//! is this shard hears a speaker connected to another shard.
//!
//! The speaker's port copies each Opus packet of an **exported** speaker
//! (one that a listener elsewhere hears) out as a [`VoiceEvent::Relayed`];
//! the caller carries it over the shard link to the listener's port, which
//! takes it with [`Sfu::handle_relayed`] and writes it, payload unchanged,
//! on every line that carries that **remote** speaker, exactly as it writes
//! a packet of a speaker of its own. Which speakers are remote and which are
//! exported is the caller's ([`Sfu::set_relay`], once a tick).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{Sfu, VoiceEvent, push_event};
use crate::voice::routing::ParticipantId;
use crate::voice::session::{ForwardError, LinePacket};

/// The largest Opus payload relayed (RFC 6716 §3.4: a packet is at most
/// 1,275 bytes per frame; 1,500 leaves room and fits one datagram).
pub const MAX_RELAYED_PAYLOAD: usize = 1_500;

/// One Opus packet of a speaker, as it goes from its port to another's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayedPacket {
    /// The speaker (its [`ParticipantId`]: the account).
    pub speaker: u64,
    /// Its RTP timestamp in the speaker's 48 kHz clock.
    pub rtp_time: u64,
    /// Its extended RTP sequence number in the speaker's stream (so that a
    /// packet lost before the relay stays a gap at the listener).
    pub seq: u64,
    /// Its audio level (dBov), if it carried one.
    pub audio_level: Option<i8>,
    /// Its voice-activity flag.
    pub voice_activity: bool,
    /// It starts a talk spurt.
    pub talk_spurt: bool,
    /// The Opus payload, unchanged.
    pub payload: Vec<u8>,
}

/// Which speakers cross between ports.
#[derive(Debug, Default)]
pub(super) struct RelayState {
    /// Speakers with a session at another shard's port whom listeners here
    /// may hear: they take lines without a session here.
    pub(super) remote: HashSet<ParticipantId>,
    /// Speakers here whom listeners at other ports hear.
    exported: HashSet<ParticipantId>,
}

impl Sfu {
    /// From now on: `remote` speakers (sessions at other ports) may take
    /// listeners' lines here, and packets of the `exported` speakers here
    /// are copied out as [`VoiceEvent::Relayed`]. Takes effect for routing
    /// at the next [`Sfu::set_routing`].
    pub fn set_relay(
        &mut self,
        remote: impl IntoIterator<Item = ParticipantId>,
        exported: impl IntoIterator<Item = ParticipantId>,
    ) {
        self.relay.remote = remote.into_iter().collect();
        self.relay.exported = exported.into_iter().collect();
    }

    /// A packet `speaker` sent here: copied out if it is exported.
    pub(super) fn export(&mut self, speaker: ParticipantId, packet: &LinePacket<'_>) {
        if !self.relay.exported.contains(&speaker) {
            return;
        }
        self.counters.relayed_out += 1;
        let packet = RelayedPacket {
            speaker: speaker.0,
            rtp_time: packet.ticks,
            seq: packet.seq,
            audio_level: packet.audio_level,
            voice_activity: packet.voice_activity,
            talk_spurt: packet.talk_spurt,
            payload: packet.payload.to_vec(),
        };
        push_event(
            &mut self.events,
            &mut self.counters,
            VoiceEvent::Relayed(packet),
        );
    }

    /// A packet of a remote speaker, relayed from its port: written on every
    /// line here that carries that speaker. Refused (and counted) when its
    /// payload is empty or larger than [`MAX_RELAYED_PAYLOAD`], or when its
    /// speaker is not remote here (it has a session here, or the caller did
    /// not name it).
    pub fn handle_relayed(&mut self, now: Instant, packet: &RelayedPacket) {
        self.last_now = self.last_now.max(Some(now));
        let speaker = ParticipantId(packet.speaker);
        if packet.payload.is_empty()
            || packet.payload.len() > MAX_RELAYED_PAYLOAD
            || !self.relay.remote.contains(&speaker)
            || self.sessions.contains_key(&speaker)
        {
            self.counters.relayed_refused += 1;
            return;
        }
        self.counters.relayed_in += 1;
        let Some(targets) = self.forward_to.get(&speaker) else {
            return;
        };
        let payload: Arc<[u8]> = Arc::from(packet.payload.as_slice());
        let line_packet = LinePacket {
            ticks: packet.rtp_time,
            seq: packet.seq,
            arrived: now,
            audio_level: packet.audio_level,
            voice_activity: packet.voice_activity,
            talk_spurt: packet.talk_spurt,
            payload: &payload,
        };
        for (listener, slot) in targets {
            let Some(session) = self.sessions.get_mut(listener) else {
                continue;
            };
            match session.write_on_line(*slot, speaker, &line_packet) {
                Ok(()) => {
                    self.counters.packets_forwarded += 1;
                    self.counters.bytes_forwarded += payload.len() as u64;
                    if let Some(traffic) = self.rooms.get_mut(&session.room) {
                        traffic.packets_forwarded += 1;
                        traffic.bytes_forwarded += payload.len() as u64;
                    }
                    // Sent when the listener is next driven (flush_written).
                    if !session.written {
                        session.written = true;
                        self.written.push(*listener);
                    }
                }
                Err(ForwardError::NotConnected) => {}
                Err(ForwardError::Late) => self.counters.forward_late += 1,
                Err(ForwardError::NoOpus) => {
                    self.counters.forward_failed += 1;
                }
            }
        }
    }
}
