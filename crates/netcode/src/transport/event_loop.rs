//! The endpoint loop: one thread, one socket, every connection.
//!
//! Each turn waits on the socket (epoll through `mio`) for at most the time to
//! the nearest connection deadline, then: reads datagrams in batches and feeds
//! them to quinn-proto's endpoint and connections; runs the deadlines that are
//! due; applies the payloads the zone thread submitted; and for each
//! connection touched in the turn, hands its events to the zone's batch,
//! routes its endpoint events, sends what it has to send (GSO batches) and
//! re-arms its deadline. There is no task, channel or wake-up per connection
//! or per datagram: the only wake-up from outside is the zone's, once a tick.

use std::io;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use quinn_proto::{ConnectionHandle, DatagramEvent, Endpoint, EndpointConfig, ServerConfig};

use super::connection::{LoopConnection, Outcome};
use super::exchange::{Exchange, LoopEvent, LoopStats};
use super::timers::Timers;
use super::udp::{Received, UdpBatch};
use crate::driver::admission::Admission;
use crate::driver::server::{ConnectionIds, DriverCounters};
use crate::server::{ConnectionId, Transmit};
use crate::small_keys::SmallKeyMap;

/// The poller's token of the socket.
const SOCKET: mio::Token = mio::Token(0);
/// The poller's token of the zone's wake-up.
pub(super) const WAKER: mio::Token = mio::Token(1);

/// Receive batches read per turn before timers and sends get their turn (a
/// flood cannot starve the connections that are already open).
const MAX_RECEIVE_BATCHES: usize = 64;

/// Counters of the loop itself (the admission and handshake ones are in
/// [`DriverCounters`], shared with the task driver).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LoopCounters {
    /// Turns of the loop.
    pub turns: u64,
    /// Datagrams quinn's endpoint dropped: undecodable, unknown connection,
    /// unsupported version too short to answer.
    pub datagrams_ignored: u64,
    /// Clients closed because they did not read their stream.
    pub closed_too_slow: u64,
    /// Payloads from the zone for connections that are gone.
    pub payloads_for_unknown: u64,
    /// Browser connections closed for breaking HTTP/3 or WebTransport
    /// (malformed frames, header blocks or streams).
    pub http3_errors: u64,
    /// WebTransport datagrams dropped: before the session opened, or with
    /// another session's prefix.
    pub http3_datagrams_dropped: u64,
}

/// The loop's state: quinn's endpoint, the socket, every connection.
#[derive(Debug)]
pub struct EventLoop {
    endpoint: Endpoint,
    udp: UdpBatch,
    poll: mio::Poll,
    poll_events: mio::Events,
    connections: SmallKeyMap<ConnectionHandle, LoopConnection>,
    handles: SmallKeyMap<ConnectionId, ConnectionHandle>,
    timers: Timers<ConnectionHandle>,
    /// Connections touched this turn (each once).
    touched: Vec<ConnectionHandle>,
    exchange: Arc<Exchange>,
    ids: Arc<ConnectionIds>,
    admission: Arc<Admission>,
    counters: Arc<DriverCounters>,
    loop_counters: LoopCounters,
    /// This turn's inbound events, published to the zone at its end.
    events: Vec<LoopEvent>,
    /// The zone's payloads taken this turn.
    payloads: Vec<Transmit>,
    received: Vec<Received>,
    send_buffer: Vec<u8>,
}

impl EventLoop {
    /// An endpoint serving `server_config` on `socket`.
    pub fn new(
        socket: UdpSocket,
        server_config: ServerConfig,
        ids: Arc<ConnectionIds>,
        admission: Arc<Admission>,
        counters: Arc<DriverCounters>,
    ) -> io::Result<Self> {
        let udp = UdpBatch::new(socket)?;
        let (poll, waker) = super::udp::readable_poll(udp.socket(), SOCKET, WAKER)?;
        let endpoint = Endpoint::new(
            Arc::new(EndpointConfig::default()),
            Some(Arc::new(server_config)),
            // Path MTU discovery needs unfragmented sends.
            !udp.may_fragment(),
            None,
        );
        Ok(Self {
            endpoint,
            udp,
            poll,
            poll_events: mio::Events::with_capacity(16),
            connections: SmallKeyMap::default(),
            handles: SmallKeyMap::default(),
            timers: Timers::default(),
            touched: Vec::new(),
            exchange: Arc::new(Exchange::new(waker)),
            ids,
            admission,
            counters,
            loop_counters: LoopCounters::default(),
            events: Vec::new(),
            payloads: Vec::new(),
            received: Vec::new(),
            send_buffer: Vec::new(),
        })
    }

