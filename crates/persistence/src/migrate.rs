//! The migrator: numbered SQL files embedded in the binary, applied in order, each
//! in its own transaction, recorded in `meridian_migrations`.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Executor};

use crate::error::StoreError;
use crate::store::Store;

/// Every migration: (version, name, SQL). The SQL runs on both databases.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "entity_owners_by_zone",
        include_str!("../migrations/0002_entity_owners_by_zone.sql"),
    ),
    (
        3,
        "entity_owner_versions",
        include_str!("../migrations/0003_entity_owner_versions.sql"),
    ),
    (
        4,
        "refresh_tokens",
        include_str!("../migrations/0004_refresh_tokens.sql"),
    ),
    (
        5,
        "private_spaces",
        include_str!("../migrations/0005_private_spaces.sql"),
    ),
    (
        6,
        "space_settings",
        include_str!("../migrations/0006_space_settings.sql"),
    ),
    (7, "rooms", include_str!("../migrations/0007_rooms.sql")),
    (
        8,
        "instance_leases",
        include_str!("../migrations/0008_instance_leases.sql"),
    ),
];

/// Statements of a migration file: split at semicolons that end a line; comment
/// lines dropped. (Our migrations hold no semicolons inside strings.)
fn statements(sql: &str) -> impl Iterator<Item = String> + '_ {
    sql.split(";\n")
        .map(|chunk| {
            chunk
                .lines()
                .filter(|line| !line.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .map(|statement| statement.trim().trim_end_matches(';').to_owned())
        .filter(|statement| !statement.is_empty())
}

pub(crate) async fn run(store: &Store) -> Result<(), StoreError> {
    store
        .pool
        .execute(
            "CREATE TABLE IF NOT EXISTS meridian_migrations (\
             version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .await?;
    let applied: Vec<(i64,)> = sqlx::query_as("SELECT version FROM meridian_migrations")
        .fetch_all(&store.pool)
        .await?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64);
    for &(version, name, sql) in MIGRATIONS {
        if applied.iter().any(|(done,)| *done == version) {
            continue;
        }
        let failed = |source| StoreError::Migration {
            version,
            name,
            source,
        };
        let mut transaction = store.pool.begin().await.map_err(failed)?;
        for statement in statements(sql) {
            transaction
                .execute(AssertSqlSafe(statement))
                .await
                .map_err(failed)?;
        }
        sqlx::query(
            "INSERT INTO meridian_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(version)
        .bind(name)
        .bind(now)
        .execute(&mut *transaction)
        .await
        .map_err(failed)?;
        transaction.commit().await.map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initial_migration_splits_into_its_statements() {
        let all: Vec<String> = statements(MIGRATIONS[0].2).collect();
        assert!(all.iter().all(|s| !s.contains(';')), "{all:?}");
        assert!(all.iter().any(|s| s.starts_with("CREATE TABLE accounts")));
        assert!(
            all.iter()
                .any(|s| s.starts_with("CREATE TABLE entity_owners"))
        );
        assert_eq!(
            all.iter().filter(|s| s.starts_with("CREATE INDEX")).count(),
            2
        );
    }

    #[test]
    fn the_owner_versions_migration_is_one_alter_table() {
        let all: Vec<String> = statements(MIGRATIONS[2].2).collect();
        assert_eq!(
            all,
            ["ALTER TABLE entity_owners ADD COLUMN version BIGINT NOT NULL DEFAULT 0"]
        );
    }
}
