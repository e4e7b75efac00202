//! Checkpoints of every length from 1 to 120 rows prepare one statement per
//! fixed batch shape they use on a connection (at most four), instead of a new
//! statement text, parsed again, for nearly every batch.
//!
//! Observed on the real PostgreSQL, which lists a session's prepared statements
//! (`pg_prepared_statements`). SQLite has no such list in this build (and the
//! `Any` driver reports no cache size), so there the fixed texts are checked by
//! the unit tests of `checkpoint_statements.rs`.

mod common;

use meridian_persistence::{CharacterState, Role};

/// The fixed batch shapes of the checkpoint statements (256, 64, 8, 1).
const SHAPES: i64 = 4;

const LONGEST_BATCH: usize = 120;

#[test]
fn checkpoint_statements_are_prepared_once_per_shape() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // One connection, so every statement is prepared in the session we list.
    let Some(test) = runtime.block_on(common::postgres_with_connections(
        "checkpoint_statements_are_prepared_once_per_shape",
        1,
    )) else {
        return;
    };
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
        for length in 1..=LONGEST_BATCH {
            store
                .checkpoint_characters(&rows[..length], length as i64)
                .await
                .expect("checkpoint");
        }
        let (prepared,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pg_prepared_statements \
             WHERE statement LIKE 'INSERT INTO characters%'",
        )
        .fetch_one(store.pool_for_tests())
        .await
        .expect("prepared statements");
        assert!(
            (1..=SHAPES).contains(&prepared),
            "{prepared} checkpoint statements prepared for checkpoints of 1 to {LONGEST_BATCH} rows"
        );
        let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM characters")
            .fetch_one(store.pool_for_tests())
            .await
            .expect("rows");
        assert_eq!(stored, LONGEST_BATCH as i64);
    });
    runtime.block_on(test.remove());
}
