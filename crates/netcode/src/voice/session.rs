//! One participant's voice session: its `Rtc`, its lines and its rate.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, Mid, Pt};
use str0m::net::Transmit;
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, SeqNo};
use str0m::{Event, IceConnectionState, Input, Output, Reason, Rtc};

use super::routing::{Heard, ParticipantId};
use super::selection::InstanceKey;

/// One audio line on which the participant receives a speaker.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) mid: Mid,
    /// Who is forwarded on it now, and the distance last announced.
    pub(super) heard: Option<Heard>,
    /// The RTP timeline the listener has seen on this line.
    timeline: Option<Timeline>,
}

/// Opus's RTP clock: 48 kHz whatever the sampling rate (RFC 7587 §4.1).
const OPUS_CLOCK: Frequency = Frequency::FORTY_EIGHT_KHZ;

/// The shortest gap put between two speakers on one line: one 20 ms frame.
const SWITCH_GAP_TICKS: u64 = 960;

/// One line's RTP timestamps and sequence numbers as the listener sees
/// them. Each speaker's stream starts at a random timestamp and sequence
/// number (RFC 3550 §5.1); when a line changes speaker, the new speaker's
/// are shifted to continue the line after the wall-clock gap, so the
/// listener's jitter buffer sees one stream that paused, not a jump of
/// hours. Within one speaker, its gaps (lost packets) and order pass through.
///
/// A line's first packet is numbered within the first 65,536 (its SRTP
/// rollover counter is 0, as the listener assumes: str0m extends a speaker's
/// numbers past a wrap, and such a number would have made every packet of
/// the line fail the listener's authentication). A packet of the line's
/// speaker that would land before the speaker's first on the line (late
/// across a change of speaker: a number the line already used) is dropped.
#[derive(Debug, Clone, Copy)]
struct Timeline {
    speaker: ParticipantId,
    /// Added (wrapping) to the speaker's timestamps.
    offset: u64,
    /// Added (wrapping) to the speaker's extended sequence numbers.
    seq_offset: u64,
    /// The line's number of the speaker's first packet on it.
    first_seq: u64,
    /// The highest timestamp and sequence number written, and when the
    /// last packet written arrived.
    last: u64,
    last_seq: u64,
    last_at: Instant,
}

/// How far ahead of the line's highest number a packet of the same speaker
/// may land (half the 16-bit space, RFC 3550 A.1's reasoning): beyond is a
/// late packet whose number wrapped below the line's start.
const MAX_SEQ_AHEAD: u64 = 1 << 15;

/// Where one packet lands on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Placed {
    /// Its timestamp (48 kHz) and extended sequence number on the line.
    ticks: u64,
    seq: u64,
    /// It is the first of a new speaker on the line.
    switched: bool,
}

impl Timeline {
    /// Where `speaker`'s packet with timestamp `ticks` (48 kHz) and
    /// extended sequence number `seq`, which arrived at `at`, lands on the
    /// line; `None` when it is too late for the line (see above).
    fn place(
        line: &mut Option<Self>,
        speaker: ParticipantId,
        ticks: u64,
        seq: u64,
        at: Instant,
    ) -> Option<Placed> {
        let Some(mut timeline) = *line else {
            let first = seq & 0xFFFF;
            *line = Some(Self {
                speaker,
                offset: 0,
                seq_offset: first.wrapping_sub(seq),
                first_seq: first,
                last: ticks,
                last_seq: first,
                last_at: at,
            });
            return Some(Placed {
                ticks,
                seq: first,
                switched: true,
            });
        };
        if timeline.speaker == speaker {
            let placed = Placed {
                ticks: ticks.wrapping_add(timeline.offset),
                seq: seq.wrapping_add(timeline.seq_offset),
                switched: false,
            };
            if placed.seq < timeline.first_seq
                || placed.seq > timeline.last_seq.saturating_add(MAX_SEQ_AHEAD)
            {
                return None;
            }
            if placed.seq > timeline.last_seq {
                timeline.last = placed.ticks;
                timeline.last_seq = placed.seq;
                timeline.last_at = at;
            }
            *line = Some(timeline);
            return Some(placed);
        }
        let gap = at.saturating_duration_since(timeline.last_at).as_micros() as u64
            * u64::from(OPUS_CLOCK.get())
            / 1_000_000;
        let placed = Placed {
            ticks: timeline.last.wrapping_add(gap.max(SWITCH_GAP_TICKS)),
            seq: timeline.last_seq.wrapping_add(1),
            switched: true,
        };
        *line = Some(Self {
            speaker,
            offset: placed.ticks.wrapping_sub(ticks),
            seq_offset: placed.seq.wrapping_sub(seq),
            first_seq: placed.seq,
            last: placed.ticks,
            last_seq: placed.seq,
            last_at: at,
        });
        Some(placed)
    }
}