    /// Where the zone thread swaps batches with the loop.
    pub fn exchange(&self) -> Arc<Exchange> {
        self.exchange.clone()
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.udp.local_addr()
    }

    /// Connections alive (handshaking, open or draining).
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// The loop's own counters.
    pub fn loop_counters(&self) -> LoopCounters {
        self.loop_counters
    }

    /// The socket's counters.
    pub fn udp_counters(&self) -> super::udp::UdpCounters {
        self.udp.counters()
    }

    /// Serves new connections with this configuration from now on.
    pub fn set_server_config(&mut self, server_config: ServerConfig) {
        self.endpoint
            .set_server_config(Some(Arc::new(server_config)));
    }

    /// Runs until the exchange is stopped, then closes every connection and
    /// gives the goodbyes up to `drain` to leave.
    pub fn run(mut self, drain: Duration) -> io::Result<()> {
        while !self.exchange.stopping() {
            self.turn(Duration::from_millis(100))?;
        }
        self.endpoint.set_server_config(None);
        let now = Instant::now();
        let handles: Vec<_> = self.connections.keys().copied().collect();
        for handle in handles {
            if let Some(connection) = self.connections.get_mut(&handle) {
                connection.shut_down(now);
            }
            self.touch(handle);
        }
        self.finish_turn(now);
        let deadline = now + drain;
        while !self.connections.is_empty() && Instant::now() < deadline {
            self.turn(Duration::from_millis(20))?;
        }
        Ok(())
    }

    /// One turn: wait (at most `longest_wait`, less if a deadline is nearer),
    /// read, run deadlines, apply the zone's payloads, send.
    pub fn turn(&mut self, longest_wait: Duration) -> io::Result<()> {
        self.loop_counters.turns += 1;
        let wait = self
            .timers
            .next_deadline()
            .map_or(longest_wait, |deadline| {
                deadline
                    .saturating_duration_since(Instant::now())
                    .min(longest_wait)
            });
        match self.poll.poll(&mut self.poll_events, Some(wait)) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
        if let Some(config) = self.exchange.take_server_config() {
            self.set_server_config(config);
        }
        let now = Instant::now();
        self.receive(now)?;
        while let Some(handle) = self.timers.pop_expired(now) {
            if let Some(connection) = self.connections.get_mut(&handle) {
                let outcome = connection.handle_timeout(now);
                self.count(outcome);
                self.touch(handle);
            }
        }
        self.apply_payloads(now);
        self.finish_turn(now);
        Ok(())
    }

    fn receive(&mut self, now: Instant) -> io::Result<()> {
        for _ in 0..MAX_RECEIVE_BATCHES {
            let mut received = std::mem::take(&mut self.received);
            let count = self.udp.receive(|datagram| received.push(datagram))?;
            for datagram in received.drain(..) {
                self.handle_datagram(now, datagram);
            }
            self.received = received;
            if count == 0 {
                break;
            }
        }
        Ok(())
    }

    fn handle_datagram(&mut self, now: Instant, datagram: Received) {
        self.send_buffer.clear();
        let event = self.endpoint.handle(
            now,
            datagram.remote,
            datagram.local_ip,
            datagram.ecn,
            datagram.bytes,
            &mut self.send_buffer,
        );
        match event {
            Some(DatagramEvent::ConnectionEvent(handle, event)) => {
                if let Some(connection) = self.connections.get_mut(&handle) {
                    connection.quic().handle_event(event);
                    self.touch(handle);
                }
            }
            Some(DatagramEvent::NewConnection(incoming)) => self.admit(now, incoming),
            Some(DatagramEvent::Response(transmit)) => {
                self.udp.send(&transmit, &self.send_buffer);
            }
            None => self.loop_counters.datagrams_ignored += 1,
        }
    }

