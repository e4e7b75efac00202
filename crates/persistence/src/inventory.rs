//! Inventory changes: each one is its own transaction, committed before the
//! player hears it was applied.
//!
//! The inventory is a JSON object from catalogue element id (as text) to a count.
//! A change reads the row, checks the item and the count, and writes the new
//! object with a compare-and-set on `inventory_version`, so two writers (two
//! processes during a handoff) can never both apply a change to the same version.

use std::collections::BTreeMap;

use crate::characters::CharacterState;
use crate::error::StoreError;
use crate::store::Store;

/// The most of one item a character may hold.
pub const MAX_STACK: u32 = 9_999;

/// How many times a change is retried when another writer bumped the version
/// between the read and the write.
const CONFLICT_RETRIES: usize = 3;

/// What became of one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryOutcome {
    /// Committed; the character now holds `quantity` at `version`.
    Applied {
        /// The item's count after the change.
        quantity: u32,
        /// The inventory version after the change.
        version: i64,
    },
    /// The item is not a catalogue element.
    UnknownItem,
    /// Taking more than is held; `held` is the unchanged count.
    NotEnough {
        /// The count held.
        held: u32,
    },
    /// The count would pass [`MAX_STACK`]; `held` is the unchanged count.
    StackFull {
        /// The count held.
        held: u32,
    },
}

/// A character's items, parsed.
pub type Items = BTreeMap<String, u32>;

/// Parses the stored inventory text. An empty array (the first rows' default)
/// is an empty inventory.
pub fn parse_items(text: &str) -> Result<Items, StoreError> {
    if text.trim() == "[]" {
        return Ok(Items::new());
    }
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt { field: "inventory" })
}

fn render_items(items: &Items) -> String {
    // A map of strings to integers always serializes.
    serde_json::to_string(items).unwrap_or_else(|_| "{}".to_owned())
}

impl Store {
    /// Adds `delta` of `item` to the character's inventory in one transaction.
    /// `character` is where the avatar stands now; it creates the row if the
    /// character was never checkpointed. Returns only once the change is
    /// committed (or refused, with nothing written).
    pub async fn change_inventory(
        &self,
        character: &CharacterState,
        item: &str,
        delta: i32,
        now: i64,
    ) -> Result<InventoryOutcome, StoreError> {
        // One spelling per element ("7", never "07" or "+7"), so one stack each.
        let Some(element) = item
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0 && id.to_string() == item)
        else {
            return Ok(InventoryOutcome::UnknownItem);
        };
        for _ in 0..CONFLICT_RETRIES {
            if let Some(outcome) = self
                .try_change(character, element, item, delta, now)
                .await?
            {
                return Ok(outcome);
            }
        }
        Err(StoreError::Conflict {
            what: "inventory version",
        })
    }

    /// One attempt; `None` if another writer got in between.
    async fn try_change(
        &self,
        character: &CharacterState,
        element: i64,
        item: &str,
        delta: i32,
        now: i64,
    ) -> Result<Option<InventoryOutcome>, StoreError> {
        let mut transaction = self.begin_write().await?;
        if !crate::catalogue::element_exists(&mut *transaction, element).await? {
            return Ok(Some(InventoryOutcome::UnknownItem));
        }
        let stored: Option<(String, i64)> = sqlx::query_as(
            "SELECT inventory, inventory_version FROM characters \
             WHERE account_id = $1 AND space_id = $2",
        )
        .bind(character.account_id)
        .bind(character.space_id)
        .fetch_optional(&mut *transaction)
        .await?;
        let (mut items, version) = match &stored {
            Some((text, version)) => (parse_items(text)?, *version),
            None => (Items::new(), 0),
        };
        let held = items.get(item).copied().unwrap_or(0);
        let wanted = i64::from(held) + i64::from(delta);
        if wanted < 0 {
            return Ok(Some(InventoryOutcome::NotEnough { held }));
        }
        if wanted > i64::from(MAX_STACK) {
            return Ok(Some(InventoryOutcome::StackFull { held }));
        }
        // Within 0..=MAX_STACK, so it fits.
        let quantity = wanted as u32;
        if quantity == 0 {
            items.remove(item);
        } else {
            items.insert(item.to_owned(), quantity);
        }
        let text = render_items(&items);
        let written = if stored.is_some() {
            sqlx::query(
                "UPDATE characters SET inventory = $1, inventory_version = $2, updated_at = $3 \
                 WHERE account_id = $4 AND space_id = $5 AND inventory_version = $6",
            )
            .bind(text)
            .bind(version + 1)
            .bind(now)
            .bind(character.account_id)
            .bind(character.space_id)
            .bind(version)
            .execute(&mut *transaction)
            .await?
            .rows_affected()
        } else {
            sqlx::query(
                "INSERT INTO characters (account_id, space_id, zone_id, x, y, heading, \
                 appearance, inventory, inventory_version, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (account_id, space_id) DO NOTHING",
            )
            .bind(character.account_id)
            .bind(character.space_id)
            .bind(character.zone_id)
            .bind(character.x)
            .bind(character.y)
            .bind(character.heading)
            .bind(character.appearance)
            .bind(text)
            .bind(version + 1)
            .bind(now)
            .execute(&mut *transaction)
            .await?
            .rows_affected()
        };
        if written != 1 {
            // Someone else wrote this row since the read: roll back and retry.
            transaction.rollback().await?;
            return Ok(None);
        }
        transaction.commit().await?;
        Ok(Some(InventoryOutcome::Applied {
            quantity,
            version: version + 1,
        }))
    }

    /// The character's items in a space (empty if it was never stored).
    pub async fn inventory(&self, account_id: i64, space_id: i64) -> Result<Items, StoreError> {
        match self.character(account_id, space_id).await? {
            Some(character) => parse_items(&character.inventory),
            None => Ok(Items::new()),
        }
    }
}