/// The rates of one session (from [`VoiceConfig`](super::VoiceConfig)).
#[derive(Debug, Clone, Copy)]
pub(super) struct SessionLimits {
    pub(super) per_second: u32,
    pub(super) burst: u32,
    pub(super) unverified_stun_per_second: u32,
    pub(super) unverified_stun_burst: u32,
}

/// What driving a session produced for the forwarding unit (kept and
/// reused by the forwarding unit: see [`VoiceSession::drain_into`]).
#[derive(Debug, Default)]
pub(super) struct Drained {
    pub(super) transmits: Vec<Transmit>,
    /// The participant's own packets (its microphone's).
    pub(super) media: Vec<RtpPacket>,
    pub(super) connected: bool,
    /// ICE lost its peer (for ICE-lite: no STUN for 15 s).
    pub(super) disconnected: bool,
    pub(super) failed: bool,
}

/// A token bucket of datagrams per second.
#[derive(Debug)]
struct RateLimit {
    tokens: f64,
    burst: f64,
    per_second: f64,
    refilled: Instant,
}

impl RateLimit {
    fn new(now: Instant, per_second: u32, burst: u32) -> Self {
        Self {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            per_second: f64::from(per_second),
            refilled: now,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now.max(self.refilled);
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One participant's WebRTC session and what the forwarding unit knows of it.
#[derive(Debug)]
pub(super) struct VoiceSession {
    rtc: Rtc,
    pub(super) ufrag: String,
    /// The line the participant speaks on, if it offered one.
    pub(super) microphone: Option<Mid>,
    /// The lines it listens on, in the order of its offer.
    pub(super) slots: Vec<Slot>,
    /// Remote addresses this session answered, oldest first.
    pub(super) addresses: VecDeque<SocketAddr>,
    pub(super) next_timeout: Option<Instant>,
    pub(super) connect_deadline: Option<Instant>,
    /// The last audio level the speaker sent (dBov, 0 loudest, -127 silent)
    /// and when its packet arrived.
    pub(super) audio_level: Option<(i8, Instant)>,
    /// When the oldest packet written to this listener and not yet sent out
    /// of its `Rtc` arrived (the forwarding delay's start).
    pub(super) written_at: Option<Instant>,
    /// Packets written to this listener's lines that its `Rtc` has not
    /// sent yet.
    pub(super) unsent: u32,
    /// Written to since its last drain: listed in the forwarding unit's
    /// `written` to be driven once for all (`Sfu::flush_written`).
    pub(super) written: bool,
    /// The deadline under which the forwarding unit's timer index holds
    /// this session, if any.
    pub(super) timer: Option<Instant>,
    /// The room its traffic is counted under.
    pub(super) room: InstanceKey,
    rate: RateLimit,
    unverified_stun: RateLimit,
    opus: Option<Pt>,
}

impl VoiceSession {
    pub(super) fn new(
        rtc: Rtc,
        ufrag: String,
        now: Instant,
        connect_deadline: Instant,
        limits: SessionLimits,
    ) -> Self {
        Self {
            rtc,
            ufrag,
            microphone: None,
            slots: Vec::new(),
            addresses: VecDeque::new(),
            next_timeout: None,
            connect_deadline: Some(connect_deadline),
            audio_level: None,
            written_at: None,
            unsent: 0,
            written: false,
            timer: None,
            room: InstanceKey(0),
            rate: RateLimit::new(now, limits.per_second, limits.burst),
            unverified_stun: RateLimit::new(
                now,
                limits.unverified_stun_per_second,
                limits.unverified_stun_burst,
            ),
            opus: None,
        }
    }

    /// Sorts the audio lines of the accepted offer, named by `mids` in the
    /// offer's order: the first one the server receives on is the
    /// participant's microphone, every other one the server sends on is a
    /// slot. (str0m announces lines only once media can flow, so they are
    /// read from the negotiated session rather than from its events.)
    pub(super) fn sort_lines<'a>(&mut self, mids: impl IntoIterator<Item = &'a str>) {
        for mid in mids {
            let mid = Mid::from(mid);
            let Some(media) = self.rtc.media(mid) else {
                continue;
            };
            if media.kind() != MediaKind::Audio {
                continue;
            }
            let direction = media.direction();
            let speaks = matches!(direction, Direction::RecvOnly | Direction::SendRecv);
            let listens = matches!(direction, Direction::SendOnly | Direction::SendRecv);
            if speaks && self.microphone.is_none() {
                self.microphone = Some(mid);
            } else if listens && !self.slots.iter().any(|slot| slot.mid == mid) {
                self.slots.push(Slot {
                    mid,
                    heard: None,
                    timeline: None,
                });
            }
        }
    }

    /// Takes one datagram from `from` out of the session's rate: its own
    /// bucket for STUN from an address the session has not answered, the
    /// main one for the rest. `false` when that bucket is spent.
    pub(super) fn take_datagram(&mut self, now: Instant, from: SocketAddr, stun: bool) -> bool {
        if stun && !self.addresses.contains(&from) {
            self.unverified_stun.take(now)
        } else {
            self.rate.take(now)
        }
    }

    pub(super) fn accepts(&self, input: &Input<'_>) -> bool {
        self.rtc.accepts(input)
    }

    pub(super) fn handle_input(&mut self, input: Input<'_>) -> Result<(), str0m::RtcError> {
        self.rtc.handle_input(input)
    }

    pub(super) fn is_alive(&self) -> bool {
        self.rtc.is_alive()
    }

    pub(super) fn disconnect(&mut self) {
        self.rtc.disconnect();
    }

    /// Polls the `Rtc` until it has nothing more to say, sorting its output.
    pub(super) fn drain(&mut self) -> Drained {
        let mut drained = Drained::default();
        self.drain_into(&mut drained);
        drained
    }

    /// Polls the `Rtc` until it has nothing more to say, sorting its output
    /// into `drained` (appended to; its flags are set, never cleared).
    pub(super) fn drain_into(&mut self, drained: &mut Drained) {
        self.written = false;
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => {
                    self.next_timeout = Some(at);
                    break;
                }
                Ok(Output::Transmit(transmit)) => {
                    if super::sfu::is_rtp(&transmit.contents) {
                        self.unsent = self.unsent.saturating_sub(1);
                    }
                    drained.transmits.push(transmit);
                }
                Ok(Output::Event(event)) => self.on_event(event, drained),
                Err(_) => {
                    drained.failed = true;
                    break;
                }
            }
        }
    }

