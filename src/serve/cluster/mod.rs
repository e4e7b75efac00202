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

use meridian_shard_manager::Shard;

use link::{Link, LinkEvent};

/// The zone thread's side of the cluster: it carries the link's events to the
/// [`Shard`] and what the shard says back to the link. In one process (a
/// cluster of one) there is no link, and nobody to say anything to.
pub(crate) struct ClusterLoop {
    link: Option<Link>,
}

impl ClusterLoop {
    /// Over `link`.
    pub(crate) fn new(link: Link) -> Self {
        Self { link: Some(link) }
    }

    /// The only shard: one process, no link.
    pub(crate) fn alone() -> Self {
        Self { link: None }
    }

    /// The link's and the Redis connection's counts for the metrics page.
    pub(crate) fn counters(&self) -> link::LinkTotals {
        self.link.as_ref().map(Link::totals).unwrap_or_default()
    }

    /// Nudged whenever the link queued something.
    pub(crate) fn wake(&self) -> crossbeam_channel::Receiver<()> {
        match &self.link {
            Some(link) => link.wake.clone(),
            None => crossbeam_channel::never(),
        }
    }

    /// Hands what the link brought to the shard. Stops after a handoff
    /// message and says so (`true`), so that its answer goes out before the
    /// rest of the queue (frames to encode, say) is handled.
    pub(crate) fn receive(&mut self, shard: &mut Shard) -> bool {
        let Some(link) = &mut self.link else {
            return false;
        };
        while let Ok(event) = link.events.try_recv() {
            match event {
                LinkEvent::Up(peer) => shard.handle_link_up(peer),
                LinkEvent::Message(from, message) => {
                    if shard.handle_link_message(from, message) {
                        return true;
                    }
                }
                LinkEvent::Down(peer) => shard.handle_link_down(peer),
            }
        }
        false
    }

    /// Sends what the shard has for other shards.
    pub(crate) fn send(&mut self, shard: &mut Shard) {
        let now = Instant::now();
        while let Some((to, message)) = shard.poll_link(now) {
            // Alone, what is said to every shard reaches nobody.
            if let Some(link) = &mut self.link {
                link.sender.send(to, &message);
            }
        }
    }
}
