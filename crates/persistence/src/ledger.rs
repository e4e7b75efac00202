//! The ownership ledger of spatial sharding: zone leases with fencing epochs,
//! and the owner row of every entity, moved between zones by one
//! compare-and-set.
//!
//! A shard process serves a zone only while it holds the zone's lease. Each new
//! holder of a lease (after the old one expired or was released) gets the next
//! epoch, so a process that stalled past its lease (a zombie) still carries the
//! old epoch and every write it fences with that epoch is refused. An entity's
//! owner row names the (zone, epoch) that owns it and a version that every
//! write of the row raises; a handoff moves it with [`Store::move_owner`],
//! which checks the whole row (zone, epoch and version) and both leases in the
//! same transaction. The version is what stops an old move from applying again
//! after the entity went A → B → A: the zone and epoch are A's again, the
//! version is not.
//!
//! The rules are those of `MemoryLedger::apply` in `meridian-shard-manager`
//! (the specification). One difference is in the replies only: a refused claim
//! there carries the owner row as it stands, here it is
//! [`ClaimOutcome::OwnedBy`] that row or, when the lease is not the caller's,
//! [`ClaimOutcome::NotLeaseHolder`] without it (read it with [`Store::owner`]).
//!
//! Times are milliseconds chosen by the caller; nothing here reads a clock. A
//! lease is expired at `now` when `expires_at <= now`.
//!
//! # Concurrency
//!
//! Every write is a conditional `UPDATE ... WHERE` or an
//! `INSERT ... ON CONFLICT DO NOTHING` whose affected-row count decides the
//! outcome. Operations that depend on a lease they do not change
//! ([`Store::claim_owner`], [`Store::move_owner`]) first touch that lease row
//! with a no-op conditional update: on PostgreSQL this locks the row until
//! commit (a portable `SELECT ... FOR UPDATE`), so a takeover cannot commit
//! between the check and the write; on SQLite `BEGIN IMMEDIATE` already runs
//! writers one at a time. Lease rows are locked in ascending zone order and an
//! owner row only after them, so two transactions never wait on each other in
//! a cycle.

use sqlx::{Any, Transaction};

use crate::error::StoreError;
use crate::store::Store;

/// How many times [`Store::acquire_lease`] re-reads the lease when another
/// writer changed it between its read and its write.
const CONFLICT_RETRIES: usize = 3;

/// A zone's lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The zone.
    pub zone: i64,
    /// Who holds (or last held) it: the shard process's name.
    pub holder: String,
    /// The fencing token: 1 for the first holder, one more for each new holder.
    pub epoch: i64,
    /// When it expires, in the caller's milliseconds; expired when `<= now`.
    pub expires_at_ms: i64,
}

/// Which zone, under which lease epoch, owns an entity, and how many times
/// the row has been written since it was first claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The entity.
    pub entity: i64,
    /// The zone that owns it.
    pub zone: i64,
    /// The epoch of that zone's lease when it took the entity.
    pub epoch: i64,
    /// 0 when first claimed; one more after each re-claim and each move, so a
    /// compare-and-set against an older row can never apply again.
    pub version: i64,
}

/// What became of [`Store::acquire_lease`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// The caller holds the lease now (new, taken over, or renewed).
    Granted(Lease),
    /// Someone else holds it, unexpired; nothing was written.
    HeldBy(Lease),
}

/// What became of [`Store::claim_owner`].
///
/// A refused claim writes nothing. Unlike the in-memory model, whose refused
/// claim always carries the owner row as it stands, [`ClaimOutcome::NotLeaseHolder`]
/// carries no row: the lease check comes first and the row is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The entity is owned by the caller's (zone, epoch) now: the row as
    /// written, version 0 if it is new, the old version + 1 if the epoch went
    /// up, unchanged if it was already the caller's.
    Claimed(Owner),
    /// Another zone (or a later epoch of this zone) owns it; nothing was
    /// written. The row as it stands.
    OwnedBy(Owner),
    /// The zone's lease does not have the caller's epoch, or has expired;
    /// nothing was written. [`Store::owner`] reads the row if it is needed.
    NotLeaseHolder,
}

