//! One connection of the event loop: quinn-proto's state machine, the one
//! bidirectional stream the client opens, the stream bytes flow control has
//! not taken yet, and the loop's own deadlines (the stream must open in time;
//! a goodbye gets a grace period to arrive before the connection closes).
//!
//! With ALPN `h3` (browsers) the same connection also runs a WebTransport
//! [`Session`]: the game's stream is the session's first bidirectional
//! stream after its prefix, and datagrams carry the session's prefix; the
//! zone sees the same events for either ALPN.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use quinn_proto::{Dir, Event, StreamEvent, StreamId, VarInt};

use super::exchange::LoopEvent;
use super::webtransport::{self, H3Error, Received, Session};
use crate::driver::admission::AdmissionTicket;
use crate::driver::server::WEBTRANSPORT_PATH;
use crate::driver::tls::{ALPN_H3, ALPN_MERIDIAN};
use crate::metrics::disconnect_label;
use crate::server::{ConnectionId, Payload};

/// How long a new connection may take to finish its handshake and open its
/// stream (as the task driver).
pub const STREAM_OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a goodbye may take to reach the client before the server closes.
pub const GOODBYE_GRACE: Duration = Duration::from_secs(1);

/// Stream bytes waiting for flow control before the client is closed as too
/// slow to read (counted).
pub const MAX_UNSENT_STREAM: usize = 256 * 1024;

/// Largest stream chunk read at once.
const READ_CHUNK: usize = 16 * 1024;

/// QUIC close codes, as the task driver sends them.
mod close_code {
    pub(super) const CLOSED: u32 = 0;
    pub(super) const REFUSED: u32 = 1;
    pub(super) const GOODBYE: u32 = 10;
    pub(super) const TOO_SLOW: u32 = 11;
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Handshaking or waiting for the client's stream, until the deadline.
    Opening { deadline: Instant },
    /// The stream is open and the zone knows the connection.
    Open { stream: StreamId },
    /// A WebTransport request was answered 404; closed at the deadline.
    Refused { deadline: Instant },
    /// The goodbye is queued; closed at the deadline or when the client closes.
    Leaving {
        stream: StreamId,
        deadline: Instant,
        code: u32,
        reason: &'static str,
    },
    /// Closed (by either side); waiting for quinn to drain.
    Closed,
}

/// What happened to a connection in one call, for the loop's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The handshake or the stream opening failed.
    pub handshake_failed: bool,
    /// Datagrams quinn refused to queue.
    pub datagram_send_failures: u64,
    /// The client was closed because it did not read its stream.
    pub too_slow: bool,
    /// The connection was closed for breaking HTTP/3 or WebTransport.
    pub http3_error: bool,
    /// WebTransport datagrams dropped: before the session, or for another.
    pub http3_datagrams_dropped: u64,
}

/// One connection's state in the loop.
#[derive(Debug)]
pub struct LoopConnection {
    id: ConnectionId,
    quic: quinn_proto::Connection,
    phase: Phase,
    /// Stream bytes flow control has not taken yet.
    unsent: Vec<u8>,
    /// Whether the zone heard [`LoopEvent::Opened`] (so it must hear `Closed`).
    announced: bool,
    /// The HTTP/3 side of a browser's connection (ALPN `h3`).
    web: Option<Session>,
    /// Held while the connection lives; counts it pending until its hello is
    /// verified.
    _ticket: AdmissionTicket,
}

impl LoopConnection {
    /// A connection just accepted at `now`.
    pub fn new(
        id: ConnectionId,
        quic: quinn_proto::Connection,
        ticket: AdmissionTicket,
        now: Instant,
    ) -> Self {
        Self {
            id,
            quic,
            phase: Phase::Opening {
                deadline: now + STREAM_OPEN_TIMEOUT,
            },
            unsent: Vec::new(),
            announced: false,
            web: None,
            _ticket: ticket,
        }
    }

    /// Its id towards the zone.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// quinn's state machine, for the loop's datagram and endpoint plumbing.
    pub fn quic(&mut self) -> &mut quinn_proto::Connection {
        &mut self.quic
    }

    /// The peer's address.
    pub fn remote(&self) -> SocketAddr {
        self.quic.remote_address()
    }

    /// The earliest of quinn's deadline and the loop's own.
    pub fn deadline(&mut self) -> Option<Instant> {
        let own = match self.phase {
            Phase::Opening { deadline }
            | Phase::Refused { deadline }
            | Phase::Leaving { deadline, .. } => Some(deadline),
            Phase::Open { .. } | Phase::Closed => None,
        };
        match (self.quic.poll_timeout(), own) {
            (Some(quic), Some(own)) => Some(quic.min(own)),
            (quic, own) => quic.or(own),
        }
    }

