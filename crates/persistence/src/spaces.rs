//! Spaces (worlds), templates (admins' maps) and what is placed in them.

use sqlx::AssertSqlSafe;

use crate::error::StoreError;
use crate::ids::next_id;
use crate::store::{Store, lock_row};

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
        // Looked up inside the writer's transaction and under the start-up
        // lock, so two servers starting on one database never both create it.
        let mut transaction = self.begin_write().await?;
        self.lock_start_up(&mut transaction).await?;
        let existing: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM spaces WHERE name = $1 AND owner_id IS NULL AND is_template = 0 \
             ORDER BY id LIMIT 1",
        )
        .bind(name)
        .fetch_optional(&mut *transaction)
        .await?;
        if let Some((id,)) = existing {
            return Ok(id);
        }
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

/// A space as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceSummary {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Width in tiles.
    pub width: i32,
    /// Height in tiles.
    pub height: i32,
    /// Owner, if any (templates and the embedded plaza have none).
    pub owner_id: Option<i64>,
    /// An admin's template map.
    pub is_template: bool,
    /// Only its owner and the admins may see it.
    pub is_private: bool,
    /// Picture.
    pub thumbnail: Option<String>,
}

/// An element placed in a space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedElement {
    /// The placement's id.
    pub id: i64,
    /// The catalogue element.
    pub element: crate::CatalogueElement,
    /// Tile x.
    pub x: i32,
    /// Tile y.
    pub y: i32,
}

type SpaceRow = (i64, String, i32, i32, Option<i64>, i32, Option<String>, i32);

fn summary(
    (id, name, width, height, owner_id, is_template, thumbnail, is_private): SpaceRow,
) -> SpaceSummary {
    SpaceSummary {
        id,
        name,
        width,
        height,
        owner_id,
        is_template: is_template != 0,
        is_private: is_private != 0,
        thumbnail,
    }
}

/// (placement id, x, y, element id, image, width, height, static).
type PlacedRow = (i64, i32, i32, i64, String, i32, i32, i32);

