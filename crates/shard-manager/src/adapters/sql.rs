//! The ledger operations of the state machines, carried out by the SQL ledger in
//! `meridian-persistence` (the same rules as [`crate::MemoryLedger`], in one
//! transaction each, on PostgreSQL or SQLite).

use meridian_persistence::{
    ClaimOutcome, LeaseOutcome, MoveOutcome, Owner as SqlOwner, Store, StoreError,
};

use crate::ids::{EntityId, Epoch, Owner, ShardId, ZoneId};
use crate::ledger::{Lease, LedgerOp, LedgerReply};

/// The ledger in a database.
#[derive(Debug, Clone)]
pub struct SqlLedger {
    store: Store,
}

/// Why a ledger operation could not be answered. The operation may or may not
/// have been applied: the caller treats it as a lost reply and settles it by
/// reading the ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlLedgerError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored value does not fit the ledger's types (a corrupted row).
    #[error("the ledger holds a value out of range: {0}")]
    OutOfRange(&'static str),
}

fn to_sql(entity: EntityId, owner: Owner) -> Result<SqlOwner, SqlLedgerError> {
    Ok(SqlOwner {
        entity: i64::try_from(entity.0).map_err(|_| SqlLedgerError::OutOfRange("entity"))?,
        zone: i64::from(owner.zone.0),
        epoch: i64::try_from(owner.epoch.0).map_err(|_| SqlLedgerError::OutOfRange("epoch"))?,
        version: i64::try_from(owner.version).map_err(|_| SqlLedgerError::OutOfRange("version"))?,
    })
}

fn from_sql(row: &SqlOwner) -> Result<Owner, SqlLedgerError> {
    Ok(Owner {
        zone: ZoneId(u32::try_from(row.zone).map_err(|_| SqlLedgerError::OutOfRange("zone"))?),
        epoch: Epoch(u64::try_from(row.epoch).map_err(|_| SqlLedgerError::OutOfRange("epoch"))?),
        version: u64::try_from(row.version).map_err(|_| SqlLedgerError::OutOfRange("version"))?,
    })
}

fn signed(value: u64, what: &'static str) -> Result<i64, SqlLedgerError> {
    i64::try_from(value).map_err(|_| SqlLedgerError::OutOfRange(what))
}

/// A holder's name in the ledger: its shard id.
fn holder_name(holder: ShardId) -> String {
    holder.0.to_string()
}

impl SqlLedger {
    /// The ledger in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Carries out `op` at `now` (ms) and answers as [`crate::MemoryLedger`]
    /// would.
    pub async fn apply(&self, now: u64, op: &LedgerOp) -> Result<LedgerReply, SqlLedgerError> {
        let now_ms = signed(now, "now")?;
        Ok(match *op {
            LedgerOp::AcquireLease { zone, holder, ttl } => {
                let outcome = self
                    .store
                    .acquire_lease(
                        i64::from(zone.0),
                        &holder_name(holder),
                        now_ms,
                        signed(ttl, "ttl")?,
                    )
                    .await?;
                let (granted, lease) = match outcome {
                    LeaseOutcome::Granted(lease) => (true, lease),
                    LeaseOutcome::HeldBy(lease) => (false, lease),
                };
                LedgerReply::Lease {
                    granted,
                    lease: Lease {
                        holder: ShardId(
                            lease
                                .holder
                                .parse()
                                .map_err(|_| SqlLedgerError::OutOfRange("holder"))?,
                        ),
                        epoch: Epoch(
                            u64::try_from(lease.epoch)
                                .map_err(|_| SqlLedgerError::OutOfRange("epoch"))?,
                        ),
                        expires_at: u64::try_from(lease.expires_at_ms).unwrap_or(0),
                    },
                }
            }
            LedgerOp::RenewLease {
                zone,
                holder,
                epoch,
                ttl,
            } => LedgerReply::Renewed(
                self.store
                    .renew_lease(
                        i64::from(zone.0),
                        &holder_name(holder),
                        signed(epoch.0, "epoch")?,
                        now_ms,
                        signed(ttl, "ttl")?,
                    )
                    .await?,
            ),
            LedgerOp::Claim {
                entity,
                zone,
                epoch,
            } => {
                let id = signed(entity.0, "entity")?;
                let outcome = self
                    .store
                    .claim_owner(id, i64::from(zone.0), signed(epoch.0, "epoch")?, now_ms)
                    .await?;
                let (claimed, row) = match outcome {
                    ClaimOutcome::Claimed(row) => (true, Some(row)),
                    ClaimOutcome::OwnedBy(row) => (false, Some(row)),
                    ClaimOutcome::NotLeaseHolder => (false, self.store.owner(id).await?),
                };
                LedgerReply::Claimed {
                    claimed,
                    owner: row.as_ref().map(from_sql).transpose()?,
                }
            }
            LedgerOp::Move {
                entity,
                from,
                to_zone,
                to_epoch,
            } => {
                let outcome = self
                    .store
                    .move_owner(
                        signed(entity.0, "entity")?,
                        to_sql(entity, from)?,
                        (i64::from(to_zone.0), signed(to_epoch.0, "epoch")?),
                        now_ms,
                    )
                    .await?;
                let (moved, row) = match outcome {
                    MoveOutcome::Moved(row) => (true, Some(row)),
                    MoveOutcome::Refused { current } => (false, current),
                };
                LedgerReply::Moved {
                    moved,
                    owner: row.as_ref().map(from_sql).transpose()?,
                }
            }
            LedgerOp::Read { entity } => LedgerReply::Owner(
                self.store
                    .owner(signed(entity.0, "entity")?)
                    .await?
                    .as_ref()
                    .map(from_sql)
                    .transpose()?,
            ),
            LedgerOp::OwnersIn { zone } => {
                let rows = self.store.owners_in(i64::from(zone.0)).await?;
                let mut owners = Vec::with_capacity(rows.len());
                for row in &rows {
                    let entity = u64::try_from(row.entity)
                        .map_err(|_| SqlLedgerError::OutOfRange("entity"))?;
                    owners.push((EntityId(entity), from_sql(row)?));
                }
                LedgerReply::Owners(owners)
            }
        })
    }
}
