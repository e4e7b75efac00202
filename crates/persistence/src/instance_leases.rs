//! Instance leases: which shard of a cluster runs the instance of a space's
//! room, with the zone leases' rules (see [`crate::Lease`]).
//!
//! A lease is `(holder, epoch, expires_at)` under the key `(space, room
//! number)`. The first holder gets epoch 1; a lease that lapsed (or was
//! released) goes to the next asker under epoch + 1, even when the asker held
//! it before; a holder renews only while its lease is valid. The epoch never
//! goes back and is the fencing token: a shard that could not renew in time
//! stops simulating the instance, and its old epoch's renewals are refused.
//! Each lease also carries the holder's gateway (its public HTTP address),
//! which other shards hand to joins they send on; it decides nothing.
//!
//! Times are milliseconds chosen by the caller; nothing here reads a clock. A
//! lease is expired at `now` when `expires_at <= now`. Every write is a
//! conditional `UPDATE ... WHERE` on the row as read (or an `INSERT ... ON
//! CONFLICT DO NOTHING`) whose affected-row count decides the outcome, in a
//! transaction begun by [`Store::begin_write`].

use sqlx::{Any, Transaction};

use crate::error::StoreError;
use crate::store::Store;

/// How many times [`Store::acquire_instance_lease`] reads the lease again when
/// another writer changed it between its read and its write.
const CONFLICT_RETRIES: usize = 3;

/// The room of a space whose instance is leased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InstanceRoom {
    /// The space.
    pub space_id: i64,
    /// The room's number within the space, from 1.
    pub room_number: i64,
}

/// An instance's lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceLease {
    /// Whose instance.
    pub room: InstanceRoom,
    /// Who holds (or last held) it: the shard's name.
    pub holder: String,
    /// The holder's gateway: where joins of this instance are sent.
    pub gateway: String,
    /// The fencing token: 1 for the first holder, one more for each new holder.
    pub epoch: i64,
    /// When it expires, in the caller's milliseconds; expired when `<= now`.
    pub expires_at_ms: i64,
}

impl InstanceLease {
    /// Whether it is still valid at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.expires_at_ms > now_ms
    }
}

/// What became of [`Store::acquire_instance_lease`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceLeaseOutcome {
    /// The caller holds the lease now (new, taken over, or renewed).
    Granted(InstanceLease),
    /// Someone else holds it, unexpired; nothing was written.
    HeldBy(InstanceLease),
}

type LeaseRow = (String, String, i64, i64);

