//! Characters: where each account's avatar is in each space, checkpointed in
//! batches (one transaction per batch, statements of fixed shapes).

use sqlx::AssertSqlSafe;

use crate::checkpoint_statements::CheckpointStatements;
use crate::error::StoreError;
use crate::store::Store;

/// One character's durable state.
#[derive(Debug, Clone, PartialEq)]
pub struct CharacterState {
    /// Whose.
    pub account_id: i64,
    /// In which space.
    pub space_id: i64,
    /// In which zone of it.
    pub zone_id: i64,
    /// Position, metres.
    pub x: f64,
    /// Position, metres.
    pub y: f64,
    /// Facing, radians.
    pub heading: f64,
    /// Catalogue appearance.
    pub appearance: i64,
    /// The inventory, as JSON text.
    pub inventory: String,
    /// Bumped by every acknowledged inventory change.
    pub inventory_version: i64,
}

type CharacterRow = (i64, i64, i64, f64, f64, f64, i64, String, i64);

impl Store {
    /// Writes a batch of movement checkpoints, all in one transaction: an
    /// upsert per character, in statements of a few fixed numbers of rows
    /// (256, 64, 8 and 1) so each is prepared once per connection. The
    /// inventory is written only for characters not stored yet; later
    /// inventory changes go through their own transactional path, so a
    /// checkpoint never overwrites them.
    pub async fn checkpoint_characters(
        &self,
        batch: &[CharacterState],
        now: i64,
    ) -> Result<(), StoreError> {
        let statements = CheckpointStatements::for_backend(self.backend());
        let mut transaction = self.begin_write().await?;
        for (chunk, text) in statements.chunks(batch) {
            // The text is built from placeholders only; every value is bound.
            let mut query = sqlx::query(AssertSqlSafe(text.clone()));
            for character in chunk {
                query = query
                    .bind(character.account_id)
                    .bind(character.space_id)
                    .bind(character.zone_id)
                    .bind(character.x)
                    .bind(character.y)
                    .bind(character.heading)
                    .bind(character.appearance)
                    .bind(character.inventory.clone())
                    .bind(character.inventory_version)
                    .bind(now);
            }
            query.execute(&mut *transaction).await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// The same writes one statement per character, for comparison in benches.
    pub async fn checkpoint_characters_one_by_one(
        &self,
        batch: &[CharacterState],
        now: i64,
    ) -> Result<(), StoreError> {
        for character in batch {
            self.checkpoint_characters(std::slice::from_ref(character), now)
                .await?;
        }
        Ok(())
    }

    /// A character, if it was ever stored.
    pub async fn character(
        &self,
        account_id: i64,
        space_id: i64,
    ) -> Result<Option<CharacterState>, StoreError> {
        let row: Option<CharacterRow> = sqlx::query_as(
            "SELECT account_id, space_id, zone_id, x, y, heading, appearance, inventory, \
             inventory_version FROM characters WHERE account_id = $1 AND space_id = $2",
        )
        .bind(account_id)
        .bind(space_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(account_id, space_id, zone_id, x, y, heading, appearance, inventory, version)| {
                CharacterState {
                    account_id,
                    space_id,
                    zone_id,
                    x,
                    y,
                    heading,
                    appearance,
                    inventory,
                    inventory_version: version,
                }
            },
        ))
    }
}
