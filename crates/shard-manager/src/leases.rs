//! One shard's side of the ledger, sans IO: which zones it holds and under
//! which epochs, renewing them, giving them up the moment it can no longer be
//! sure of them, taking over zones whose lease lapsed, and reloading their
//! players.
//!
//! A shard believes a lease until `sent + ttl − safety`, where `sent` is when it
//! sent the request that granted or renewed it: the ledger's expiry is at least
//! `sent + ttl`, so the shard always stops simulating a zone before anyone else
//! can be granted it. A shard that was paused past that point (a zombie) drops
//! its zones on its first tick back, before it simulates anything.

use std::collections::{BTreeMap, BTreeSet};

use crate::handoff::{Avatar, Effect, Input, PeerMessage, ZoneAuthority};
use crate::ids::{EntityId, Epoch, Owner, ShardId, ZoneId};
use crate::ledger::{LedgerOp, LedgerReply};
use crate::zone_map::ZoneMap;

/// Lease timing, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    /// How long a grant or renewal lasts.
    pub ttl: u64,
    /// How often a held lease is renewed.
    pub renew_every: u64,
    /// How much earlier than the lease's end the shard stops trusting it
    /// (covers clock drift between shard and ledger).
    pub safety: u64,
    /// How often a zone the shard wants but does not hold is asked for.
    pub acquire_every: u64,
    /// How often a held zone reads the ledger for players it should simulate
    /// and does not (repairs whatever a lost message left behind).
    pub reconcile_every: u64,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        Self {
            ttl: 5_000,
            renew_every: 1_000,
            safety: 500,
            acquire_every: 1_000,
            reconcile_every: 5_000,
        }
    }
}

/// What a shard asks its driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaseEffect {
    /// Send `op` to the ledger; answer with [`Leases::on_ledger`] or
    /// [`Leases::on_ledger_lost`] and the same `request`.
    Ledger {
        /// Names this request.
        request: u64,
        /// The operation.
        op: LedgerOp,
    },
    /// Read the player's last checkpoint and answer with [`Leases::loaded`].
    Load {
        /// The zone taking it.
        zone: ZoneId,
        /// Who.
        entity: EntityId,
        /// Its row now.
        owner: Owner,
    },
    /// Something a zone asked for (not a ledger operation).
    Zone {
        /// Which zone.
        zone: ZoneId,
        /// What.
        effect: Effect,
    },
    /// The shard now simulates this zone.
    Gained {
        /// Which.
        zone: ZoneId,
        /// Under which epoch.
        epoch: Epoch,
    },
    /// The shard stopped simulating this zone.
    Lost {
        /// Which.
        zone: ZoneId,
    },
}

#[derive(Debug, Clone)]
struct Tenure {
    authority: ZoneAuthority,
    /// Players whose rows name this zone but who are not in the world (they
    /// left, or nobody brought them back after a takeover): not claimed again
    /// at every reconciliation, only when they join.
    absent: BTreeSet<EntityId>,
    deadline: u64,
    last_renewal: u64,
    last_reconcile: u64,
}

#[derive(Debug, Clone)]
struct Request {
    op: LedgerOp,
    zone: Option<ZoneId>,
    sent: u64,
}

/// One shard.
#[derive(Debug, Clone)]
pub struct Leases {
    id: ShardId,
    map: ZoneMap,
    timing: LeaseTiming,
    wanted: Vec<ZoneId>,
    tenures: BTreeMap<ZoneId, Tenure>,
    requests: BTreeMap<u64, Request>,
    next_request: u64,
    last_asked: BTreeMap<ZoneId, u64>,
    effects: Vec<LeaseEffect>,
}

impl Leases {
    /// Shard `id`, which will try to hold the zones in `wanted`.
    pub fn new(id: ShardId, map: ZoneMap, timing: LeaseTiming, wanted: Vec<ZoneId>) -> Self {
        Self {
            id,
            map,
            timing,
            wanted,
            tenures: BTreeMap::new(),
            requests: BTreeMap::new(),
            next_request: 0,
            last_asked: BTreeMap::new(),
            effects: Vec::new(),
        }
    }

