//! Instance leases on SQLite and on the real PostgreSQL: one holder at a
//! time, epochs that fence a holder whose lease lapsed, renewals only while
//! valid, a release that hands the lease on at once, and concurrent first
//! acquisitions of which exactly one wins.

mod common;

use std::sync::Arc;

use meridian_persistence::{InstanceLease, InstanceLeaseOutcome, InstanceRoom, Store};
use tokio::sync::Barrier;

const TTL: i64 = 1_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn room(space_id: i64, room_number: i64) -> InstanceRoom {
    InstanceRoom {
        space_id,
        room_number,
    }
}

async fn acquire(store: &Store, at: InstanceRoom, holder: &str, now: i64) -> InstanceLeaseOutcome {
    store
        .acquire_instance_lease(at, holder, &format!("http://{holder}"), now, TTL)
        .await
        .expect("acquire answers")
}

fn granted(outcome: InstanceLeaseOutcome) -> InstanceLease {
    match outcome {
        InstanceLeaseOutcome::Granted(lease) => lease,
        other => panic!("expected a grant, got {other:?}"),
    }
}

#[test]
fn instance_leases_fence_their_holders() {
    runtime().block_on(async {
        for test in common::both("instance_leases_fence").await {
            let store: &Store = &test.store;
            let name = test.name;
            let (_, space) = common::owner_and_space(store).await;
            let first = room(space, 1);
            let second = room(space, 2);
            assert_eq!(store.instance_lease(first).await.unwrap(), None, "{name}");

            // The first holder gets epoch 1; another asker is told who holds it.
            let lease = granted(acquire(store, first, "shard-1", 100).await);
            assert_eq!(
                (lease.epoch, lease.expires_at_ms, lease.gateway.as_str()),
                (1, 100 + TTL, "http://shard-1"),
                "{name}"
            );
            match acquire(store, first, "shard-2", 200).await {
                InstanceLeaseOutcome::HeldBy(held) => assert_eq!(held, lease, "{name}"),
                other => panic!("{name}: shard-2 got {other:?}"),
            }
            // Rooms are leased apart.
            let other_room = granted(acquire(store, second, "shard-2", 200).await);
            assert_eq!(other_room.epoch, 1, "{name}");

            // Renewals: by the holder under its epoch while valid, nobody else.
            assert!(
                store
                    .renew_instance_lease(first, "shard-1", 1, 900, TTL)
                    .await
                    .unwrap(),
                "{name}"
            );
            assert!(
                !store
                    .renew_instance_lease(first, "shard-1", 2, 950, TTL)
                    .await
                    .unwrap(),
                "{name}"
            );
            assert!(
                !store
                    .renew_instance_lease(first, "shard-2", 1, 950, TTL)
                    .await
                    .unwrap(),
                "{name}"
            );
            // Asking again while holding it renews under the same epoch.
            let again = granted(acquire(store, first, "shard-1", 1_000).await);
            assert_eq!((again.epoch, again.expires_at_ms), (1, 2_000), "{name}");

            // Lapsed: too late to renew, and the next asker gets epoch 2.
            assert!(
                !store
                    .renew_instance_lease(first, "shard-1", 1, 2_000, TTL)
                    .await
                    .unwrap(),
                "{name}"
            );
            let taken = granted(acquire(store, first, "shard-2", 2_000).await);
            assert_eq!(
                (taken.holder.as_str(), taken.epoch),
                ("shard-2", 2),
                "{name}"
            );
            // The old holder is fenced out for good under its epoch.
            assert!(
                !store
                    .renew_instance_lease(first, "shard-1", 1, 2_100, TTL)
                    .await
                    .unwrap(),
                "{name}"
            );
            assert!(
                !store
                    .release_instance_lease(first, "shard-1", 1)
                    .await
                    .unwrap(),
                "{name}"
            );
            assert_eq!(
                store
                    .instance_leases_held_by("shard-2", 2_100)
                    .await
                    .unwrap(),
                vec![taken.clone()],
                "{name}: room 2's lapsed lease is not listed"
            );

            // A release hands the lease on at once, under the next epoch.
            assert!(
                store
                    .release_instance_lease(first, "shard-2", 2)
                    .await
                    .unwrap(),
                "{name}"
            );
            assert!(
                !store
                    .renew_instance_lease(first, "shard-2", 2, 2_200, TTL)
                    .await
                    .unwrap(),
                "{name}"
            );
            let after_release = granted(acquire(store, first, "shard-1", 2_200).await);
            assert_eq!(after_release.epoch, 3, "{name}");
            assert_eq!(
                store.instance_lease(first).await.unwrap(),
                Some(after_release),
                "{name}"
            );
            test.remove().await;
        }
    });
}

#[test]
fn concurrent_first_acquisitions_grant_one() {
    runtime().block_on(async {
        for test in common::both("instance_leases_race").await {
            let store = test.store.clone();
            let name = test.name;
            let (_, space) = common::owner_and_space(&store).await;
            let contested = room(space, 1);
            let askers = 8;
            let barrier = Arc::new(Barrier::new(askers));
            let mut tasks = Vec::new();
            for index in 0..askers {
                let store = store.clone();
                let barrier = barrier.clone();
                tasks.push(tokio::spawn(async move {
                    barrier.wait().await;
                    let holder = format!("shard-{index}");
                    acquire(&store, contested, &holder, 500).await
                }));
            }
            let mut winners = Vec::new();
            let mut refused = 0;
            for task in tasks {
                match task.await.expect("task") {
                    InstanceLeaseOutcome::Granted(lease) => winners.push(lease),
                    InstanceLeaseOutcome::HeldBy(_) => refused += 1,
                }
            }
            assert_eq!(winners.len(), 1, "{name}: {winners:?}");
            assert_eq!(refused, askers - 1, "{name}");
            assert_eq!(winners[0].epoch, 1, "{name}");
            assert_eq!(
                store.instance_lease(contested).await.unwrap(),
                Some(winners[0].clone()),
                "{name}"
            );
            test.remove().await;
        }
    });
}
