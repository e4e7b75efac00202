//! Where the event loop and the zone thread swap work, in batches.
//!
//! The loop collects a turn's inbound events (connections opened and closed,
//! stream bytes, datagrams) in its own `Vec` and appends them to the shared
//! one under one short lock per turn, never per datagram; the zone thread
//! swaps the shared `Vec` for its empty one once per tick. The other way, the
//! zone thread appends a tick's payloads under one lock and wakes the loop
//! once; the loop swaps them out at its next turn. Nothing here allocates per
//! message once the vectors have grown to a tick's size.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use super::event_loop::LoopCounters;
use super::udp::UdpCounters;
use crate::server::{ConnectionId, Transmit};

/// Inbound events the shared batch holds before further datagrams are
/// dropped (counted): a zone thread that stops draining must not grow the
/// loop's memory without bound. Opens, closes and stream bytes are always
/// kept (they are bounded by the connection count and QUIC flow control).
pub const MAX_INBOUND_EVENTS: usize = 1 << 16;

/// What the event loop reports to the zone thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoopEvent {
    /// A connection finished its handshake and opened its stream.
    Opened {
        /// Its id.
        connection: ConnectionId,
        /// Its address.
        remote: std::net::SocketAddr,
    },
    /// Stream bytes arrived.
    Stream {
        /// From whom.
        connection: ConnectionId,
        /// The bytes.
        bytes: Bytes,
    },
    /// A datagram arrived.
    Datagram {
        /// From whom.
        connection: ConnectionId,
        /// The bytes.
        bytes: Bytes,
    },
    /// The connection is gone.
    Closed {
        /// Which.
        connection: ConnectionId,
    },
}

/// The loop's figures, published at the end of each turn.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LoopStats {
    /// The loop's own counters.
    pub counters: LoopCounters,
    /// The socket's counters.
    pub udp: UdpCounters,
    /// Connections alive (handshaking, open or draining).
    pub connections: usize,
}

/// The two batches and the loop's wake-up.
#[derive(Debug)]
pub struct Exchange {
    inbound: Mutex<Vec<LoopEvent>>,
    outbound: Mutex<Vec<Transmit>>,
    waker: mio::Waker,
    stopping: AtomicBool,
    inbound_dropped: AtomicU64,
    stats: Mutex<LoopStats>,
    /// A server configuration (a rotated certificate) for the loop to take.
    next_server_config: Mutex<Option<quinn_proto::ServerConfig>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The critical sections only move vectors; a panic inside one leaves a
    // valid vector behind, so a poisoned lock is still consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Exchange {
    pub(super) fn new(waker: mio::Waker) -> Self {
        Self {
            inbound: Mutex::new(Vec::new()),
            outbound: Mutex::new(Vec::new()),
            waker,
            stopping: AtomicBool::new(false),
            inbound_dropped: AtomicU64::new(0),
            stats: Mutex::new(LoopStats::default()),
            next_server_config: Mutex::new(None),
        }
    }

    /// Zone side: takes every inbound event since the last call, in arrival
    /// order, swapping them into `into` (which should be empty; its capacity
    /// is handed to the loop for the next batch).
    pub fn take_inbound(&self, into: &mut Vec<LoopEvent>) {
        into.clear();
        std::mem::swap(&mut *lock(&self.inbound), into);
    }

    /// Zone side: hands a tick's payloads to the loop (emptying `batch`) and
    /// wakes it once.
    pub fn submit(&self, batch: &mut Vec<Transmit>) {
        if batch.is_empty() {
            return;
        }
        {
            let mut outbound = lock(&self.outbound);
            if outbound.is_empty() {
                std::mem::swap(&mut *outbound, batch);
            } else {
                outbound.append(batch);
            }
        }
        // A failed wake-up leaves the batch for the loop's next turn (at most
        // its longest wait later).
        let _ = self.waker.wake();
    }

    /// Inbound datagrams dropped because the zone thread did not drain.
    pub fn inbound_dropped(&self) -> u64 {
        self.inbound_dropped.load(Ordering::Relaxed)
    }

    /// The loop's figures as of its last turn.
    pub fn stats(&self) -> LoopStats {
        *lock(&self.stats)
    }

    pub(super) fn set_stats(&self, stats: LoopStats) {
        *lock(&self.stats) = stats;
    }

    /// Has the loop serve new connections with `config` from its next turn.
    pub fn set_server_config(&self, config: quinn_proto::ServerConfig) {
        *lock(&self.next_server_config) = Some(config);
        let _ = self.waker.wake();
    }

    pub(super) fn take_server_config(&self) -> Option<quinn_proto::ServerConfig> {
        lock(&self.next_server_config).take()
    }

    /// Asks the loop to close every connection and stop.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        let _ = self.waker.wake();
    }

    pub(super) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Loop side: appends a turn's events to the shared batch (emptying
    /// `events`).
    pub(super) fn publish(&self, events: &mut Vec<LoopEvent>) {
        if events.is_empty() {
            return;
        }
        let mut inbound = lock(&self.inbound);
        if inbound.len() + events.len() > MAX_INBOUND_EVENTS {
            let before = events.len();
            let room = MAX_INBOUND_EVENTS.saturating_sub(inbound.len());
            let mut kept_datagrams = 0;
            events.retain(|event| match event {
                LoopEvent::Datagram { .. } => {
                    kept_datagrams += 1;
                    kept_datagrams <= room
                }
                _ => true,
            });
            self.inbound_dropped
                .fetch_add((before - events.len()) as u64, Ordering::Relaxed);
        }
        if inbound.is_empty() {
            std::mem::swap(&mut *inbound, events);
        } else {
            inbound.append(events);
        }
    }

    /// Loop side: takes the payloads the zone thread submitted.
    pub(super) fn take_outbound(&self, into: &mut Vec<Transmit>) {
        into.clear();
        std::mem::swap(&mut *lock(&self.outbound), into);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange() -> (mio::Poll, Exchange) {
        let poll = mio::Poll::new().expect("poll");
        let waker = mio::Waker::new(poll.registry(), mio::Token(0)).expect("waker");
        (poll, Exchange::new(waker))
    }

    fn datagram(index: u64) -> LoopEvent {
        LoopEvent::Datagram {
            connection: ConnectionId(index),
            bytes: Bytes::new(),
        }
    }

    #[test]
    fn the_zone_takes_every_event_of_several_turns_in_order() {
        let (_poll, exchange) = exchange();
        exchange.publish(&mut vec![datagram(1), datagram(2)]);
        exchange.publish(&mut vec![datagram(3)]);
        let mut batch = Vec::new();
        exchange.take_inbound(&mut batch);
        assert_eq!(batch, vec![datagram(1), datagram(2), datagram(3)]);
        exchange.take_inbound(&mut batch);
        assert!(batch.is_empty());
    }

    #[test]
    fn a_zone_that_never_drains_costs_datagrams_not_memory() {
        let (_poll, exchange) = exchange();
        for _ in 0..3 {
            let mut events: Vec<_> = (0..MAX_INBOUND_EVENTS as u64).map(datagram).collect();
            events.push(LoopEvent::Closed {
                connection: ConnectionId(9),
            });
            exchange.publish(&mut events);
        }
        let mut batch = Vec::new();
        exchange.take_inbound(&mut batch);
        assert_eq!(batch.len(), MAX_INBOUND_EVENTS + 3);
        assert_eq!(exchange.inbound_dropped(), 2 * MAX_INBOUND_EVENTS as u64);
    }
}
