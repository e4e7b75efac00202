//! The starter catalogue a fresh world gets, so a server run on embedded
//! defaults has avatars to choose and things to see before any admin acts.

use crate::catalogue::{insert_avatar, insert_element};
use crate::error::StoreError;
use crate::spaces::insert_placement;
use crate::store::Store;

/// Avatars: name and picture (served by `meridian serve` under `/assets`).
const AVATARS: [(&str, &str); 6] = [
    ("Fox", "/assets/avatars/fox.svg"),
    ("Owl", "/assets/avatars/owl.svg"),
    ("Cat", "/assets/avatars/cat.svg"),
    ("Bear", "/assets/avatars/bear.svg"),
    ("Frog", "/assets/avatars/frog.svg"),
    ("Robot", "/assets/avatars/robot.svg"),
];

/// Elements: picture, width and height in tiles, whether it blocks movement.
const ELEMENTS: [(&str, i32, i32, bool); 5] = [
    ("/assets/elements/tree.svg", 2, 2, true),
    ("/assets/elements/bench.svg", 2, 1, true),
    ("/assets/elements/fountain.svg", 3, 3, true),
    ("/assets/elements/flowers.svg", 1, 1, false),
    ("/assets/elements/lamp.svg", 1, 1, true),
];

/// Where the starter elements stand around the plaza's centre: element index
/// and offset in tiles.
const PLAZA: [(usize, i32, i32); 12] = [
    (2, -1, -1),
    (0, -12, -12),
    (0, 10, -12),
    (0, -12, 10),
    (0, 10, 10),
    (1, -5, -7),
    (1, 3, -7),
    (4, -7, -1),
    (4, 6, -1),
    (3, -3, 5),
    (3, 2, 5),
    (3, 0, -9),
];

impl Store {
    /// Fills empty catalogues with the starter avatars and elements and places a
    /// few in `plaza` around the tile `centre`. Does nothing (and returns
    /// `false`) once either catalogue has anything in it, so an admin's choices
    /// are never added to. One transaction under the start-up lock, so servers
    /// starting together on one database seed once.
    pub async fn seed_starter_catalogue(
        &self,
        plaza: i64,
        centre: (i32, i32),
    ) -> Result<bool, StoreError> {
        let mut transaction = self.begin_write().await?;
        self.lock_start_up(&mut transaction).await?;
        let (avatars,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM avatar_catalogue")
            .fetch_one(&mut *transaction)
            .await?;
        let (elements,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM element_catalogue")
            .fetch_one(&mut *transaction)
            .await?;
        if avatars > 0 || elements > 0 {
            return Ok(false);
        }
        for (name, image) in AVATARS {
            insert_avatar(&mut transaction, name, image).await?;
        }
        let mut ids = Vec::new();
        for (image, width, height, is_static) in ELEMENTS {
            ids.push(insert_element(&mut transaction, image, width, height, is_static).await?);
        }
        for (index, dx, dy) in PLAZA {
            insert_placement(
                &mut transaction,
                plaza,
                ids[index],
                centre.0 + dx,
                centre.1 + dy,
            )
            .await?;
        }
        transaction.commit().await?;
        Ok(true)
    }
}
