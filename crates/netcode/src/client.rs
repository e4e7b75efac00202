//! The client's side of a connection, sans IO: what bots and native clients run.
//!
//! [`Client::new`] queues the hello; the driver feeds what arrives
//! (`handle_stream`, `handle_datagram`) and the time (`handle_timeout`), and
//! sends what [`Client::poll_transmit`] returns. Every snapshot is decoded against
//! the client's own ring of views and acknowledged; the newest decoded view is the
//! world as this client sees it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use meridian_protocol::framing::{FrameDecoder, write_frame};
use meridian_protocol::messages::{
    Ack, Channel, ChatRelay, ChatSend, ClientMessage, Disconnect, DisconnectReason, Hello, Input,
    InventoryChange, InventoryResult, MovementIntent, Presence, Refusal, ServerMessage,
    SettingsChanged, Welcome,
};
use meridian_protocol::snapshot::{EntityState, decode_body};
use meridian_protocol::{DecodeError, PROTOCOL_VERSION};

use crate::snapshot::ViewRing;

/// What happened, for the game (or bot) side.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// The server admitted us.
    Welcomed(Welcome),
    /// The server refused the hello.
    Refused(Refusal),
    /// A snapshot was decoded; [`Client::view`] shows it.
    Snapshot {
        /// Its tick.
        tick: u32,
        /// Its size in bytes.
        bytes: usize,
        /// The newest input the server had applied.
        last_input_sequence: u32,
    },
    /// A chat line.
    Chat(ChatRelay),
    /// The name of an avatar now in view.
    Presence(Presence),
    /// The answer to an inventory change.
    Inventory(InventoryResult),
    /// An operator changed the tick rate or the limits; [`Client::welcome`]
    /// reads the new ones from now on.
    SettingsChanged(SettingsChanged),
    /// The connection ended (by the server's word or our own timeout).
    Disconnected(DisconnectReason),
}

/// Something for the driver to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientTransmit {
    /// One datagram.
    Datagram(Vec<u8>),
    /// Framed bytes for the reliable stream.
    Stream(Vec<u8>),
    /// Close the connection.
    Close,
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientPhase {
    /// Hello sent, no answer yet.
    Connecting,
    /// Welcomed.
    Connected,
    /// Ended.
    Closed,
}

/// Counters a bot reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Snapshots decoded.
    pub snapshots: u64,
    /// Snapshots that failed to decode (including a missing baseline).
    pub decode_errors: u64,
    /// Snapshots older than one already decoded (reordered), skipped.
    pub stale_snapshots: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
}

/// Voice messages held for [`Client::poll_voice`] before later ones are dropped.
const MAX_PENDING_VOICE: usize = 256;

/// One client connection's state machine.
#[derive(Debug)]
pub struct Client {
    phase: ClientPhase,
    heartbeat_interval: Duration,
    idle_timeout: Duration,
    last_heard: Instant,
    last_sent_datagram: Instant,
    frames: FrameDecoder,
    ring: ViewRing,
    newest_tick: Option<u32>,
    view: Vec<EntityState>,
    next_sequence: u32,
    welcome: Option<Welcome>,
    events: VecDeque<ClientEvent>,
    /// Voice messages for [`Client::poll_voice`].
    voice: VecDeque<ServerMessage>,
    transmits: VecDeque<ClientTransmit>,
    stats: ClientStats,
    last_decode_error: Option<DecodeError>,
    /// How long a snapshot's `Ack` may wait for an input to ride with.
    ack_hold: Duration,
    /// The `Ack` waiting for an input, and when it goes alone.
    held_ack: Option<(u32, Instant)>,
}

