//! `meridian serve --shard-id N --shards K`: one shard of a cluster.
//!
//! The shard holds the leases of its share of the zones (zone `z` belongs to
//! shard `z mod K + 1`) and, after a grace period, also wants the next shard's
//! share, so when that shard dies its zones are taken over once their leases
//! lapse. Clients join any shard's HTTP endpoint and stay connected to it; the
//! host routes them to whichever shard simulates their zone over the link.

mod handshake;
pub(crate) mod link;

use std::time::{Duration, Instant};

use meridian_shard_manager::cluster::ClusterBorders;
use meridian_shard_manager::{LeaseTiming, ShardId, ZoneId, ZoneMap};
use meridian_shard_manager::{LinkTo, ZoneHost};

use link::{Link, LinkEvent, Wire};

/// How long a new shard leaves the next shard's zones to it before it backs
/// them up (so shards started together each get their own share).
const BACKUP_AFTER: Duration = Duration::from_secs(5);

/// Where the cluster's tick count starts: 2026-01-01T00:00:00Z.
const CLOCK_EPOCH_MS: u64 = 1_767_225_600_000;

/// How often a shard says which zones it serves, even with no change.
const SERVING_EVERY: Duration = Duration::from_secs(1);

/// The zones shard `shard` (1-based) of `shards` holds first.
fn share(map: &ZoneMap, shard: u32, shards: u32) -> Vec<ZoneId> {
    map.zones()
        .filter(|zone| zone.0 % shards + 1 == shard)
        .collect()
}

/// The handoff protocol of shard `me` of `shards`, wanting its own share.
pub(crate) fn borders(map: ZoneMap, me: u32, shards: u32) -> ClusterBorders {
    ClusterBorders::new(
        ShardId(me),
        map,
        LeaseTiming::default(),
        share(&map, me, shards),
    )
}

/// The zone thread's side of the cluster: link events in, messages out.
pub(crate) struct ClusterLoop {
    link: Link,
    backup: Option<(Instant, Vec<ZoneId>)>,
    last_serving: Instant,
    tick_ms: u64,
}

impl ClusterLoop {
    pub(crate) fn new(link: Link, map: &ZoneMap, me: u32, shards: u32, tick_ms: u64) -> Self {
        let mut wanted = share(map, me, shards);
        if shards > 1 {
            wanted.extend(share(map, me % shards + 1, shards));
        }
        Self {
            link,
            backup: Some((Instant::now() + BACKUP_AFTER, wanted)),
            last_serving: Instant::now(),
            tick_ms: tick_ms.max(1),
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
        // Every shard numbers ticks from the same clock (since 2026-01-01 UTC,
        // so a u32 lasts years), so a snapshot's tick never goes back by more
        // than a tick when a client is handed to another shard's zone.
        let since_epoch = super::ledger::now_ms().saturating_sub(CLOCK_EPOCH_MS);
        host.align_ticks((since_epoch / self.tick_ms).saturating_sub(1));
        if let Some((at, _)) = &self.backup
            && Instant::now() >= *at
            && let Some((_, wanted)) = self.backup.take()
        {
            host.borders_mut().set_wanted(wanted);
        }
        while let Ok(event) = self.link.events.try_recv() {
            match event {
                LinkEvent::Up(shard) => {
                    self.send_serving(host, Some(shard));
                    host.introduce(shard);
                }
                LinkEvent::Message(from, Wire::Host(message)) => host.handle_link(from, message),
                LinkEvent::Message(_, Wire::Handoff { zone, message }) => {
                    host.borders_mut().deliver(zone, message);
                    return true;
                }
                LinkEvent::Message(from, Wire::Serving(zones)) => {
                    host.borders_mut().serving(ShardId(from), &zones);
                }
                LinkEvent::Down(shard) => {
                    host.borders_mut().shard_lost(ShardId(shard));
                    host.shard_lost(shard);
                }
            }
        }
        false
    }

    /// Sends what the host and the protocol have for other shards: handoff
    /// messages first (a commit reaches the destination before the avatar),
    /// then the hosts' messages, and which zones we serve when that changed.
    pub(crate) fn send(&mut self, host: &mut ZoneHost<ClusterBorders>) {
        for outgoing in host.borders_mut().take_messages() {
            let wire = Wire::Handoff {
                zone: outgoing.zone,
                message: outgoing.message,
            };
            self.link.sender.send(Some(outgoing.shard.0), &wire);
        }
        for (to, message) in host.take_link_messages() {
            let to = match to {
                LinkTo::Shard(shard) => Some(shard),
                LinkTo::Everyone => None,
            };
            self.link.sender.send(to, &Wire::Host(message));
        }
        if host.borders_mut().take_changed() || self.last_serving.elapsed() >= SERVING_EVERY {
            self.send_serving(host, None);
        }
    }

    fn send_serving(&mut self, host: &mut ZoneHost<ClusterBorders>, to: Option<u32>) {
        self.last_serving = Instant::now();
        let held = host.borders().held();
        self.link.sender.send(to, &Wire::Serving(held));
    }
}
