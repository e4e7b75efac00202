//! Inventory changes on SQLite and on the real PostgreSQL: each is committed
//! before it returns, refused changes write nothing, a checkpoint never undoes
//! one, and concurrent writers to one character lose no change.

mod common;

use meridian_persistence::{CharacterState, InventoryOutcome, Store};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn standing(account_id: i64, space_id: i64) -> CharacterState {
    CharacterState {
        account_id,
        space_id,
        zone_id: 1,
        x: 4.0,
        y: 5.0,
        heading: 0.0,
        appearance: 2,
        inventory: "[]".into(),
        inventory_version: 0,
    }
}

#[test]
fn changes_commit_refusals_write_nothing_and_checkpoints_keep_them() {
    runtime().block_on(async {
        for test in common::both("inventory_commits").await {
            let store: &Store = &test.store;
            let (owner, space) = common::owner_and_space(store).await;
            let chair = store
                .create_element("/chair.png", 1, 1, true)
                .await
                .expect("element")
                .to_string();
            let me = standing(owner, space);

            // The first change creates the character row with the position given.
            let added = store
                .change_inventory(&me, &chair, 5, 2)
                .await
                .expect("add");
            assert_eq!(
                added,
                InventoryOutcome::Applied {
                    quantity: 5,
                    version: 1
                },
                "{}",
                test.name
            );
            let stored = store.character(owner, space).await.unwrap().unwrap();
            assert_eq!((stored.x, stored.y), (4.0, 5.0), "{}", test.name);

            // Refusals write nothing.
            let outcomes = [
                store.change_inventory(&me, &chair, -6, 3).await.unwrap(),
                store.change_inventory(&me, &chair, 9_995, 3).await.unwrap(),
                store.change_inventory(&me, "999999", 1, 3).await.unwrap(),
                store.change_inventory(&me, "chair", 1, 3).await.unwrap(),
            ];
            assert_eq!(
                outcomes,
                [
                    InventoryOutcome::NotEnough { held: 5 },
                    InventoryOutcome::StackFull { held: 5 },
                    InventoryOutcome::UnknownItem,
                    InventoryOutcome::UnknownItem,
                ],
                "{}",
                test.name
            );
            let taken = store.change_inventory(&me, &chair, -2, 4).await.unwrap();
            assert_eq!(
                taken,
                InventoryOutcome::Applied {
                    quantity: 3,
                    version: 2
                },
                "{}",
                test.name
            );

            // A movement checkpoint afterwards moves the character and keeps the items.
            let mut moved = me.clone();
            moved.x = 40.0;
            store.checkpoint_characters(&[moved], 5).await.unwrap();
            let items = store.inventory(owner, space).await.unwrap();
            assert_eq!(items.get(&chair), Some(&3), "{}", test.name);
            let stored = store.character(owner, space).await.unwrap().unwrap();
            assert_eq!(
                (stored.x, stored.inventory_version),
                (40.0, 2),
                "{}",
                test.name
            );

            // Taking the last one removes the entry.
            store.change_inventory(&me, &chair, -3, 6).await.unwrap();
            assert!(
                store.inventory(owner, space).await.unwrap().is_empty(),
                "{}",
                test.name
            );
            test.remove().await;
        }
    });
}

#[test]
fn concurrent_writers_lose_no_change() {
    runtime().block_on(async {
        for test in common::both("inventory_concurrent").await {
            let store: &Store = &test.store;
            let (owner, space) = common::owner_and_space(store).await;
            let gem = store
                .create_element("/gem.png", 1, 1, false)
                .await
                .expect("element")
                .to_string();
            let me = standing(owner, space);
            store
                .change_inventory(&me, &gem, 1, 1)
                .await
                .expect("first");
            // Two writers (as two processes would be during a handoff), each adding
            // one at a time. Every change that reports Applied must be counted;
            // one that lost every retry reports an error and is not counted.
            let writers = (0..2).map(|_| {
                let store = store.clone();
                let me = me.clone();
                let gem = gem.clone();
                tokio::spawn(async move {
                    let mut applied = 0;
                    for _ in 0..20 {
                        if let Ok(InventoryOutcome::Applied { .. }) =
                            store.change_inventory(&me, &gem, 1, 2).await
                        {
                            applied += 1;
                        }
                    }
                    applied
                })
            });
            let mut applied = 1;
            for writer in writers.collect::<Vec<_>>() {
                applied += writer.await.expect("writer");
            }
            let items = store.inventory(owner, space).await.unwrap();
            assert_eq!(
                items.get(&gem).copied(),
                Some(applied),
                "{}: every applied change is counted once",
                test.name
            );
            assert!(
                applied > 20,
                "{}: most changes apply ({applied})",
                test.name
            );
            let stored = store.character(owner, space).await.unwrap().unwrap();
            assert_eq!(
                stored.inventory_version,
                i64::from(applied),
                "{}",
                test.name
            );
            test.remove().await;
        }
    });
}
