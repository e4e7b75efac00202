//! The zone thread's half of the [`Exchange`]: once per tick, hand the loop's
//! batch of inbound events to the netcode [`Server`], and hand the server's
//! transmits to the loop in one batch.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use super::exchange::{Exchange, LoopEvent};
use crate::driver::admission::Admission;
use crate::server::{ConnectionEvents, ConnectionId, Server, Transmit};

/// What a zone thread keeps to talk to the loop (its two batch vectors are
/// reused tick after tick).
#[derive(Debug)]
pub struct ZoneSide {
    exchange: Arc<Exchange>,
    admission: Arc<Admission>,
    inbound: Vec<LoopEvent>,
    outbound: Vec<Transmit>,
    /// Connections the loop reported opened and not yet closed.
    open: HashSet<ConnectionId>,
}

impl ZoneSide {
    /// The zone's side of `exchange`; verified hellos are reported to
    /// `admission` (the loop's pending caps).
    pub fn new(exchange: Arc<Exchange>, admission: Arc<Admission>) -> Self {
        Self {
            exchange,
            admission,
            inbound: Vec::new(),
            outbound: Vec::new(),
            open: HashSet::new(),
        }
    }

    /// Takes the loop's batch and hands it to `server` (a [`Server`], or a
    /// router in front of several); returns how many events it held.
    pub fn receive(&mut self, now: Instant, server: &mut impl ConnectionEvents) -> usize {
        self.exchange.take_inbound(&mut self.inbound);
        let count = self.inbound.len();
        for event in self.inbound.drain(..) {
            match event {
                LoopEvent::Opened { connection, .. } => {
                    self.open.insert(connection);
                    server.handle_connected(now, connection);
                }
                LoopEvent::Stream { connection, bytes } => {
                    server.handle_stream(now, connection, &bytes);
                    if !server.awaiting_hello(connection) {
                        // Verified (or closed): no longer pending for the caps.
                        self.admission.verified(connection);
                    }
                }
                LoopEvent::Datagram { connection, bytes } => {
                    server.handle_datagram_bytes(now, connection, bytes);
                }
                LoopEvent::Closed { connection } => {
                    self.open.remove(&connection);
                    server.handle_closed(now, connection);
                }
            }
        }
        count
    }

    /// The exchange itself, for other threads that hand the loop their own
    /// batches (the simulation threads of instances: their transmits go to
    /// the loop without a pass through the zone thread).
    pub fn exchange(&self) -> Arc<Exchange> {
        self.exchange.clone()
    }

    /// The loop's figures as of its last turn.
    pub fn stats(&self) -> super::exchange::LoopStats {
        self.exchange.stats()
    }

    /// Inbound datagrams dropped because the zone did not drain its batch.
    pub fn inbound_dropped(&self) -> u64 {
        self.exchange.inbound_dropped()
    }

    /// Whether `connection` is one of the loop's, open now.
    pub fn is_open(&self, connection: ConnectionId) -> bool {
        self.open.contains(&connection)
    }

    /// The loop's connections open now.
    pub fn open_connections(&self) -> impl Iterator<Item = ConnectionId> + '_ {
        self.open.iter().copied()
    }

    /// Queues one transmit for the next [`Self::submit`].
    pub fn queue(&mut self, transmit: Transmit) {
        self.outbound.push(transmit);
    }

    /// Hands the queued transmits to the loop in one batch; returns how many
    /// there were.
    pub fn submit(&mut self) -> usize {
        let count = self.outbound.len();
        self.exchange.submit(&mut self.outbound);
        count
    }

    /// Hands everything `server` has to send to the loop in one batch (when
    /// the loop is the zone's only transport); returns how many payloads it
    /// held.
    pub fn send(&mut self, server: &mut Server) -> usize {
        while let Some(transmit) = server.poll_transmit() {
            self.queue(transmit);
        }
        self.submit()
    }
}
