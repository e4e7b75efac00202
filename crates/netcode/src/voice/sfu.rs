//! The selective forwarding unit: many voice sessions behind one UDP port.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::SdpOffer;
use str0m::media::Mid;
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::Extension;
use str0m::{Candidate, IceCreds, Input, Rtc};

use super::config::{VoiceConfig, VoiceConfigError};
use super::counters::{RoomTraffic, VoiceCounters};
use super::demux::{DatagramClass, Refusal, classify, stun_local_ufrag};
use super::error::OfferError;
use super::routing::{Heard, ParticipantId, Routing};
use super::selection::InstanceKey;
use super::session::{Drained, ForwardError, LinePacket, SessionLimits, VoiceSession};

mod relay;
pub use relay::{MAX_RELAYED_PAYLOAD, RelayedPacket};

/// How long a speaker's last audio level stays current.
pub const AUDIO_LEVEL_MAX_AGE: Duration = Duration::from_millis(500);

/// A datagram for the voice port to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceTransmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// What to send.
    pub contents: Vec<u8>,
    /// For a forwarded copy of a speaker's packet (SRTP to a listener): when
    /// the speaker's datagram was read off the voice socket (the `now` given
    /// to [`Sfu::handle_datagram`]), to measure the delay inside the server.
    /// `None` for everything else (STUN, DTLS, RTCP).
    pub received: Option<Instant>,
}

/// Why a voice session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The caller closed it.
    Closed,
    /// ICE and DTLS did not come up within the connect timeout.
    ConnectTimeout,
    /// The WebRTC session ended: ICE lost its peer (no STUN from it for
    /// 15 s), or the peer closed it.
    Ended,
    /// str0m reported an error.
    Failed,
}

/// What the forwarding unit tells its caller.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum VoiceEvent {
    /// A session's ICE and DTLS are up: media can flow.
    Connected {
        /// Whose.
        participant: ParticipantId,
    },
    /// A session ended; its participant must offer again to have voice.
    Closed {
        /// Whose.
        participant: ParticipantId,
        /// Why.
        reason: CloseReason,
    },
    /// What a listener receives on one of its audio lines changed: another
    /// speaker, none, or the same one at a distance that moved by at least
    /// [`VoiceConfig::distance_step`]. The caller tells the listener (so it
    /// can attenuate and show who speaks).
    Heard {
        /// Who listens.
        listener: ParticipantId,
        /// The line, by its SDP `mid` from the listener's offer.
        slot: String,
        /// Who it now receives on that line, and how far; `None` for no one.
        heard: Option<Heard>,
    },
    /// A packet of an exported speaker, for the ports of other shards whose
    /// listeners hear it (see [`Sfu::set_relay`]).
    Relayed(RelayedPacket),
}

/// Events held for [`Sfu::poll_event`] before further ones are dropped
/// (counted in [`VoiceCounters::events_dropped`]): a caller that stops
/// polling must not grow memory without bound.
pub const MAX_PENDING_EVENTS: usize = 1 << 16;

/// Appends `event` unless [`MAX_PENDING_EVENTS`] are waiting.
fn push_event(queue: &mut VecDeque<VoiceEvent>, counters: &mut VoiceCounters, event: VoiceEvent) {
    if queue.len() >= MAX_PENDING_EVENTS {
        counters.events_dropped += 1;
    } else {
        queue.push_back(event);
    }
}

/// Appends `transmits` to `queue` while it holds fewer than `limit`; the
/// rest are dropped and counted. Returns the bytes queued.
fn push_bounded(
    queue: &mut VecDeque<VoiceTransmit>,
    counters: &mut VoiceCounters,
    limit: usize,
    transmits: impl IntoIterator<Item = Transmit>,
    received: Option<Instant>,
) -> u64 {
    let mut queued_bytes = 0;
    for transmit in transmits {
        if queue.len() >= limit {
            counters.transmits_dropped += 1;
            continue;
        }
        let received = received.filter(|_| is_rtp(&transmit.contents));
        queued_bytes += transmit.contents.len() as u64;
        queue.push_back(VoiceTransmit {
            destination: transmit.destination,
            contents: transmit.contents.into(),
            received,
        });
    }
    queued_bytes
}

/// When the oldest packet written to `session` and not yet sent arrived, if
/// `transmits` carry RTP (str0m sends a written packet on a later poll, not
/// necessarily the next): taken, so that each write is timed once. Several
/// packets written before one poll are all timed from the oldest.
fn written_at(session: &mut VoiceSession, transmits: &[Transmit]) -> Option<Instant> {
    if transmits.iter().any(|transmit| is_rtp(&transmit.contents)) {
        session.written_at.take()
    } else {
        None
    }
}

