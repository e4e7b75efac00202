//! The server's connection state machine, sans IO.
//!
//! A driver reports what the transport did (`handle_connected`, `handle_stream`,
//! `handle_datagram`, `handle_closed`) and the time (`handle_timeout`), then drains
//! what to send (`poll_transmit`) and what happened (`poll_event`). The game side
//! answers a [`ServerEvent::Joined`] with [`Server::admit`] or [`Server::refuse`],
//! and sends each tick's snapshots with [`Server::send_snapshot`].
//!
//! A connection's life: its hello must arrive on the stream within the hello
//! timeout, name our protocol version and carry a token that
//! [`TokenAuthority::verify`] accepts; then it is admitted (welcome) or refused
//! (refusal, then close). It ends by the client's disconnect, by silence longer
//! than the idle timeout, by persistent bad input (too many strikes), or by the
//! transport. Every ending is counted by reason.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use meridian_protocol::NetworkId;
use meridian_protocol::framing::{FrameDecoder, write_frame};
use meridian_protocol::messages::{
    Channel, ChatRelay, ChatSend, ClientMessage, Disconnect, DisconnectReason, Input,
    InventoryChange, InventoryResult, InventoryStatus, ServerMessage,
};
use meridian_protocol::snapshot::EntityState;

use crate::config::{NetcodeConfig, NetcodeConfigError};
use crate::metrics::NetcodeMetrics;
use crate::small_keys::SmallKeyMap;
use crate::snapshot::{ClientReplication, EncodeReport, MAX_BODY_BYTES, SharedEncodings};
use crate::token::{RealtimeClaims, TokenAuthority};
use crate::used_tokens::UsedTokens;

mod events;
mod hello;
mod voice;

pub use events::ConnectionEvents;
pub use hello::Redirect;
pub use voice::VoiceRequest;

/// A transport connection, named by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// What happened, for the game side.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// A hello passed every check; answer with [`Server::admit`] or
    /// [`Server::refuse`].
    Joined {
        /// Who.
        connection: ConnectionId,
        /// What their token says.
        claims: RealtimeClaims,
    },
    /// A movement input from an admitted client.
    Input {
        /// From whom.
        connection: ConnectionId,
        /// The input.
        input: Input,
    },
    /// A chat line from an admitted client (already rate limited).
    Chat {
        /// From whom.
        connection: ConnectionId,
        /// The line.
        chat: ChatSend,
    },
    /// An inventory change from an admitted client (rate limited with chat).
    Inventory {
        /// From whom.
        connection: ConnectionId,
        /// What to change.
        change: InventoryChange,
    },
    /// A voice request from an admitted client (offers and mutes are rate
    /// limited with chat; turning voice off is not). Answer an offer with
    /// [`Server::send_voice_answer`] or [`Server::send_voice_refused`].
    Voice {
        /// From whom.
        connection: ConnectionId,
        /// What it asks.
        request: VoiceRequest,
    },
    /// An admitted client is gone.
    Left {
        /// Who.
        connection: ConnectionId,
        /// Why.
        reason: DisconnectReason,
    },
}

/// What a driver must do for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Send one unreliable datagram (never more than one datagram's payload).
    Datagram(Vec<u8>),
    /// Append these (already framed) bytes to the reliable stream.
    Stream(Vec<u8>),
    /// Finish the stream and close the connection (after what is queued).
    Close(DisconnectReason),
}

/// One thing to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// To whom.
    pub connection: ConnectionId,
    /// What.
    pub payload: Payload,
}

/// Why a call about a connection could not be carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// No such connection, or it has closed.
    #[error("unknown or closed connection")]
    Unknown,
    /// The connection is not in the state the call needs (admitting twice,
    /// snapshots before admission).
    #[error("connection is in the wrong state for this call")]
    WrongState,
    /// A snapshot no newer than the last one sent to this connection (a
    /// client handed between zones whose ticks differ by one): skipped, since
    /// the client would drop it and a tick must name one snapshot only.
    #[error("a snapshot for tick {tick} is no newer than the last one sent")]
    StaleTick {
        /// The tick refused.
        tick: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingHello,
    /// The hello passed; the game side has not answered yet.
    Verified,
    Admitted,
}