impl Client {
    /// Starts a connection: queues the hello with `token`.
    pub fn new(
        now: Instant,
        token: String,
        heartbeat_interval: Duration,
        idle_timeout: Duration,
    ) -> Self {
        let mut client = Self {
            phase: ClientPhase::Connecting,
            heartbeat_interval,
            idle_timeout,
            last_heard: now,
            last_sent_datagram: now,
            frames: FrameDecoder::new(),
            ring: ViewRing::default(),
            newest_tick: None,
            view: Vec::new(),
            next_sequence: 1,
            welcome: None,
            events: VecDeque::new(),
            voice: VecDeque::new(),
            transmits: VecDeque::new(),
            stats: ClientStats::default(),
            last_decode_error: None,
            ack_hold: Duration::ZERO,
            held_ack: None,
        };
        client.send_stream(&ClientMessage::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            auth_token: token,
        }));
        client
    }

    /// Holds each snapshot's `Ack` for up to `hold` so that the next input
    /// carries it: both datagrams leave in the same turn, so QUIC packs them
    /// into one packet (one packet a tick instead of two, PROTOCOL.md 6.4).
    /// Zero, the default, sends each `Ack` at once. Keep `hold` below QUIC's
    /// acknowledgement delay (25 ms), or the transport sends an ACK-only
    /// packet of its own first.
    pub fn hold_acks(&mut self, hold: Duration) {
        self.ack_hold = hold;
    }

    /// Where the connection stands.
    pub fn phase(&self) -> ClientPhase {
        self.phase
    }

    /// The welcome, once admitted, with the tick rate and limits of the
    /// newest `SettingsChanged` since.
    pub fn welcome(&self) -> Option<&Welcome> {
        self.welcome.as_ref()
    }

    /// The newest decoded view, sorted by id.
    pub fn view(&self) -> &[EntityState] {
        &self.view
    }

    /// The tick of [`Self::view`].
    pub fn view_tick(&self) -> Option<u32> {
        self.newest_tick
    }

    /// Counters.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// The last decode error, for diagnostics.
    pub fn last_decode_error(&self) -> Option<&DecodeError> {
        self.last_decode_error.as_ref()
    }

    fn send_stream(&mut self, message: &ClientMessage) {
        let mut encoded = Vec::new();
        let mut framed = Vec::new();
        // Client messages built here are within their limits (hello tokens and chat
        // are checked by the caller's encode; a failure drops the message).
        if message.encode(&mut encoded).is_ok() && write_frame(&encoded, &mut framed).is_ok() {
            self.stats.bytes_out += framed.len() as u64;
            self.transmits.push_back(ClientTransmit::Stream(framed));
        }
    }

    fn send_datagram(&mut self, now: Instant, message: &ClientMessage) {
        let mut encoded = Vec::new();
        if message.encode(&mut encoded).is_ok() {
            self.stats.bytes_out += encoded.len() as u64;
            self.last_sent_datagram = now;
            self.transmits.push_back(ClientTransmit::Datagram(encoded));
        }
    }

    /// Sends one movement input; returns its sequence number.
    pub fn send_input(&mut self, now: Instant, intent: MovementIntent) -> Option<u32> {
        if self.phase != ClientPhase::Connected {
            return None;
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.send_datagram(now, &ClientMessage::Input(Input { sequence, intent }));
        self.send_held_ack(now);
        Some(sequence)
    }

    fn send_held_ack(&mut self, now: Instant) {
        if let Some((snapshot_tick, _)) = self.held_ack.take()
            && self.phase == ClientPhase::Connected
        {
            self.send_datagram(now, &ClientMessage::Ack(Ack { snapshot_tick }));
        }
    }

    /// Sends a chat line (dropped if it is empty or too long for the protocol).
    pub fn send_chat(&mut self, chat: ChatSend) {
        if self.phase == ClientPhase::Connected {
            self.send_stream(&ClientMessage::Chat(chat));
        }
    }

    /// Sends a voice request: `VoiceOffer`, `VoiceMute` or `VoiceOff` (other
    /// messages, and one too long for the protocol, are dropped). Answers
    /// arrive through [`Client::poll_voice`].
    pub fn send_voice(&mut self, message: ClientMessage) {
        let voice = matches!(
            message,
            ClientMessage::VoiceOffer(_) | ClientMessage::VoiceMute(_) | ClientMessage::VoiceOff
        );
        if voice && self.phase == ClientPhase::Connected {
            self.send_stream(&message);
        }
    }

    /// The next voice message from the server (`VoiceAnswer`, `VoiceLines`,
    /// `VoiceRefused`), oldest first; at most 256 wait, later ones are dropped.
    pub fn poll_voice(&mut self) -> Option<ServerMessage> {
        self.voice.pop_front()
    }

    /// Asks to change the inventory; the answer arrives as
    /// [`ClientEvent::Inventory`] once the server has committed it.
    pub fn send_inventory(&mut self, change: InventoryChange) {
        if self.phase == ClientPhase::Connected {
            self.send_stream(&ClientMessage::Inventory(change));
        }
    }

    /// Says goodbye and closes.
    pub fn disconnect(&mut self) {
        if self.phase != ClientPhase::Closed {
            self.send_stream(&ClientMessage::Disconnect(Disconnect {
                reason: DisconnectReason::ClientQuit,
            }));
            self.transmits.push_back(ClientTransmit::Close);
            self.phase = ClientPhase::Closed;
        }
    }

    /// Bytes arrived on the stream.
    pub fn handle_stream(&mut self, now: Instant, bytes: &[u8]) {
        self.stats.bytes_in += bytes.len() as u64;
        self.last_heard = now;
        if self.frames.feed(bytes).is_err() {
            self.close(DisconnectReason::ProtocolViolation);
            return;
        }
        let mut messages = Vec::new();
        loop {
            match self.frames.next_frame() {
                Ok(Some(frame)) => messages.push(ServerMessage::decode(frame, Channel::Stream)),
                Ok(None) => break,
                Err(error) => {
                    messages.push(Err(error));
                    break;
                }
            }
        }
        for message in messages {
            match message {
                Ok(ServerMessage::Welcome(welcome)) if self.phase == ClientPhase::Connecting => {
                    self.phase = ClientPhase::Connected;
                    self.welcome = Some(welcome.clone());
                    self.events.push_back(ClientEvent::Welcomed(welcome));
                }
                Ok(ServerMessage::Refusal(refusal)) => {
                    self.phase = ClientPhase::Closed;
                    self.events.push_back(ClientEvent::Refused(refusal));
                }
                Ok(ServerMessage::Chat(relay)) => self.events.push_back(ClientEvent::Chat(relay)),
                Ok(ServerMessage::Presence(presence)) => {
                    self.events.push_back(ClientEvent::Presence(presence));
                }
                Ok(ServerMessage::Inventory(result)) => {
                    self.events.push_back(ClientEvent::Inventory(result));
                }
                Ok(ServerMessage::SettingsChanged(changed))
                    if self.phase == ClientPhase::Connected =>
                {
                    if let Some(welcome) = &mut self.welcome {
                        welcome.tick_rate_hz = changed.tick_rate_hz;
                        welcome.limits = changed.limits;
                    }
                    self.events.push_back(ClientEvent::SettingsChanged(changed));
                }
                Ok(
                    message @ (ServerMessage::VoiceAnswer(_)
                    | ServerMessage::VoiceLines(_)
                    | ServerMessage::VoiceRefused(_)),
                ) if self.phase == ClientPhase::Connected => {
                    // Kept apart from the events (read with `poll_voice`), so
                    // that drivers without voice need not handle them.
                    if self.voice.len() < MAX_PENDING_VOICE {
                        self.voice.push_back(message);
                    }
                }
                Ok(ServerMessage::Disconnect(Disconnect { reason })) => {
                    if self.phase != ClientPhase::Closed {
                        self.phase = ClientPhase::Closed;
                        self.events.push_back(ClientEvent::Disconnected(reason));
                    }
                }
                Ok(_) | Err(_) => {
                    self.close(DisconnectReason::ProtocolViolation);
                    return;
                }
            }
        }
    }

    /// A datagram arrived.
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8]) {
        self.stats.bytes_in += bytes.len() as u64;
        if self.phase != ClientPhase::Connected {
            return;
        }
        self.last_heard = now;
        let snapshot = match ServerMessage::decode(bytes, Channel::Datagram) {
            Ok(ServerMessage::Snapshot(snapshot)) => snapshot,
            Ok(_) => return,
            Err(error) => {
                self.stats.decode_errors += 1;
                self.last_decode_error = Some(error);
                return;
            }
        };
        if self
            .newest_tick
            .is_some_and(|newest| snapshot.tick <= newest)
        {
            self.stats.stale_snapshots += 1;
            return;
        }
        let baseline = match snapshot.baseline_tick {
            None => None,
            Some(tick) => match self.ring.get(tick) {
                Some(view) => Some(view.to_vec()),
                None => {
                    self.stats.decode_errors += 1;
                    self.last_decode_error = Some(DecodeError::MissingBaseline { tick });
                    return;
                }
            },
        };
        let slot = self.ring.slot(snapshot.tick);
        match decode_body(baseline.as_deref(), &snapshot.body, slot) {
            Ok(_) => {
                self.view.clone_from(slot);
                self.newest_tick = Some(snapshot.tick);
                self.stats.snapshots += 1;
                self.events.push_back(ClientEvent::Snapshot {
                    tick: snapshot.tick,
                    bytes: bytes.len(),
                    last_input_sequence: snapshot.last_input_sequence,
                });
                if self.ack_hold.is_zero() {
                    self.send_datagram(
                        now,
                        &ClientMessage::Ack(Ack {
                            snapshot_tick: snapshot.tick,
                        }),
                    );
                } else {
                    // A newer snapshot's Ack replaces an older one still held.
                    let due = self
                        .held_ack
                        .map_or(now + self.ack_hold, |(_, due)| due.min(now + self.ack_hold));
                    self.held_ack = Some((snapshot.tick, due));
                }
            }
            Err(error) => {
                slot.clear();
                self.stats.decode_errors += 1;
                self.last_decode_error = Some(error);
            }
        }
    }

    /// Heartbeat and idle timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == ClientPhase::Closed {
            return;
        }
        if now.saturating_duration_since(self.last_heard) >= self.idle_timeout {
            self.close(DisconnectReason::IdleTimeout);
            return;
        }
        if self.held_ack.is_some_and(|(_, due)| due <= now) {
            self.send_held_ack(now);
        }
        if self.phase == ClientPhase::Connected
            && now.saturating_duration_since(self.last_sent_datagram) >= self.heartbeat_interval
        {
            let snapshot_tick = self.newest_tick.unwrap_or(0);
            self.send_datagram(now, &ClientMessage::Ack(Ack { snapshot_tick }));
        }
    }

    /// When [`Self::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.phase != ClientPhase::Closed).then(|| {
            let own = (self.last_heard + self.idle_timeout)
                .min(self.last_sent_datagram + self.heartbeat_interval);
            self.held_ack.map_or(own, |(_, due)| due.min(own))
        })
    }

    fn close(&mut self, reason: DisconnectReason) {
        if self.phase != ClientPhase::Closed {
            self.phase = ClientPhase::Closed;
            self.transmits.push_back(ClientTransmit::Close);
            self.events.push_back(ClientEvent::Disconnected(reason));
        }
    }

    /// The next thing for the caller.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// The next thing to send.
    pub fn poll_transmit(&mut self) -> Option<ClientTransmit> {
        self.transmits.pop_front()
    }
}