/// Whether a datagram is RTP (not RTCP, RFC 5761 §4: RTCP's packet types
/// 192-223 read as payload types 64-95 with the marker bit).
pub(super) fn is_rtp(datagram: &[u8]) -> bool {
    matches!(datagram, [128..=191, second, ..] if !(64..=95).contains(&(second & 0x7F)))
}

/// The `mid` of every media line of an SDP text, in order.
fn offered_mids(sdp: &str) -> impl Iterator<Item = &str> {
    sdp.lines()
        .filter_map(|line| line.trim_end().strip_prefix("a=mid:"))
}

/// Many participants' voice sessions behind one UDP port. See the
/// [module docs](super).
#[derive(Debug)]
pub struct Sfu {
    config: VoiceConfig,
    /// The address of the voice port as clients reach it.
    local: SocketAddr,
    candidate: Candidate,
    sessions: HashMap<ParticipantId, VoiceSession>,
    by_ufrag: HashMap<String, ParticipantId>,
    by_address: HashMap<SocketAddr, ParticipantId>,
    /// Per speaker, the listeners' lines it is forwarded on.
    forward_to: HashMap<ParticipantId, Vec<(ParticipantId, Mid)>>,
    transmits: VecDeque<VoiceTransmit>,
    events: VecDeque<VoiceEvent>,
    counters: VoiceCounters,
    /// Every session's next deadline (see `VoiceSession::deadline`), so
    /// that finding the due ones is not a pass over every session.
    timers: BTreeSet<(Instant, ParticipantId)>,
    /// Listeners written to since they were last driven: driven once for
    /// all by `flush_written`, however many packets each got.
    written: Vec<ParticipantId>,
    /// The latest time passed in.
    last_now: Option<Instant>,
    /// Reused for what sessions produce, and for the due sessions.
    scratch: Drained,
    due: Vec<ParticipantId>,
    /// Speakers whose packets cross to or from other shards' ports.
    relay: relay::RelayState,
    /// Each room's traffic, while it has a session (see
    /// [`Sfu::place_in_room`]).
    rooms: HashMap<InstanceKey, RoomTraffic>,
}

impl Sfu {
    /// A forwarding unit whose clients reach it at `local` (the voice port's
    /// address, announced as the one ICE host candidate).
    pub fn new(config: VoiceConfig, local: SocketAddr) -> Result<Self, VoiceConfigError> {
        config.validate()?;
        let candidate =
            Candidate::host(local, "udp").map_err(|_| VoiceConfigError::Candidate(local))?;
        Ok(Self {
            config,
            local,
            candidate,
            sessions: HashMap::new(),
            by_ufrag: HashMap::new(),
            by_address: HashMap::new(),
            forward_to: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: VoiceCounters::default(),
            timers: BTreeSet::new(),
            written: Vec::new(),
            last_now: None,
            scratch: Drained::default(),
            due: Vec::new(),
            relay: relay::RelayState::default(),
            rooms: HashMap::new(),
        })
    }

    /// The counters so far.
    pub fn counters(&self) -> VoiceCounters {
        self.counters
    }

    /// The audio level `participant` last sent in the RTP audio-level header
    /// extension (dBov: 0 loudest, -127 silent), if its packet arrived less
    /// than [`AUDIO_LEVEL_MAX_AGE`] before `now`; a speaker that stopped
    /// sending (muted, discontinuous transmission) has none.
    pub fn audio_level(&self, now: Instant, participant: ParticipantId) -> Option<i8> {
        let (level, at) = self.sessions.get(&participant)?.audio_level?;
        (now.saturating_duration_since(at) < AUDIO_LEVEL_MAX_AGE).then_some(level)
    }

