//! The ownership ledger on SQLite and on the real PostgreSQL: lease epochs fence
//! a zombie holder out, claims need the lease, and an owner row moves by one
//! compare-and-set that a replay (even after the entity came back to the same
//! zone and epoch), a stale epoch, an expired destination or a concurrent rival
//! cannot pass.

mod common;

use std::sync::Arc;

use meridian_persistence::{ClaimOutcome, Lease, LeaseOutcome, MoveOutcome, Owner, Store};
use tokio::sync::Barrier;

const TTL: i64 = 1_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn lease(zone: i64, holder: &str, epoch: i64, expires_at_ms: i64) -> Lease {
    Lease {
        zone,
        holder: holder.to_owned(),
        epoch,
        expires_at_ms,
    }
}

fn owner(entity: i64, zone: i64, epoch: i64, version: i64) -> Owner {
    Owner {
        entity,
        zone,
        epoch,
        version,
    }
}

/// Takes `zone`'s lease for `holder` at `now`, which must be granted.
async fn granted(store: &Store, zone: i64, holder: &str, now: i64) -> Lease {
    match store.acquire_lease(zone, holder, now, TTL).await.unwrap() {
        LeaseOutcome::Granted(lease) => lease,
        other => panic!("{holder} expected zone {zone}'s lease at {now}, got {other:?}"),
    }
}

#[test]
fn lease_epochs_fence_zombies() {
    runtime().block_on(async {
        for test in common::both("ledger_lease_epochs").await {
            let store: &Store = &test.store;
            let name = test.name;
            assert_eq!(store.lease(7).await.unwrap(), None, "{name}");

            // The first lease of a zone has epoch 1.
            let first = store.acquire_lease(7, "shard-a", 100, TTL).await.unwrap();
            assert_eq!(
                first,
                LeaseOutcome::Granted(lease(7, "shard-a", 1, 1_100)),
                "{name}"
            );
            assert_eq!(
                store.lease(7).await.unwrap(),
                Some(lease(7, "shard-a", 1, 1_100)),
                "{name}"
            );

            // Renewing extends it; acquiring again as the holder renews too,
            // keeping the epoch.
            assert!(
                store.renew_lease(7, "shard-a", 1, 600, TTL).await.unwrap(),
                "{name}"
            );
            assert_eq!(
                store.lease(7).await.unwrap().unwrap().expires_at_ms,
                1_600,
                "{name}"
            );
            assert_eq!(
                granted(store, 7, "shard-a", 700).await,
                lease(7, "shard-a", 1, 1_700),
                "{name}"
            );
            // A renewal with the wrong epoch or holder changes nothing.
            assert!(
                !store.renew_lease(7, "shard-a", 2, 800, TTL).await.unwrap(),
                "{name}"
            );
            assert!(
                !store.renew_lease(7, "shard-b", 1, 800, TTL).await.unwrap(),
                "{name}"
            );

            // Another holder is refused while it is unexpired (up to the last
            // millisecond before expires_at).
            let refused = store.acquire_lease(7, "shard-b", 1_699, TTL).await.unwrap();
            assert_eq!(
                refused,
                LeaseOutcome::HeldBy(lease(7, "shard-a", 1, 1_700)),
                "{name}"
            );

            // Expired at expires_at: the takeover gets epoch 2.
            assert_eq!(
                granted(store, 7, "shard-b", 1_700).await,
                lease(7, "shard-b", 2, 2_700),
                "{name}"
            );
            // The old holder is a zombie now: its renewal and its re-acquire fail.
            assert!(
                !store
                    .renew_lease(7, "shard-a", 1, 1_800, TTL)
                    .await
                    .unwrap(),
                "{name}"
            );
            assert_eq!(
                store.acquire_lease(7, "shard-a", 1_800, TTL).await.unwrap(),
                LeaseOutcome::HeldBy(lease(7, "shard-b", 2, 2_700)),
                "{name}"
            );
            // And a lease cannot be renewed once it has expired, even by its holder.
            assert!(
                !store
                    .renew_lease(7, "shard-b", 2, 2_700, TTL)
                    .await
                    .unwrap(),
                "{name}"
            );
            assert_eq!(
                granted(store, 7, "shard-b", 2_700).await,
                lease(7, "shard-b", 3, 3_700),
                "{name}: its own expired lease is a takeover too"
            );

            // Release needs the holder and epoch; it keeps both, so the next
            // holder, even the same one, gets the next epoch at once.
            assert!(
                !store.release_lease(7, "shard-a", 3).await.unwrap(),
                "{name}"
            );
            assert!(
                !store.release_lease(7, "shard-b", 2).await.unwrap(),
                "{name}"
            );
            assert!(
                store.release_lease(7, "shard-b", 3).await.unwrap(),
                "{name}"
            );
            assert_eq!(
                store.lease(7).await.unwrap(),
                Some(lease(7, "shard-b", 3, 0)),
                "{name}"
            );
            assert_eq!(
                granted(store, 7, "shard-a", 2_800).await,
                lease(7, "shard-a", 4, 3_800),
                "{name}"
            );
            assert!(
                store.release_lease(7, "shard-a", 4).await.unwrap(),
                "{name}"
            );
            assert_eq!(
                granted(store, 7, "shard-a", 2_900).await,
                lease(7, "shard-a", 5, 3_900),
                "{name}"
            );

            // Zones are independent.
            assert_eq!(
                granted(store, 8, "shard-b", 2_900).await,
                lease(8, "shard-b", 1, 3_900),
                "{name}"
            );
            test.remove().await;
        }
    });
}

