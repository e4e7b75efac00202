//! Moderation records: who blocked whom, and reports for moderators.

use crate::error::StoreError;
use crate::ids::next_id;
use crate::store::Store;

impl Store {
    /// `blocker` no longer wants to hear `blocked`; blocking twice is fine.
    pub async fn block(&self, blocker: i64, blocked: i64, now: i64) -> Result<(), StoreError> {
        let known: Option<(i64,)> = sqlx::query_as("SELECT id FROM accounts WHERE id = $1")
            .bind(blocked)
            .fetch_optional(&self.pool)
            .await?;
        if known.is_none() {
            return Err(StoreError::NotFound { what: "account" });
        }
        sqlx::query(
            "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (blocker_id, blocked_id) DO NOTHING",
        )
        .bind(blocker)
        .bind(blocked)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whom `blocker` blocked, by id.
    pub async fn blocked_by(&self, blocker: i64) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT blocked_id FROM blocks WHERE blocker_id = $1 ORDER BY blocked_id",
        )
        .bind(blocker)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Files a report; returns its id.
    pub async fn report(
        &self,
        reporter: i64,
        reported: i64,
        reason: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        let mut transaction = self.begin_write().await?;
        let known: Option<(i64,)> = sqlx::query_as("SELECT id FROM accounts WHERE id = $1")
            .bind(reported)
            .fetch_optional(&mut *transaction)
            .await?;
        if known.is_none() {
            return Err(StoreError::NotFound { what: "account" });
        }
        let id = next_id(&mut *transaction, "reports").await?;
        sqlx::query(
            "INSERT INTO reports (id, reporter_id, reported_id, reason, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(reporter)
        .bind(reported)
        .bind(reason)
        .bind(now)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(id)
    }
}