    /// When the forwarding unit should drive this session next, at `now`:
    /// the earlier of its `Rtc`'s deadline and its connect deadline. A
    /// deadline the `Rtc` asks for only to refresh its pacer's view of the
    /// send queues (str0m asks for one after every packet it sends) is put
    /// off by [`PACER_IDLE`] while nothing written waits to be sent: writes
    /// drive the session at once anyway, and its other timers (RTCP, ICE)
    /// tolerate that much lateness.
    pub(super) fn deadline(&self, now: Instant) -> Option<Instant> {
        let next = match self.next_timeout {
            Some(at)
                if self.unsent == 0
                    && matches!(self.rtc.last_timeout_reason(), Reason::Pacer(_)) =>
            {
                Some(at.max(now + PACER_IDLE))
            }
            other => other,
        };
        match (next, self.connect_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_event(&mut self, event: Event, drained: &mut Drained) {
        match event {
            Event::Connected => {
                self.connect_deadline = None;
                drained.connected = true;
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                drained.disconnected = true;
            }
            Event::RtpPacket(packet) if self.is_microphone(&packet) => {
                if let Some(level) = packet.header.ext_vals.audio_level {
                    self.audio_level = Some((level, packet.timestamp));
                }
                drained.media.push(packet);
            }
            _ => {}
        }
    }

    /// Whether `packet` came in on the participant's microphone (its one
    /// receiving audio line).
    fn is_microphone(&mut self, packet: &RtpPacket) -> bool {
        let Some(microphone) = self.microphone else {
            return false;
        };
        self.rtc
            .direct_api()
            .stream_rx(&packet.header.ssrc)
            .is_some_and(|stream| stream.mid() == microphone)
    }

    /// Writes one Opus packet of `speaker` on the listener's line `slot`
    /// (a packet received here, or relayed from another shard's port),
    /// payload unchanged, on the line's own RTP timeline (see `Timeline`);
    /// the first packet after a change of speaker is marked as the start of
    /// a talk spurt.
    pub(super) fn write_on_line(
        &mut self,
        slot: Mid,
        speaker: ParticipantId,
        packet: &LinePacket<'_>,
    ) -> Result<(), ForwardError> {
        if !self.rtc.is_connected() {
            return Err(ForwardError::NotConnected);
        }
        let pt = self.opus_payload_type().ok_or(ForwardError::NoOpus)?;
        let line = self
            .slots
            .iter_mut()
            .find(|line| line.mid == slot)
            .ok_or(ForwardError::NoOpus)?;
        let placed = Timeline::place(
            &mut line.timeline,
            speaker,
            packet.ticks,
            packet.seq,
            packet.arrived,
        )
        .ok_or(ForwardError::Late)?;
        let mut extensions = ExtensionValues::default();
        if let Some(level) = packet.audio_level {
            extensions.audio_level = Some(level);
            extensions.voice_activity = Some(packet.voice_activity);
        }
        let mut direct = self.rtc.direct_api();
        let stream = direct
            .stream_tx_by_mid(slot, None)
            .ok_or(ForwardError::NoOpus)?;
        stream.write_rtp(
            RtpWrite::new(
                pt,
                SeqNo::from(placed.seq),
                // The RTP header's 32 bits of the line's extended time.
                placed.ticks as u32,
                packet.arrived,
                Arc::clone(packet.payload),
            )
            .marker(placed.switched || packet.talk_spurt)
            .ext_vals(extensions),
        );
        self.unsent = self.unsent.saturating_add(1);
        Ok(())
    }

    /// The payload type this participant's session gave Opus.
    fn opus_payload_type(&mut self) -> Option<Pt> {
        if self.opus.is_none() {
            self.opus = self
                .rtc
                .codec_config()
                .find(|params| params.spec().codec == Codec::Opus)
                .map(|params| params.pt());
        }
        self.opus
    }
}

/// One Opus packet as a listener's line takes it.
#[derive(Debug, Clone, Copy)]
pub(super) struct LinePacket<'a> {
    /// Its RTP timestamp, in 48 kHz ticks of its speaker's clock.
    pub(super) ticks: u64,
    /// Its extended RTP sequence number in its speaker's stream.
    pub(super) seq: u64,
    /// When it reached this server.
    pub(super) arrived: Instant,
    /// Its audio level (dBov), if it carried one.
    pub(super) audio_level: Option<i8>,
    /// Its voice-activity flag.
    pub(super) voice_activity: bool,
    /// It starts a talk spurt.
    pub(super) talk_spurt: bool,
    /// The Opus payload, unchanged.
    pub(super) payload: &'a Arc<[u8]>,
}

impl<'a> LinePacket<'a> {
    /// A packet a speaker sent to this port.
    pub(super) fn of(packet: &'a RtpPacket) -> Self {
        Self {
            ticks: packet.time.rebase(OPUS_CLOCK).numer(),
            seq: *packet.seq_no,
            arrived: packet.timestamp,
            audio_level: packet.header.ext_vals.audio_level,
            voice_activity: packet.header.ext_vals.voice_activity.unwrap_or(false),
            talk_spurt: packet.header.marker,
            payload: &packet.payload,
        }
    }
}

/// How long a session's pacer-only deadline is put off while nothing waits
/// to be sent (see [`VoiceSession::deadline`]).
pub(super) const PACER_IDLE: std::time::Duration = std::time::Duration::from_millis(50);

/// Why a packet was not written to a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ForwardError {
    /// The listener's ICE and DTLS are not up yet.
    NotConnected,
    /// The slot has no Opus payload type (or no longer exists).
    NoOpus,
    /// The packet came too late for the line: its number was taken (see
    /// `Timeline`).
    Late,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn forged_stun_from_unanswered_addresses_cannot_spend_the_main_rate() {
        let now = Instant::now();
        let limits = SessionLimits {
            per_second: 10,
            burst: 5,
            unverified_stun_per_second: 10,
            unverified_stun_burst: 3,
        };
        let rtc = Rtc::builder().build(now);
        let mut session = VoiceSession::new(rtc, "ufrag".into(), now, now, limits);
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        session.addresses.push_back(peer);
        let stranger = |port: u16| SocketAddr::from(([127, 0, 0, 2], port));
        let forged = (0..1_000)
            .filter(|port| session.take_datagram(now, stranger(*port), true))
            .count();
        assert_eq!(forged, 3, "the unverified bucket's burst");
        // The peer's own STUN and media still have the whole main bucket.
        assert!(session.take_datagram(now, peer, true));
        let media = (0..100)
            .filter(|_| session.take_datagram(now, peer, false))
            .count();
        assert_eq!(media, 4);
        // And media from a stranger's address would take the main bucket
        // (it is only routed here if the session answered that address).
        assert!(!session.take_datagram(now, stranger(1), false));
    }

