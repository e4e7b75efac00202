//! Checkpoint batches of awkward sizes (0, 1, 7, 257 and 1,000 rows, cut into
//! statements of fixed shapes) each land exactly: after every batch, every
//! character ever written holds its newest row, on SQLite and on the real
//! PostgreSQL.

mod common;

use std::collections::HashMap;

use meridian_persistence::{CharacterState, Role, Store};

const CHARACTERS: usize = 1_000;

/// (account, zone, x, y, heading, appearance, updated_at)
type StoredRow = (i64, i64, f64, f64, f64, i64, i64);

async fn accounts_and_space(store: &Store) -> (Vec<i64>, i64) {
    let (_, space) = common::owner_and_space(store).await;
    let mut accounts = Vec::with_capacity(CHARACTERS);
    for index in 0..CHARACTERS {
        let account = store
            .create_account(&format!("p{index}"), "h", Role::User, 0)
            .await
            .expect("account");
        accounts.push(account.id);
    }
    (accounts, space)
}

/// `size` characters from `start` on (wrapping), each moved to a place of
/// this round's own.
fn batch(
    accounts: &[i64],
    space: i64,
    round: usize,
    start: usize,
    size: usize,
) -> Vec<CharacterState> {
    accounts
        .iter()
        .cycle()
        .skip(start)
        .take(size)
        .enumerate()
        .map(|(index, &account_id)| CharacterState {
            account_id,
            space_id: space,
            zone_id: round as i64,
            x: (round * 10_000 + index) as f64 + 0.25,
            y: account_id as f64 - 0.5,
            heading: round as f64 * 0.1,
            appearance: (round * 3 + index % 3) as i64,
            inventory: "[]".into(),
            inventory_version: 0,
        })
        .collect()
}

#[test]
fn batches_of_awkward_sizes_land_exactly() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let stores = runtime.block_on(common::both("batches_of_awkward_sizes_land_exactly"));
    for test in stores {
        runtime.block_on(async {
            let store = &test.store;
            let (accounts, space) = accounts_and_space(store).await;
            let mut newest: HashMap<i64, StoredRow> = HashMap::new();
            // Sizes and where each starts: batches overlap, so some rows are
            // updated and some inserted by the same batch.
            let rounds = [
                (0, 0),
                (1, 5),
                (7, 3),
                (257, 990),
                (1_000, 400),
                (7, 999),
                (0, 0),
            ];
            for (round, (size, start)) in rounds.into_iter().enumerate() {
                let rows = batch(&accounts, space, round, start, size);
                store
                    .checkpoint_characters(&rows, round as i64)
                    .await
                    .unwrap_or_else(|error| panic!("{}: batch of {size}: {error}", test.name));
                for row in rows {
                    newest.insert(
                        row.account_id,
                        (
                            row.account_id,
                            row.zone_id,
                            row.x,
                            row.y,
                            row.heading,
                            row.appearance,
                            round as i64,
                        ),
                    );
                }
                let stored: Vec<StoredRow> = sqlx::query_as(
                    "SELECT account_id, zone_id, x, y, heading, appearance, updated_at \
                     FROM characters WHERE space_id = $1",
                )
                .bind(space)
                .fetch_all(store.pool_for_tests())
                .await
                .expect("rows");
                assert_eq!(
                    stored.len(),
                    newest.len(),
                    "{}: after the batch of {size}, one row per character written",
                    test.name
                );
                for row in stored {
                    assert_eq!(
                        Some(&row),
                        newest.get(&row.0),
                        "{}: after the batch of {size}, the newest row of account {}",
                        test.name,
                        row.0
                    );
                }
            }
            assert_eq!(
                newest.len(),
                CHARACTERS,
                "{}: every character written",
                test.name
            );
        });
        runtime.block_on(test.remove());
    }
}
