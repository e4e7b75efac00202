//! Spaces (worlds). For now: the one the embedded server hosts.

use crate::error::StoreError;
use crate::ids::next_id;
use crate::store::Store;

impl Store {
    /// The id of the unowned, non-template space called `name`, created with this
    /// size if there is none.
    pub async fn ensure_space(
        &self,
        name: &str,
        width: i32,
        height: i32,
        now: i64,
    ) -> Result<i64, StoreError> {
        let existing: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM spaces WHERE name = $1 AND owner_id IS NULL AND is_template = 0 \
             ORDER BY id LIMIT 1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        if let Some((id,)) = existing {
            return Ok(id);
        }
        let mut transaction = self.pool.begin().await?;
        let id = next_id(&mut *transaction, "spaces").await?;
        sqlx::query(
            "INSERT INTO spaces (id, name, width, height, owner_id, is_template, thumbnail, created_at) \
             VALUES ($1, $2, $3, $4, NULL, 0, NULL, $5)",
        )
        .bind(id)
        .bind(name)
        .bind(width)
        .bind(height)
        .bind(now)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(id)
    }
}