#[derive(Debug)]
struct Connection {
    phase: Phase,
    opened: Instant,
    last_heard: Instant,
    frames: FrameDecoder,
    replication: ClientReplication,
    /// The tick of the last snapshot sent.
    last_tick: Option<u32>,
    datagram_credits: f64,
    chat_credits: f64,
    /// Bad input and dropped floods; one is forgiven per second.
    strikes: f64,
    last_refill: Instant,
}

/// The server side of every connection in one zone (or gateway).
#[derive(Debug)]
pub struct Server {
    config: NetcodeConfig,
    authority: TokenAuthority,
    space: u32,
    /// A pair of clocks read at the same moment, to turn `now` into Unix seconds
    /// for token expiry without reading the wall clock here.
    anchor: (Instant, u64),
    connections: SmallKeyMap<ConnectionId, Connection>,
    /// Ids of realtime tokens already presented (each is admitted once).
    used_tokens: UsedTokens,
    /// Of those, the ones past their hello (what `max_clients` counts).
    verified: usize,
    /// The gateway whose tokens this server admits (0: a server of one).
    gateway: u32,
    /// Other spaces (instances) served behind the same transport: a hello
    /// whose token names one of them is handed over, not refused.
    elsewhere: HashSet<u32>,
    redirects: VecDeque<Redirect>,
    events: VecDeque<ServerEvent>,
    transmits: VecDeque<Transmit>,
    shared: SharedEncodings,
    metrics: NetcodeMetrics,
    scratch: Vec<u8>,
}

