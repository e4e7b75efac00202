//! While the database stalls (its write lock held by another transaction),
//! many checkpoints of a few characters leave one waiting row per character,
//! the newest; once the stall ends, the newest positions are written and
//! nothing is lost: on SQLite and on the real PostgreSQL.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use meridian_persistence::{Backend, CharacterState, Checkpointer, Role};

const CHARACTERS: usize = 3;
const CHECKPOINTS: u32 = 1_000;

fn batch(accounts: &[i64], space: i64, step: u32) -> Vec<CharacterState> {
    accounts
        .iter()
        .map(|&account_id| CharacterState {
            account_id,
            space_id: space,
            zone_id: 1,
            x: f64::from(step),
            y: 1.0,
            heading: 0.0,
            appearance: 0,
            inventory: "{}".into(),
            inventory_version: 0,
        })
        .collect()
}

#[test]
fn a_stalled_database_holds_one_pending_row_per_character() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let stores = runtime.block_on(common::both(
        "a_stalled_database_holds_one_pending_row_per_character",
    ));
    for test in stores {
        let store = test.store.clone();
        let (space, accounts) = runtime.block_on(async {
            let (_, space) = common::owner_and_space(&store).await;
            let mut accounts = Vec::new();
            for index in 0..CHARACTERS {
                let account = store
                    .create_account(&format!("p{index}"), "h", Role::User, 0)
                    .await
                    .expect("account");
                accounts.push(account.id);
            }
            (space, accounts)
        });
        // Another transaction holds the write lock on the characters table.
        let stall = runtime.block_on(async {
            match store.backend() {
                Backend::Sqlite => store
                    .pool_for_tests()
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .expect("the write lock"),
                Backend::Postgres => {
                    let mut transaction = store.pool_for_tests().begin().await.expect("begins");
                    sqlx::query("LOCK TABLE characters IN EXCLUSIVE MODE")
                        .execute(&mut *transaction)
                        .await
                        .expect("locks");
                    transaction
                }
            }
        });
        let (checkpointer, queue) = {
            let _entered = runtime.enter();
            Checkpointer::spawn(store.clone())
        };
        let counters = queue.counters();
        queue.try_queue(batch(&accounts, space, 0)).expect("queued");
        // The writer takes the first batch and waits on the lock.
        let deadline = Instant::now() + Duration::from_secs(30);
        while counters.pending_rows.load(Ordering::Relaxed) != 0 {
            assert!(
                Instant::now() < deadline,
                "{}: the writer never started",
                test.name
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        for step in 1..CHECKPOINTS {
            queue
                .try_queue(batch(&accounts, space, step))
                .expect("queued");
            let pending = counters.pending_rows.load(Ordering::Relaxed);
            assert!(
                pending <= CHARACTERS as u64,
                "{}: {pending} rows wait for {CHARACTERS} characters",
                test.name
            );
        }
        assert_eq!(
            counters.pending_rows.load(Ordering::Relaxed),
            CHARACTERS as u64,
            "{}: one row per character waits",
            test.name
        );
        assert_eq!(
            counters.writes.load(Ordering::Relaxed),
            0,
            "{}: nothing was written during the stall",
            test.name
        );
        // Every queued row but the newest of each character was replaced.
        assert_eq!(
            counters.coalesced_rows.load(Ordering::Relaxed),
            u64::from(CHECKPOINTS - 2) * CHARACTERS as u64,
            "{}",
            test.name
        );
        runtime.block_on(stall.rollback()).expect("the stall ends");
        drop(queue);
        let counters = runtime.block_on(checkpointer.finish());
        assert_eq!(
            counters.lost_rows.load(Ordering::Relaxed),
            0,
            "{}",
            test.name
        );
        runtime.block_on(async {
            for &account in &accounts {
                let stored = store
                    .character(account, space)
                    .await
                    .expect("reads")
                    .expect("stored");
                assert_eq!(
                    stored.x,
                    f64::from(CHECKPOINTS - 1),
                    "{}: the newest position is written",
                    test.name
                );
            }
        });
        runtime.block_on(test.remove());
    }
}