    /// The admission of the task driver: a Retry while many are pending and
    /// the address is not validated, a refusal past the pending caps.
    fn admit(&mut self, now: Instant, mut incoming: quinn_proto::Incoming) {
        self.send_buffer.clear();
        if self.admission.wants_retry()
            && !incoming.remote_address_validated()
            && incoming.may_retry()
        {
            match self.endpoint.retry(incoming, &mut self.send_buffer) {
                Ok(transmit) => {
                    self.admission.retried();
                    self.udp.send(&transmit, &self.send_buffer);
                    return;
                }
                // Checked with may_retry above; handled as no retry.
                Err(error) => incoming = error.into_incoming(),
            }
        }
        let id = self.ids.next();
        let remote = incoming.remote_address();
        let ticket = match self.admission.admit(id, remote.ip()) {
            Ok(ticket) => ticket,
            Err(refusal) => {
                tracing::debug!(connection = id.0, %remote, %refusal, "refused a new connection");
                // Counted by the admission; the client hears a refusal at once.
                let transmit = self.endpoint.refuse(incoming, &mut self.send_buffer);
                self.udp.send(&transmit, &self.send_buffer);
                return;
            }
        };
        match self
            .endpoint
            .accept(incoming, now, &mut self.send_buffer, None)
        {
            Ok((handle, quic)) => {
                tracing::debug!(connection = id.0, %remote, "accepted");
                self.connections
                    .insert(handle, LoopConnection::new(id, quic, ticket, now));
                self.handles.insert(id, handle);
                self.touch(handle);
            }
            Err(error) => {
                self.counters
                    .handshake_failures
                    .fetch_add(1, Ordering::Relaxed);
                if let Some(transmit) = error.response {
                    self.udp.send(&transmit, &self.send_buffer);
                }
            }
        }
    }

    fn apply_payloads(&mut self, now: Instant) {
        let mut payloads = std::mem::take(&mut self.payloads);
        self.exchange.take_outbound(&mut payloads);
        for transmit in payloads.drain(..) {
            let Some(handle) = self.handles.get(&transmit.connection).copied() else {
                self.loop_counters.payloads_for_unknown += 1;
                continue;
            };
            if let Some(connection) = self.connections.get_mut(&handle) {
                let outcome = connection.deliver(now, transmit.payload);
                self.count(outcome);
                self.touch(handle);
            }
        }
        self.payloads = payloads;
    }

    fn touch(&mut self, handle: ConnectionHandle) {
        self.touched.push(handle);
    }

    /// For each touched connection: events to the zone, endpoint events,
    /// sends, the next deadline; forgets the drained; publishes the batch.
    fn finish_turn(&mut self, now: Instant) {
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        let segments = self.udp.max_segments();
        for handle in touched.drain(..) {
            let Some(connection) = self.connections.get_mut(&handle) else {
                continue;
            };
            let outcome = connection.process(now, &mut self.events);
            while let Some(event) = connection.quic().poll_endpoint_events() {
                if let Some(reply) = self.endpoint.handle_event(handle, event) {
                    connection.quic().handle_event(reply);
                }
            }
            loop {
                self.send_buffer.clear();
                let Some(transmit) =
                    connection
                        .quic()
                        .poll_transmit(now, segments, &mut self.send_buffer)
                else {
                    break;
                };
                self.udp.send(&transmit, &self.send_buffer);
            }
            if connection.is_drained() {
                let id = connection.id();
                tracing::debug!(connection = id.0, "drained");
                self.connections.remove(&handle);
                self.handles.remove(&id);
                self.timers.set(handle, None);
            } else {
                let deadline = connection.deadline();
                self.timers.set(handle, deadline);
            }
            self.count(outcome);
        }
        self.touched = touched;
        self.udp.flush();
        self.exchange.publish(&mut self.events);
        self.exchange.set_stats(LoopStats {
            counters: self.loop_counters,
            udp: self.udp.counters(),
            connections: self.connections.len(),
        });
    }

    fn count(&mut self, outcome: Outcome) {
        if outcome.handshake_failed {
            self.counters
                .handshake_failures
                .fetch_add(1, Ordering::Relaxed);
        }
        if outcome.datagram_send_failures > 0 {
            self.counters
                .datagram_send_failures
                .fetch_add(outcome.datagram_send_failures, Ordering::Relaxed);
        }
        if outcome.too_slow {
            self.loop_counters.closed_too_slow += 1;
        }
        if outcome.http3_error {
            self.loop_counters.http3_errors += 1;
        }
        self.loop_counters.http3_datagrams_dropped += outcome.http3_datagrams_dropped;
    }
}