#[test]
fn claims_need_the_lease_and_takeovers_bump_owners() {
    runtime().block_on(async {
        for test in common::both("ledger_claims").await {
            let store: &Store = &test.store;
            let name = test.name;

            // No lease, a wrong epoch, or an expired lease: not the holder.
            assert_eq!(
                store.claim_owner(50, 1, 1, 0).await.unwrap(),
                ClaimOutcome::NotLeaseHolder,
                "{name}"
            );
            granted(store, 1, "shard-a", 0).await;
            granted(store, 2, "shard-b", 0).await;
            assert_eq!(
                store.claim_owner(50, 1, 2, 10).await.unwrap(),
                ClaimOutcome::NotLeaseHolder,
                "{name}"
            );
            assert_eq!(
                store.claim_owner(50, 1, 1, TTL).await.unwrap(),
                ClaimOutcome::NotLeaseHolder,
                "{name}"
            );
            assert_eq!(store.owner(50).await.unwrap(), None, "{name}");

            // The holder claims a new row at version 0; claiming again under
            // the same epoch changes nothing, as the model does.
            for _ in 0..2 {
                assert_eq!(
                    store.claim_owner(50, 1, 1, 10).await.unwrap(),
                    ClaimOutcome::Claimed(owner(50, 1, 1, 0)),
                    "{name}"
                );
            }
            assert_eq!(
                store.claim_owner(51, 1, 1, 10).await.unwrap(),
                ClaimOutcome::Claimed(owner(51, 1, 1, 0)),
                "{name}"
            );
            // Another zone cannot claim what zone 1 owns: refused with the row,
            // which stays as it was.
            assert_eq!(
                store.claim_owner(50, 2, 1, 10).await.unwrap(),
                ClaimOutcome::OwnedBy(owner(50, 1, 1, 0)),
                "{name}"
            );
            assert_eq!(
                store.owner(50).await.unwrap(),
                Some(owner(50, 1, 1, 0)),
                "{name}"
            );

            // Shard A crashes; shard C takes zone 1 over at epoch 2 and reloads
            // its players, each claim bumping the owner's epoch.
            let takeover = granted(store, 1, "shard-c", TTL).await;
            assert_eq!(takeover.epoch, 2, "{name}");
            let reloaded = store.owners_in(1).await.unwrap();
            assert_eq!(reloaded, [owner(50, 1, 1, 0), owner(51, 1, 1, 0)], "{name}");
            for stale in reloaded {
                assert_eq!(
                    store
                        .claim_owner(stale.entity, 1, 2, TTL + 10)
                        .await
                        .unwrap(),
                    ClaimOutcome::Claimed(owner(stale.entity, 1, 2, stale.version + 1)),
                    "{name}"
                );
            }
            assert_eq!(
                store.owners_in(1).await.unwrap(),
                [owner(50, 1, 2, 1), owner(51, 1, 2, 1)],
                "{name}"
            );
            // The zombie of epoch 1 can claim nothing any more, new or old; the
            // refusal carries no row (the model's does) and writes nothing.
            for entity in [52, 50] {
                assert_eq!(
                    store.claim_owner(entity, 1, 1, TTL + 10).await.unwrap(),
                    ClaimOutcome::NotLeaseHolder,
                    "{name}"
                );
            }
            assert_eq!(store.owner(52).await.unwrap(), None, "{name}");
            assert_eq!(
                store.owner(50).await.unwrap(),
                Some(owner(50, 1, 2, 1)),
                "{name}"
            );
            assert_eq!(store.owners_in(2).await.unwrap(), [], "{name}");
            test.remove().await;
        }
    });
}

