//! What moderation decides and the server enforces: blocks read back for the
//! chat relay, bans with an optional end, and the report queue moderators page
//! through.

use crate::error::StoreError;
use crate::store::Store;

/// The blocks that touch one account, both ways.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockRelations {
    /// Whom the account blocked.
    pub blocks: Vec<i64>,
    /// Who blocked the account.
    pub blocked_by: Vec<i64>,
}

/// A ban in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// The banned account.
    pub account_id: i64,
    /// Why, as the moderator wrote it.
    pub reason: String,
    /// When it ends, seconds since the Unix epoch; none for a ban without end.
    pub banned_until: Option<i64>,
    /// When it was decided.
    pub created_at: i64,
}

/// A filed report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Its id; later reports have larger ids.
    pub id: i64,
    /// Who filed it.
    pub reporter_id: i64,
    /// Whom it is about.
    pub reported_id: i64,
    /// What the reporter wrote.
    pub reason: String,
    /// When, seconds since the Unix epoch.
    pub created_at: i64,
}

type ReportRow = (i64, i64, i64, String, i64);

async fn account_exists(
    executor: impl sqlx::Executor<'_, Database = sqlx::Any>,
    account: i64,
) -> Result<bool, StoreError> {
    let known: Option<(i64,)> = sqlx::query_as("SELECT id FROM accounts WHERE id = $1")
        .bind(account)
        .fetch_optional(executor)
        .await?;
    Ok(known.is_some())
}

impl Store {
    /// Is there an account with this id?
    pub async fn account_exists(&self, account: i64) -> Result<bool, StoreError> {
        account_exists(&self.pool, account).await
    }

    /// `blocker` hears `blocked` again; `false` if there was no such block.
    pub async fn unblock(&self, blocker: i64, blocked: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2")
            .bind(blocker)
            .bind(blocked)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every block `account` made or is the subject of, by id.
    pub async fn block_relations(&self, account: i64) -> Result<BlockRelations, StoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT blocker_id, blocked_id FROM blocks \
             WHERE blocker_id = $1 OR blocked_id = $1 ORDER BY blocker_id, blocked_id",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        let mut relations = BlockRelations::default();
        for (blocker, blocked) in rows {
            if blocker == account {
                relations.blocks.push(blocked);
            } else {
                relations.blocked_by.push(blocker);
            }
        }
        Ok(relations)
    }

    /// Bans `account` until `until` (seconds since the epoch; none: until
    /// lifted), replacing any earlier ban. An unknown account is `NotFound`.
    pub async fn ban(
        &self,
        account: i64,
        reason: &str,
        until: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        if !account_exists(&mut *transaction, account).await? {
            return Err(StoreError::NotFound { what: "account" });
        }
        sqlx::query(
            "INSERT INTO bans (account_id, reason, banned_until, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO UPDATE SET \
             reason = excluded.reason, banned_until = excluded.banned_until, \
             created_at = excluded.created_at",
        )
        .bind(account)
        .bind(reason)
        .bind(until)
        .bind(now)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Lifts `account`'s ban; `false` if it had none.
    pub async fn unban(&self, account: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM bans WHERE account_id = $1")
            .bind(account)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// `account`'s ban if one is in force at `now`.
    pub async fn active_ban(&self, account: i64, now: i64) -> Result<Option<Ban>, StoreError> {
        let row: Option<(i64, String, Option<i64>, i64)> = sqlx::query_as(
            "SELECT account_id, reason, banned_until, created_at FROM bans \
             WHERE account_id = $1 AND (banned_until IS NULL OR banned_until > $2)",
        )
        .bind(account)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(
            row.map(|(account_id, reason, banned_until, created_at)| Ban {
                account_id,
                reason,
                banned_until,
                created_at,
            }),
        )
    }

    /// Up to `limit` reports older than `before` (all if none), newest first:
    /// the next page starts before the last id returned.
    pub async fn reports(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Report>, StoreError> {
        let rows: Vec<ReportRow> = sqlx::query_as(
            "SELECT id, reporter_id, reported_id, reason, created_at FROM reports \
             WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit.min(1_000)))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, reporter_id, reported_id, reason, created_at)| Report {
                    id,
                    reporter_id,
                    reported_id,
                    reason,
                    created_at,
                },
            )
            .collect())
    }
}