    #[test]
    fn a_new_speaker_continues_the_line_after_the_gap() {
        let start = Instant::now();
        let (first, second) = (ParticipantId(1), ParticipantId(2));
        let mut line = None;
        let placed = |ticks, seq, switched| {
            Some(Placed {
                ticks,
                seq,
                switched,
            })
        };
        // The first speaker's own timestamps and numbers pass through.
        assert_eq!(
            Timeline::place(&mut line, first, 1_000, 500, start),
            placed(1_000, 500, true)
        );
        let at = start + Duration::from_millis(20);
        assert_eq!(
            Timeline::place(&mut line, first, 1_960, 501, at),
            placed(1_960, 501, false)
        );
        // A second speaker whose stream started near the top of the clock
        // continues 100 ms (4,800 ticks) after the last packet, numbered
        // next.
        let later = at + Duration::from_millis(100);
        let top = u64::from(u32::MAX);
        assert_eq!(
            Timeline::place(&mut line, second, top - 5, 60_000, later),
            placed(1_960 + 4_800, 502, true)
        );
        // Its lost packet (60,001) stays a gap on the line.
        assert_eq!(
            Timeline::place(&mut line, second, top + 1_915, 60_002, later),
            placed(1_960 + 4_800 + 1_920, 504, false)
        );
        // The late one takes its own place, and the line does not go back.
        assert_eq!(
            Timeline::place(&mut line, second, top + 955, 60_001, later),
            placed(1_960 + 4_800 + 960, 503, false)
        );
        // One sent before its first on the line would take a number the
        // first speaker used: dropped.
        assert_eq!(
            Timeline::place(&mut line, second, top - 965, 59_999, later),
            None
        );
        // Back to the first speaker at once: at least one frame after the
        // line's last, numbered after its highest.
        assert_eq!(
            Timeline::place(&mut line, first, 50_000, 502, later),
            placed(1_960 + 4_800 + 1_920 + 960, 505, true)
        );
    }

