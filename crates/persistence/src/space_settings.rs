//! Live settings of a space (the knobs an admin changed while it runs, as one
//! JSON object the caller writes and reads) and their audit log: one entry per
//! field changed, newest first.

use crate::error::StoreError;
use crate::ids::next_id;
use crate::store::Store;

/// One field an admin changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingChange {
    /// The field's name, as the caller spells it.
    pub field: String,
    /// Its value before, as JSON.
    pub before: String,
    /// Its value after, as JSON.
    pub after: String,
}

/// A change as the audit log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingAudit {
    /// Its id; later changes have larger ids.
    pub id: i64,
    /// The admin who made it.
    pub admin_id: i64,
    /// What changed.
    pub change: SettingChange,
    /// When, milliseconds since the Unix epoch.
    pub at_ms: i64,
}

type AuditRow = (i64, i64, String, String, String, i64);

impl Store {
    /// The live settings saved for `space` (the JSON object last saved), if any.
    pub async fn space_settings(&self, space: i64) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT settings FROM space_settings WHERE space_id = $1")
                .bind(space)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(settings,)| settings))
    }

    /// Saves `settings` (a JSON object) as `space`'s live settings and logs
    /// each of `changes` as made by `admin` at `at_ms`, in one transaction:
    /// either both are stored or neither. An unknown space is `NotFound`.
    pub async fn save_space_settings(
        &self,
        space: i64,
        settings: &str,
        admin: i64,
        changes: &[SettingChange],
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        let known: Option<(i64,)> = sqlx::query_as("SELECT id FROM spaces WHERE id = $1")
            .bind(space)
            .fetch_optional(&mut *transaction)
            .await?;
        if known.is_none() {
            return Err(StoreError::NotFound { what: "space" });
        }
        sqlx::query(
            "INSERT INTO space_settings (space_id, settings, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (space_id) DO UPDATE SET settings = excluded.settings, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(space)
        .bind(settings)
        .bind(at_ms)
        .execute(&mut *transaction)
        .await?;
        for change in changes {
            let id = next_id(&mut *transaction, "space_settings_audit").await?;
            sqlx::query(
                "INSERT INTO space_settings_audit \
                 (id, space_id, admin_id, field, before_value, after_value, changed_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(space)
            .bind(admin)
            .bind(&change.field)
            .bind(&change.before)
            .bind(&change.after)
            .bind(at_ms)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// The newest `limit` (at most 1,000) changes of `space`'s live settings,
    /// newest first.
    pub async fn space_settings_audit(
        &self,
        space: i64,
        limit: u32,
    ) -> Result<Vec<SettingAudit>, StoreError> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, admin_id, field, before_value, after_value, changed_at_ms \
             FROM space_settings_audit WHERE space_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(space)
        .bind(i64::from(limit.min(1_000)))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, admin_id, field, before, after, at_ms)| SettingAudit {
                id,
                admin_id,
                change: SettingChange {
                    field,
                    before,
                    after,
                },
                at_ms,
            })
            .collect())
    }
}