/// What became of [`Store::move_owner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveOutcome {
    /// The entity is owned by the destination now.
    Moved(Owner),
    /// The owner row or a lease did not match; nothing was written.
    Refused {
        /// The owner row as it is (None if the entity has none).
        current: Option<Owner>,
    },
}

impl Store {
    /// Takes `zone`'s lease for `holder` until `now_ms + ttl_ms`.
    ///
    /// With no lease row the caller gets epoch 1. If the lease is expired at
    /// `now_ms`, whoever held it, the caller gets the old epoch + 1. If `holder`
    /// already holds it unexpired, it is renewed with the same epoch. Otherwise
    /// it is [`LeaseOutcome::HeldBy`] the current holder.
    pub async fn acquire_lease(
        &self,
        zone: i64,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<LeaseOutcome, StoreError> {
        let expires_at_ms = now_ms.saturating_add(ttl_ms);
        for _ in 0..CONFLICT_RETRIES {
            let mut transaction = self.begin_write().await?;
            let current = read_lease(&mut transaction, zone).await?;
            let (epoch, written) = match current {
                None => {
                    let written = sqlx::query(
                        "INSERT INTO zone_leases (zone_id, holder, epoch, expires_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (zone_id) DO NOTHING",
                    )
                    .bind(zone)
                    .bind(holder)
                    .bind(1_i64)
                    .bind(expires_at_ms)
                    .execute(&mut *transaction)
                    .await?
                    .rows_affected();
                    (1, written)
                }
                Some(current) if current.expires_at_ms <= now_ms => {
                    // A takeover: compare-and-set on the whole row that was read.
                    let epoch = current.epoch + 1;
                    let written = sqlx::query(
                        "UPDATE zone_leases SET holder = $1, epoch = $2, expires_at = $3 \
                         WHERE zone_id = $4 AND holder = $5 AND epoch = $6 AND expires_at = $7",
                    )
                    .bind(holder)
                    .bind(epoch)
                    .bind(expires_at_ms)
                    .bind(zone)
                    .bind(current.holder)
                    .bind(current.epoch)
                    .bind(current.expires_at_ms)
                    .execute(&mut *transaction)
                    .await?
                    .rows_affected();
                    (epoch, written)
                }
                Some(current) if current.holder == holder => {
                    let written = renew(
                        &mut transaction,
                        zone,
                        holder,
                        current.epoch,
                        now_ms,
                        expires_at_ms,
                    )
                    .await?;
                    (current.epoch, written)
                }
                Some(current) => {
                    transaction.rollback().await?;
                    return Ok(LeaseOutcome::HeldBy(current));
                }
            };
            if written != 1 {
                // Another writer changed the row since the read: read it again.
                transaction.rollback().await?;
                continue;
            }
            transaction.commit().await?;
            return Ok(LeaseOutcome::Granted(Lease {
                zone,
                holder: holder.to_owned(),
                epoch,
                expires_at_ms,
            }));
        }
        Err(StoreError::Conflict { what: "zone lease" })
    }

    /// Extends `zone`'s lease to `now_ms + ttl_ms`, only if `holder` holds it
    /// with `epoch` and it has not expired at `now_ms`. True if renewed.
    pub async fn renew_lease(
        &self,
        zone: i64,
        holder: &str,
        epoch: i64,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.begin_write().await?;
        let written = renew(
            &mut transaction,
            zone,
            holder,
            epoch,
            now_ms,
            now_ms.saturating_add(ttl_ms),
        )
        .await?;
        transaction.commit().await?;
        Ok(written == 1)
    }

    /// Gives `zone`'s lease up, only if `holder` holds it with `epoch`: it
    /// expires at once (`expires_at = 0`) and keeps its holder and epoch, so the
    /// next holder gets `epoch + 1`. True if released.
    pub async fn release_lease(
        &self,
        zone: i64,
        holder: &str,
        epoch: i64,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.begin_write().await?;
        let written = sqlx::query(
            "UPDATE zone_leases SET expires_at = $1 \
             WHERE zone_id = $2 AND holder = $3 AND epoch = $4",
        )
        .bind(0_i64)
        .bind(zone)
        .bind(holder)
        .bind(epoch)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        transaction.commit().await?;
        Ok(written == 1)
    }

    /// `zone`'s lease as stored, expired or not (None if it was never taken).
    pub async fn lease(&self, zone: i64) -> Result<Option<Lease>, StoreError> {
        let row: Option<(String, i64, i64)> =
            sqlx::query_as("SELECT holder, epoch, expires_at FROM zone_leases WHERE zone_id = $1")
                .bind(zone)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|row| lease_from_row(zone, row)))
    }

    /// Registers `entity` as owned by (`zone`, `epoch`).
    ///
    /// Allowed only while `zone`'s lease has exactly `epoch` and is unexpired at
    /// `now_ms` (else [`ClaimOutcome::NotLeaseHolder`], whatever the owner row).
    /// An entity with no owner row is inserted with version 0; one owned by the
    /// same zone at an epoch `< epoch` takes the new epoch and the next version
    /// (a shard that took over a crashed zone reloading its players); claiming
    /// again under the same epoch changes nothing, as the model in
    /// `meridian-shard-manager` does. One owned by another zone, or by this zone
    /// at a later epoch, is [`ClaimOutcome::OwnedBy`] that row.
    pub async fn claim_owner(
        &self,
        entity: i64,
        zone: i64,
        epoch: i64,
        now_ms: i64,
    ) -> Result<ClaimOutcome, StoreError> {
        let mut transaction = self.begin_write().await?;
        if !lock_live_lease(&mut transaction, zone, epoch, now_ms).await? {
            transaction.rollback().await?;
            return Ok(ClaimOutcome::NotLeaseHolder);
        }
        let inserted = sqlx::query(
            "INSERT INTO entity_owners (entity_id, zone_id, epoch, version) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (entity_id) DO NOTHING",
        )
        .bind(entity)
        .bind(zone)
        .bind(epoch)
        .bind(0_i64)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if inserted == 1 {
            transaction.commit().await?;
            return Ok(ClaimOutcome::Claimed(Owner {
                entity,
                zone,
                epoch,
                version: 0,
            }));
        }
        // A claim under a newer epoch (a takeover) bumps the version; one under
        // the same epoch (asked again) changes nothing and is still ours.
        let updated = sqlx::query(
            "UPDATE entity_owners SET epoch = $1, \
             version = CASE WHEN epoch < $1 THEN version + 1 ELSE version END \
             WHERE entity_id = $2 AND zone_id = $3 AND epoch <= $4",
        )
        .bind(epoch)
        .bind(entity)
        .bind(zone)
        .bind(epoch)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        // The row as it stands: after our update it is ours (the update holds
        // its row lock on PostgreSQL until commit; SQLite runs one writer).
        let current = read_owner(&mut *transaction, entity).await?;
        match current {
            Some(claimed) if updated == 1 => {
                transaction.commit().await?;
                Ok(ClaimOutcome::Claimed(claimed))
            }
            Some(current) => {
                transaction.rollback().await?;
                Ok(ClaimOutcome::OwnedBy(current))
            }
            // The insert found a row and owner rows are never deleted, so this
            // means the table changed under us in a way the ledger never does.
            None => {
                transaction.rollback().await?;
                Err(StoreError::Conflict {
                    what: "entity owner",
                })
            }
        }
    }

    /// The handoff's compare-and-set, in one transaction: moves `entity` from
    /// the owner row `from` to `to` = (zone, epoch), only if its owner row is
    /// exactly `from` (zone, epoch and version; a `from` of another entity never
    /// matches), `from`'s zone lease has `from`'s epoch unexpired at `now_ms`,
    /// and `to`'s zone lease has `to`'s epoch unexpired at `now_ms`. The moved
    /// row has version `from.version + 1`. Otherwise nothing is written and the
    /// answer carries the owner row as it is.
    pub async fn move_owner(
        &self,
        entity: i64,
        from: Owner,
        to: (i64, i64),
        now_ms: i64,
    ) -> Result<MoveOutcome, StoreError> {
        let mut transaction = self.begin_write().await?;
        // Ascending zone order, so two moves in opposite directions cannot
        // deadlock on PostgreSQL.
        let source = (from.zone, from.epoch);
        let (first, second) = if source.0 <= to.0 {
            (source, to)
        } else {
            (to, source)
        };
        // A `from` of another entity, or one at the last possible version,
        // matches no row that can move: refused without looking at the leases.
        let next_version = from
            .version
            .checked_add(1)
            .filter(|_| from.entity == entity);
        let moved = if let Some(version) = next_version
            && lock_live_lease(&mut transaction, first.0, first.1, now_ms).await?
            && lock_live_lease(&mut transaction, second.0, second.1, now_ms).await?
        {
            let written = sqlx::query(
                "UPDATE entity_owners SET zone_id = $1, epoch = $2, version = $3 \
                 WHERE entity_id = $4 AND zone_id = $5 AND epoch = $6 AND version = $7",
            )
            .bind(to.0)
            .bind(to.1)
            .bind(version)
            .bind(entity)
            .bind(from.zone)
            .bind(from.epoch)
            .bind(from.version)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
            (written == 1).then_some(version)
        } else {
            None
        };
        if let Some(version) = moved {
            transaction.commit().await?;
            return Ok(MoveOutcome::Moved(Owner {
                entity,
                zone: to.0,
                epoch: to.1,
                version,
            }));
        }
        let current = read_owner(&mut *transaction, entity).await?;
        transaction.rollback().await?;
        Ok(MoveOutcome::Refused { current })
    }

    /// `entity`'s owner row (None if it has none).
    pub async fn owner(&self, entity: i64) -> Result<Option<Owner>, StoreError> {
        read_owner(&self.pool, entity).await
    }

    /// Every owner row of `zone`, by entity id (to reload after a takeover).
    pub async fn owners_in(&self, zone: i64) -> Result<Vec<Owner>, StoreError> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT entity_id, epoch, version FROM entity_owners \
             WHERE zone_id = $1 ORDER BY entity_id",
        )
        .bind(zone)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(entity, epoch, version)| Owner {
                entity,
                zone,
                epoch,
                version,
            })
            .collect())
    }
}

