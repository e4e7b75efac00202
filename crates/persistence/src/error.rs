//! The one error type of the store.

use thiserror::Error;

/// Why a store operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL names no supported database.
    #[error("unsupported database URL {0:?}: use postgres://... or sqlite://...")]
    UnsupportedUrl(String),
    /// A schema name that is not a plain identifier.
    #[error("schema name {0:?} must be letters, digits and underscores")]
    BadSchema(String),
    /// A unique value (a username) is taken.
    #[error("{what} is already taken")]
    Conflict {
        /// What collided.
        what: &'static str,
    },
    /// The row does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: &'static str,
    },
    /// A quota would be exceeded (spaces per owner, elements per space).
    #[error("at most {limit} {what} allowed")]
    QuotaExceeded {
        /// What is counted: `spaces` or `elements`.
        what: &'static str,
        /// The quota.
        limit: u32,
    },
    /// A stored value is not what the schema promises (a corrupted row).
    #[error("stored {field} is invalid")]
    Corrupt {
        /// Which field.
        field: &'static str,
    },
    /// A migration failed; the database is left at the last one applied.
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        /// Its version.
        version: i64,
        /// Its name.
        name: &'static str,
        /// The database's error.
        source: sqlx::Error,
    },
    /// The database refused or failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::Conflict`].
    pub(crate) fn from_insert(error: sqlx::Error, what: &'static str) -> Self {
        match &error {
            sqlx::Error::Database(database) if database.is_unique_violation() => {
                Self::Conflict { what }
            }
            _ => Self::Database(error),
        }
    }
}