    /// Whether quinn is done with it (it can be forgotten).
    pub fn is_drained(&self) -> bool {
        self.quic.is_drained()
    }

    /// Runs the deadlines due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Outcome {
        let mut outcome = Outcome::default();
        match self.phase {
            Phase::Opening { deadline } if now >= deadline => {
                self.close(now, close_code::REFUSED, "no stream opened");
                outcome.handshake_failed = true;
            }
            Phase::Refused { deadline } if now >= deadline => {
                self.close(now, close_code::REFUSED, "not found");
            }
            Phase::Leaving {
                deadline,
                code,
                reason,
                ..
            } if now >= deadline => self.close(now, code, reason),
            _ => {}
        }
        if self.quic.poll_timeout().is_some_and(|due| due <= now) {
            self.quic.handle_timeout(now);
        }
        outcome
    }

    /// Applies one payload from the zone.
    pub fn deliver(&mut self, now: Instant, payload: Payload) -> Outcome {
        let mut outcome = Outcome::default();
        let stream = match self.phase {
            Phase::Open { stream } => stream,
            // Nothing more goes out after a goodbye or before the stream.
            Phase::Opening { .. }
            | Phase::Refused { .. }
            | Phase::Leaving { .. }
            | Phase::Closed => {
                return outcome;
            }
        };
        match payload {
            Payload::Datagram(bytes) => {
                let datagram = match &self.web {
                    None => Bytes::from(bytes),
                    Some(session) => {
                        let mut framed = Vec::with_capacity(bytes.len() + 8);
                        session.write_datagram_prefix(&mut framed);
                        framed.extend_from_slice(&bytes);
                        Bytes::from(framed)
                    }
                };
                if self.quic.datagrams().send(datagram, false).is_err() {
                    outcome.datagram_send_failures += 1;
                }
            }
            Payload::Stream(bytes) => {
                self.unsent.extend_from_slice(&bytes);
                self.flush_stream(stream);
                if self.unsent.len() > MAX_UNSENT_STREAM {
                    self.unsent.clear();
                    self.close(now, close_code::TOO_SLOW, "stream not read");
                    outcome.too_slow = true;
                }
            }
            Payload::Close(reason) => {
                self.flush_stream(stream);
                // Finishing twice or after a reset is refused; either way the
                // connection closes at the deadline.
                let _ = self.quic.send_stream(stream).finish();
                self.phase = Phase::Leaving {
                    stream,
                    deadline: now + GOODBYE_GRACE,
                    code: close_code::GOODBYE,
                    reason: disconnect_label(reason),
                };
            }
        }
        outcome
    }

    /// Handles what quinn reports after input, appending the zone's events.
    pub fn process(&mut self, now: Instant, events: &mut Vec<LoopEvent>) -> Outcome {
        let mut outcome = Outcome::default();
        while let Some(event) = self.quic.poll() {
            match event {
                Event::HandshakeDataReady => match self.alpn().as_deref() {
                    Some(ALPN_MERIDIAN) => {}
                    Some(ALPN_H3) => {
                        self.web = Some(Session::new(WEBTRANSPORT_PATH.as_bytes()));
                    }
                    _ => {
                        // rustls refuses ALPNs we do not offer; this client sent none.
                        self.close(now, close_code::REFUSED, "no application protocol");
                        outcome.handshake_failed = true;
                    }
                },
                Event::Connected => {
                    if self.web.is_some() {
                        self.open_http3_streams(now, &mut outcome);
                    }
                }
                Event::DatagramsUnblocked => {}
                Event::Stream(StreamEvent::Opened { dir }) if self.web.is_some() => {
                    while let Some(stream) = self.quic.streams().accept(dir) {
                        self.read_http3_stream(now, stream, events, &mut outcome);
                    }
                }
                Event::Stream(StreamEvent::Opened { dir: Dir::Bi }) => {
                    // quinn reports a new stream's first bytes with `Opened`
                    // alone, not with `Readable`: read right away.
                    if let Some(stream) = self.accept_stream(events) {
                        self.read_stream(now, stream, events);
                    }
                }
                Event::Stream(StreamEvent::Readable { id }) => {
                    if self.web.is_some() && !self.is_game_stream(id) {
                        self.read_http3_stream(now, id, events, &mut outcome);
                    } else {
                        self.read_stream(now, id, events);
                    }
                }
                Event::Stream(StreamEvent::Writable { id }) => self.flush_stream(id),
                Event::Stream(_) => {}
                Event::DatagramReceived => {
                    while let Some(mut bytes) = self.quic.datagrams().recv() {
                        if let Some(session) = &self.web {
                            match session.datagram_payload_offset(&bytes) {
                                Some(offset) => {
                                    let _prefix = bytes.split_to(offset);
                                }
                                None => {
                                    outcome.http3_datagrams_dropped += 1;
                                    continue;
                                }
                            }
                        }
                        if self.announced {
                            events.push(LoopEvent::Datagram {
                                connection: self.id,
                                bytes,
                            });
                        }
                    }
                }
                Event::ConnectionLost { .. } => {
                    if matches!(self.phase, Phase::Opening { .. }) {
                        outcome.handshake_failed = true;
                    }
                    self.phase = Phase::Closed;
                }
            }
        }
        if self.phase == Phase::Closed && self.announced {
            self.announced = false;
            events.push(LoopEvent::Closed {
                connection: self.id,
            });
        }
        outcome
    }

    /// Closes at once (the server is stopping).
    pub fn shut_down(&mut self, now: Instant) {
        self.close(now, close_code::CLOSED, "server shutdown");
    }

    fn alpn(&self) -> Option<Vec<u8>> {
        self.quic
            .crypto_session()
            .handshake_data()?
            .downcast::<quinn_proto::crypto::rustls::HandshakeData>()
            .ok()?
            .protocol
    }

    /// Accepts the client's streams; returns the game's stream if it is new.
    fn accept_stream(&mut self, events: &mut Vec<LoopEvent>) -> Option<StreamId> {
        let mut opened = None;
        while let Some(stream) = self.quic.streams().accept(Dir::Bi) {
            if matches!(self.phase, Phase::Opening { .. }) {
                self.open_game_stream(stream, events);
                opened = Some(stream);
            }
            // Raw QUIC carries one stream; a second one is left unread, and
            // quinn's stream limit keeps more from being opened.
        }
        opened
    }

    /// Whether `id` is the game's stream.
    fn is_game_stream(&self, id: StreamId) -> bool {
        match self.phase {
            Phase::Open { stream } | Phase::Leaving { stream, .. } => stream == id,
            Phase::Opening { .. } | Phase::Refused { .. } | Phase::Closed => false,
        }
    }

    /// Opens a browser connection's control stream (with SETTINGS) and QPACK
    /// streams.
    fn open_http3_streams(&mut self, now: Instant, outcome: &mut Outcome) {
        for preamble in webtransport::session::server_streams() {
            let stream = self.quic.streams().open(Dir::Uni);
            // A few bytes on a new stream: flow control has room unless the
            // client allows no streams at all.
            let written =
                stream.and_then(|stream| self.quic.send_stream(stream).write(&preamble).ok());
            if written != Some(preamble.len()) {
                self.fail_http3(now, H3Error::StreamCreation(0), outcome);
                return;
            }
        }
    }

    /// Reads one of a browser's streams that is not (yet) the game's: the
    /// HTTP/3 control and QPACK streams, the session request, streams it
    /// ignores, and the game stream's first bytes, which make it the game's.
    fn read_http3_stream(
        &mut self,
        now: Instant,
        id: StreamId,
        events: &mut Vec<LoopEvent>,
        outcome: &mut Outcome,
    ) {
        if self.phase == Phase::Closed {
            return;
        }
        let mut read = Vec::new();
        let mut ended = false;
        {
            let mut receive = self.quic.recv_stream(id);
            let Ok(mut chunks) = receive.read(true) else {
                return;
            };
            loop {
                match chunks.next(READ_CHUNK) {
                    Ok(Some(chunk)) => read.push(chunk.bytes),
                    Ok(None) | Err(quinn_proto::ReadError::Reset(_)) => {
                        ended = true;
                        break;
                    }
                    Err(quinn_proto::ReadError::Blocked) => break,
                }
            }
            // Whether flow control credit went out is seen by the next poll_transmit.
            let _ = chunks.finalize();
        }
        let raw_id = VarInt::from(id).into_inner();
        let mut chunks = read.into_iter();
        loop {
            let (bytes, fin) = match chunks.next() {
                Some(bytes) => (bytes, false),
                None if ended => (Bytes::new(), true),
                None => return,
            };
            let Some(session) = self.web.as_mut() else {
                return;
            };
            let received = match id.dir() {
                Dir::Uni => session
                    .receive_uni(raw_id, &bytes, fin)
                    .map(|()| Received::Nothing),
                Dir::Bi => session.receive_bidi(raw_id, &bytes, fin),
            };
            match received {
                Err(error) => return self.fail_http3(now, error, outcome),
                Ok(Received::Nothing) => {}
                Ok(Received::Answer { response, accepted }) => {
                    self.answer(now, id, &response, accepted, outcome);
                }
                Ok(Received::SessionStream { offset }) => {
                    if matches!(self.phase, Phase::Opening { .. }) {
                        self.open_game_stream(id, events);
                        let first = bytes.slice(offset..);
                        for bytes in std::iter::once(first).chain(chunks) {
                            if !bytes.is_empty() {
                                events.push(LoopEvent::Stream {
                                    connection: self.id,
                                    bytes,
                                });
                            }
                        }
                        if ended {
                            self.close(now, close_code::CLOSED, "closed");
                        }
                    }
                    // A second stream of the session is left unread.
                    return;
                }
                Ok(Received::SessionEnded) => {
                    // The browser closed the session.
                    return self.close(now, close_code::CLOSED, "closed");
                }
            }
            if fin {
                return;
            }
        }
    }

    /// Writes a session request's answer; a refusal finishes the stream and,
    /// before the game's stream, closes the connection after a grace period.
    fn answer(
        &mut self,
        now: Instant,
        id: StreamId,
        response: &[u8],
        accepted: bool,
        outcome: &mut Outcome,
    ) {
        let mut send = self.quic.send_stream(id);
        if send.write(response).ok() != Some(response.len()) {
            return self.fail_http3(now, H3Error::Message, outcome);
        }
        if !accepted {
            // Finishing a stream just written to cannot fail.
            let _ = send.finish();
            if matches!(self.phase, Phase::Opening { .. }) {
                self.phase = Phase::Refused {
                    deadline: now + GOODBYE_GRACE,
                };
                outcome.handshake_failed = true;
            }
        }
    }

    /// Makes `stream` the game's and tells the zone.
    fn open_game_stream(&mut self, stream: StreamId, events: &mut Vec<LoopEvent>) {
        self.phase = Phase::Open { stream };
        self.announced = true;
        events.push(LoopEvent::Opened {
            connection: self.id,
            remote: self.remote(),
        });
    }

    /// Closes a browser's connection with the HTTP/3 error code (counted).
    /// A connection the server is already ending (a refused session, a
    /// goodbye) is closed as planned instead, uncounted: a client that tears
    /// its streams down (its control stream ends) while it waits for the
    /// close does nothing wrong.
    fn fail_http3(&mut self, now: Instant, error: H3Error, outcome: &mut Outcome) {
        match self.phase {
            Phase::Refused { .. } => self.close(now, close_code::REFUSED, "not found"),
            Phase::Leaving { code, reason, .. } => self.close(now, code, reason),
            Phase::Opening { .. } | Phase::Open { .. } | Phase::Closed => {
                self.close(now, error.code(), error.reason());
                outcome.http3_error = true;
            }
        }
    }

    fn read_stream(&mut self, now: Instant, id: StreamId, events: &mut Vec<LoopEvent>) {
        let ours = match self.phase {
            Phase::Open { stream } | Phase::Leaving { stream, .. } => stream == id,
            Phase::Opening { .. } | Phase::Refused { .. } | Phase::Closed => false,
        };
        if !ours {
            return;
        }
        let (connection, announced) = (self.id, self.announced);
        let mut receive = self.quic.recv_stream(id);
        let Ok(mut chunks) = receive.read(true) else {
            return;
        };
        let mut ended = false;
        loop {
            match chunks.next(READ_CHUNK) {
                Ok(Some(chunk)) => {
                    if announced {
                        events.push(LoopEvent::Stream {
                            connection,
                            bytes: chunk.bytes,
                        });
                    }
                }
                Ok(None) | Err(quinn_proto::ReadError::Reset(_)) => {
                    ended = true;
                    break;
                }
                Err(quinn_proto::ReadError::Blocked) => break,
            }
        }
        // Whether flow control credit went out is seen by the next poll_transmit.
        let _ = chunks.finalize();
        if ended && matches!(self.phase, Phase::Open { .. }) {
            // The client finished its stream: it is leaving.
            self.close(now, close_code::CLOSED, "closed");
        }
    }

    fn flush_stream(&mut self, stream: StreamId) {
        if self.unsent.is_empty() {
            return;
        }
        if let Ok(written) = self.quic.send_stream(stream).write(&self.unsent) {
            self.unsent.drain(..written);
        }
    }

    fn close(&mut self, now: Instant, code: u32, reason: &'static str) {
        if self.phase == Phase::Closed {
            return;
        }
        self.quic.close(
            now,
            VarInt::from_u32(code),
            Bytes::from_static(reason.as_bytes()),
        );
        self.phase = Phase::Closed;
    }
}
