//! One connection of the client loop: quinn-proto's state machine, the one
//! bidirectional stream the client opens, the sans-IO protocol [`Client`] fed
//! from it, the [`Behaviour`] that plays it, and its deadlines (the handshake
//! limit, the next tick, the end of its run, the goodbye's grace).
//!
//! The same steps as the task driver's `ClientConnection::drive`, as a state
//! machine the loop calls: `handle_timeout` when its deadline is due,
//! `process` after anything touched it, `take_ended` to hand the client and
//! its behaviour back once the connection has ended for them.

use std::time::{Duration, Instant};

use bytes::Bytes;
use quinn_proto::{Dir, Event, StreamEvent, StreamId, VarInt};

use super::client_loop::{ConnectRequest, Ended};
use crate::client::{Client, ClientPhase, ClientTransmit};
use crate::driver::client::{Behaviour, ConnectError, Ending};

/// How long a goodbye may take to be acknowledged before the connection
/// closes anyway (as the task driver waits for its stream to stop).
pub(super) const GOODBYE_GRACE: Duration = Duration::from_millis(500);

/// Largest stream chunk read at once.
const READ_CHUNK: usize = 16 * 1024;

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Handshaking; given up at the deadline.
    Handshaking { give_up_at: Instant },
    /// The stream is open and the client runs.
    Running { stream: StreamId },
    /// Handed back; the stream is finished once its bytes are out, and the
    /// connection closes when the server has them all or at `close_at`.
    Leaving { stream: StreamId, close_at: Instant },
    /// Closed (by either side); waiting for quinn to drain.
    Closed,
}

/// One connection's state in the client loop.
#[derive(Debug)]
pub(super) struct ClientSession<B> {
    tag: u64,
    quic: quinn_proto::Connection,
    phase: Phase,
    /// The client and its behaviour until they are handed back.
    player: Option<(Client, B)>,
    /// Why the run ends, once it does.
    ending: Option<Result<Ending, ConnectError>>,
    /// Stream bytes flow control has not taken yet.
    unsent: Vec<u8>,
    /// The stream is to be finished once `unsent` is empty.
    finish_pending: bool,
    tick: Duration,
    next_tick: Instant,
    /// See [`ConnectRequest::input_phase`].
    input_phase: Option<Duration>,
    deadline: Instant,
}

/// How much longer than the input phase an `Ack` may be held: the input that
/// normally carries it is then due first.
const ACK_HOLD_MARGIN: Duration = Duration::from_millis(2);

impl<B: Behaviour> ClientSession<B> {
    /// A connection just started at `now` for `request`.
    pub(super) fn new(
        quic: quinn_proto::Connection,
        request: ConnectRequest<B>,
        now: Instant,
    ) -> Self {
        let mut request = request;
        if let Some(phase) = request.input_phase {
            request.client.hold_acks(phase + ACK_HOLD_MARGIN);
        }
        Self {
            tag: request.tag,
            quic,
            phase: Phase::Handshaking {
                give_up_at: now + request.connect_timeout,
            },
            player: Some((request.client, request.behaviour)),
            ending: None,
            unsent: Vec::new(),
            finish_pending: false,
            tick: request.tick,
            next_tick: now + request.tick,
            input_phase: request.input_phase,
            deadline: request.deadline,
        }
    }

    /// quinn's state machine, for the loop's datagram and endpoint plumbing.
    pub(super) fn quic(&mut self) -> &mut quinn_proto::Connection {
        &mut self.quic
    }

    /// Whether quinn is done with it (it can be forgotten).
    pub(super) fn is_drained(&self) -> bool {
        self.quic.is_drained()
    }

    /// The earliest of quinn's deadline and the session's own.
    pub(super) fn deadline(&mut self) -> Option<Instant> {
        let own = match self.phase {
            Phase::Handshaking { give_up_at } => Some(give_up_at),
            Phase::Running { .. } => {
                let client = self
                    .player
                    .as_ref()
                    .and_then(|(client, _)| client.poll_timeout());
                let own = self.next_tick.min(self.deadline);
                Some(client.map_or(own, |client| client.min(own)))
            }
            Phase::Leaving { close_at, .. } => Some(close_at),
            Phase::Closed => None,
        };
        match (self.quic.poll_timeout(), own) {
            (Some(quic), Some(own)) => Some(quic.min(own)),
            (quic, own) => quic.or(own),
        }
    }

