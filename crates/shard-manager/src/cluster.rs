//! The handoff protocol for one shard of a cluster, plugged into its host
//! (`ZoneHost::with_borders`): the [`Leases`] hold the leases
//! of the zones this process simulates (renewing them, fencing itself when it
//! can no longer be sure of them, taking over zones whose lease lapsed), and
//! the zones of other shards are reached through messages the driver carries
//! over the shard link ([`ClusterBorders::take_messages`],
//! [`ClusterBorders::deliver`]). Which shard serves a zone is learned from the
//! shards' own announcements ([`ClusterBorders::serving`]); that is a hint for
//! routing only, every decision is still the ledger's.

use std::collections::HashMap;

use crate::host::{Borders, ZoneOwner};
use meridian_sim::Vec2;

use crate::handoff::{Avatar, Effect, PeerMessage};
use crate::ids::{EntityId, Epoch, Owner, ShardId, ZoneId};
use crate::leases::{LeaseEffect, LeaseTiming, Leases};
use crate::ledger::{LedgerOp, LedgerReply};
use crate::zone_map::ZoneMap;

/// Request ids from here on are this type's own (the shard's count from 1).
const OWN_REQUESTS: u64 = 1 << 62;

/// A handoff message for a zone of another shard.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The shard that serves the zone (as last announced).
    pub shard: ShardId,
    /// The zone.
    pub zone: ZoneId,
    /// The message.
    pub message: PeerMessage,
}

/// One shard's zones and handoffs.
#[derive(Debug)]
pub struct ClusterBorders {
    shard: Leases,
    map: ZoneMap,
    /// Per zone: the shard that last said it serves it, and under which epoch.
    announced: Vec<Option<(ShardId, Epoch)>>,
    /// Where each player stood at the last observation.
    observed: HashMap<EntityId, (ZoneId, Avatar)>,
    /// Players the ledger gave a zone before they were observed there.
    granted: HashMap<EntityId, (ZoneId, Owner)>,
    ledger: Vec<(u64, LedgerOp)>,
    messages: Vec<Outgoing>,
    committed: Vec<(u64, usize, usize)>,
    frozen_ticks: Vec<u32>,
    /// Claims asked, by request: a refused one may need a move.
    claims: HashMap<u64, (ZoneId, EntityId)>,
    /// Moves this type asked itself (a claim found the player's row in
    /// another zone): by request, the zone and player.
    moves: HashMap<u64, (ZoneId, EntityId)>,
    next_move: u64,
    /// The zones held changed since the last [`Self::take_changed`].
    changed: bool,
    now: u64,
}

impl ClusterBorders {
    /// Shard `id` of a world cut as `map`, trying to hold `wanted`.
    pub fn new(id: ShardId, map: ZoneMap, timing: LeaseTiming, wanted: Vec<ZoneId>) -> Self {
        Self {
            shard: Leases::new(id, map, timing, wanted),
            map,
            announced: vec![None; map.zone_count() as usize],
            observed: HashMap::new(),
            granted: HashMap::new(),
            ledger: Vec::new(),
            messages: Vec::new(),
            committed: Vec::new(),
            frozen_ticks: Vec::new(),
            claims: HashMap::new(),
            moves: HashMap::new(),
            next_move: OWN_REQUESTS,
            changed: true,
            now: 0,
        }
    }

    /// This shard's id.
    pub fn id(&self) -> ShardId {
        self.shard.id()
    }

    /// The zone map.
    pub fn map(&self) -> &ZoneMap {
        &self.map
    }

    /// The zones it tries to hold from now on.
    pub fn set_wanted(&mut self, wanted: Vec<ZoneId>) {
        self.shard.set_wanted(wanted);
    }

    /// The zones this shard simulates, with their epochs.
    pub fn held(&self) -> Vec<(ZoneId, Epoch)> {
        self.shard.zones().collect()
    }

    /// How many zones this shard simulates.
    pub fn zone_count(&self) -> usize {
        self.shard.zones().count()
    }

    /// Whether the zones held changed since the last call (to announce them).
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// The clock (milliseconds, the same clock the ledger's leases use); set it
    /// before each tick and before handing in answers.
    pub fn set_clock(&mut self, now: u64) {
        self.now = now;
    }

    /// Ledger operations to carry out; answer each with [`Self::on_ledger`] or
    /// [`Self::on_ledger_lost`].
    pub fn take_ledger_requests(&mut self) -> Vec<(u64, LedgerOp)> {
        std::mem::take(&mut self.ledger)
    }