#[test]
fn moves_are_one_compare_and_set() {
    runtime().block_on(async {
        for test in common::both("ledger_moves").await {
            let store: &Store = &test.store;
            let name = test.name;
            granted(store, 1, "shard-a", 0).await;
            granted(store, 2, "shard-b", 0).await;
            store.claim_owner(60, 1, 1, 10).await.unwrap();

            // The move succeeds once, raising the version; its replay is
            // refused and names the destination as the owner.
            assert_eq!(
                store
                    .move_owner(60, owner(60, 1, 1, 0), (2, 1), 20)
                    .await
                    .unwrap(),
                MoveOutcome::Moved(owner(60, 2, 1, 1)),
                "{name}"
            );
            assert_eq!(
                store
                    .move_owner(60, owner(60, 1, 1, 0), (2, 1), 30)
                    .await
                    .unwrap(),
                MoveOutcome::Refused {
                    current: Some(owner(60, 2, 1, 1))
                },
                "{name}"
            );
            assert_eq!(
                store.owner(60).await.unwrap(),
                Some(owner(60, 2, 1, 1)),
                "{name}"
            );
            // An entity with no owner row cannot move.
            assert_eq!(
                store
                    .move_owner(61, owner(61, 1, 1, 0), (2, 1), 30)
                    .await
                    .unwrap(),
                MoveOutcome::Refused { current: None },
                "{name}"
            );

            // Zone 2's shard stalls while zone 1's keeps renewing; shard C takes
            // zone 2 over at epoch 2 and reloads entity 60. The zombie's move out
            // of zone 2 with epoch 1 is refused.
            assert!(
                store.renew_lease(1, "shard-a", 1, 500, TTL).await.unwrap(),
                "{name}"
            );
            assert_eq!(granted(store, 2, "shard-c", 1_000).await.epoch, 2, "{name}");
            store.claim_owner(60, 2, 2, 1_010).await.unwrap();
            assert_eq!(
                store
                    .move_owner(60, owner(60, 2, 1, 1), (1, 1), 1_020)
                    .await
                    .unwrap(),
                MoveOutcome::Refused {
                    current: Some(owner(60, 2, 2, 2))
                },
                "{name}: stale source epoch"
            );
            // A move whose source matches the owner row is still fenced by the
            // source's lease, here released.
            store.claim_owner(62, 1, 1, 1_020).await.unwrap();
            assert!(
                store.release_lease(1, "shard-a", 1).await.unwrap(),
                "{name}"
            );
            assert_eq!(
                store
                    .move_owner(62, owner(62, 1, 1, 0), (2, 2), 1_030)
                    .await
                    .unwrap(),
                MoveOutcome::Refused {
                    current: Some(owner(62, 1, 1, 0))
                },
                "{name}: released source lease"
            );

            // Zone 1 under epoch 2 (until 2_040) reloads entity 62.
            assert_eq!(granted(store, 1, "shard-a", 1_040).await.epoch, 2, "{name}");
            store.claim_owner(62, 1, 2, 1_050).await.unwrap();
            assert_eq!(granted(store, 3, "shard-d", 1_060).await.epoch, 1, "{name}");
            // Zone 2's lease (epoch 2) expires at 2_000: moving out of it is refused.
            assert_eq!(
                store
                    .move_owner(60, owner(60, 2, 2, 2), (1, 2), 2_000)
                    .await
                    .unwrap(),
                MoveOutcome::Refused {
                    current: Some(owner(60, 2, 2, 2))
                },
                "{name}: expired source"
            );
            // Zone 3's lease (epoch 1) expires at 2_060: moving into it is refused.
            assert!(
                store
                    .renew_lease(1, "shard-a", 2, 2_000, TTL)
                    .await
                    .unwrap(),
                "{name}"
            );
            assert_eq!(
                store
                    .move_owner(62, owner(62, 1, 2, 1), (3, 1), 2_060)
                    .await
                    .unwrap(),
                MoveOutcome::Refused {
                    current: Some(owner(62, 1, 2, 1))
                },
                "{name}: expired destination"
            );
            // Its holder takes it again at epoch 2, so epoch 1 stays refused and
            // only a move to epoch 2 goes through.
            assert_eq!(granted(store, 3, "shard-d", 2_070).await.epoch, 2, "{name}");
            assert_eq!(
                store
                    .move_owner(62, owner(62, 1, 2, 1), (3, 1), 2_080)
                    .await
                    .unwrap(),
                MoveOutcome::Refused {
                    current: Some(owner(62, 1, 2, 1))
                },
                "{name}: stale destination epoch"
            );
            // A stale version alone is refused too: the row of epoch 1 was
            // version 0, the reload made it version 1.
            assert_eq!(
                store
                    .move_owner(62, owner(62, 1, 2, 0), (3, 2), 2_080)
                    .await
                    .unwrap(),
                MoveOutcome::Refused {
                    current: Some(owner(62, 1, 2, 1))
                },
                "{name}: stale version"
            );
            assert_eq!(
                store
                    .move_owner(62, owner(62, 1, 2, 1), (3, 2), 2_080)
                    .await
                    .unwrap(),
                MoveOutcome::Moved(owner(62, 3, 2, 2)),
                "{name}"
            );
            assert_eq!(store.owners_in(1).await.unwrap(), [], "{name}");
            assert_eq!(
                store.owners_in(3).await.unwrap(),
                [owner(62, 3, 2, 2)],
                "{name}"
            );
            test.remove().await;
        }
    });
}

