//! One shard's side of the shard link, sans IO: what the link brings is
//! handed to the host and the handoff protocol, and what they have for other
//! shards is queued as [`LinkMessage`]s for the driver to carry.
//!
//! The driver owns the connections and the bytes; [`Peers`] owns the order and
//! the timing of what is said:
//!
//! ```text
//! let mut peers = Peers::new(now, &map, me, shards, tick);
//! loop {
//!     peers.handle_time(now, wall_ms, &mut host);
//!     for event in link_events {
//!         match event {
//!             Up(shard) => peers.handle_up(&mut host, shard),
//!             Message(from, message) => if peers.handle_message(&mut host, from, message) {
//!                 break; // a handoff message: answer it before the rest
//!             },
//!             Down(shard) => peers.handle_down(&mut host, shard),
//!         }
//!     }
//!     host.tick(now); // and the ledger's answers
//!     peers.collect(now, &mut host);
//!     while let Some((to, message)) = peers.poll_message() {
//!         link.send(to, &message); // `None`: every shard linked now
//!     }
//! }
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::LinkTo;
use crate::cluster::ClusterBorders;
use crate::handoff::PeerMessage;
use crate::host::ZoneHost;
use crate::ids::{Epoch, ShardId, ZoneId};
use crate::leases::LeaseTiming;
use crate::link::HostMessage;
use crate::zone_map::ZoneMap;

/// How long a new shard leaves the next shard's zones to it before it backs
/// them up (so shards started together each get their own share).
pub const BACKUP_AFTER: Duration = Duration::from_secs(5);

/// Where the cluster's tick count starts: 2026-01-01T00:00:00Z.
pub const CLOCK_EPOCH_MS: u64 = 1_767_225_600_000;

/// How often a shard says which zones it serves, even with no change.
pub const SERVING_EVERY: Duration = Duration::from_secs(1);

/// What shards say to each other. The shard link encodes it with postcard,
/// which numbers variants by position: a new variant goes last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LinkMessage {
    /// Between the hosts: attaching, inputs, frames, ghosts, handing in.
    Host(HostMessage),
    /// The handoff protocol, for one of the receiver's zones.
    Handoff {
        /// The zone.
        zone: ZoneId,
        /// The message.
        message: PeerMessage,
    },
    /// The zones the sender simulates now, with their epochs.
    Serving(Vec<(ZoneId, Epoch)>),
}

/// The zones shard `shard` (1-based) of `shards` holds first: zone `z` is
/// shard `z mod shards + 1`'s.
pub fn share(map: &ZoneMap, shard: u32, shards: u32) -> Vec<ZoneId> {
    map.zones()
        .filter(|zone| zone.0 % shards.max(1) + 1 == shard)
        .collect()
}

/// The handoff protocol of shard `me` of `shards`, wanting its own share,
/// its leases kept as `timing` says.
pub fn shard_borders(map: ZoneMap, me: u32, shards: u32, timing: LeaseTiming) -> ClusterBorders {
    ClusterBorders::new(ShardId(me), map, timing, share(&map, me, shards))
}

/// The first network id of players' avatars in a cluster cut as `map`: past
/// every zone's own range, so no two shards ever give one id to two avatars,
/// whoever took over which zone (for [`ZoneHost::link_as`]).
pub fn first_avatar_id(map: &ZoneMap) -> u32 {
    map.zone_count()
        .saturating_mul(crate::zone_map::IDS_PER_ZONE)
        .saturating_add(1)
}

/// One shard's side of the link: see the module's documentation.
#[derive(Debug)]
pub struct Peers {
    /// When to start wanting the next shard's share too, and that share
    /// with ours.
    backup: Option<(Instant, Vec<ZoneId>)>,
    /// When we last said which zones we serve.
    last_serving: Instant,
    /// A tick, in nanoseconds (a whole number of milliseconds would count
    /// faster than the zones step at 60 Hz, and skip ticks).
    tick_nanos: u128,
    /// For one shard (`Some`) or every shard linked now (`None`), in order.
    outgoing: VecDeque<(Option<u32>, LinkMessage)>,
}