impl Store {
    /// Takes the lease of `room`'s instance for `holder` (whose gateway is
    /// `gateway`) until `now_ms + ttl_ms`.
    ///
    /// With no lease row the caller gets epoch 1. If the lease is expired at
    /// `now_ms`, whoever held it, the caller gets the old epoch + 1. If
    /// `holder` already holds it unexpired, it is renewed under the same
    /// epoch. Otherwise it is [`InstanceLeaseOutcome::HeldBy`] its holder.
    pub async fn acquire_instance_lease(
        &self,
        room: InstanceRoom,
        holder: &str,
        gateway: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<InstanceLeaseOutcome, StoreError> {
        let expires_at_ms = now_ms.saturating_add(ttl_ms);
        for _ in 0..CONFLICT_RETRIES {
            let mut transaction = self.begin_write().await?;
            let current = read(&mut transaction, room).await?;
            let (epoch, written) = match current {
                None => {
                    let written = sqlx::query(
                        "INSERT INTO instance_leases \
                         (space_id, room_number, holder, gateway, epoch, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (space_id, room_number) DO NOTHING",
                    )
                    .bind(room.space_id)
                    .bind(room.room_number)
                    .bind(holder)
                    .bind(gateway)
                    .bind(1_i64)
                    .bind(expires_at_ms)
                    .execute(&mut *transaction)
                    .await?
                    .rows_affected();
                    (1, written)
                }
                Some(current) if !current.is_live(now_ms) || current.holder == holder => {
                    // A takeover (a new epoch) or a renewal (the same one):
                    // a compare-and-set on the whole row that was read.
                    let epoch = if current.is_live(now_ms) {
                        current.epoch
                    } else {
                        current.epoch + 1
                    };
                    let written = sqlx::query(
                        "UPDATE instance_leases \
                         SET holder = $1, gateway = $2, epoch = $3, expires_at = $4 \
                         WHERE space_id = $5 AND room_number = $6 \
                         AND holder = $7 AND epoch = $8 AND expires_at = $9",
                    )
                    .bind(holder)
                    .bind(gateway)
                    .bind(epoch)
                    .bind(expires_at_ms)
                    .bind(room.space_id)
                    .bind(room.room_number)
                    .bind(&current.holder)
                    .bind(current.epoch)
                    .bind(current.expires_at_ms)
                    .execute(&mut *transaction)
                    .await?
                    .rows_affected();
                    (epoch, written)
                }
                Some(current) => {
                    transaction.rollback().await?;
                    return Ok(InstanceLeaseOutcome::HeldBy(current));
                }
            };
            if written != 1 {
                // Another writer changed the row since the read: read it again.
                transaction.rollback().await?;
                continue;
            }
            transaction.commit().await?;
            return Ok(InstanceLeaseOutcome::Granted(InstanceLease {
                room,
                holder: holder.to_owned(),
                gateway: gateway.to_owned(),
                epoch,
                expires_at_ms,
            }));
        }
        Err(StoreError::Conflict {
            what: "instance lease",
        })
    }

    /// Extends the lease of `room`'s instance to `now_ms + ttl_ms`, only if
    /// `holder` holds it under `epoch` and it has not expired at `now_ms`.
    /// True if renewed.
    pub async fn renew_instance_lease(
        &self,
        room: InstanceRoom,
        holder: &str,
        epoch: i64,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.begin_write().await?;
        let written = sqlx::query(
            "UPDATE instance_leases SET expires_at = $1 \
             WHERE space_id = $2 AND room_number = $3 \
             AND holder = $4 AND epoch = $5 AND expires_at > $6",
        )
        .bind(now_ms.saturating_add(ttl_ms))
        .bind(room.space_id)
        .bind(room.room_number)
        .bind(holder)
        .bind(epoch)
        .bind(now_ms)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        transaction.commit().await?;
        Ok(written == 1)
    }

    /// Gives the lease of `room`'s instance up, only if `holder` holds it
    /// under `epoch`: it expires at once (`expires_at = 0`) and keeps its
    /// holder and epoch, so the next holder gets `epoch + 1`. True if
    /// released.
    pub async fn release_instance_lease(
        &self,
        room: InstanceRoom,
        holder: &str,
        epoch: i64,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.begin_write().await?;
        let written = sqlx::query(
            "UPDATE instance_leases SET expires_at = $1 \
             WHERE space_id = $2 AND room_number = $3 AND holder = $4 AND epoch = $5",
        )
        .bind(0_i64)
        .bind(room.space_id)
        .bind(room.room_number)
        .bind(holder)
        .bind(epoch)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        transaction.commit().await?;
        Ok(written == 1)
    }

    /// The lease of `room`'s instance as stored, expired or not (None if it
    /// was never taken).
    pub async fn instance_lease(
        &self,
        room: InstanceRoom,
    ) -> Result<Option<InstanceLease>, StoreError> {
        let row: Option<LeaseRow> = sqlx::query_as(
            "SELECT holder, gateway, epoch, expires_at FROM instance_leases \
             WHERE space_id = $1 AND room_number = $2",
        )
        .bind(room.space_id)
        .bind(room.room_number)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| from_row(room, row)))
    }

    /// The leases `holder` holds unexpired at `now_ms`, by space and room.
    pub async fn instance_leases_held_by(
        &self,
        holder: &str,
        now_ms: i64,
    ) -> Result<Vec<InstanceLease>, StoreError> {
        let rows: Vec<(i64, i64, String, String, i64, i64)> = sqlx::query_as(
            "SELECT space_id, room_number, holder, gateway, epoch, expires_at \
             FROM instance_leases WHERE holder = $1 AND expires_at > $2 \
             ORDER BY space_id, room_number",
        )
        .bind(holder)
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(space_id, room_number, holder, gateway, epoch, expires_at)| {
                    from_row(
                        InstanceRoom {
                            space_id,
                            room_number,
                        },
                        (holder, gateway, epoch, expires_at),
                    )
                },
            )
            .collect())
    }
}

fn from_row(
    room: InstanceRoom,
    (holder, gateway, epoch, expires_at_ms): LeaseRow,
) -> InstanceLease {
    InstanceLease {
        room,
        holder,
        gateway,
        epoch,
        expires_at_ms,
    }
}

/// The lease row as it stands; the write that follows is a compare-and-set
/// on it, so a change in between makes the write miss and the read repeat.
async fn read(
    transaction: &mut Transaction<'static, Any>,
    room: InstanceRoom,
) -> Result<Option<InstanceLease>, StoreError> {
    let row: Option<LeaseRow> = sqlx::query_as(
        "SELECT holder, gateway, epoch, expires_at FROM instance_leases \
         WHERE space_id = $1 AND room_number = $2",
    )
    .bind(room.space_id)
    .bind(room.room_number)
    .fetch_optional(&mut **transaction)
    .await?;
    Ok(row.map(|row| from_row(room, row)))
}
