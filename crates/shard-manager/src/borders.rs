//! The handoff protocol plugged into a host of several zones
//! (`ZoneHost::with_borders`): one [`ZoneAuthority`] per zone,
//! zone-to-zone messages delivered in process, ledger operations handed to the
//! driver ([`ZoneBorders::take_ledger_requests`]) and their answers taken back
//! ([`ZoneBorders::on_ledger`]).

use std::collections::HashMap;

use crate::host::Borders;
use meridian_sim::{SimConfig, Vec2};

use crate::handoff::{Avatar, Effect, ZoneAuthority};
use crate::ids::{EntityId, Epoch, Owner, ZoneId};
use crate::ledger::{LedgerOp, LedgerReply};
use crate::zone_map::ZoneMap;

/// Network ids each zone may hand out.
pub const IDS_PER_ZONE: u32 = 1 << 20;

/// The settings of zone `zone` of `map`: the map's whole world (zones share
/// world coordinates) and the zone's own range of network ids.
pub fn zone_config(map: &ZoneMap, zone: ZoneId, sim: &SimConfig) -> SimConfig {
    let world = map.world_size();
    SimConfig {
        world_width: world.x,
        world_height: world.y,
        first_network_id: 1 + zone.0 * IDS_PER_ZONE,
        ..sim.clone()
    }
}

/// Handoffs between the zones of one process.
#[derive(Debug)]
pub struct ZoneBorders {
    map: ZoneMap,
    authorities: Vec<ZoneAuthority>,
    /// Where each player stood at the last observation (to adopt it once the
    /// ledger grants the claim).
    observed: HashMap<EntityId, (usize, Avatar)>,
    /// Claims granted before the player was first observed.
    granted: HashMap<EntityId, (usize, Owner)>,
    next_request: u64,
    requests: HashMap<u64, (usize, LedgerOp)>,
    outbox: Vec<(u64, LedgerOp)>,
    committed: Vec<(u64, usize, usize)>,
    frozen_ticks: Vec<u32>,
    /// Players who appeared in one zone while the ledger names another of
    /// ours (a restart after a handoff the last checkpoint had not caught up
    /// with): the zone they are being moved to.
    relocating: HashMap<EntityId, usize>,
}

impl ZoneBorders {
    /// Every zone of `map`, held under the lease epochs in `epochs` (one per
    /// zone, in zone order).
    pub fn new(map: ZoneMap, epochs: &[Epoch]) -> Self {
        let authorities = map
            .zones()
            .zip(epochs)
            .map(|(zone, epoch)| ZoneAuthority::new(zone, *epoch, map))
            .collect();
        Self {
            map,
            authorities,
            observed: HashMap::new(),
            granted: HashMap::new(),
            next_request: 0,
            requests: HashMap::new(),
            outbox: Vec::new(),
            committed: Vec::new(),
            frozen_ticks: Vec::new(),
            relocating: HashMap::new(),
        }
    }

    /// The zone map.
    pub fn map(&self) -> &ZoneMap {
        &self.map
    }