impl Peers {
    /// Shard `me` of `shards`, started at `now`, ticking every `tick`.
    pub fn new(now: Instant, map: &ZoneMap, me: u32, shards: u32, tick: Duration) -> Self {
        let mut wanted = share(map, me, shards);
        if shards > 1 {
            wanted.extend(share(map, me % shards + 1, shards));
        }
        Self {
            backup: Some((now + BACKUP_AFTER, wanted)),
            last_serving: now,
            tick_nanos: tick.as_nanos().max(1),
            outgoing: VecDeque::new(),
        }
    }

    /// The zones tick every `tick` from now on (a designer changed the
    /// rate): the tick count follows the cluster's clock at that rate, one a
    /// step. (At the old rate, a slower zone's count would skip at every
    /// step, and so would whatever is due on some ticks only, such as a
    /// subscriber's view refresh.)
    pub fn set_tick(&mut self, tick: Duration) {
        self.tick_nanos = tick.as_nanos().max(1);
    }

    /// The time passed: the host's tick count follows the cluster's clock
    /// (`wall_ms`, Unix milliseconds), and after [`BACKUP_AFTER`] the shard
    /// also wants the next shard's share.
    pub fn handle_time(&mut self, now: Instant, wall_ms: u64, host: &mut ZoneHost<ClusterBorders>) {
        // Every shard numbers ticks from the same clock (since 2026-01-01 UTC,
        // so a u32 lasts years), so a snapshot's tick never goes back by more
        // than a tick when a client is handed to another shard's zone.
        let since_epoch = u128::from(wall_ms.saturating_sub(CLOCK_EPOCH_MS)) * 1_000_000;
        let ticks = u64::try_from(since_epoch / self.tick_nanos).unwrap_or(u64::MAX);
        host.align_ticks(ticks.saturating_sub(1));
        if let Some((at, _)) = &self.backup
            && now >= *at
            && let Some((_, wanted)) = self.backup.take()
        {
            host.borders_mut().set_wanted(wanted);
        }
    }

    /// The link to `shard` is up: it hears which zones we serve, and the
    /// host introduces its players to it.
    pub fn handle_up(&mut self, host: &mut ZoneHost<ClusterBorders>, shard: u32) {
        self.outgoing
            .push_back((Some(shard), LinkMessage::Serving(host.borders().held())));
        host.introduce(shard);
    }

    /// A message from shard `from`. Says `true` after a handoff message, whose
    /// answer should go out (collect, then poll) before the rest of what came
    /// is handled.
    pub fn handle_message(
        &mut self,
        host: &mut ZoneHost<ClusterBorders>,
        from: u32,
        message: LinkMessage,
    ) -> bool {
        match message {
            LinkMessage::Host(message) => {
                host.handle_link(from, message);
                false
            }
            LinkMessage::Handoff { zone, message } => {
                host.borders_mut().deliver(zone, message);
                true
            }
            LinkMessage::Serving(zones) => {
                host.borders_mut().serving(ShardId(from), &zones);
                false
            }
        }
    }

    /// The link to `shard` is down.
    pub fn handle_down(&mut self, host: &mut ZoneHost<ClusterBorders>, shard: u32) {
        host.borders_mut().shard_lost(ShardId(shard));
        host.shard_lost(shard);
    }

    /// Queues what the host and the protocol have for other shards: handoff
    /// messages first (a commit reaches the destination before the avatar),
    /// then the host's messages, and which zones we serve when that changed
    /// or [`SERVING_EVERY`] passed.
    pub fn collect(&mut self, now: Instant, host: &mut ZoneHost<ClusterBorders>) {
        for outgoing in host.borders_mut().take_messages() {
            let message = LinkMessage::Handoff {
                zone: outgoing.zone,
                message: outgoing.message,
            };
            self.outgoing.push_back((Some(outgoing.shard.0), message));
        }
        for (to, message) in host.take_link_messages() {
            let to = match to {
                LinkTo::Shard(shard) => Some(shard),
                LinkTo::Everyone => None,
            };
            self.outgoing.push_back((to, LinkMessage::Host(message)));
        }
        if host.borders_mut().take_changed()
            || now.saturating_duration_since(self.last_serving) >= SERVING_EVERY
        {
            self.last_serving = now;
            self.outgoing
                .push_back((None, LinkMessage::Serving(host.borders().held())));
        }
    }

    /// The next message to send: to one shard (`Some`) or to every shard
    /// linked now (`None`).
    pub fn poll_message(&mut self) -> Option<(Option<u32>, LinkMessage)> {
        self.outgoing.pop_front()
    }
}
