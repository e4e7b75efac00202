//! The same repository behaviour on SQLite and on the real PostgreSQL: migrations
//! apply once, accounts refuse duplicate names, character checkpoints write in
//! batches without touching inventories, chat history pages newest first.

mod common;

use meridian_persistence::{CharacterState, MIGRATIONS, Role, Store, StoreError};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn migrations_apply_once() {
    runtime().block_on(async {
        for test in common::both("migrations_apply_once").await {
            let (versions,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM meridian_migrations")
                .fetch_one(test.store.pool_for_tests())
                .await
                .expect("counts");
            assert_eq!(versions, MIGRATIONS.len() as i64, "{}", test.name);
            test.remove().await;
        }
    });
}

#[test]
fn accounts_are_unique_by_name() {
    runtime().block_on(async {
        for test in common::both("accounts_are_unique_by_name").await {
            let store: &Store = &test.store;
            let ada = store
                .create_account("ada", "$argon2id$hash", Role::User, 1)
                .await
                .expect("created");
            let again = store.create_account("ada", "x", Role::Admin, 2).await;
            assert!(
                matches!(again, Err(StoreError::Conflict { what: "username" })),
                "{}: {again:?}",
                test.name
            );
            let found = store.account_by_username("ada").await.expect("found");
            assert_eq!(found, ada, "{}", test.name);
            let bob = store
                .create_account("bob", "h", Role::Admin, 3)
                .await
                .expect("created");
            assert!(bob.id > ada.id);
            assert!(matches!(
                store.account_by_username("nobody").await,
                Err(StoreError::NotFound { .. })
            ));
            test.remove().await;
        }
    });
}

#[test]
fn checkpoints_write_batches_and_keep_inventories() {
    runtime().block_on(async {
        for test in common::both("checkpoints_write_batches_and_keep_inventories").await {
            let store: &Store = &test.store;
            let (_, space) = common::owner_and_space(store).await;
            // 3,500 accounts: more than one statement's worth of rows.
            let mut batch = Vec::new();
            for index in 0..3_500 {
                let account = store
                    .create_account(&format!("player{index}"), "h", Role::User, 1)
                    .await
                    .expect("created");
                batch.push(CharacterState {
                    account_id: account.id,
                    space_id: space,
                    zone_id: 1,
                    x: f64::from(index),
                    y: 2.5,
                    heading: 0.5,
                    appearance: 3,
                    inventory: "[\"hat\"]".into(),
                    inventory_version: 1,
                });
            }
            store
                .checkpoint_characters(&batch, 10)
                .await
                .expect("first checkpoint");
            for character in &mut batch {
                character.x += 1.0;
                character.inventory = "[]".into();
            }
            store
                .checkpoint_characters(&batch, 11)
                .await
                .expect("second checkpoint");
            for character in [&batch[0], &batch[3_499]] {
                let stored = store
                    .character(character.account_id, space)
                    .await
                    .expect("reads")
                    .expect("stored");
                assert_eq!(stored.x, character.x, "{}", test.name);
                assert_eq!(
                    stored.inventory, "[\"hat\"]",
                    "{}: a checkpoint keeps the inventory",
                    test.name
                );
            }
            test.remove().await;
        }
    });
}

#[test]
fn chat_history_pages_newest_first() {
    runtime().block_on(async {
        for test in common::both("chat_history_pages_newest_first").await {
            let store: &Store = &test.store;
            for index in 0..250 {
                let room = if index % 5 == 0 { "lobby" } else { "zone-1" };
                store
                    .append_chat(1, room, 7, "zone", &format!("line {index}"), index)
                    .await
                    .expect("stored");
            }
            let first = store
                .chat_history(1, "zone-1", None, 100)
                .await
                .expect("page");
            assert_eq!(first.len(), 100, "{}", test.name);
            assert_eq!(first[0].body, "line 249");
            assert!(first.windows(2).all(|pair| pair[0].id > pair[1].id));
            let second = store
                .chat_history(1, "zone-1", first.last().map(|line| line.id), 100)
                .await
                .expect("page");
            assert_eq!(second.len(), 100);
            let third = store
                .chat_history(1, "zone-1", second.last().map(|line| line.id), 100)
                .await
                .expect("page");
            assert_eq!(third.len(), 0, "{}: 200 lines in zone-1", test.name);
            assert_eq!(
                store
                    .chat_history(1, "lobby", None, 100)
                    .await
                    .expect("page")
                    .len(),
                50
            );
            test.remove().await;
        }
    });
}