impl Server {
    /// A server for `space`, verifying hellos with `authority`. `anchor_unix` is
    /// the Unix time in seconds at the instant `anchor`.
    pub fn new(
        config: NetcodeConfig,
        authority: TokenAuthority,
        space: u32,
        anchor: Instant,
        anchor_unix: u64,
    ) -> Result<Self, NetcodeConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            authority,
            space,
            anchor: (anchor, anchor_unix),
            connections: SmallKeyMap::default(),
            used_tokens: UsedTokens::default(),
            verified: 0,
            gateway: 0,
            elsewhere: HashSet::new(),
            redirects: VecDeque::new(),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            shared: SharedEncodings::default(),
            metrics: NetcodeMetrics::default(),
            scratch: Vec::new(),
        })
    }

    /// Admits only tokens minted for the gateway of shard `gateway` (each
    /// gateway remembers its own spent tokens, so a token must not be good
    /// at two).
    pub fn set_gateway(&mut self, gateway: u32) {
        self.gateway = gateway;
    }

    /// The configuration.
    pub fn config(&self) -> &NetcodeConfig {
        &self.config
    }

    /// Snapshot bytes per client per second from the next snapshot on
    /// ([`NetcodeConfig::snapshot_bytes_per_second`]), checked as in a
    /// settings file; on an error nothing changes.
    pub fn set_snapshot_bytes_per_second(&mut self, bytes: u32) -> Result<(), NetcodeConfigError> {
        let changed = NetcodeConfig {
            snapshot_bytes_per_second: bytes,
            ..self.config.clone()
        };
        changed.validate()?;
        self.config = changed;
        Ok(())
    }

    /// Counters since start.
    pub fn metrics(&self) -> &NetcodeMetrics {
        &self.metrics
    }

    /// Connections open now (admitted or not).
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// The connections it holds (awaiting a hello, verified or admitted).
    pub fn connection_ids(&self) -> impl Iterator<Item = ConnectionId> + '_ {
        self.connections.keys().copied()
    }

    /// Connections whose hello passed (admitted, or waiting for the game
    /// side's answer): the ones [`NetcodeConfig::max_clients`] counts.
    pub fn verified_count(&self) -> usize {
        self.verified
    }

    /// Whether `connection` is open and has not sent a verified hello yet.
    pub fn awaiting_hello(&self, connection: ConnectionId) -> bool {
        self.connections
            .get(&connection)
            .is_some_and(|state| state.phase == Phase::AwaitingHello)
    }

    fn unix_seconds(&self, now: Instant) -> u64 {
        let (instant, unix) = self.anchor;
        unix + now.saturating_duration_since(instant).as_secs()
    }

    /// The transport accepted a connection.
    pub fn handle_connected(&mut self, now: Instant, connection: ConnectionId) {
        self.metrics.connections_opened += 1;
        // Ids are never reused; if one were, the old connection is forgotten.
        self.remove(connection);
        self.connections.insert(
            connection,
            Connection {
                phase: Phase::AwaitingHello,
                opened: now,
                last_heard: now,
                frames: FrameDecoder::new(),
                replication: ClientReplication::default(),
                last_tick: None,
                datagram_credits: f64::from(self.config.datagrams_per_second),
                chat_credits: f64::from(self.config.chat_lines_per_10s),
                strikes: 0.0,
                last_refill: now,
            },
        );
    }

    /// The transport lost the connection (no goodbye, or after ours).
    pub fn handle_closed(&mut self, _now: Instant, connection: ConnectionId) {
        if let Some(closed) = self.remove(connection) {
            self.metrics.transport_losses += 1;
            if closed.phase == Phase::Admitted {
                self.metrics.clients_connected -= 1;
                self.events.push_back(ServerEvent::Left {
                    connection,
                    reason: DisconnectReason::IdleTimeout,
                });
            }
        }
    }

    /// Bytes arrived on the connection's reliable stream.
    pub fn handle_stream(&mut self, now: Instant, connection: ConnectionId, bytes: &[u8]) {
        self.metrics.bytes_in += bytes.len() as u64;
        let Some(state) = self.connections.get_mut(&connection) else {
            return;
        };
        state.last_heard = now;
        if state.frames.feed(bytes).is_err() {
            self.metrics.malformed_stream_messages += 1;
            self.close(connection, DisconnectReason::ProtocolViolation);
            return;
        }
        let mut messages = Vec::new();
        loop {
            let Some(state) = self.connections.get_mut(&connection) else {
                return;
            };
            match state.frames.next_frame() {
                Ok(Some(frame)) => messages.push(ClientMessage::decode(frame, Channel::Stream)),
                Ok(None) => break,
                Err(_) => {
                    messages.push(Err(meridian_protocol::DecodeError::BadVarint));
                    break;
                }
            }
        }
        for message in messages {
            match message {
                Ok(message) => self.on_stream_message(now, connection, message),
                Err(_) => {
                    // A broken stream cannot be resynchronised: close at once.
                    self.metrics.malformed_stream_messages += 1;
                    self.close(connection, DisconnectReason::ProtocolViolation);
                }
            }
            if !self.connections.contains_key(&connection) {
                return;
            }
        }
    }

    fn on_stream_message(
        &mut self,
        now: Instant,
        connection: ConnectionId,
        message: ClientMessage,
    ) {
        let Some(state) = self.connections.get_mut(&connection) else {
            return;
        };
        match (state.phase, message) {
            (Phase::AwaitingHello, ClientMessage::Hello(hello)) => {
                self.on_hello(now, connection, &hello);
            }
            (Phase::Admitted, ClientMessage::Chat(chat)) => {
                self.requested(now, connection, ServerEvent::Chat { connection, chat });
            }
            (Phase::Admitted, ClientMessage::Inventory(change)) => {
                self.requested(
                    now,
                    connection,
                    ServerEvent::Inventory { connection, change },
                );
            }
            (Phase::Admitted, ClientMessage::VoiceOffer(offer)) => {
                self.on_voice(now, connection, VoiceRequest::Offer(offer.sdp));
            }
            (Phase::Admitted, ClientMessage::VoiceMute(mute)) => {
                self.on_voice(now, connection, VoiceRequest::Mute(mute.muted));
            }
            (Phase::Admitted, ClientMessage::VoiceOff) => {
                self.on_voice(now, connection, VoiceRequest::Off);
            }
            (_, ClientMessage::Disconnect(_)) => {
                self.close(connection, DisconnectReason::ClientQuit);
            }
            _ => {
                // A second hello, or chat before admission: out of order.
                self.metrics.malformed_stream_messages += 1;
                self.close(connection, DisconnectReason::ProtocolViolation);
            }
        }
    }

    /// A chat line or inventory change: both draw on the chat bucket, and a
    /// client past it earns a strike instead of an event. A chat line past it
    /// is dropped; an inventory change is answered `Busy`, so that every
    /// change still gets exactly one result.
    fn requested(&mut self, now: Instant, connection: ConnectionId, event: ServerEvent) {
        let Some(state) = self.connections.get_mut(&connection) else {
            return;
        };
        refill(&self.config, state, now);
        if state.chat_credits >= 1.0 {
            state.chat_credits -= 1.0;
            self.events.push_back(event);
            return;
        }
        self.metrics.chat_rate_limited += 1;
        if let ServerEvent::Inventory { change, .. } = event {
            let busy = InventoryResult {
                request: change.request,
                item: change.item,
                quantity: 0,
                status: InventoryStatus::Busy,
            };
            self.send_stream(connection, &ServerMessage::Inventory(busy));
        }
        self.strike(connection, DisconnectReason::RateLimited);
    }

    /// A datagram arrived on the connection.
    pub fn handle_datagram(&mut self, now: Instant, connection: ConnectionId, bytes: &[u8]) {
        self.metrics.bytes_in += bytes.len() as u64;
        let Some(state) = self.connections.get_mut(&connection) else {
            return;
        };
        refill(&self.config, state, now);
        if state.datagram_credits < 1.0 {
            self.metrics.datagrams_rate_limited += 1;
            self.strike(connection, DisconnectReason::RateLimited);
            return;
        }
        state.datagram_credits -= 1.0;
        if state.phase != Phase::Admitted {
            // Datagrams before the welcome are not an error (they may race it);
            // they are dropped.
            return;
        }
        state.last_heard = now;
        match ClientMessage::decode(bytes, Channel::Datagram) {
            Ok(ClientMessage::Input(input)) => {
                self.events
                    .push_back(ServerEvent::Input { connection, input });
            }
            Ok(ClientMessage::Ack(ack)) => {
                if !state.replication.acknowledge(ack.snapshot_tick) {
                    self.metrics.bad_acks += 1;
                }
            }
            Ok(_) | Err(_) => {
                self.metrics.malformed_datagrams += 1;
                self.strike(connection, DisconnectReason::ProtocolViolation);
            }
        }
    }

    /// Closes connections whose hello or heartbeat is overdue.
    pub fn handle_timeout(&mut self, now: Instant) {
        let hello_timeout = self.config.hello_timeout();
        let idle_timeout = self.config.idle_timeout();
        let overdue: Vec<ConnectionId> = self
            .connections
            .iter()
            .filter(|(_, state)| {
                (state.phase == Phase::AwaitingHello
                    && now.saturating_duration_since(state.opened) >= hello_timeout)
                    || now.saturating_duration_since(state.last_heard) >= idle_timeout
            })
            .map(|(id, _)| *id)
            .collect();
        for connection in overdue {
            self.close(connection, DisconnectReason::IdleTimeout);
        }
    }

    /// The next instant at which [`Self::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.connections
            .values()
            .map(|state| {
                let idle = state.last_heard + self.config.idle_timeout();
                if state.phase == Phase::AwaitingHello {
                    idle.min(state.opened + self.config.hello_timeout())
                } else {
                    idle
                }
            })
            .min()
    }

    /// The next thing for the game side.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// The next thing to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Ends a connection: tells the client why, closes, and reports it left.
    pub fn disconnect(&mut self, connection: ConnectionId, reason: DisconnectReason) {
        self.close(connection, reason);
    }

    /// Forgets a connection, keeping the count of verified ones.
    fn remove(&mut self, connection: ConnectionId) -> Option<Connection> {
        let removed = self.connections.remove(&connection)?;
        if removed.phase != Phase::AwaitingHello {
            self.verified -= 1;
        }
        Some(removed)
    }

    fn close(&mut self, connection: ConnectionId, reason: DisconnectReason) {
        let Some(state) = self.remove(connection) else {
            return;
        };
        self.metrics.count_disconnect(reason);
        if state.phase == Phase::Admitted {
            self.metrics.clients_connected -= 1;
            self.events
                .push_back(ServerEvent::Left { connection, reason });
        }
        self.send_stream(
            connection,
            &ServerMessage::Disconnect(Disconnect { reason }),
        );
        self.transmits.push_back(Transmit {
            connection,
            payload: Payload::Close(reason),
        });
    }

    /// One strike against a connection; too many in too short a time disconnect.
    fn strike(&mut self, connection: ConnectionId, reason: DisconnectReason) {
        let limit = f64::from(self.config.strikes_before_disconnect);
        if let Some(state) = self.connections.get_mut(&connection) {
            state.strikes += 1.0;
            if state.strikes > limit {
                self.close(connection, reason);
            }
        }
    }

    /// Sends a chat line to an admitted connection.
    pub fn send_chat(
        &mut self,
        connection: ConnectionId,
        relay: ChatRelay,
    ) -> Result<(), ConnectionError> {
        self.send_admitted(connection, &ServerMessage::Chat(relay))
    }

    /// Sends a stream message (chat, inventory result, presence) to an admitted
    /// connection.
    pub fn send_admitted(
        &mut self,
        connection: ConnectionId,
        message: &ServerMessage,
    ) -> Result<(), ConnectionError> {
        match self.connections.get(&connection).map(|state| state.phase) {
            Some(Phase::Admitted) => {
                self.send_stream(connection, message);
                Ok(())
            }
            Some(_) => Err(ConnectionError::WrongState),
            None => Err(ConnectionError::Unknown),
        }
    }

    fn send_stream(&mut self, connection: ConnectionId, message: &ServerMessage) {
        self.scratch.clear();
        let mut framed = Vec::new();
        // Server messages are built here within their limits (details truncated,
        // chat checked on the way in), so encoding them cannot fail.
        if message.encode(&mut self.scratch).is_ok()
            && write_frame(&self.scratch, &mut framed).is_ok()
        {
            self.metrics.bytes_out += framed.len() as u64;
            self.transmits.push_back(Transmit {
                connection,
                payload: Payload::Stream(framed),
            });
        }
    }

    /// Starts a batch of snapshots: `states` is every entity's state this tick
    /// in one zone. A process hosting several zones calls it once per zone,
    /// before that zone's clients' snapshots.
    pub fn begin_snapshots(&mut self, tick: u32, states: &[EntityState]) {
        self.shared.begin_batch(tick, states.len());
    }

    /// Encodes and queues one admitted client's snapshot for `tick` (after
    /// [`Self::begin_snapshots`] for that tick).
    #[expect(
        clippy::too_many_arguments,
        reason = "one call per client per tick; the arguments are the view"
    )]
    pub fn send_snapshot(
        &mut self,
        connection: ConnectionId,
        tick: u32,
        tick_rate_hz: u32,
        visible: &[NetworkId],
        states: &[EntityState],
        viewer: Option<[f32; 2]>,
        last_input_sequence: u32,
    ) -> Result<EncodeReport, ConnectionError> {
        let state = self
            .connections
            .get_mut(&connection)
            .ok_or(ConnectionError::Unknown)?;
        if state.phase != Phase::Admitted {
            return Err(ConnectionError::WrongState);
        }
        if state.last_tick.is_some_and(|last| tick <= last) {
            self.metrics.stale_snapshots_skipped += 1;
            return Err(ConnectionError::StaleTick { tick });
        }
        state.last_tick = Some(tick);
        let budget = self
            .config
            .snapshot_bytes_per_tick(tick_rate_hz)
            .min(MAX_BODY_BYTES);
        let mut out = Vec::new();
        let report = state
            .replication
            .encode(
                tick,
                visible,
                states,
                &mut self.shared,
                viewer,
                budget,
                last_input_sequence,
                &mut out,
            )
            // Views are at most MAX_VISIBLE_ENTITIES and sorted by construction.
            .map_err(|_| ConnectionError::WrongState)?;
        self.metrics.snapshots_sent += 1;
        self.metrics.keyframes_sent += u64::from(report.keyframe);
        self.metrics.changes_sent += report.sent as u64;
        self.metrics.changes_deferred_by_budget += report.deferred as u64;
        self.metrics.bytes_out += out.len() as u64;
        self.transmits.push_back(Transmit {
            connection,
            payload: Payload::Datagram(out),
        });
        Ok(report)
    }

    /// Records that the driver dropped a datagram for `connection` (its queue
    /// was full): the client simply misses that snapshot.
    pub fn datagram_dropped(&mut self, _connection: ConnectionId) {
        self.metrics.datagrams_dropped += 1;
    }
}

