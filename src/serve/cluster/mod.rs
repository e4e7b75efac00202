//! `meridian serve --shard-id N --shards K`: one shard of a cluster.
//!
//! The shard holds the leases of its share of the zones (zone `z` belongs to
//! shard `z mod K + 1`) and, after a grace period, also wants the next shard's
//! share, so when that shard dies its zones are taken over once their leases
//! lapse. Clients join any shard's HTTP endpoint and stay connected to it; the
//! host routes them to whichever shard simulates their zone over the link.

mod handshake;
pub(crate) mod link;

use std::time::Instant;

use meridian_shard_manager::cluster::ClusterBorders;
use meridian_shard_manager::{Peers, ZoneHost, ZoneMap};

use link::{Link, LinkEvent};

/// The zone thread's side of the cluster: link events in, messages out. What
/// is said, and when, is [`Peers`]'s; this only carries it.
pub(crate) struct ClusterLoop {
    link: Link,
    peers: Peers,
}

impl ClusterLoop {
    pub(crate) fn new(link: Link, map: &ZoneMap, me: u32, shards: u32, tick_ms: u64) -> Self {
        Self {
            link,
            peers: Peers::new(Instant::now(), map, me, shards, tick_ms),
        }
    }

    /// The link's and the Redis connection's counts for the metrics page.
    pub(crate) fn counters(&self) -> link::LinkTotals {
        self.link.totals()
    }

    /// Nudged whenever the link queued something.
    pub(crate) fn wake(&self) -> crossbeam_channel::Receiver<()> {
        self.link.wake.clone()
    }

    /// Hands what the link brought to the host and the protocol. Stops after
    /// a handoff message and says so (`true`), so that its answer goes out
    /// before the rest of the queue (frames to encode, say) is handled.
    pub(crate) fn receive(&mut self, host: &mut ZoneHost<ClusterBorders>) -> bool {
        self.peers
            .handle_time(Instant::now(), super::ledger::now_ms(), host);
        while let Ok(event) = self.link.events.try_recv() {
            match event {
                LinkEvent::Up(shard) => self.peers.handle_up(host, shard),
                LinkEvent::Message(from, message) => {
                    if self.peers.handle_message(host, from, message) {
                        return true;
                    }
                }
                LinkEvent::Down(shard) => self.peers.handle_down(host, shard),
            }
        }
        false
    }

    /// Sends what the host and the protocol have for other shards.
    pub(crate) fn send(&mut self, host: &mut ZoneHost<ClusterBorders>) {
        self.peers.collect(Instant::now(), host);
        while let Some((to, message)) = self.peers.poll_message() {
            self.link.sender.send(to, &message);
        }
    }
}
