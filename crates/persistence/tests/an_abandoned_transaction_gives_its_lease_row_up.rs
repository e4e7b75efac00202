//! A client that vanishes in the middle of a transaction, as a shard whose host
//! is cut off between its lease renewal's `UPDATE` and the `COMMIT` does, holds
//! the lease row it locked only until PostgreSQL ends its idle session (after
//! as long as a lease lasts), not until TCP keepalive notices it is gone (two
//! hours by default): another holder then takes the lapsed lease. Before,
//! the taker waited for as long as the silent session lived.
//!
//! PostgreSQL only (an SQLite writer is in-process: it cannot vanish without
//! its process); skipped when PostgreSQL is absent, except under `CI=true`.

mod common;

use std::time::{Duration, Instant};

use meridian_persistence::LeaseOutcome;

const TTL: i64 = 1_000;

#[test]
fn an_abandoned_transaction_gives_its_lease_row_up() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let Some(test) = common::postgres("abandoned_transaction").await else {
            return;
        };
        let store = &test.store;
        let LeaseOutcome::Granted(lease) = store
            .acquire_lease(3, "shard-a", 1_000, TTL)
            .await
            .expect("acquires")
        else {
            panic!("a free zone's lease is granted");
        };

        // Shard A renews in a transaction of its own and then goes silent: the
        // `UPDATE` reached the server, the `COMMIT` never comes. Its
        // connection stays open, as the server's end of a partitioned one
        // does.
        let mut abandoned = store.pool_for_tests().begin().await.expect("a transaction");
        sqlx::query(
            "UPDATE zone_leases SET expires_at = $1 \
             WHERE zone_id = $2 AND holder = $3 AND epoch = $4 AND expires_at > $5",
        )
        .bind(1_500 + TTL)
        .bind(3_i64)
        .bind("shard-a")
        .bind(lease.epoch)
        .bind(1_500_i64)
        .execute(&mut *abandoned)
        .await
        .expect("the renewal's update runs");

        // Shard B asks for the lease once it has lapsed (at the ledger's
        // clock), while A's session still sits on the row.
        let asked = Instant::now();
        let taken = tokio::time::timeout(
            Duration::from_secs(30),
            store.acquire_lease(3, "shard-b", 10_000, TTL),
        )
        .await;
        let waited = asked.elapsed();
        println!("shard B's acquire waited {waited:?} for the abandoned transaction");
        match taken {
            Ok(Ok(LeaseOutcome::Granted(taken))) => {
                assert_eq!(taken.holder, "shard-b");
                assert_eq!(taken.epoch, lease.epoch + 1, "a newer epoch fences A out");
            }
            other => panic!("shard B takes the lapsed lease: {other:?} after {waited:?}"),
        }
        // A's session was ended by the server: its commit cannot apply.
        assert!(
            abandoned.commit().await.is_err(),
            "the abandoned transaction's session is gone"
        );
        let stored = store.lease(3).await.expect("reads").expect("a lease row");
        assert_eq!(
            (stored.holder.as_str(), stored.epoch),
            ("shard-b", lease.epoch + 1)
        );
        test.remove().await;
    });
}
