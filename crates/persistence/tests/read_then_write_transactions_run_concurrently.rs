//! Transactions that read before they write run side by side without failing
//! ("database is locked" on SQLite) and without two of them acting on the same
//! read (a quota passed twice on PostgreSQL): on SQLite and on the real
//! PostgreSQL.

mod common;

use meridian_persistence::{Role, StoreError};

const TASKS: usize = 40;

#[test]
fn concurrent_placements_and_creations_respect_their_reads() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    let stores = runtime.block_on(common::both(
        "concurrent_placements_and_creations_respect_their_reads",
    ));
    for test in stores {
        let store = test.store.clone();
        runtime.block_on(async {
            let (owner, space) = common::owner_and_space(&store).await;
            let element = store
                .create_element("https://example.invalid/a.png", 1, 1, false)
                .await
                .expect("element");
            let reported = store
                .create_account("reported", "h", Role::User, 0)
                .await
                .expect("account");

            // Placements with a quota of 10, reports and spaces with a quota of
            // 5 (the owner has one), all at once.
            let mut tasks = tokio::task::JoinSet::new();
            for index in 0..TASKS {
                let store = store.clone();
                tasks.spawn(async move {
                    let x = index as i32;
                    let placed = store
                        .place_element(space, element, x, x, Some(10))
                        .await
                        .map(drop);
                    let reported = store.report(owner, reported.id, "spam", 0).await.map(drop);
                    let created = store
                        .create_space(
                            Some(owner),
                            "room",
                            10,
                            10,
                            false,
                            false,
                            None,
                            None,
                            0,
                            Some(5),
                        )
                        .await
                        .map(drop);
                    (placed, reported, created)
                });
            }
            let (mut placed, mut spaces) = (0, 0);
            while let Some(outcome) = tasks.join_next().await {
                let (placement, report, creation) = outcome.expect("the task ran");
                match placement {
                    Ok(()) => placed += 1,
                    Err(StoreError::QuotaExceeded {
                        what: "elements",
                        limit: 10,
                    }) => {}
                    Err(other) => panic!("{}: placing: {other}", test.name),
                }
                report.unwrap_or_else(|error| panic!("{}: reporting: {error}", test.name));
                match creation {
                    Ok(()) => spaces += 1,
                    Err(StoreError::QuotaExceeded {
                        what: "spaces",
                        limit: 5,
                    }) => {}
                    Err(other) => panic!("{}: creating: {other}", test.name),
                }
            }
            assert_eq!(placed, 10, "{}", test.name);
            assert_eq!(spaces, 4, "{}: one was owned before", test.name);
            assert_eq!(
                store.placed_elements(space).await.expect("reads").len(),
                10,
                "{}",
                test.name
            );
        });
        runtime.block_on(test.remove());
    }
}

#[test]
fn servers_starting_together_make_one_plaza_and_seed_it_once() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    let stores = runtime.block_on(common::both(
        "servers_starting_together_make_one_plaza_and_seed_it_once",
    ));
    for test in stores {
        let store = test.store.clone();
        runtime.block_on(async {
            // Eight servers start at once: each finds or makes the plaza, then
            // seeds the catalogues if they are empty.
            let mut starts = tokio::task::JoinSet::new();
            for _ in 0..8 {
                let store = store.clone();
                starts.spawn(async move {
                    let plaza = store.ensure_space("plaza", 100, 100, 0).await?;
                    let seeded = store.seed_starter_catalogue(plaza, (50, 50)).await?;
                    Ok::<_, StoreError>((plaza, seeded))
                });
            }
            let mut plazas = Vec::new();
            let mut seeded = 0;
            while let Some(start) = starts.join_next().await {
                let (plaza, did_seed) = start
                    .expect("the task ran")
                    .unwrap_or_else(|error| panic!("{}: {error}", test.name));
                plazas.push(plaza);
                seeded += usize::from(did_seed);
            }
            plazas.sort_unstable();
            plazas.dedup();
            assert_eq!(plazas.len(), 1, "{}: one plaza: {plazas:?}", test.name);
            assert_eq!(seeded, 1, "{}: seeded once", test.name);
            let elements = store.elements().await.expect("reads").len();
            let avatars = store.avatars().await.expect("reads").len();
            assert_eq!((elements, avatars), (5, 6), "{}", test.name);
        });
        runtime.block_on(test.remove());
    }
}

#[test]
fn placements_during_a_delete_either_land_before_it_or_find_no_space() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    let stores = runtime.block_on(common::both(
        "placements_during_a_delete_either_land_before_it_or_find_no_space",
    ));
    for test in stores {
        let store = test.store.clone();
        runtime.block_on(async {
            let (_, space) = common::owner_and_space(&store).await;
            let element = store
                .create_element("https://example.invalid/a.png", 1, 1, false)
                .await
                .expect("element");
            let mut tasks = tokio::task::JoinSet::new();
            for index in 0..TASKS {
                let store = store.clone();
                tasks.spawn(async move {
                    if index == TASKS / 2 {
                        store.delete_space(space).await.map(drop)
                    } else {
                        let x = index as i32;
                        store
                            .place_element(space, element, x, x, None)
                            .await
                            .map(drop)
                    }
                });
            }
            while let Some(outcome) = tasks.join_next().await {
                match outcome.expect("the task ran") {
                    Ok(()) | Err(StoreError::NotFound { what: "space" }) => {}
                    Err(other) => panic!("{}: {other}", test.name),
                }
            }
            assert!(
                store
                    .placed_elements(space)
                    .await
                    .expect("reads")
                    .is_empty(),
                "{}: nothing is left in a deleted space",
                test.name
            );
        });
        runtime.block_on(test.remove());
    }
}