    /// Handoff messages for other shards' zones.
    pub fn take_messages(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.messages)
    }

    /// How many ticks each handoff committed since the last call kept its
    /// player frozen.
    pub fn take_frozen_ticks(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.frozen_ticks)
    }

    /// The ledger answered `request`.
    pub fn on_ledger(&mut self, request: u64, reply: &LedgerReply) {
        if let Some((zone, entity)) = self.moves.remove(&request) {
            if let LedgerReply::Moved {
                moved: true,
                owner: Some(owner),
            } = reply
            {
                self.adopt(zone, entity, *owner);
            }
            // Not moved: the row changed meanwhile; the next attach claims again.
            self.run_effects();
            return;
        }
        if let Some((zone, entity)) = self.claims.remove(&request)
            && let LedgerReply::Claimed {
                claimed: false,
                owner: Some(row),
            } = reply
        {
            self.claimed_elsewhere(zone, entity, *row);
        }
        self.shard.on_ledger(self.now, request, reply);
        self.run_effects();
    }

    /// The answer to `request` will not come.
    pub fn on_ledger_lost(&mut self, request: u64) {
        self.claims.remove(&request);
        if self.moves.remove(&request).is_some() {
            // Its outcome is read back at the next attach or reconciliation.
            return;
        }
        self.shard.on_ledger_lost(self.now, request);
        self.run_effects();
    }

    /// A player simulated in `zone` (attached there after a restart or a
    /// takeover, where its last checkpoint put it) whose row names another
    /// zone: the row is moved here by the usual compare-and-set, which checks
    /// both zones' leases.
    fn claimed_elsewhere(&mut self, zone: ZoneId, entity: EntityId, row: Owner) {
        let Some(epoch) = self.shard.zone(zone).map(|authority| authority.epoch()) else {
            return;
        };
        if row.zone == zone || self.observed.get(&entity).is_none_or(|(at, _)| *at != zone) {
            return;
        }
        self.next_move += 1;
        self.moves.insert(self.next_move, (zone, entity));
        self.ledger.push((
            self.next_move,
            LedgerOp::Move {
                entity,
                from: row,
                to_zone: zone,
                to_epoch: epoch,
            },
        ));
    }

    /// A handoff message from another shard for `zone`; dropped if this
    /// shard does not hold the zone (the sender settles it with the ledger).
    pub fn deliver(&mut self, zone: ZoneId, message: PeerMessage) {
        self.shard.deliver(self.now, zone, message);
        self.run_effects();
    }

    /// Shard `from` says it serves exactly `zones` now. An announcement under
    /// an older epoch than one already heard is ignored.
    pub fn serving(&mut self, from: ShardId, zones: &[(ZoneId, Epoch)]) {
        for slot in &mut self.announced {
            if slot.is_some_and(|(shard, _)| shard == from) {
                *slot = None;
            }
        }
        for (zone, epoch) in zones {
            if let Some(slot) = self.announced.get_mut(zone.0 as usize)
                && slot.is_none_or(|(_, known)| known <= *epoch)
            {
                *slot = Some((from, *epoch));
            }
        }
    }

    /// The link to `shard` is gone: nothing it served is known to be served.
    pub fn shard_lost(&mut self, shard: ShardId) {
        self.serving(shard, &[]);
    }

    fn zone_id(zone: usize) -> ZoneId {
        ZoneId(u32::try_from(zone).unwrap_or(u32::MAX))
    }

    fn holds(&self, zone: ZoneId) -> bool {
        self.shard.zone(zone).is_some()
    }

    fn adopt(&mut self, zone: ZoneId, entity: EntityId, owner: Owner) {
        match self.observed.get(&entity) {
            Some(&(at, avatar)) if at == zone => {
                self.shard.loaded(self.now, zone, entity, owner, avatar);
            }
            // Not seen there yet: adopted at its first observation, and not
            // claimed again meanwhile (it may never come back).
            _ => {
                self.shard.absent(zone, entity);
                self.granted.insert(entity, (zone, owner));
            }
        }
    }

    /// Carries out what the shard asked for until it asks nothing more.
    fn run_effects(&mut self) {
        loop {
            let effects = self.shard.take_effects();
            if effects.is_empty() {
                return;
            }
            for effect in effects {
                match effect {
                    LeaseEffect::Ledger { request, op } => {
                        if let LedgerOp::Claim { entity, zone, .. } = op {
                            self.claims.insert(request, (zone, entity));
                        }
                        self.ledger.push((request, op));
                    }
                    LeaseEffect::Load {
                        zone,
                        entity,
                        owner,
                    } => self.adopt(zone, entity, owner),
                    LeaseEffect::Gained { zone, epoch } => {
                        self.announced[zone.0 as usize] = Some((self.shard.id(), epoch));
                        self.changed = true;
                    }
                    LeaseEffect::Lost { zone } => {
                        if self.announced[zone.0 as usize]
                            .is_some_and(|(shard, _)| shard == self.shard.id())
                        {
                            self.announced[zone.0 as usize] = None;
                        }
                        // Its players are not ours to observe or adopt now.
                        self.observed.retain(|_, (at, _)| *at != zone);
                        self.granted.retain(|_, (at, _)| *at != zone);
                        self.changed = true;
                    }
                    LeaseEffect::Zone { zone, effect } => self.zone_effect(zone, effect),
                }
            }
        }
    }

    fn zone_effect(&mut self, zone: ZoneId, effect: Effect) {
        match effect {
            Effect::Send { to, message } => {
                if self.holds(to) {
                    self.shard.deliver(self.now, to, message);
                } else if let Some((shard, _)) =
                    self.announced.get(to.0 as usize).copied().flatten()
                {
                    self.messages.push(Outgoing {
                        shard,
                        zone: to,
                        message,
                    });
                }
                // Nobody known serves it: the message is lost, which the
                // protocol settles (a prepare unanswered, a commit read back).
            }
            Effect::Route { entity, to } if to != zone => {
                self.committed
                    .push((entity.0, zone.0 as usize, to.0 as usize));
                if !self.holds(to) {
                    // Simulated by another shard from now on.
                    self.observed.remove(&entity);
                    self.granted.remove(&entity);
                }
            }
            Effect::HandedOff { frozen_ticks, .. } => {
                // Bounded: the driver takes them every tick.
                if self.frozen_ticks.len() < 65_536 {
                    self.frozen_ticks.push(frozen_ticks);
                }
            }
            // The shard turns a zone's ledger effects into requests itself.
            Effect::Ledger(_)
            | Effect::Route { .. }
            | Effect::Keyframe { .. }
            | Effect::Applied { .. }
            | Effect::NotHere { .. } => {}
        }
    }
}

