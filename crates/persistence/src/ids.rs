//! Ids for new rows, from one counter per table, the same way on both databases.

use sqlx::{Any, Executor};

use crate::error::StoreError;

/// The next id for `sequence` (starting at 1), taken inside the caller's
/// transaction or connection.
pub(crate) async fn next_id<'e, E>(executor: E, sequence: &str) -> Result<i64, StoreError>
where
    E: Executor<'e, Database = Any>,
{
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO id_sequences (name, next_value) VALUES ($1, 1) \
         ON CONFLICT (name) DO UPDATE SET next_value = id_sequences.next_value + 1 \
         RETURNING next_value",
    )
    .bind(sequence)
    .fetch_one(executor)
    .await?;
    Ok(id)
}
