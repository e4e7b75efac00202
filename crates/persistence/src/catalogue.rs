//! The catalogues admins curate: avatars and placeable elements.

use crate::error::StoreError;
use crate::ids::next_id;
use crate::store::Store;

/// An avatar players may choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueAvatar {
    /// Its id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Picture.
    pub image_url: String,
}

/// An element that can be placed in spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueElement {
    /// Its id.
    pub id: i64,
    /// Picture.
    pub image_url: String,
    /// Size in tiles.
    pub width: i32,
    /// Size in tiles.
    pub height: i32,
    /// Blocks movement.
    pub is_static: bool,
}

impl Store {
    /// Adds an avatar to the catalogue.
    pub async fn create_avatar(&self, name: &str, image_url: &str) -> Result<i64, StoreError> {
        let mut transaction = self.begin_write().await?;
        let id = insert_avatar(&mut transaction, name, image_url).await?;
        transaction.commit().await?;
        Ok(id)
    }

    /// Every avatar, by id.
    pub async fn avatars(&self) -> Result<Vec<CatalogueAvatar>, StoreError> {
        let rows: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT id, name, image_url FROM avatar_catalogue ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, image_url)| CatalogueAvatar {
                id,
                name,
                image_url,
            })
            .collect())
    }

    /// Adds an element to the catalogue.
    pub async fn create_element(
        &self,
        image_url: &str,
        width: i32,
        height: i32,
        is_static: bool,
    ) -> Result<i64, StoreError> {
        let mut transaction = self.begin_write().await?;
        let id = insert_element(&mut transaction, image_url, width, height, is_static).await?;
        transaction.commit().await?;
        Ok(id)
    }

    /// Changes an element's picture.
    pub async fn update_element_image(&self, id: i64, image_url: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE element_catalogue SET image_url = $1 WHERE id = $2")
            .bind(image_url)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "element" });
        }
        Ok(())
    }

    /// Every element, by id.
    pub async fn elements(&self) -> Result<Vec<CatalogueElement>, StoreError> {
        self.elements_page(None, u32::MAX).await
    }

    /// Up to `limit` elements by id, with ids after `after` (from the start if
    /// none): the next page starts after the last id returned.
    pub async fn elements_page(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<CatalogueElement>, StoreError> {
        let rows: Vec<(i64, String, i32, i32, i32)> = sqlx::query_as(
            "SELECT id, image_url, width, height, is_static FROM element_catalogue \
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.unwrap_or(i64::MIN))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, image_url, width, height, is_static)| CatalogueElement {
                    id,
                    image_url,
                    width,
                    height,
                    is_static: is_static != 0,
                },
            )
            .collect())
    }

    /// Sets the avatar an account uses; an unknown avatar is `NotFound`.
    pub async fn set_account_avatar(&self, account: i64, avatar: i64) -> Result<(), StoreError> {
        let exists: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM avatar_catalogue WHERE id = $1")
                .bind(avatar)
                .fetch_optional(&self.pool)
                .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound { what: "avatar" });
        }
        sqlx::query("UPDATE accounts SET avatar_id = $1 WHERE id = $2")
            .bind(avatar)
            .bind(account)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Adds an avatar inside the caller's transaction; returns its id.
pub(crate) async fn insert_avatar(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    name: &str,
    image_url: &str,
) -> Result<i64, StoreError> {
    let id = next_id(&mut **transaction, "avatar_catalogue").await?;
    sqlx::query("INSERT INTO avatar_catalogue (id, name, image_url) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(name)
        .bind(image_url)
        .execute(&mut **transaction)
        .await?;
    Ok(id)
}

/// Adds an element inside the caller's transaction; returns its id.
pub(crate) async fn insert_element(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    image_url: &str,
    width: i32,
    height: i32,
    is_static: bool,
) -> Result<i64, StoreError> {
    let id = next_id(&mut **transaction, "element_catalogue").await?;
    sqlx::query(
        "INSERT INTO element_catalogue (id, image_url, width, height, is_static) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(image_url)
    .bind(width)
    .bind(height)
    .bind(i32::from(is_static))
    .execute(&mut **transaction)
    .await?;
    Ok(id)
}

/// Whether the catalogue has element `id` (inside a transaction or not).
pub(crate) async fn element_exists<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: i64,
) -> Result<bool, StoreError> {
    let known: Option<(i64,)> = sqlx::query_as("SELECT id FROM element_catalogue WHERE id = $1")
        .bind(id)
        .fetch_optional(executor)
        .await?;
    Ok(known.is_some())
}