    /// How many ticks each handoff committed since the last call kept its
    /// player frozen.
    pub fn take_frozen_ticks(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.frozen_ticks)
    }

    /// Ledger operations to carry out; answer each with [`Self::on_ledger`].
    pub fn take_ledger_requests(&mut self) -> Vec<(u64, LedgerOp)> {
        std::mem::take(&mut self.outbox)
    }

    /// The ledger answered `request`.
    pub fn on_ledger(&mut self, request: u64, reply: &LedgerReply) {
        let Some((zone, op)) = self.requests.remove(&request) else {
            return;
        };
        match (&op, reply) {
            (
                LedgerOp::Claim { entity, .. },
                LedgerReply::Claimed {
                    claimed: true,
                    owner: Some(owner),
                },
            ) => match self.relocating.get(entity).copied() {
                // Claimed where the ledger had it; now move it to where it is.
                Some(target) if target != zone => self.relocate(*entity, *owner, target),
                _ => self.adopt(zone, *entity, *owner),
            },
            (
                LedgerOp::Claim { entity, .. },
                LedgerReply::Claimed {
                    claimed: false,
                    owner: Some(row),
                },
            ) => self.claimed_elsewhere(zone, *entity, *row),
            (LedgerOp::Move { entity, .. }, LedgerReply::Moved { moved, owner })
                if self.relocating.get(entity) == Some(&zone) =>
            {
                self.relocating.remove(entity);
                match (moved, owner) {
                    (true, Some(owner)) => self.adopt(zone, *entity, *owner),
                    // Someone moved it meanwhile: start over with a claim.
                    _ => self.claim(*entity, zone),
                }
            }
            _ => {
                if let Some(authority) = self.authorities.get_mut(zone) {
                    authority.on_ledger(&op, reply);
                }
            }
        }
        self.run_effects();
    }

    /// The answer to `request` will not come: a claim is asked again, anything
    /// else is settled by reading the ledger.
    pub fn on_ledger_lost(&mut self, request: u64) {
        let Some((zone, op)) = self.requests.remove(&request) else {
            return;
        };
        if matches!(op, LedgerOp::Claim { .. }) {
            self.ask(zone, op);
            return;
        }
        if let Some(authority) = self.authorities.get_mut(zone) {
            authority.on_ledger_lost(&op);
        }
        self.run_effects();
    }

    fn claim(&mut self, entity: EntityId, zone: usize) {
        let (Some(epoch), Ok(zone_id)) = (
            self.authorities.get(zone).map(ZoneAuthority::epoch),
            u32::try_from(zone),
        ) else {
            return;
        };
        self.ask(
            zone,
            LedgerOp::Claim {
                entity,
                zone: ZoneId(zone_id),
                epoch,
            },
        );
    }

    /// A claim in `zone` was refused because the ledger names another zone.
    /// If that zone is ours, the player is claimed there under its current
    /// epoch and then moved to `zone` by the usual compare-and-set.
    fn claimed_elsewhere(&mut self, zone: usize, entity: EntityId, row: Owner) {
        let elsewhere = row.zone.0 as usize;
        if elsewhere == zone || elsewhere >= self.authorities.len() {
            return;
        }
        self.relocating.insert(entity, zone);
        self.claim(entity, elsewhere);
    }

    fn relocate(&mut self, entity: EntityId, from: Owner, target: usize) {
        let (Some(epoch), Ok(zone_id)) = (
            self.authorities.get(target).map(ZoneAuthority::epoch),
            u32::try_from(target),
        ) else {
            return;
        };
        self.ask(
            target,
            LedgerOp::Move {
                entity,
                from,
                to_zone: ZoneId(zone_id),
                to_epoch: epoch,
            },
        );
    }

    fn ask(&mut self, zone: usize, op: LedgerOp) {
        self.next_request += 1;
        self.requests.insert(self.next_request, (zone, op.clone()));
        self.outbox.push((self.next_request, op));
    }

    fn adopt(&mut self, zone: usize, entity: EntityId, owner: Owner) {
        let Some(&(at, avatar)) = self.observed.get(&entity) else {
            // Not seen yet: adopted at its first observation.
            self.granted.insert(entity, (zone, owner));
            return;
        };
        if at != zone {
            return;
        }
        if let Some(authority) = self.authorities.get_mut(zone) {
            authority.adopt(entity, owner, avatar);
            // Its route and keyframe are where it already is.
            authority.take_effects();
        }
    }

    /// Carries out what the authorities asked for until none asks more.
    fn run_effects(&mut self) {
        loop {
            let mut effects = Vec::new();
            for (zone, authority) in self.authorities.iter_mut().enumerate() {
                effects.extend(authority.take_effects().into_iter().map(|e| (zone, e)));
            }
            if effects.is_empty() {
                return;
            }
            for (zone, effect) in effects {
                match effect {
                    Effect::Send { to, message } => {
                        if let Some(target) = self.authorities.get_mut(to.0 as usize) {
                            target.on_message(message);
                        }
                    }
                    Effect::Ledger(op) => self.ask(zone, op),
                    Effect::Route { entity, to } => {
                        self.committed.push((entity.0, zone, to.0 as usize));
                    }
                    Effect::HandedOff { frozen_ticks, .. } => {
                        // Bounded: the driver takes them every tick.
                        if self.frozen_ticks.len() < 65_536 {
                            self.frozen_ticks.push(frozen_ticks);
                        }
                    }
                    Effect::Keyframe { .. } | Effect::Applied { .. } | Effect::NotHere { .. } => {}
                }
            }
        }
    }
}

impl Borders for ZoneBorders {
    fn zone_at(&self, position: Vec2) -> usize {
        self.map.index_at(position)
    }

    fn ghost_targets(&self, zone: usize, position: Vec2, reach: f32, out: &mut Vec<usize>) {
        self.map.ghost_indices(zone, position, reach, out);
    }

    fn joined(&mut self, account: u64, zone: usize) {
        self.claim(EntityId(account), zone);
    }

    fn left(&mut self, account: u64, zone: usize) {
        let entity = EntityId(account);
        self.observed.remove(&entity);
        self.granted.remove(&entity);
        self.relocating.remove(&entity);
        if let Some(authority) = self.authorities.get_mut(zone) {
            authority.forget(entity);
        }
        self.run_effects();
    }

    fn is_frozen(&self, account: u64, zone: usize) -> bool {
        self.authorities
            .get(zone)
            .is_some_and(|authority| authority.is_frozen(EntityId(account)))
    }

    fn observe(&mut self, account: u64, zone: usize, position: Vec2, last_input: u32) {
        let entity = EntityId(account);
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
        if let Some(authority) = self.authorities.get_mut(zone) {
            authority.observe(entity, position, last_input);
        }
        if let Some((granted_zone, owner)) = self.granted.remove(&entity) {
            self.adopt(granted_zone, entity, owner);
        }
    }

    fn advance(&mut self) -> Vec<(u64, usize, usize)> {
        for authority in &mut self.authorities {
            authority.tick();
        }
        self.run_effects();
        std::mem::take(&mut self.committed)
    }
}
