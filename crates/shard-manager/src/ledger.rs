//! The ownership ledger's rules, as operations and replies.
//!
//! The ledger decides who owns what; everything else only carries hints. A zone
//! lease gives one shard the right to simulate a zone for a while, under an
//! epoch that grows with every new tenure (the fencing token). A player's owner
//! row names its zone, that zone's epoch and a version, and moves only by one
//! compare-and-set that also checks both zones' leases.
//!
//! [`MemoryLedger`] applies the rules in memory: it is the model the
//! deterministic simulation runs against, and the specification the SQL ledger
//! in `meridian-persistence` (`Store::acquire_lease`, `Store::move_owner`, ...)
//! follows. Times are milliseconds on the ledger's clock.

use std::collections::BTreeMap;

use crate::ids::{EntityId, Epoch, Owner, ShardId, ZoneId};

/// One tenure of a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Who holds it.
    pub holder: ShardId,
    /// Its fencing token.
    pub epoch: Epoch,
    /// It lapses at this time (ms); a lease is valid while `now < expires_at`.
    pub expires_at: u64,
}

/// What a shard asks the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerOp {
    /// Take (or keep) a zone: granted if free, lapsed, or already ours.
    AcquireLease {
        /// Which zone.
        zone: ZoneId,
        /// Who asks.
        holder: ShardId,
        /// For how long, ms.
        ttl: u64,
    },
    /// Extend a lease we hold under `epoch`, if it has not lapsed.
    RenewLease {
        /// Which zone.
        zone: ZoneId,
        /// Who asks.
        holder: ShardId,
        /// The tenure being extended.
        epoch: Epoch,
        /// For how long, ms.
        ttl: u64,
    },
    /// Take a player into `zone` under `epoch`: one with no row, or one whose
    /// row already names this zone under an older epoch (a takeover: the
    /// version goes up) or the same epoch (asked again: nothing changes).
    Claim {
        /// Which player.
        entity: EntityId,
        /// Into which zone.
        zone: ZoneId,
        /// The claimant's lease epoch.
        epoch: Epoch,
    },
    /// The handoff's compare-and-set.
    Move {
        /// Which player.
        entity: EntityId,
        /// The row as the source knows it.
        from: Owner,
        /// The destination zone.
        to_zone: ZoneId,
        /// The destination's lease epoch.
        to_epoch: Epoch,
    },
    /// Who owns a player.
    Read {
        /// Which player.
        entity: EntityId,
    },
    /// Every player a zone owns (to reload after a takeover).
    OwnersIn {
        /// Which zone.
        zone: ZoneId,
    },
}

/// What a ledger operation is about. Operations on one key must be applied
/// in the order they were asked (a `Read` after a `Move` must see it); those on
/// different keys may run at once, as they do from different shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LedgerKey {
    /// A player's owner row.
    Entity(EntityId),
    /// A zone's lease, or the players it owns.
    Zone(ZoneId),
}

impl LedgerOp {
    /// What this operation reads or writes.
    pub fn key(&self) -> LedgerKey {
        match self {
            Self::AcquireLease { zone, .. }
            | Self::RenewLease { zone, .. }
            | Self::OwnersIn { zone } => LedgerKey::Zone(*zone),
            Self::Claim { entity, .. } | Self::Move { entity, .. } | Self::Read { entity } => {
                LedgerKey::Entity(*entity)
            }
        }
    }
}

/// What the ledger answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerReply {
    /// Granted, or held by someone else (the lease as it stands).
    Lease {
        /// Whether the caller holds it now.
        granted: bool,
        /// The lease.
        lease: Lease,
    },
    /// Whether a renewal took.
    Renewed(bool),
    /// A claim: the row after it, and whether it is the claimant's. `None` if
    /// the claimant does not hold the zone's lease under that epoch.
    Claimed {
        /// Whether the player is now the claimant's.
        claimed: bool,
        /// The row as it stands.
        owner: Option<Owner>,
    },
    /// A move: whether it applied, and the row as it stands after.
    Moved {
        /// Whether this call moved it.
        moved: bool,
        /// The row now.
        owner: Option<Owner>,
    },
    /// A read.
    Owner(Option<Owner>),
    /// A zone's players.
    Owners(Vec<(EntityId, Owner)>),
}