    /// Runs the deadlines due at `now`: quinn's, the handshake limit, the
    /// end of the run (the client says goodbye), the client's heartbeat and
    /// idle timeout, the behaviour's tick, the goodbye's grace.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        if self.quic.poll_timeout().is_some_and(|due| due <= now) {
            self.quic.handle_timeout(now);
        }
        match self.phase {
            Phase::Handshaking { give_up_at } if now >= give_up_at => {
                self.end(Err(ConnectError::Timeout));
                self.close(now);
            }
            Phase::Running { .. } => {
                let Some((client, behaviour)) = self.player.as_mut() else {
                    return;
                };
                if now >= self.deadline {
                    client.disconnect();
                    self.ending = Some(Ok(Ending::Deadline));
                    return;
                }
                client.handle_timeout(now);
                if now >= self.next_tick {
                    if client.phase() == ClientPhase::Connected {
                        behaviour.on_tick(client, now);
                    }
                    // Missed ticks are skipped, not bunched up.
                    while self.next_tick <= now {
                        self.next_tick += self.tick;
                    }
                }
            }
            Phase::Leaving { close_at, .. } if now >= close_at => self.close(now),
            Phase::Handshaking { .. } | Phase::Leaving { .. } | Phase::Closed => {}
        }
    }

    /// Handles what quinn reports after input, feeds the client, lets the
    /// behaviour answer its events and sends what the client produced.
    pub(super) fn process(&mut self, now: Instant) {
        let (mut transport_ended, mut lost) = (false, false);
        while let Some(event) = self.quic.poll() {
            match event {
                Event::Connected => self.open_stream(now),
                Event::Stream(StreamEvent::Readable { id }) => {
                    transport_ended |= self.read_stream(now, id);
                }
                Event::Stream(StreamEvent::Writable { id }) => self.flush_stream(id),
                Event::Stream(StreamEvent::Finished { id } | StreamEvent::Stopped { id, .. }) => {
                    if matches!(self.phase, Phase::Leaving { stream, .. } if stream == id) {
                        // The server has the goodbye (or wants no more).
                        self.close(now);
                    }
                }
                Event::Stream(_) | Event::HandshakeDataReady | Event::DatagramsUnblocked => {}
                Event::DatagramReceived => {
                    while let Some(bytes) = self.quic.datagrams().recv() {
                        if let Some((client, _)) = self.player.as_mut() {
                            let before = client.stats().snapshots;
                            client.handle_datagram(now, &bytes);
                            if let Some(phase) = self.input_phase
                                && client.stats().snapshots > before
                            {
                                self.next_tick = now + phase;
                            }
                        }
                    }
                }
                Event::ConnectionLost { reason } => {
                    if matches!(self.phase, Phase::Handshaking { .. }) {
                        self.end(Err(ConnectError::Connection(reason)));
                    }
                    (transport_ended, lost) = (true, true);
                }
            }
        }
        if let Phase::Running { stream } = self.phase {
            self.run_client(now, stream, transport_ended);
        }
        if lost {
            self.phase = Phase::Closed;
        }
    }

    /// Hands the client's events to the behaviour, sends what the client
    /// produced, and ends the run if the client or the transport is done.
    fn run_client(&mut self, now: Instant, stream: StreamId, transport_ended: bool) {
        let Some((client, behaviour)) = self.player.as_mut() else {
            return;
        };
        while let Some(event) = client.poll_event() {
            behaviour.on_event(client, event, now);
        }
        let mut closing = false;
        while let Some(transmit) = client.poll_transmit() {
            match transmit {
                ClientTransmit::Datagram(bytes) => {
                    // A refused datagram is as good as lost; inputs are resent.
                    let _ = self.quic.datagrams().send(Bytes::from(bytes), true);
                }
                ClientTransmit::Stream(bytes) => self.unsent.extend_from_slice(&bytes),
                ClientTransmit::Close => closing = true,
            }
        }
        let closed_by_protocol = client.phase() == ClientPhase::Closed;
        self.flush_stream(stream);
        if transport_ended {
            // The server finished its stream (after its last words) or the
            // connection failed: the protocol may have ended first.
            let ending = if closed_by_protocol {
                Ending::Closed
            } else {
                Ending::TransportLost
            };
            self.end(Ok(ending));
            self.close(now);
        } else if closing || closed_by_protocol {
            let ending = self.ending.take().unwrap_or(Ok(Ending::Closed));
            self.end(ending);
            self.leave(now, stream);
        }
    }

    /// Ends the run at once (the loop is stopping): the client says goodbye.
    pub(super) fn shut_down(&mut self, now: Instant) {
        match self.phase {
            Phase::Handshaking { .. } => {
                self.end(Err(ConnectError::Timeout));
                self.close(now);
            }
            Phase::Running { .. } => {
                if let Some((client, _)) = self.player.as_mut() {
                    client.disconnect();
                }
                self.ending = Some(Ok(Ending::Deadline));
            }
            Phase::Leaving { .. } | Phase::Closed => {}
        }
    }

    /// The client and its behaviour with how the run ended, once it has.
    pub(super) fn take_ended(&mut self) -> Option<Ended<B>> {
        let outcome = match self.phase {
            Phase::Handshaking { .. } | Phase::Running { .. } => return None,
            Phase::Leaving { .. } | Phase::Closed => self.ending.take()?,
        };
        let (client, behaviour) = self.player.take()?;
        Some(Ended {
            tag: self.tag,
            outcome,
            client,
            behaviour,
        })
    }

    fn end(&mut self, outcome: Result<Ending, ConnectError>) {
        if self.player.is_some() {
            self.ending = Some(outcome);
        }
    }

    /// The handshake is done: open the stream, which carries the hello.
    fn open_stream(&mut self, now: Instant) {
        if !matches!(self.phase, Phase::Handshaking { .. }) {
            return;
        }
        match self.quic.streams().open(Dir::Bi) {
            Some(stream) => self.phase = Phase::Running { stream },
            // The server allows streams (tls::transport); none is a refusal.
            None => {
                self.end(Err(ConnectError::Timeout));
                self.close(now);
            }
        }
    }

    /// Reads what the stream holds into the client; true if the server
    /// finished or reset it.
    fn read_stream(&mut self, now: Instant, id: StreamId) -> bool {
        if !matches!(self.phase, Phase::Running { stream } if stream == id) {
            return false;
        }
        let Some((client, _)) = self.player.as_mut() else {
            return false;
        };
        let mut receive = self.quic.recv_stream(id);
        let Ok(mut chunks) = receive.read(true) else {
            return true;
        };
        let mut ended = false;
        loop {
            match chunks.next(READ_CHUNK) {
                Ok(Some(chunk)) => client.handle_stream(now, &chunk.bytes),
                Ok(None) | Err(quinn_proto::ReadError::Reset(_)) => {
                    ended = true;
                    break;
                }
                Err(quinn_proto::ReadError::Blocked) => break,
            }
        }
        // Whether flow control credit went out is seen by the next poll_transmit.
        let _ = chunks.finalize();
        ended
    }

    fn flush_stream(&mut self, stream: StreamId) {
        if !self.unsent.is_empty()
            && let Ok(written) = self.quic.send_stream(stream).write(&self.unsent)
        {
            self.unsent.drain(..written);
        }
        if self.finish_pending && self.unsent.is_empty() {
            self.finish_pending = false;
            // Finishing a stream the server stopped is refused; the grace
            // deadline closes the connection either way.
            let _ = self.quic.send_stream(stream).finish();
        }
    }

    /// Finishes the stream after its last bytes and closes once the server
    /// has them (or after [`GOODBYE_GRACE`]).
    fn leave(&mut self, now: Instant, stream: StreamId) {
        self.phase = Phase::Leaving {
            stream,
            close_at: now + GOODBYE_GRACE,
        };
        self.finish_pending = true;
        self.flush_stream(stream);
    }

    fn close(&mut self, now: Instant) {
        if self.phase == Phase::Closed {
            return;
        }
        self.quic
            .close(now, VarInt::from_u32(0), Bytes::from_static(b"bye"));
        self.phase = Phase::Closed;
    }
}