    #[test]
    fn a_line_starts_with_a_rollover_counter_of_zero() {
        // A speaker whose numbers wrapped three times before this line
        // first carried it: the line starts within the first 65,536.
        let mut line = None;
        let speaker = ParticipantId(3);
        let now = Instant::now();
        let extended = 3 * 65_536 + 7;
        assert_eq!(
            Timeline::place(&mut line, speaker, 10, extended, now).map(|p| p.seq),
            Some(7)
        );
        assert_eq!(
            Timeline::place(&mut line, speaker, 970, extended + 1, now).map(|p| p.seq),
            Some(8)
        );
        // A late packet from before the wrap (its number 65,535 below)
        // would land below the line's start: dropped, not wrapped to 2^64.
        assert_eq!(
            Timeline::place(&mut line, speaker, 0, extended - 9, now),
            None
        );
    }

    #[test]
    fn the_rate_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut rate = RateLimit::new(start, 10, 5);
        let burst = (0..20).filter(|_| rate.take(start)).count();
        assert_eq!(burst, 5);
        let later = start + Duration::from_secs(1);
        let refilled = (0..20).filter(|_| rate.take(later)).count();
        assert_eq!(refilled, 5, "10 per second, capped at the burst of 5");
        let little_later = later + Duration::from_millis(300);
        assert_eq!((0..20).filter(|_| rate.take(little_later)).count(), 3);
    }
}
