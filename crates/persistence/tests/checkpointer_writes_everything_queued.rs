//! Batches queued by a zone thread (never waiting) are all written, newest state
//! per character, and finishing the checkpointer flushes what is still queued: on
//! SQLite and on the real PostgreSQL.

mod common;

use meridian_persistence::{CharacterState, Checkpointer, Role};

#[test]
fn every_queued_batch_is_written_by_the_end() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let stores = runtime.block_on(common::both("every_queued_batch_is_written_by_the_end"));
    for test in stores {
        let store = test.store.clone();
        let (space, accounts) = runtime.block_on(async {
            let owner = store
                .create_account("owner", "h", Role::User, 0)
                .await
                .expect("owner");
            let space = store
                .create_space_for_tests(owner.id, "plaza")
                .await
                .expect("space");
            let mut accounts = Vec::new();
            for index in 0..300 {
                let account = store
                    .create_account(&format!("p{index}"), "h", Role::User, 0)
                    .await
                    .expect("account");
                accounts.push(account.id);
            }
            (space, accounts)
        });
        let (checkpointer, queue) = {
            let _entered = runtime.enter();
            Checkpointer::spawn(store.clone())
        };
        // A zone thread: 50 ticks of every character moving, queued without
        // waiting; a tick's rows replace the older rows still waiting.
        let zone = std::thread::spawn(move || {
            let batch_for = |tick: u32| -> Vec<CharacterState> {
                accounts
                    .iter()
                    .map(|&account_id| CharacterState {
                        account_id,
                        space_id: space,
                        zone_id: 1,
                        x: f64::from(tick),
                        y: account_id as f64,
                        heading: 0.0,
                        appearance: 0,
                        inventory: "[]".into(),
                        inventory_version: 0,
                    })
                    .collect()
            };
            for tick in 0..50 {
                queue
                    .try_queue(batch_for(tick))
                    .expect("the checkpointer runs");
            }
        });
        zone.join().expect("zone thread");
        let counters = runtime.block_on(checkpointer.finish());
        assert_eq!(
            counters
                .failed_writes
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
        runtime.block_on(async {
            let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM characters")
                .fetch_one(store.pool_for_tests())
                .await
                .expect("counts");
            assert_eq!(count, 300, "{}", test.name);
            let (stale,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM characters WHERE x <> 49")
                .fetch_one(store.pool_for_tests())
                .await
                .expect("counts");
            assert_eq!(
                stale, 0,
                "{}: every character's newest state is stored",
                test.name
            );
        });
        runtime.block_on(test.remove());
    }
}