/// Places `element` at (x, y) in `space` inside the caller's transaction.
pub(crate) async fn insert_placement(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    space: i64,
    element: i64,
    x: i32,
    y: i32,
) -> Result<i64, StoreError> {
    let id = next_id(&mut **transaction, "space_elements").await?;
    sqlx::query(
        "INSERT INTO space_elements (id, space_id, element_id, x, y) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(space)
    .bind(element)
    .bind(x)
    .bind(y)
    .execute(&mut **transaction)
    .await?;
    Ok(id)
}

const SPACE_COLUMNS: &str = "id, name, width, height, owner_id, is_template, thumbnail, is_private";

impl Store {
    /// Creates a space; with `template`, copies its placed elements (and the
    /// template's size, seats per room and overflow win). With `max_owned`, an
    /// owner who already owns that many spaces gets
    /// [`StoreError::QuotaExceeded`] (counted under the owner's row lock, so
    /// concurrent creations cannot pass it together).
    #[expect(clippy::too_many_arguments, reason = "one column each")]
    pub async fn create_space(
        &self,
        owner: Option<i64>,
        name: &str,
        width: i32,
        height: i32,
        is_template: bool,
        is_private: bool,
        thumbnail: Option<&str>,
        template: Option<i64>,
        now: i64,
        max_owned: Option<u32>,
    ) -> Result<i64, StoreError> {
        let mut transaction = self.begin_write().await?;
        if let (Some(owner), Some(limit)) = (owner, max_owned) {
            if !lock_row(&mut transaction, "accounts", owner).await? {
                return Err(StoreError::NotFound { what: "account" });
            }
            let (owned,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM spaces WHERE owner_id = $1")
                    .bind(owner)
                    .fetch_one(&mut *transaction)
                    .await?;
            if owned >= i64::from(limit) {
                return Err(StoreError::QuotaExceeded {
                    what: "spaces",
                    limit,
                });
            }
        }
        // Seats per room and overflow come from the template too.
        let (mut width, mut height, mut capacity, mut overflow) = (width, height, None, 1);
        if let Some(template) = template {
            let found: Option<(i32, i32, Option<i64>, i32)> = sqlx::query_as(
                "SELECT width, height, capacity, overflow FROM spaces \
                 WHERE id = $1 AND is_template = 1",
            )
            .bind(template)
            .fetch_optional(&mut *transaction)
            .await?;
            (width, height, capacity, overflow) =
                found.ok_or(StoreError::NotFound { what: "map" })?;
        }
        let id = next_id(&mut *transaction, "spaces").await?;
        sqlx::query(
            "INSERT INTO spaces \
             (id, name, width, height, owner_id, is_template, thumbnail, created_at, is_private, \
             capacity, overflow) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(id)
        .bind(name)
        .bind(width)
        .bind(height)
        .bind(owner)
        .bind(i32::from(is_template))
        .bind(thumbnail)
        .bind(now)
        .bind(i32::from(is_private))
        .bind(capacity)
        .bind(overflow)
        .execute(&mut *transaction)
        .await?;
        if let Some(template) = template {
            let placed: Vec<(i64, i32, i32)> = sqlx::query_as(
                "SELECT element_id, x, y FROM space_elements WHERE space_id = $1 ORDER BY id",
            )
            .bind(template)
            .fetch_all(&mut *transaction)
            .await?;
            for (element, x, y) in placed {
                insert_placement(&mut transaction, id, element, x, y).await?;
            }
        }
        transaction.commit().await?;
        Ok(id)
    }

    /// A space.
    pub async fn space(&self, id: i64) -> Result<SpaceSummary, StoreError> {
        let row: Option<SpaceRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {SPACE_COLUMNS} FROM spaces WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(summary)
            .ok_or(StoreError::NotFound { what: "space" })
    }

    /// The spaces `owner` owns, then every template, by id.
    pub async fn spaces_for(&self, owner: i64) -> Result<Vec<SpaceSummary>, StoreError> {
        self.spaces_page_for(owner, None, u32::MAX).await
    }

    /// Up to `limit` of the spaces `owner` owns and the templates, by id, with
    /// ids after `after` (from the start if none): the next page starts after
    /// the last id returned.
    pub async fn spaces_page_for(
        &self,
        owner: i64,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SpaceSummary>, StoreError> {
        let rows: Vec<SpaceRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {SPACE_COLUMNS} FROM spaces WHERE (owner_id = $1 OR is_template = 1) \
             AND id > $2 ORDER BY id LIMIT $3"
        )))
        .bind(owner)
        .bind(after.unwrap_or(i64::MIN))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(summary).collect())
    }

    /// Deletes a space and what is placed in it.
    pub async fn delete_space(&self, id: i64) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        // The space's row first, as placements lock it: a placement under way
        // finishes before the delete, and one after it finds no space.
        if !lock_row(&mut transaction, "spaces", id).await? {
            return Err(StoreError::NotFound { what: "space" });
        }
        sqlx::query("DELETE FROM space_elements WHERE space_id = $1")
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        sqlx::query("DELETE FROM characters WHERE space_id = $1")
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        let done = sqlx::query("DELETE FROM spaces WHERE id = $1")
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "space" });
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Places a catalogue element; an unknown element or space is `NotFound`.
    /// With `max_elements`, a space that already holds that many gets
    /// [`StoreError::QuotaExceeded`] (counted under the space's row lock, so
    /// concurrent placements cannot pass it together).
    pub async fn place_element(
        &self,
        space: i64,
        element: i64,
        x: i32,
        y: i32,
        max_elements: Option<u32>,
    ) -> Result<i64, StoreError> {
        let mut transaction = self.begin_write().await?;
        if !lock_row(&mut transaction, "spaces", space).await? {
            return Err(StoreError::NotFound { what: "space" });
        }
        if let Some(limit) = max_elements {
            let (placed,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM space_elements WHERE space_id = $1")
                    .bind(space)
                    .fetch_one(&mut *transaction)
                    .await?;
            if placed >= i64::from(limit) {
                return Err(StoreError::QuotaExceeded {
                    what: "elements",
                    limit,
                });
            }
        }
        if !crate::catalogue::element_exists(&mut *transaction, element).await? {
            return Err(StoreError::NotFound { what: "element" });
        }
        let id = insert_placement(&mut transaction, space, element, x, y).await?;
        transaction.commit().await?;
        Ok(id)
    }

    /// The space a placement belongs to.
    pub async fn placement_space(&self, placement: i64) -> Result<i64, StoreError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT space_id FROM space_elements WHERE id = $1")
                .bind(placement)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(space,)| space).ok_or(StoreError::NotFound {
            what: "placed element",
        })
    }

    /// Removes a placement.
    pub async fn remove_element(&self, placement: i64) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM space_elements WHERE id = $1")
            .bind(placement)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "placed element",
            });
        }
        Ok(())
    }

    /// What is placed in a space, by placement id.
    pub async fn placed_elements(&self, space: i64) -> Result<Vec<PlacedElement>, StoreError> {
        self.placed_elements_page(space, None, u32::MAX).await
    }

    /// Up to `limit` of what is placed in a space, by placement id, with ids
    /// after `after` (from the start if none): the next page starts after the
    /// last id returned.
    pub async fn placed_elements_page(
        &self,
        space: i64,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<PlacedElement>, StoreError> {
        let rows: Vec<PlacedRow> = sqlx::query_as(AssertSqlSafe(format!(
            "{PLACED_SELECT} WHERE p.space_id = $1 AND p.id > $2 ORDER BY p.id LIMIT $3"
        )))
        .bind(space)
        .bind(after.unwrap_or(i64::MIN))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(placed).collect())
    }

    /// One placement, if it exists.
    pub async fn placed_element(&self, placement: i64) -> Result<PlacedElement, StoreError> {
        let row: Option<PlacedRow> =
            sqlx::query_as(AssertSqlSafe(format!("{PLACED_SELECT} WHERE p.id = $1")))
                .bind(placement)
                .fetch_optional(&self.pool)
                .await?;
        row.map(placed).ok_or(StoreError::NotFound {
            what: "placed element",
        })
    }
}

const PLACED_SELECT: &str = "SELECT p.id, p.x, p.y, e.id, e.image_url, e.width, e.height, \
     e.is_static FROM space_elements p JOIN element_catalogue e ON e.id = p.element_id";

fn placed((id, x, y, element, image_url, width, height, is_static): PlacedRow) -> PlacedElement {
    PlacedElement {
        id,
        element: crate::CatalogueElement {
            id: element,
            image_url,
            width,
            height,
            is_static: is_static != 0,
        },
        x,
        y,
    }
}
