//! Helpers for this crate's integration tests (hidden from the docs).

use sqlx::{AnyPool, AssertSqlSafe, Executor};

use crate::error::StoreError;
use crate::ids::next_id;
use crate::store::Store;

impl Store {
    /// The pool, for tests that inspect tables directly.
    #[doc(hidden)]
    pub fn pool_for_tests(&self) -> &AnyPool {
        &self.pool
    }

    /// Drops a PostgreSQL schema a test created.
    #[doc(hidden)]
    pub async fn drop_schema_for_tests(&self, schema: &str) {
        if schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            let statement = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            let _ = self.pool.execute(AssertSqlSafe(statement)).await;
        }
    }

    /// Drops a PostgreSQL schema through a plain connection to `url` (no
    /// migrations run, so nothing is created in the default schema).
    #[doc(hidden)]
    pub async fn drop_schema_at_for_tests(url: &str, schema: &str) {
        sqlx::any::install_default_drivers();
        if !schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return;
        }
        if let Ok(pool) = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
        {
            let statement = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            let _ = pool.execute(AssertSqlSafe(statement)).await;
            pool.close().await;
        }
    }

    /// Creates (`create`) or drops a whole PostgreSQL database `name` through
    /// the server at `url`, for tests that run several processes on one
    /// database of their own. `false` if the server cannot be reached.
    #[doc(hidden)]
    pub async fn database_for_tests(url: &str, name: &str, create: bool) -> bool {
        sqlx::any::install_default_drivers();
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return false;
        }
        let Ok(pool) = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
        else {
            return false;
        };
        let statement = if create {
            format!("CREATE DATABASE {name}")
        } else {
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        };
        let done = pool.execute(AssertSqlSafe(statement)).await.is_ok();
        pool.close().await;
        done
    }

    /// A space owned by `owner`, until the spaces repository exists.
    #[doc(hidden)]
    pub async fn create_space_for_tests(&self, owner: i64, name: &str) -> Result<i64, StoreError> {
        let mut transaction = self.begin_write().await?;
        let id = next_id(&mut *transaction, "spaces").await?;
        sqlx::query(
            "INSERT INTO spaces (id, name, width, height, owner_id, is_template, thumbnail, created_at) \
             VALUES ($1, $2, 100, 100, $3, 0, NULL, 0)",
        )
        .bind(id)
        .bind(name)
        .bind(owner)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(id)
    }
}