fn lease_from_row(zone: i64, (holder, epoch, expires_at_ms): (String, i64, i64)) -> Lease {
    Lease {
        zone,
        holder,
        epoch,
        expires_at_ms,
    }
}

async fn read_lease(
    transaction: &mut Transaction<'static, Any>,
    zone: i64,
) -> Result<Option<Lease>, StoreError> {
    let row: Option<(String, i64, i64)> =
        sqlx::query_as("SELECT holder, epoch, expires_at FROM zone_leases WHERE zone_id = $1")
            .bind(zone)
            .fetch_optional(&mut **transaction)
            .await?;
    Ok(row.map(|row| lease_from_row(zone, row)))
}

/// `entity`'s owner row, inside a transaction or from the pool.
async fn read_owner<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    entity: i64,
) -> Result<Option<Owner>, StoreError> {
    let row: Option<(i64, i64, i64)> =
        sqlx::query_as("SELECT zone_id, epoch, version FROM entity_owners WHERE entity_id = $1")
            .bind(entity)
            .fetch_optional(executor)
            .await?;
    Ok(row.map(|(zone, epoch, version)| Owner {
        entity,
        zone,
        epoch,
        version,
    }))
}

/// Sets the lease's expiry if `holder` holds it with `epoch`, unexpired at
/// `now_ms`; the number of rows written (0 or 1).
async fn renew(
    transaction: &mut Transaction<'static, Any>,
    zone: i64,
    holder: &str,
    epoch: i64,
    now_ms: i64,
    expires_at_ms: i64,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE zone_leases SET expires_at = $1 \
         WHERE zone_id = $2 AND holder = $3 AND epoch = $4 AND expires_at > $5",
    )
    .bind(expires_at_ms)
    .bind(zone)
    .bind(holder)
    .bind(epoch)
    .bind(now_ms)
    .execute(&mut **transaction)
    .await?
    .rows_affected())
}

/// True if `zone`'s lease has `epoch` and is unexpired at `now_ms`. The no-op
/// update locks the row on PostgreSQL until the transaction ends, so the lease
/// cannot change hands before the caller's write commits.
async fn lock_live_lease(
    transaction: &mut Transaction<'static, Any>,
    zone: i64,
    epoch: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let locked = sqlx::query(
        "UPDATE zone_leases SET expires_at = expires_at \
         WHERE zone_id = $1 AND epoch = $2 AND expires_at > $3",
    )
    .bind(zone)
    .bind(epoch)
    .bind(now_ms)
    .execute(&mut **transaction)
    .await?
    .rows_affected();
    Ok(locked == 1)
}