    /// Every participant with a current audio level (see
    /// [`Sfu::audio_level`]): the speakers' input to the next selection.
    pub fn audio_levels(&self, now: Instant) -> impl Iterator<Item = (ParticipantId, i8)> + '_ {
        self.sessions.keys().filter_map(move |participant| {
            Some((*participant, self.audio_level(now, *participant)?))
        })
    }

    /// Counts `participant`'s session's traffic under `room` from now on
    /// (sessions start in room `InstanceKey(0)`, the world's).
    pub fn place_in_room(&mut self, participant: ParticipantId, room: InstanceKey) {
        let Some(session) = self.sessions.get_mut(&participant) else {
            return;
        };
        session.room = room;
        self.rooms.entry(room).or_default();
    }

    /// Each room's traffic since its first session opened (or since it was
    /// last forgotten).
    pub fn room_traffic(&self) -> impl Iterator<Item = (InstanceKey, RoomTraffic)> + '_ {
        self.rooms.iter().map(|(room, traffic)| (*room, *traffic))
    }

    /// The room (instance) stopped: its figures go, unless a session still
    /// counts under it. The caller forgets each room it stops, so the
    /// figures held are those of running rooms.
    pub fn forget_room(&mut self, room: InstanceKey) {
        if !self.sessions.values().any(|session| session.room == room) {
            self.rooms.remove(&room);
        }
    }

    fn room_of(&mut self, participant: ParticipantId) -> Option<&mut RoomTraffic> {
        let room = self.sessions.get(&participant)?.room;
        self.rooms.get_mut(&room)
    }

    /// Whether `participant` has a voice session.
    pub fn has_session(&self, participant: ParticipantId) -> bool {
        self.sessions.contains_key(&participant)
    }

    /// Datagrams waiting for [`Sfu::poll_transmit`] (at most
    /// [`VoiceConfig::max_queued_transmits`]).
    pub fn queued_transmits(&self) -> usize {
        self.transmits.len()
    }

    /// Opens `participant`'s voice session from its SDP offer and returns the
    /// SDP answer. The offer's sending audio line is its microphone; its
    /// receiving audio lines are the slots it hears speakers on.
    pub fn handle_offer(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        offer: &str,
    ) -> Result<String, OfferError> {
        let result = self.open_session(now, participant, offer);
        if result.is_err() {
            self.counters.offers_refused += 1;
        }
        result
    }

    fn open_session(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        offer: &str,
    ) -> Result<String, OfferError> {
        if self.sessions.contains_key(&participant) {
            return Err(OfferError::SessionExists(participant));
        }
        if self.sessions.len() >= self.config.max_sessions {
            return Err(OfferError::Full(self.config.max_sessions));
        }
        let offer_text = offer;
        let offer = SdpOffer::from_sdp_string(offer).map_err(OfferError::Malformed)?;
        let credentials = self.fresh_credentials();
        let ufrag = credentials.ufrag.clone();
        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            .clear_codecs()
            .enable_opus(true, false)
            // Packets, not frames: each Opus packet is one RTP packet, so
            // the forwarding unit copies packets (new header, same payload)
            // and skips str0m's depacketizing and packetizing per copy.
            .set_rtp_mode(true)
            // Forward each Opus packet as it comes, as a forwarding unit
            // does: the listener's jitter buffer orders and conceals. str0m
            // would hold a speaker's packets after a lost one for up to 15
            // packets (300 ms) waiting for it to arrive.
            .set_reordering_size_audio(0)
            // The audio level (loudest N) and the mid (bundled lines) only:
            // the server estimates no bandwidth, so transport-wide
            // congestion feedback (TWCC) and send times would be written,
            // sent and read for nothing on every packet.
            .clear_extension_map()
            .set_extension(1, Extension::AudioLevel)
            .set_extension(4, Extension::RtpMid)
            .set_local_ice_credentials(credentials)
            .build(now);
        rtc.add_local_candidate(self.candidate.clone());
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(OfferError::Refused)?;
        let mut session = VoiceSession::new(
            rtc,
            ufrag.clone(),
            now,
            now + self.config.connect_timeout,
            SessionLimits {
                per_second: self.config.session_datagrams_per_second,
                burst: self.config.session_datagram_burst,
                unverified_stun_per_second: self.config.session_unverified_stun_per_second,
                unverified_stun_burst: self.config.session_unverified_stun_burst,
            },
        );
        session.sort_lines(offered_mids(offer_text));
        let drained = session.drain();
        if drained.failed || (session.microphone.is_none() && session.slots.is_empty()) {
            return Err(OfferError::NoAudio);
        }
        if session.slots.len() > self.config.max_slots {
            return Err(OfferError::TooManySlots {
                offered: session.slots.len(),
                allowed: self.config.max_slots,
            });
        }
        self.by_ufrag.insert(ufrag, participant);
        self.rooms.entry(session.room).or_default();
        self.sessions.insert(participant, session);
        self.counters.sessions_opened += 1;
        self.counters.sessions = self.sessions.len() as u64;
        let mut drained = drained;
        self.absorb(now, participant, &mut drained);
        Ok(answer.to_sdp_string())
    }

    /// ICE credentials whose ufrag no open session has.
    fn fresh_credentials(&self) -> IceCreds {
        loop {
            let credentials = IceCreds::new();
            if !self.by_ufrag.contains_key(&credentials.ufrag) {
                return credentials;
            }
        }
    }

    /// Ends `participant`'s voice session, if it has one.
    pub fn close_session(&mut self, participant: ParticipantId) {
        if let Some(session) = self.sessions.get_mut(&participant) {
            session.disconnect();
            let drained = session.drain();
            self.queue_session_transmits(participant, drained.transmits);
            self.remove(participant, CloseReason::Closed);
        }
    }

    /// Takes one datagram that arrived on the voice port from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.counters.datagrams_in += 1;
        self.last_now = self.last_now.max(Some(now));
        if let Err(refusal) = self.receive(now, from, datagram) {
            self.counters.refused.count(refusal);
        }
    }

    fn receive(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> Result<(), Refusal> {
        let class = classify(datagram)?;
        let participant = match class {
            DatagramClass::Stun => {
                let ufrag = stun_local_ufrag(datagram).ok_or(Refusal::Malformed)?;
                *self.by_ufrag.get(ufrag).ok_or(Refusal::UnknownUfrag)?
            }
            DatagramClass::Dtls | DatagramClass::Rtp => {
                *self.by_address.get(&from).ok_or(Refusal::UnknownAddress)?
            }
        };
        let session = self
            .sessions
            .get_mut(&participant)
            .ok_or(Refusal::UnknownAddress)?;
        if !session.take_datagram(now, from, class == DatagramClass::Stun) {
            return Err(Refusal::RateLimited);
        }
        if let Some(traffic) = self.rooms.get_mut(&session.room) {
            traffic.datagram_bytes_in += datagram.len() as u64;
        }
        let receive = Receive::new(Protocol::Udp, from, self.local, datagram)
            .map_err(|_| Refusal::Malformed)?;
        let input = Input::Receive(now, receive);
        if !session.accepts(&input) {
            return Err(Refusal::NotAccepted);
        }
        let handled = session.handle_input(input);
        let mut drained = std::mem::take(&mut self.scratch);
        session.drain_into(&mut drained);
        self.absorb(now, participant, &mut drained);
        self.scratch = drained;
        handled.map_err(|_| Refusal::Rejected)
    }

    /// Advances every session whose deadline has come, and every listener
    /// written to since it was last driven.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(Some(now));
        self.flush_written(now);
        let mut due = std::mem::take(&mut self.due);
        while let Some(&(at, participant)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            if let Some(session) = self.sessions.get_mut(&participant) {
                session.timer = None;
            }
            due.push(participant);
        }
        for participant in due.drain(..) {
            let Some(session) = self.sessions.get_mut(&participant) else {
                continue;
            };
            if session.connect_deadline.is_some_and(|at| at <= now) {
                session.disconnect();
                self.remove(participant, CloseReason::ConnectTimeout);
                continue;
            }
            self.drive(now, participant);
        }
        self.due = due;
    }

    /// Hands `participant`'s `Rtc` the time and takes what it produced: the
    /// packets written to it leave, its timers run.
    fn drive(&mut self, now: Instant, participant: ParticipantId) {
        let Some(session) = self.sessions.get_mut(&participant) else {
            return;
        };
        let failed = session.handle_input(Input::Timeout(now)).is_err();
        let mut drained = std::mem::take(&mut self.scratch);
        session.drain_into(&mut drained);
        self.absorb(now, participant, &mut drained);
        self.scratch = drained;
        if failed {
            self.remove(participant, CloseReason::Failed);
        }
    }

    /// Drives, once each, the listeners written to since they were last
    /// driven (str0m sends a written packet when its session is next given
    /// the time), so that many packets for one listener cost one turn of
    /// its `Rtc`.
    fn flush_written(&mut self, now: Instant) {
        if self.written.is_empty() {
            return;
        }
        let mut written = std::mem::take(&mut self.written);
        for participant in written.drain(..) {
            self.drive(now, participant);
        }
        // Driving a listener writes nothing to others: nothing new is
        // listed meanwhile, and the list's memory is kept.
        debug_assert!(self.written.is_empty());
        self.written = written;
    }

    /// Keeps the timer index in step with `participant`'s deadline.
    fn reschedule(&mut self, now: Instant, participant: ParticipantId) {
        let Some(session) = self.sessions.get_mut(&participant) else {
            return;
        };
        let deadline = session.deadline(now);
        if deadline == session.timer {
            return;
        }
        if let Some(old) = session.timer {
            self.timers.remove(&(old, participant));
        }
        if let Some(new) = deadline {
            self.timers.insert((new, participant));
        }
        session.timer = deadline;
    }

    /// The next time [`Sfu::handle_timeout`] has work, if any: at once
    /// when listeners were written to and not driven yet.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timers.first().map(|(at, _)| *at);
        match self.last_now.filter(|_| !self.written.is_empty()) {
            Some(now) => Some(timer.map_or(now, |at| at.min(now))),
            None => timer,
        }
    }

    /// The next datagram to send from the voice port.
    pub fn poll_transmit(&mut self) -> Option<VoiceTransmit> {
        if self.transmits.is_empty()
            && let Some(now) = self.last_now
        {
            self.flush_written(now);
        }
        let transmit = self.transmits.pop_front()?;
        self.counters.datagrams_out += 1;
        self.counters.datagram_bytes_out += transmit.contents.len() as u64;
        Some(transmit)
    }

    /// The next event for the caller.
    pub fn poll_event(&mut self) -> Option<VoiceEvent> {
        self.events.pop_front()
    }

    /// Sets who hears whom from now on (the caller's selection of this tick,
    /// see [`select_heard`](super::select_heard)). Each listener keeps a
    /// speaker on the same line while it stays heard; new speakers take free
    /// lines in the routing's order; speakers beyond its lines are not
    /// forwarded. A participant is never forwarded to itself, and a speaker
    /// without a voice session takes no line.
    pub fn set_routing(&mut self, routing: &Routing) {
        self.forward_to.clear();
        let distance_step = self.config.distance_step;
        let speaking: HashSet<ParticipantId> = self
            .sessions
            .keys()
            .chain(&self.relay.remote)
            .copied()
            .collect();
        for (listener, session) in &mut self.sessions {
            let wanted: Vec<Heard> = routing
                .heard_by(*listener)
                .iter()
                .filter(|heard| heard.speaker != *listener && speaking.contains(&heard.speaker))
                .take(session.slots.len())
                .copied()
                .collect();
            // Free the lines of speakers no longer heard, update the others.
            for slot in &mut session.slots {
                let Some(current) = slot.heard else { continue };
                match wanted.iter().find(|heard| heard.speaker == current.speaker) {
                    None => {
                        slot.heard = None;
                        push_event(
                            &mut self.events,
                            &mut self.counters,
                            VoiceEvent::Heard {
                                listener: *listener,
                                slot: slot.mid.to_string(),
                                heard: None,
                            },
                        );
                    }
                    Some(heard) if (heard.distance - current.distance).abs() >= distance_step => {
                        slot.heard = Some(*heard);
                        push_event(
                            &mut self.events,
                            &mut self.counters,
                            VoiceEvent::Heard {
                                listener: *listener,
                                slot: slot.mid.to_string(),
                                heard: Some(*heard),
                            },
                        );
                    }
                    Some(_) => {}
                }
            }
            // New speakers take free lines.
            for heard in &wanted {
                let placed = session
                    .slots
                    .iter()
                    .any(|slot| slot.heard.is_some_and(|h| h.speaker == heard.speaker));
                if placed {
                    continue;
                }
                if let Some(slot) = session.slots.iter_mut().find(|slot| slot.heard.is_none()) {
                    slot.heard = Some(*heard);
                    push_event(
                        &mut self.events,
                        &mut self.counters,
                        VoiceEvent::Heard {
                            listener: *listener,
                            slot: slot.mid.to_string(),
                            heard: Some(*heard),
                        },
                    );
                }
            }
            for slot in &session.slots {
                if let Some(heard) = slot.heard {
                    self.forward_to
                        .entry(heard.speaker)
                        .or_default()
                        .push((*listener, slot.mid));
                }
            }
        }
    }

    /// Handles what a session's `Rtc` produced: its datagrams, its state and
    /// the packets it received, which are forwarded at once.
    fn absorb(&mut self, now: Instant, participant: ParticipantId, drained: &mut Drained) {
        self.learn_addresses(participant, &drained.transmits);
        let transmits = std::mem::take(&mut drained.transmits);
        let transmits = self.queue_session_transmits(participant, transmits);
        drained.transmits = transmits;
        if drained.connected {
            push_event(
                &mut self.events,
                &mut self.counters,
                VoiceEvent::Connected { participant },
            );
        }
        for packet in &drained.media {
            let packet = LinePacket::of(packet);
            self.counters.packets_in += 1;
            self.counters.bytes_in += packet.payload.len() as u64;
            if let Some(traffic) = self.room_of(participant) {
                traffic.packets_in += 1;
                traffic.bytes_in += packet.payload.len() as u64;
            }
            self.forward(participant, &packet);
            self.export(participant, &packet);
        }
        if drained.failed {
            self.remove(participant, CloseReason::Failed);
        } else if drained.disconnected {
            if let Some(session) = self.sessions.get_mut(&participant) {
                session.disconnect();
            }
            self.remove(participant, CloseReason::Ended);
        } else if self
            .sessions
            .get(&participant)
            .is_some_and(|session| !session.is_alive())
        {
            self.remove(participant, CloseReason::Ended);
        } else {
            self.reschedule(now, participant);
        }
        drained.media.clear();
        drained.connected = false;
        drained.disconnected = false;
        drained.failed = false;
    }

    fn forward(&mut self, speaker: ParticipantId, packet: &LinePacket<'_>) {
        let Some(targets) = self.forward_to.get(&speaker) else {
            return;
        };
        for (listener, slot) in targets {
            let Some(session) = self.sessions.get_mut(listener) else {
                continue;
            };
            match session.write_on_line(*slot, speaker, packet) {
                Ok(()) => {
                    self.counters.packets_forwarded += 1;
                    self.counters.bytes_forwarded += packet.payload.len() as u64;
                    if let Some(traffic) = self.rooms.get_mut(&session.room) {
                        traffic.packets_forwarded += 1;
                        traffic.bytes_forwarded += packet.payload.len() as u64;
                    }
                    session.written_at.get_or_insert(packet.arrived);
                    // Sent when the listener is next driven (flush_written),
                    // once for all the packets it got meanwhile.
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

    /// Queues what `participant`'s `Rtc` sent, timing the forwarded copies
    /// among them (see `written_at`).
    /// Returns `transmits` emptied, to be used again.
    fn queue_session_transmits(
        &mut self,
        participant: ParticipantId,
        mut transmits: Vec<Transmit>,
    ) -> Vec<Transmit> {
        let session = self.sessions.get_mut(&participant);
        let room = session.as_ref().map(|session| session.room);
        let received = session.and_then(|session| written_at(session, &transmits));
        let queued_bytes = push_bounded(
            &mut self.transmits,
            &mut self.counters,
            self.config.max_queued_transmits,
            transmits.drain(..),
            received,
        );
        if let Some(traffic) = room.and_then(|room| self.rooms.get_mut(&room)) {
            traffic.datagram_bytes_out += queued_bytes;
        }
        transmits
    }

    /// Remembers the addresses a session sent to: str0m answers only STUN
    /// that passed its integrity check, so these are its peer's.
    fn learn_addresses(&mut self, participant: ParticipantId, transmits: &[Transmit]) {
        let Some(session) = self.sessions.get_mut(&participant) else {
            return;
        };
        for transmit in transmits {
            let address = transmit.destination;
            if session.addresses.contains(&address) {
                continue;
            }
            if session.addresses.len() >= self.config.max_addresses_per_session
                && let Some(oldest) = session.addresses.pop_front()
                && self.by_address.get(&oldest) == Some(&participant)
            {
                self.by_address.remove(&oldest);
            }
            session.addresses.push_back(address);
            self.by_address.insert(address, participant);
        }
    }

    fn remove(&mut self, participant: ParticipantId, reason: CloseReason) {
        let Some(session) = self.sessions.remove(&participant) else {
            return;
        };
        if let Some(at) = session.timer {
            self.timers.remove(&(at, participant));
        }
        self.by_ufrag.remove(&session.ufrag);
        for address in &session.addresses {
            if self.by_address.get(address) == Some(&participant) {
                self.by_address.remove(address);
            }
        }
        self.forward_to.remove(&participant);
        for targets in self.forward_to.values_mut() {
            targets.retain(|(listener, _)| *listener != participant);
        }
        self.counters.sessions_closed += 1;
        self.counters.sessions = self.sessions.len() as u64;
        push_event(
            &mut self.events,
            &mut self.counters,
            VoiceEvent::Closed {
                participant,
                reason,
            },
        );
    }
}

#[cfg(test)]
mod tests;