#[test]
fn a_move_replayed_after_a_round_trip_is_refused() {
    runtime().block_on(async {
        for test in common::both("ledger_round_trip").await {
            let store: &Store = &test.store;
            let name = test.name;
            granted(store, 1, "shard-a", 0).await;
            granted(store, 2, "shard-b", 0).await;
            let start = match store.claim_owner(70, 1, 1, 10).await.unwrap() {
                ClaimOutcome::Claimed(row) => row,
                other => panic!("{name}: {other:?}"),
            };
            assert_eq!(start, owner(70, 1, 1, 0), "{name}");

            // A → B → A: the row is back at (zone 1, epoch 1), at version 2.
            let there = store.move_owner(70, start, (2, 1), 20).await.unwrap();
            assert_eq!(there, MoveOutcome::Moved(owner(70, 2, 1, 1)), "{name}");
            let back = store
                .move_owner(70, owner(70, 2, 1, 1), (1, 1), 30)
                .await
                .unwrap();
            assert_eq!(back, MoveOutcome::Moved(owner(70, 1, 1, 2)), "{name}");

            // Replaying the first move (zone and epoch match again) or the
            // second is refused, and the row stays the A row of version 2.
            for (from, to) in [(start, (2, 1)), (owner(70, 2, 1, 1), (1, 1))] {
                assert_eq!(
                    store.move_owner(70, from, to, 40).await.unwrap(),
                    MoveOutcome::Refused {
                        current: Some(owner(70, 1, 1, 2))
                    },
                    "{name}: replay from {from:?}"
                );
            }
            assert_eq!(
                store.owner(70).await.unwrap(),
                Some(owner(70, 1, 1, 2)),
                "{name}"
            );

            // A row of another entity never matches, even with the same zone,
            // epoch and version.
            store.claim_owner(71, 1, 1, 50).await.unwrap();
            assert_eq!(
                store
                    .move_owner(71, owner(70, 1, 1, 0), (2, 1), 50)
                    .await
                    .unwrap(),
                MoveOutcome::Refused {
                    current: Some(owner(71, 1, 1, 0))
                },
                "{name}: another entity's row"
            );

            // The row as it stands moves on.
            assert_eq!(
                store
                    .move_owner(70, owner(70, 1, 1, 2), (2, 1), 60)
                    .await
                    .unwrap(),
                MoveOutcome::Moved(owner(70, 2, 1, 3)),
                "{name}"
            );
            test.remove().await;
        }
    });
}

#[test]
fn concurrent_moves_have_one_winner() {
    const ROUNDS: i64 = 12;
    runtime().block_on(async {
        for test in common::both("ledger_concurrent_moves").await {
            let store: &Store = &test.store;
            let name = test.name;
            for zone in [1, 2, 3] {
                granted(store, zone, "shard", 0).await;
            }
            for round in 0..ROUNDS {
                let entity = 100 + round;
                store.claim_owner(entity, 1, 1, 10).await.unwrap();
                // Alternate which destination starts first.
                let destinations = if round % 2 == 0 { [2, 3] } else { [3, 2] };
                let barrier = Arc::new(Barrier::new(destinations.len()));
                let racers: Vec<_> = destinations
                    .into_iter()
                    .map(|destination| {
                        let store = store.clone();
                        let barrier = Arc::clone(&barrier);
                        tokio::spawn(async move {
                            barrier.wait().await;
                            let outcome = store
                                .move_owner(entity, owner(entity, 1, 1, 0), (destination, 1), 20)
                                .await
                                .expect("move");
                            (destination, outcome)
                        })
                    })
                    .collect();
                let mut winners = Vec::new();
                let mut losers = Vec::new();
                for racer in racers {
                    match racer.await.expect("racer") {
                        (destination, MoveOutcome::Moved(moved)) => {
                            assert_eq!(moved, owner(entity, destination, 1, 1), "{name}");
                            winners.push(destination);
                        }
                        (_, MoveOutcome::Refused { current }) => losers.push(current),
                    }
                }
                assert_eq!(winners.len(), 1, "{name} round {round}: {winners:?}");
                let winner = owner(entity, winners[0], 1, 1);
                assert_eq!(
                    losers,
                    [Some(winner)],
                    "{name} round {round}: the loser sees the winner"
                );
                assert_eq!(
                    store.owner(entity).await.unwrap(),
                    Some(winner),
                    "{name} round {round}"
                );
            }
            test.remove().await;
        }
    });
}
