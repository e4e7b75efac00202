//! One shard, sans IO: the zones this process simulates and the clients
//! connected to it ([`ZoneHost`] over [`ClusterBorders`]: leases, handoffs,
//! the gateway and owner roles), with what it says to other shards
//! ([`Peers`]). One process is a cluster of one: the same `Shard`, with no
//! peers.
//!
//! Nothing here reads a clock or touches a socket: the driver hands in the
//! time, the link's events, the ledger's answers and the clients' traffic
//! (through [`Shard::host_mut`]'s server), and carries out what it polls:
//!
//! ```text
//! let mut shard = Shard::new(host, peers);
//! loop {
//!     shard.handle_time(now, wall_ms);
//!     for event in link_events {
//!         let answer_first = match event {
//!             Up(peer) => { shard.handle_link_up(peer); false }
//!             Message(from, message) => shard.handle_link_message(from, message),
//!             Down(peer) => { shard.handle_link_down(peer); false }
//!         };
//!         if answer_first { /* a handoff message: poll the ledger and the link now */ }
//!     }
//!     for (request, reply) in ledger_answers {
//!         shard.handle_ledger(request, reply); // None: the outcome is unknown
//!     }
//!     if tick_is_due {
//!         let mut report = shard.step(now);
//!         // ledger and link first: other shards wait for this tick's frames
//!         shard.replicate(&mut report); // the snapshots of our own clients
//!     }
//!     // one batch a pass: a request that cannot be sent is handed back
//!     // (`handle_ledger(request, None)`) after the drain, not inside it
//!     while let Some((request, op)) = shard.poll_ledger() { ledger.send(request, op) }
//!     while let Some((to, message)) = shard.poll_link(now) { link.send(to, message) }
//! }
//! ```

use std::time::Instant;

use crate::cluster::ClusterBorders;
use crate::host::{HostTick, ZoneHost};
use crate::ledger::{LedgerOp, LedgerReply};
use crate::peers::{LinkMessage, Peers};

/// One shard: see the module's documentation.
#[derive(Debug)]
pub struct Shard {
    host: ZoneHost<ClusterBorders>,
    peers: Peers,
    /// Ledger operations taken from the protocol, not yet polled.
    ledger: std::collections::VecDeque<(u64, LedgerOp)>,
}

impl Shard {
    /// A shard of `host` (linked with [`ZoneHost::link_as`]), saying what
    /// `peers` says.
    pub fn new(host: ZoneHost<ClusterBorders>, peers: Peers) -> Self {
        Self {
            host,
            peers,
            ledger: std::collections::VecDeque::new(),
        }
    }

    /// The zones and clients, for the driver's server calls and figures.
    pub fn host(&self) -> &ZoneHost<ClusterBorders> {
        &self.host
    }

    /// The zones and clients, mutably.
    pub fn host_mut(&mut self) -> &mut ZoneHost<ClusterBorders> {
        &mut self.host
    }

    /// The time: `now` for the simulation and `wall_ms` (Unix milliseconds,
    /// the ledger's clock and the cluster's tick count).
    pub fn handle_time(&mut self, now: Instant, wall_ms: u64) {
        self.host.borders_mut().set_clock(wall_ms);
        self.host.set_wall_clock(wall_ms);
        self.peers.handle_time(now, wall_ms, &mut self.host);
    }

    /// The link to shard `peer` is up.
    pub fn handle_link_up(&mut self, peer: u32) {
        self.peers.handle_up(&mut self.host, peer);
    }

    /// A message from shard `from`; `true` after a handoff message, whose
    /// answer should be polled (ledger, then link) before what else came.
    pub fn handle_link_message(&mut self, from: u32, message: LinkMessage) -> bool {
        self.peers.handle_message(&mut self.host, from, message)
    }

    /// The link to shard `peer` is down.
    pub fn handle_link_down(&mut self, peer: u32) {
        self.peers.handle_down(&mut self.host, peer);
    }

    /// The ledger's answer to `request`, or `None` if its outcome is unknown
    /// (the database failed, or the request could not be queued).
    pub fn handle_ledger(&mut self, request: u64, reply: Option<&LedgerReply>) {
        let borders = self.host.borders_mut();
        match reply {
            Some(reply) => borders.on_ledger(request, reply),
            None => borders.on_ledger_lost(request),
        }
    }

    /// The zones tick every `tick` from now on (see [`Peers::set_tick`]).
    pub fn set_tick(&mut self, tick: std::time::Duration) {
        self.peers.set_tick(tick);
    }

    /// The first half of a tick: the zones step and players cross borders;
    /// what other shards need from this tick is ready to poll.
    pub fn step(&mut self, now: Instant) -> HostTick {
        self.host.step(now)
    }

    /// The second half of a tick: our own clients' snapshots.
    pub fn replicate(&mut self, report: &mut HostTick) {
        self.host.replicate(report);
    }

    /// The next ledger operation to carry out; answer it with
    /// [`Self::handle_ledger`] and the same request.
    pub fn poll_ledger(&mut self) -> Option<(u64, LedgerOp)> {
        if self.ledger.is_empty() {
            self.ledger
                .extend(self.host.borders_mut().take_ledger_requests());
        }
        self.ledger.pop_front()
    }

    /// The next message for other shards: to one (`Some`) or to every shard
    /// linked now (`None`).
    pub fn poll_link(&mut self, now: Instant) -> Option<(Option<u32>, LinkMessage)> {
        if let Some(message) = self.peers.poll_message() {
            return Some(message);
        }
        self.peers.collect(now, &mut self.host);
        self.peers.poll_message()
    }
}