fn refill(config: &NetcodeConfig, state: &mut Connection, now: Instant) {
    let elapsed = now
        .saturating_duration_since(state.last_refill)
        .min(Duration::from_secs(10))
        .as_secs_f64();
    state.last_refill = now;
    let rate = f64::from(config.datagrams_per_second);
    state.datagram_credits = (state.datagram_credits + elapsed * rate).min(rate);
    let chat = f64::from(config.chat_lines_per_10s);
    state.chat_credits = (state.chat_credits + elapsed * chat / 10.0).min(chat);
    state.strikes = (state.strikes - elapsed).max(0.0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::REALTIME_SCOPE;
    use meridian_protocol::PROTOCOL_VERSION;
    use meridian_protocol::messages::RefusalReason;

    const SPACE: u32 = 1;
    const START_UNIX: u64 = 1_800_000_000;

    fn hello(authority: &TokenAuthority, account: u64) -> Vec<u8> {
        hello_at(authority, account, 0)
    }

    fn hello_at(authority: &TokenAuthority, account: u64, gateway: u32) -> Vec<u8> {
        let token = authority.mint(&RealtimeClaims {
            sub: account,
            name: format!("player{account}"),
            space: SPACE,
            exp: START_UNIX + 60,
            scope: REALTIME_SCOPE.into(),
            jti: crate::token::random_token_id(),
            gateway,
        });
        let message = ClientMessage::Hello(meridian_protocol::messages::Hello {
            protocol_version: PROTOCOL_VERSION,
            auth_token: token,
        });
        let mut framed = Vec::new();
        write_frame(&message.to_bytes().expect("encodes"), &mut framed).expect("frames");
        framed
    }

    #[test]
    fn a_token_is_admitted_only_by_the_gateway_it_was_minted_for() {
        let authority = TokenAuthority::new(b"a test key that is long enough!!");
        let now = Instant::now();
        let mut shard_two = Server::new(
            NetcodeConfig::default(),
            authority.clone(),
            SPACE,
            now,
            START_UNIX,
        )
        .expect("valid");
        shard_two.set_gateway(2);
        // Minted by shard 1's join: shard 2 has not seen it spent, but refuses it.
        shard_two.handle_connected(now, ConnectionId(1));
        shard_two.handle_stream(now, ConnectionId(1), &hello_at(&authority, 7, 1));
        // Minted by shard 2's own join: admitted.
        shard_two.handle_connected(now, ConnectionId(2));
        shard_two.handle_stream(now, ConnectionId(2), &hello_at(&authority, 8, 2));
        let events: Vec<ServerEvent> = std::iter::from_fn(|| shard_two.poll_event()).collect();
        let joined: Vec<ConnectionId> = events
            .iter()
            .filter_map(|event| match event {
                ServerEvent::Joined { connection, .. } => Some(*connection),
                _ => None,
            })
            .collect();
        assert_eq!(joined, [ConnectionId(2)], "{events:?}");
        assert_eq!(shard_two.metrics().refusals_for(RefusalReason::BadToken), 1);
        let closed: Vec<ConnectionId> = std::iter::from_fn(|| shard_two.poll_transmit())
            .filter(|transmit| matches!(transmit.payload, Payload::Close(_)))
            .map(|transmit| transmit.connection)
            .collect();
        assert_eq!(
            closed,
            [ConnectionId(1)],
            "the other gateway's token is refused"
        );
    }

    #[test]
    fn only_verified_clients_count_toward_max_clients() {
        let authority = TokenAuthority::new(b"a test key that is long enough!!");
        let config = NetcodeConfig {
            max_clients: 2,
            ..NetcodeConfig::default()
        };
        let now = Instant::now();
        let mut server =
            Server::new(config, authority.clone(), SPACE, now, START_UNIX).expect("valid");
        for silent in 1..=6 {
            server.handle_connected(now, ConnectionId(silent));
        }
        for (player, connection) in [(1, 7), (2, 8), (3, 9)] {
            server.handle_connected(now, ConnectionId(connection));
            server.handle_stream(now, ConnectionId(connection), &hello(&authority, player));
        }
        let joined: Vec<ConnectionId> = std::iter::from_fn(|| server.poll_event())
            .filter_map(|event| match event {
                ServerEvent::Joined { connection, .. } => Some(connection),
                _ => None,
            })
            .collect();
        assert_eq!(
            joined,
            [ConnectionId(7), ConnectionId(8)],
            "six silent ones hold no slot"
        );
        assert_eq!(server.metrics().refusals_for(RefusalReason::ServerFull), 1);
        assert_eq!(server.verified_count(), 2);
        assert!(server.awaiting_hello(ConnectionId(1)));
        assert!(!server.awaiting_hello(ConnectionId(7)));
        // A verified one leaving frees its slot.
        server.handle_closed(now, ConnectionId(7));
        assert_eq!(server.verified_count(), 1);
    }
}