impl Borders for ClusterBorders {
    fn zone_at(&self, position: Vec2) -> usize {
        self.map.index_at(position)
    }

    fn ghost_targets(&self, zone: usize, position: Vec2, reach: f32, out: &mut Vec<usize>) {
        self.map.ghost_indices(zone, position, reach, out);
    }

    fn owner(&self, zone: usize) -> ZoneOwner {
        let id = Self::zone_id(zone);
        if self.holds(id) {
            return ZoneOwner::Here;
        }
        match self.announced.get(zone).copied().flatten() {
            Some((shard, _)) if shard != self.shard.id() => ZoneOwner::Shard(shard.0),
            _ => ZoneOwner::Nobody,
        }
    }

    fn zone_bounds(&self, zone: usize) -> Option<(Vec2, Vec2)> {
        Some(self.map.bounds(Self::zone_id(zone)))
    }

    fn joined(&mut self, account: u64, zone: usize) {
        self.shard
            .join(self.now, Self::zone_id(zone), EntityId(account));
        self.run_effects();
    }

    fn left(&mut self, account: u64, zone: usize) {
        let entity = EntityId(account);
        self.observed.remove(&entity);
        self.granted.remove(&entity);
        self.shard.forget(self.now, Self::zone_id(zone), entity);
        self.run_effects();
    }

    fn is_frozen(&self, account: u64, zone: usize) -> bool {
        self.shard
            .zone(Self::zone_id(zone))
            .is_some_and(|authority| authority.is_frozen(EntityId(account)))
    }

    fn observe(&mut self, account: u64, zone: usize, position: Vec2, last_input: u32) {
        let entity = EntityId(account);
        let zone = Self::zone_id(zone);
        self.observed.insert(
            entity,
            (
                zone,
                Avatar {
                    position,
                    last_input,
                },
            ),
        );
        self.shard
            .observe(self.now, zone, entity, position, last_input);
        if let Some((granted, owner)) = self.granted.remove(&entity) {
            self.adopt(granted, entity, owner);
        }
        self.run_effects();
    }

    fn advance(&mut self) -> Vec<(u64, usize, usize)> {
        self.shard.tick(self.now);
        self.run_effects();
        std::mem::take(&mut self.committed)
    }
}