/// The ledger in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryLedger {
    leases: BTreeMap<ZoneId, Lease>,
    owners: BTreeMap<EntityId, Owner>,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// A zone's lease as it stands.
    pub fn lease(&self, zone: ZoneId) -> Option<Lease> {
        self.leases.get(&zone).copied()
    }

    /// A player's row.
    pub fn owner(&self, entity: EntityId) -> Option<Owner> {
        self.owners.get(&entity).copied()
    }

    fn holds(&self, zone: ZoneId, epoch: Epoch, now: u64) -> bool {
        self.leases
            .get(&zone)
            .is_some_and(|lease| lease.epoch == epoch && now < lease.expires_at)
    }

    /// Applies one operation atomically at `now`.
    pub fn apply(&mut self, now: u64, op: &LedgerOp) -> LedgerReply {
        match *op {
            LedgerOp::AcquireLease { zone, holder, ttl } => {
                let expires_at = now + ttl;
                let lease = match self.leases.get(&zone) {
                    None => Lease {
                        holder,
                        epoch: Epoch(1),
                        expires_at,
                    },
                    Some(lease) if now >= lease.expires_at => Lease {
                        holder,
                        epoch: Epoch(lease.epoch.0 + 1),
                        expires_at,
                    },
                    Some(lease) if lease.holder == holder => Lease {
                        expires_at,
                        ..*lease
                    },
                    Some(lease) => {
                        return LedgerReply::Lease {
                            granted: false,
                            lease: *lease,
                        };
                    }
                };
                self.leases.insert(zone, lease);
                LedgerReply::Lease {
                    granted: true,
                    lease,
                }
            }
            LedgerOp::RenewLease {
                zone,
                holder,
                epoch,
                ttl,
            } => match self.leases.get_mut(&zone) {
                Some(lease)
                    if lease.holder == holder && lease.epoch == epoch && now < lease.expires_at =>
                {
                    lease.expires_at = now + ttl;
                    LedgerReply::Renewed(true)
                }
                _ => LedgerReply::Renewed(false),
            },
            LedgerOp::Claim {
                entity,
                zone,
                epoch,
            } => {
                let current = self.owners.get(&entity).copied();
                if !self.holds(zone, epoch, now) {
                    return LedgerReply::Claimed {
                        claimed: false,
                        owner: current,
                    };
                }
                let claimed = match current {
                    None => Owner {
                        zone,
                        epoch,
                        version: 0,
                    },
                    Some(row) if row.zone == zone && row.epoch == epoch => row,
                    Some(row) if row.zone == zone && row.epoch < epoch => Owner {
                        epoch,
                        version: row.version + 1,
                        ..row
                    },
                    Some(row) => {
                        return LedgerReply::Claimed {
                            claimed: false,
                            owner: Some(row),
                        };
                    }
                };
                self.owners.insert(entity, claimed);
                LedgerReply::Claimed {
                    claimed: true,
                    owner: Some(claimed),
                }
            }
            LedgerOp::Move {
                entity,
                from,
                to_zone,
                to_epoch,
            } => {
                let current = self.owners.get(&entity).copied();
                let allowed = current == Some(from)
                    && self.holds(from.zone, from.epoch, now)
                    && self.holds(to_zone, to_epoch, now);
                if !allowed {
                    return LedgerReply::Moved {
                        moved: false,
                        owner: current,
                    };
                }
                let moved = Owner {
                    zone: to_zone,
                    epoch: to_epoch,
                    version: from.version + 1,
                };
                self.owners.insert(entity, moved);
                LedgerReply::Moved {
                    moved: true,
                    owner: Some(moved),
                }
            }
            LedgerOp::Read { entity } => LedgerReply::Owner(self.owners.get(&entity).copied()),
            LedgerOp::OwnersIn { zone } => LedgerReply::Owners(
                self.owners
                    .iter()
                    .filter(|(_, owner)| owner.zone == zone)
                    .map(|(entity, owner)| (*entity, *owner))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ZoneId = ZoneId(0);
    const B: ZoneId = ZoneId(1);
    const P: EntityId = EntityId(7);

    fn granted(ledger: &mut MemoryLedger, now: u64, zone: ZoneId, holder: u32) -> Epoch {
        match ledger.apply(
            now,
            &LedgerOp::AcquireLease {
                zone,
                holder: ShardId(holder),
                ttl: 1_000,
            },
        ) {
            LedgerReply::Lease {
                granted: true,
                lease,
            } => lease.epoch,
            other => panic!("not granted: {other:?}"),
        }
    }

    #[test]
    fn a_lapsed_lease_goes_to_the_next_holder_under_a_higher_epoch() {
        let mut ledger = MemoryLedger::new();
        assert_eq!(granted(&mut ledger, 0, A, 1), Epoch(1));
        let held = ledger.apply(
            500,
            &LedgerOp::AcquireLease {
                zone: A,
                holder: ShardId(2),
                ttl: 1_000,
            },
        );
        assert!(matches!(held, LedgerReply::Lease { granted: false, .. }));
        assert_eq!(granted(&mut ledger, 1_000, A, 2), Epoch(2));
        // The old holder, back from a pause, cannot renew: it is fenced out.
        let renew = LedgerOp::RenewLease {
            zone: A,
            holder: ShardId(1),
            epoch: Epoch(1),
            ttl: 1_000,
        };
        assert_eq!(ledger.apply(1_001, &renew), LedgerReply::Renewed(false));
    }

    #[test]
    fn a_move_applies_once_and_never_again() {
        let mut ledger = MemoryLedger::new();
        let a = granted(&mut ledger, 0, A, 1);
        let b = granted(&mut ledger, 0, B, 2);
        let claim = ledger.apply(
            1,
            &LedgerOp::Claim {
                entity: P,
                zone: A,
                epoch: a,
            },
        );
        let LedgerReply::Claimed {
            claimed: true,
            owner: Some(from),
        } = claim
        else {
            panic!("{claim:?}");
        };
        let op = LedgerOp::Move {
            entity: P,
            from,
            to_zone: B,
            to_epoch: b,
        };
        assert!(matches!(
            ledger.apply(2, &op),
            LedgerReply::Moved { moved: true, .. }
        ));
        assert!(matches!(
            ledger.apply(3, &op),
            LedgerReply::Moved {
                moved: false,
                owner: Some(Owner { zone: B, .. })
            }
        ));
        // Moving back and replaying the first move: the version fences it out.
        let back = LedgerOp::Move {
            entity: P,
            from: ledger.owner(P).expect("row"),
            to_zone: A,
            to_epoch: a,
        };
        assert!(matches!(
            ledger.apply(4, &back),
            LedgerReply::Moved { moved: true, .. }
        ));
        assert!(matches!(
            ledger.apply(5, &op),
            LedgerReply::Moved { moved: false, .. }
        ));
    }

    #[test]
    fn a_move_needs_both_leases() {
        let mut ledger = MemoryLedger::new();
        let a = granted(&mut ledger, 0, A, 1);
        let b = granted(&mut ledger, 0, B, 2);
        ledger.apply(
            0,
            &LedgerOp::Claim {
                entity: P,
                zone: A,
                epoch: a,
            },
        );
        let from = ledger.owner(P).expect("row");
        let op = LedgerOp::Move {
            entity: P,
            from,
            to_zone: B,
            to_epoch: b,
        };
        // Both leases lapsed at 1,000.
        assert!(matches!(
            ledger.apply(1_000, &op),
            LedgerReply::Moved { moved: false, .. }
        ));
    }
}