    /// Its id.
    pub fn id(&self) -> ShardId {
        self.id
    }

    /// The zones it simulates now, with their epochs.
    pub fn zones(&self) -> impl Iterator<Item = (ZoneId, Epoch)> + '_ {
        self.tenures
            .iter()
            .map(|(zone, tenure)| (*zone, tenure.authority.epoch()))
    }

    /// A zone it simulates.
    pub fn zone(&self, zone: ZoneId) -> Option<&ZoneAuthority> {
        self.tenures.get(&zone).map(|tenure| &tenure.authority)
    }

    /// What it asked for since the last call.
    pub fn take_effects(&mut self) -> Vec<LeaseEffect> {
        std::mem::take(&mut self.effects)
    }

    fn ask(&mut self, now: u64, zone: Option<ZoneId>, op: LedgerOp) {
        self.next_request += 1;
        let request = self.next_request;
        self.requests.insert(
            request,
            Request {
                op: op.clone(),
                zone,
                sent: now,
            },
        );
        self.effects.push(LeaseEffect::Ledger { request, op });
    }

    fn drop_zone(&mut self, zone: ZoneId) {
        if self.tenures.remove(&zone).is_some() {
            self.effects.push(LeaseEffect::Lost { zone });
        }
    }

    /// One tick at `now` (ms): fence, renew, ask for zones, step every zone.
    pub fn tick(&mut self, now: u64) {
        let doubtful: Vec<ZoneId> = self
            .tenures
            .iter()
            .filter(|(_, tenure)| now + self.timing.safety >= tenure.deadline)
            .map(|(zone, _)| *zone)
            .collect();
        for zone in doubtful {
            self.drop_zone(zone);
        }
        let renewals: Vec<(ZoneId, Epoch)> = self
            .tenures
            .iter_mut()
            .filter(|(_, tenure)| now >= tenure.last_renewal + self.timing.renew_every)
            .map(|(zone, tenure)| {
                tenure.last_renewal = now;
                (*zone, tenure.authority.epoch())
            })
            .collect();
        let reconcile: Vec<ZoneId> = self
            .tenures
            .iter_mut()
            .filter(|(_, tenure)| now >= tenure.last_reconcile + self.timing.reconcile_every)
            .map(|(zone, tenure)| {
                tenure.last_reconcile = now;
                *zone
            })
            .collect();
        for zone in reconcile {
            self.ask(now, Some(zone), LedgerOp::OwnersIn { zone });
        }
        for (zone, epoch) in renewals {
            let op = LedgerOp::RenewLease {
                zone,
                holder: self.id,
                epoch,
                ttl: self.timing.ttl,
            };
            self.ask(now, Some(zone), op);
        }
        for zone in self.wanted.clone() {
            let due = self
                .last_asked
                .get(&zone)
                .is_none_or(|last| now >= last + self.timing.acquire_every);
            if !self.tenures.contains_key(&zone) && due {
                self.last_asked.insert(zone, now);
                let op = LedgerOp::AcquireLease {
                    zone,
                    holder: self.id,
                    ttl: self.timing.ttl,
                };
                self.ask(now, Some(zone), op);
            }
        }
        let zones: Vec<ZoneId> = self.tenures.keys().copied().collect();
        for zone in zones {
            if let Some(tenure) = self.tenures.get_mut(&zone) {
                tenure.authority.tick();
            }
            self.drain(now, zone);
        }
    }

    fn drain(&mut self, now: u64, zone: ZoneId) {
        let Some(tenure) = self.tenures.get_mut(&zone) else {
            return;
        };
        for effect in tenure.authority.take_effects() {
            match effect {
                Effect::Ledger(op) => self.ask(now, Some(zone), op),
                effect => self.effects.push(LeaseEffect::Zone { zone, effect }),
            }
        }
    }

    /// Replaces the zones it tries to hold (held ones stay held and renewed;
    /// the driver only ever adds zones).
    pub fn set_wanted(&mut self, wanted: Vec<ZoneId>) {
        self.wanted = wanted;
    }

    /// Where a player of `zone` stands after a step, with its newest input.
    pub fn observe(
        &mut self,
        now: u64,
        zone: ZoneId,
        entity: EntityId,
        position: meridian_sim::Vec2,
        last_input: u32,
    ) {
        if let Some(tenure) = self.tenures.get_mut(&zone) {
            tenure.authority.observe(entity, position, last_input);
        }
        self.drain(now, zone);
    }

    /// A player of `zone` left the world.
    pub fn forget(&mut self, now: u64, zone: ZoneId, entity: EntityId) {
        if let Some(tenure) = self.tenures.get_mut(&zone) {
            tenure.authority.forget(entity);
            tenure.absent.insert(entity);
        }
        self.drain(now, zone);
    }

    /// A player the ledger gave `zone` is not in the world: do not claim it
    /// again until it joins.
    pub fn absent(&mut self, zone: ZoneId, entity: EntityId) {
        if let Some(tenure) = self.tenures.get_mut(&zone) {
            tenure.absent.insert(entity);
        }
    }

    /// A new player joins `zone` (if this shard holds it).
    pub fn join(&mut self, now: u64, zone: ZoneId, entity: EntityId) {
        if let Some(tenure) = self.tenures.get_mut(&zone) {
            tenure.absent.remove(&entity);
        }
        if let Some(epoch) = self.tenures.get(&zone).map(|t| t.authority.epoch()) {
            self.ask(
                now,
                Some(zone),
                LedgerOp::Claim {
                    entity,
                    zone,
                    epoch,
                },
            );
        }
    }

    /// The last checkpoint of a player asked for with [`LeaseEffect::Load`].
    pub fn loaded(
        &mut self,
        now: u64,
        zone: ZoneId,
        entity: EntityId,
        owner: Owner,
        avatar: Avatar,
    ) {
        if let Some(tenure) = self.tenures.get_mut(&zone)
            && tenure.authority.epoch() == owner.epoch
        {
            tenure.authority.adopt(entity, owner, avatar);
            tenure.absent.remove(&entity);
        }
        self.drain(now, zone);
    }

    /// An input for a player of `zone`.
    pub fn input(&mut self, zone: ZoneId, input: Input) -> bool {
        match self.tenures.get_mut(&zone) {
            Some(tenure) => {
                tenure.authority.input(input);
                true
            }
            None => false,
        }
    }

    /// A message for `zone` from another zone.
    pub fn deliver(&mut self, now: u64, zone: ZoneId, message: PeerMessage) -> bool {
        let Some(tenure) = self.tenures.get_mut(&zone) else {
            return false;
        };
        tenure.authority.on_message(message);
        self.drain(now, zone);
        true
    }

    /// The ledger answered `request`.
    pub fn on_ledger(&mut self, now: u64, request: u64, reply: &LedgerReply) {
        let Some(Request { op, zone, sent }) = self.requests.remove(&request) else {
            return;
        };
        match (&op, reply) {
            (LedgerOp::AcquireLease { zone, .. }, LedgerReply::Lease { granted, lease }) => {
                if !*granted || lease.holder != self.id {
                    return;
                }
                let deadline = sent + self.timing.ttl;
                match self.tenures.get_mut(zone) {
                    Some(tenure) if tenure.authority.epoch() == lease.epoch => {
                        tenure.deadline = tenure.deadline.max(deadline);
                    }
                    _ => {
                        // A new tenure (or a newer epoch than we knew): start afresh.
                        let authority = ZoneAuthority::new(*zone, lease.epoch, self.map);
                        self.tenures.insert(
                            *zone,
                            Tenure {
                                authority,
                                absent: BTreeSet::new(),
                                deadline,
                                last_renewal: sent,
                                last_reconcile: now,
                            },
                        );
                        self.effects.push(LeaseEffect::Gained {
                            zone: *zone,
                            epoch: lease.epoch,
                        });
                        self.ask(now, Some(*zone), LedgerOp::OwnersIn { zone: *zone });
                    }
                }
            }
            (LedgerOp::RenewLease { zone, epoch, .. }, LedgerReply::Renewed(renewed)) => {
                let Some(tenure) = self.tenures.get_mut(zone) else {
                    return;
                };
                if tenure.authority.epoch() != *epoch {
                    return;
                }
                if *renewed {
                    tenure.deadline = tenure.deadline.max(sent + self.timing.ttl);
                } else {
                    self.drop_zone(*zone);
                }
            }
            (LedgerOp::OwnersIn { zone }, LedgerReply::Owners(owners)) => {
                let Some(tenure) = self.tenures.get_mut(zone) else {
                    return;
                };
                // Only rows that still name the zone can be claimed by
                // mistake: the rest need no mark (this bounds the set).
                let named: BTreeSet<EntityId> = owners.iter().map(|(entity, _)| *entity).collect();
                tenure.absent.retain(|entity| named.contains(entity));
                let epoch = tenure.authority.epoch();
                let missing: Vec<EntityId> = owners
                    .iter()
                    .map(|(entity, _)| *entity)
                    .filter(|entity| {
                        !tenure.authority.knows(*entity) && !tenure.absent.contains(entity)
                    })
                    .collect();
                for entity in missing {
                    let claim = LedgerOp::Claim {
                        entity,
                        zone: *zone,
                        epoch,
                    };
                    self.ask(now, Some(*zone), claim);
                }
            }
            (LedgerOp::Claim { entity, zone, .. }, LedgerReply::Claimed { claimed, owner }) => {
                if let (true, Some(owner)) = (*claimed, owner) {
                    self.effects.push(LeaseEffect::Load {
                        zone: *zone,
                        entity: *entity,
                        owner: *owner,
                    });
                }
            }
            (LedgerOp::Move { .. } | LedgerOp::Read { .. }, _) => {
                if let Some(zone) = zone
                    && let Some(tenure) = self.tenures.get_mut(&zone)
                {
                    tenure.authority.on_ledger(&op, reply);
                    self.drain(now, zone);
                }
            }
            _ => {}
        }
    }

    /// The answer to `request` was lost (the driver knows it will not come).
    pub fn on_ledger_lost(&mut self, now: u64, request: u64) {
        let Some(Request { op, zone, .. }) = self.requests.remove(&request) else {
            return;
        };
        match op {
            LedgerOp::Move { .. } | LedgerOp::Read { .. } => {
                if let Some(zone) = zone
                    && let Some(tenure) = self.tenures.get_mut(&zone)
                {
                    tenure.authority.on_ledger_lost(&op);
                    self.drain(now, zone);
                }
            }
            // A lost claim may have applied or not: it is asked again (a claim
            // of one's own row is allowed and changes nothing), unless the
            // player left meanwhile. A player with no row yet would not be
            // found by reading the zone's owners.
            LedgerOp::Claim { entity, zone, .. } => {
                if let Some(tenure) = self.tenures.get(&zone)
                    && !tenure.absent.contains(&entity)
                    && !tenure.authority.knows(entity)
                {
                    let epoch = tenure.authority.epoch();
                    self.ask(
                        now,
                        Some(zone),
                        LedgerOp::Claim {
                            entity,
                            zone,
                            epoch,
                        },
                    );
                }
            }
            // A lost list of owners is simply asked again.
            LedgerOp::OwnersIn { zone } if self.tenures.contains_key(&zone) => {
                self.ask(now, Some(zone), LedgerOp::OwnersIn { zone });
            }
            // Lease requests are simply asked again on the next round.
            _ => {}
        }
    }
}
