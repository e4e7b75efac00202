//! Deleting a space deletes its rooms and seats with it (the tables' foreign
//! keys cascade on both databases), so counts of seated players never name a
//! space that is gone. On SQLite and on the real PostgreSQL.

mod common;

use std::num::NonZeroU32;
use std::time::Duration;

use meridian_persistence::SeatError;

const NOW: i64 = 1_000;

#[test]
fn deleting_a_space_deletes_its_rooms() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for test in common::both("deleting_a_space_deletes_its_rooms").await {
            let store = &test.store;
            let (owner, space) = common::owner_and_space(store).await;
            let other = store
                .create_space_for_tests(owner, "other")
                .await
                .expect("space");
            store
                .set_space_capacity(space, NonZeroU32::new(1), true)
                .await
                .expect("capacity");
            let players = common::accounts(store, "player", 3).await;
            for &player in &players {
                store
                    .reserve_seat(space, player, None, NOW, Duration::from_secs(300))
                    .await
                    .expect("joins");
            }
            let kept = store
                .reserve_seat(other, players[0], None, NOW, Duration::from_secs(300))
                .await
                .expect("joins");
            assert_eq!(store.rooms_of(space, NOW).await.expect("rooms").len(), 3);

            store.delete_space(space).await.expect("deleted");
            let counts = store.live_counts(NOW).await.expect("counts");
            assert_eq!(counts.get(&space), None, "{}", test.name);
            assert_eq!(counts.get(&other), Some(&1), "{}", test.name);
            let (rooms, seats): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM rooms), (SELECT COUNT(*) FROM room_seats)",
            )
            .fetch_one(store.pool_for_tests())
            .await
            .expect("counts");
            assert_eq!((rooms, seats), (1, 1), "{}", test.name);
            assert_eq!(
                store.seat(other, players[0]).await.expect("reads"),
                Some(kept)
            );
            let gone = store
                .reserve_seat(space, players[1], None, NOW, Duration::from_secs(300))
                .await;
            assert!(
                matches!(gone, Err(SeatError::UnknownSpace)),
                "{}: {gone:?}",
                test.name
            );
            test.remove().await;
        }
    });
}
