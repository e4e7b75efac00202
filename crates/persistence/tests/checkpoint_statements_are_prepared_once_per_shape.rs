//! Checkpoints of every length from 1 to 120 rows prepare at most one
//! statement per fixed batch shape on a connection (four), instead of a new
//! statement text, parsed again, for nearly every batch: on SQLite and on the
//! real PostgreSQL.

mod common;

use meridian_persistence::{CharacterState, Role};
use sqlx::Connection;

/// The fixed batch shapes of the checkpoint statements (256, 64, 8, 1).
const SHAPES: usize = 4;

const LONGEST_BATCH: usize = 120;

#[test]
fn checkpoint_statements_are_prepared_once_per_shape() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stores = runtime.block_on(common::both_with_one_connection(
        "checkpoint_statements_are_prepared_once_per_shape",
    ));
    for test in stores {
        runtime.block_on(async {
            let store = &test.store;
            let (_, space) = common::owner_and_space(store).await;
            let mut rows = Vec::with_capacity(LONGEST_BATCH);
            for index in 0..LONGEST_BATCH {
                let account = store
                    .create_account(&format!("p{index}"), "h", Role::User, 0)
                    .await
                    .expect("account");
                rows.push(CharacterState {
                    account_id: account.id,
                    space_id: space,
                    zone_id: 1,
                    x: index as f64,
                    y: 0.0,
                    heading: 0.0,
                    appearance: 0,
                    inventory: "[]".into(),
                    inventory_version: 0,
                });
            }
            let cached_before = {
                let connection = store.pool_for_tests().acquire().await.expect("connection");
                connection.cached_statements_size()
            };
            for length in 1..=LONGEST_BATCH {
                store
                    .checkpoint_characters(&rows[..length], length as i64)
                    .await
                    .expect("checkpoint");
            }
            let connection = store.pool_for_tests().acquire().await.expect("connection");
            let prepared = connection
                .cached_statements_size()
                .saturating_sub(cached_before);
            assert!(
                prepared <= SHAPES,
                "{}: {prepared} statements prepared for checkpoints of 1 to {LONGEST_BATCH} rows",
                test.name
            );
        });
        runtime.block_on(test.remove());
    }
}
