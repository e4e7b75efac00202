//! Connecting, and which database is behind the `Any` pool.

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, AssertSqlSafe, Executor};

use crate::error::StoreError;

/// How long an SQLite writer waits for the write lock before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long PostgreSQL lets a session of ours sit idle inside a transaction
/// before it ends the session, releasing its locks. A client that vanishes
/// mid-transaction (its host cut off or powered down, so nothing closes its
/// socket) would otherwise keep the rows it locked, such as a zone's lease
/// row after a renewal's `UPDATE`, until TCP keepalive gives up on it (two
/// hours by default), and no other shard could take that zone over. Every
/// transaction of this crate sends its statements back to back, so only a
/// client that is gone stays idle this long. As long as a lease lasts
/// (`LeaseTiming::ttl` of the shard manager): the lock goes about when the
/// lease it renewed lapses, so a takeover waits for it briefly at most.
const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The PostgreSQL advisory lock key of start-up work ("meridian" in ASCII).
const START_UP_LOCK: i64 = 0x6d65_7269_6469_616e;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL (production).
    Postgres,
    /// SQLite (embedded).
    Sqlite,
}

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// `postgres://user@host/db` or `sqlite://path/to/file.db` (created if missing).
    pub url: String,
    /// PostgreSQL only: the schema to use (created if missing); default `public`.
    pub schema: Option<String>,
    /// Pool size. Default 8.
    pub max_connections: u32,
}

impl DatabaseConfig {
    /// A configuration for `url` with defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            max_connections: 8,
        }
    }
}

/// A connection pool with the schema migrated.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects and runs every pending migration.
    pub async fn open(config: &DatabaseConfig) -> Result<Self, StoreError> {
        install_default_drivers();
        let (backend, url) =
            if config.url.starts_with("postgres://") || config.url.starts_with("postgresql://") {
                (Backend::Postgres, config.url.clone())
            } else if let Some(path) = config.url.strip_prefix("sqlite://") {
                let mode = if path.contains('?') { "" } else { "?mode=rwc" };
                (Backend::Sqlite, format!("{}{mode}", config.url))
            } else {
                return Err(StoreError::UnsupportedUrl(config.url.clone()));
            };
        let schema = match (&config.schema, backend) {
            (Some(schema), Backend::Postgres) => {
                // Checked to be a plain identifier, so it is safe inside SQL.
                if schema.is_empty()
                    || !schema
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    return Err(StoreError::BadSchema(schema.clone()));
                }
                Some(schema.clone())
            }
            _ => None,
        };
        if let Some(schema) = &schema {
            let admin = AnyPoolOptions::new()
                .max_connections(1)
                .connect(&url)
                .await?;
            admin
                .execute(AssertSqlSafe(format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema}"
                )))
                .await?;
            admin.close().await;
        }
        let mut options = AnyPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10));
        if backend == Backend::Sqlite {
            // Write-ahead logging: readers never wait for the writer, and a
            // commit appends to the log instead of rewriting pages. With
            // `synchronous = NORMAL` a commit survives the process being killed
            // (the log is in the operating system's hands); only a power cut can
            // lose the last commits. Production runs on PostgreSQL.
            options = options.after_connect(|connection, _| {
                Box::pin(async move {
                    connection.execute("PRAGMA journal_mode = WAL").await?;
                    connection.execute("PRAGMA synchronous = NORMAL").await?;
                    // A writer waits this long for another to commit before
                    // "database is locked"; writers begin with `BEGIN IMMEDIATE`
                    // (see `begin_write`), so this is where they queue.
                    connection
                        .execute(AssertSqlSafe(format!(
                            "PRAGMA busy_timeout = {}",
                            SQLITE_BUSY_TIMEOUT.as_millis()
                        )))
                        .await?;
                    Ok(())
                })
            });
        }
        if backend == Backend::Postgres {
            let mut statements = vec![format!(
                "SET idle_in_transaction_session_timeout = {}",
                IDLE_IN_TRANSACTION_TIMEOUT.as_millis()
            )];
            if let Some(schema) = schema {
                statements.push(format!("SET search_path TO {schema}"));
            }
            options = options.after_connect(move |connection, _| {
                let statements = statements.clone();
                Box::pin(async move {
                    for statement in statements {
                        connection.execute(AssertSqlSafe(statement)).await?;
                    }
                    Ok(())
                })
            });
        }
        let pool = options.connect(&url).await?;
        let store = Self { pool, backend };
        crate::migrate::run(&store).await?;
        Ok(store)
    }

    /// A transaction that writes: every transaction of this crate begins here.
    /// On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so a
    /// transaction that reads before it writes waits for another writer
    /// (within the busy timeout) instead of failing with "database is locked"
    /// when it upgrades its read lock. On PostgreSQL it is a plain `BEGIN`; a
    /// read that a write depends on locks its row first (see
    /// [`lock_row`](crate::store::lock_row)).
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Runs the rest of `transaction` one process at a time: what servers do
    /// once at start-up (find or create the hosted space, seed the catalogues)
    /// reads and then writes, and shards of a cluster start together on one
    /// database. On PostgreSQL a transaction-scoped advisory lock; on SQLite
    /// the writer's lock already does it.
    pub(crate) async fn lock_start_up(
        &self,
        transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            // The lock function returns `void`, which the `Any` driver cannot
            // describe: select a constant beside it instead.
            sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS locked")
                .bind(START_UP_LOCK)
                .fetch_one(&mut **transaction)
                .await?;
        }
        Ok(())
    }

    /// Asks the database a trivial question (`SELECT 1`) through the pool:
    /// whether it answers at all, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.pool.execute("SELECT 1").await?;
        Ok(())
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection (waits for those in use).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Locks row `id` of `table` until the transaction ends, portably: a no-op
/// `UPDATE` takes PostgreSQL's row lock (like `SELECT ... FOR UPDATE`), and on
/// SQLite the transaction already holds the write lock. `false` if the row does
/// not exist. `table` is one of this crate's table names, never input.
pub(crate) async fn lock_row(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &'static str,
    id: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(AssertSqlSafe(format!(
        "UPDATE {table} SET id = id WHERE id = $1"
    )))
    .bind(id)
    .execute(&mut **transaction)
    .await?;
    Ok(done.rows_affected() == 1)
}
