//! A reserved seat not taken within its lifetime is released (by the sweep or
//! by the next join into its space) and cannot be taken any more; a taken seat
//! never lapses and goes only when its player leaves. The room a release
//! empties is deleted, and the next room opened takes the lowest free number.
//! On SQLite and on the real PostgreSQL.

mod common;

use std::num::NonZeroU32;
use std::time::Duration;

use meridian_persistence::{SeatError, SeatState};

const LIFETIME: Duration = Duration::from_secs(300);
const NOW: i64 = 1_000;
const LAPSED: i64 = NOW + 300;

#[test]
fn reserved_seats_lapse_and_taken_seats_stay() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for test in common::both("reserved_seats_lapse_and_taken_seats_stay").await {
            let store = &test.store;
            let (_, space) = common::owner_and_space(store).await;
            store
                .set_space_capacity(space, NonZeroU32::new(2), true)
                .await
                .expect("capacity");
            let players = common::accounts(store, "player", 5).await;
            let join =
                |player: i64, now: i64| store.reserve_seat(space, player, None, now, LIFETIME);
            // Room 1: players 0 (takes) and 1 (never comes); room 2: player 2
            // (never comes).
            let taken = join(players[0], NOW).await.expect("joins");
            let lapsing = join(players[1], NOW).await.expect("joins");
            let alone = join(players[2], NOW).await.expect("joins");
            assert_eq!((taken.number, lapsing.number, alone.number), (1, 1, 2));
            store
                .take_seat(taken.room, players[0], NOW + 10)
                .await
                .expect("takes");
            // Taking again is fine; taking a seat never reserved is not.
            store
                .take_seat(taken.room, players[0], NOW + 11)
                .await
                .expect("takes");
            let none = store.take_seat(taken.room, players[3], NOW + 11).await;
            assert!(
                matches!(none, Err(SeatError::NotSeated)),
                "{}: {none:?}",
                test.name
            );
            let seat = store
                .seat(space, players[0])
                .await
                .expect("reads")
                .expect("seated");
            assert_eq!(
                (seat.state, seat.expires_at),
                (SeatState::Taken, None),
                "{}",
                test.name
            );

            // Just before the lifetime ends nothing lapses.
            assert_eq!(store.release_expired(LAPSED - 1).await.expect("sweeps"), 0);
            assert_eq!(
                store
                    .live_counts(LAPSED - 1)
                    .await
                    .expect("counts")
                    .get(&space),
                Some(&3)
            );
            // At its end, the two reservations lapse: counts leave them out
            // at once, the sweep releases them and deletes room 2.
            assert_eq!(
                store.live_counts(LAPSED).await.expect("counts").get(&space),
                Some(&1)
            );
            assert_eq!(
                store.release_expired(LAPSED).await.expect("sweeps"),
                2,
                "{}",
                test.name
            );
            assert_eq!(
                store.release_expired(LAPSED).await.expect("sweeps"),
                0,
                "{}",
                test.name
            );
            let rooms = store.rooms_of(space, LAPSED).await.expect("rooms");
            assert_eq!(rooms.len(), 1, "{}", test.name);
            assert_eq!(
                (rooms[0].room, rooms[0].seated),
                (taken.room, 1),
                "{}",
                test.name
            );
            let late = store.take_seat(lapsing.room, players[1], LAPSED).await;
            assert!(
                matches!(late, Err(SeatError::NotSeated)),
                "{}: {late:?}",
                test.name
            );
            assert_eq!(store.seat(space, players[1]).await.expect("reads"), None);
            // Long after, the taken seat is still there.
            let much_later = LAPSED + 1_000_000;
            assert_eq!(store.release_expired(much_later).await.expect("sweeps"), 0);
            assert_eq!(
                store
                    .live_counts(much_later)
                    .await
                    .expect("counts")
                    .get(&space),
                Some(&1)
            );

            // A join releases what lapsed in its space before it seats: room 1
            // fills (players 0 and 3), player 4 opens room 2 again (number 2,
            // a new id), and once player 3's reservation lapses, player 1
            // rejoins into room 1 without any sweep.
            let third = join(players[3], much_later).await.expect("joins");
            assert_eq!(third.room, taken.room, "{}", test.name);
            let reopened = join(players[4], much_later).await.expect("joins");
            assert_eq!(reopened.number, 2, "{}", test.name);
            assert_ne!(reopened.room, alone.room, "{}", test.name);
            store
                .take_seat(reopened.room, players[4], much_later)
                .await
                .expect("takes");
            let back = join(players[1], much_later + 300).await.expect("joins");
            assert_eq!(back.room, taken.room, "{}", test.name);
            assert_eq!(store.seat(space, players[3]).await.expect("reads"), None);

            // Leaving: a taken seat goes, and the room with its last seat.
            assert!(
                store
                    .release_seat(reopened.room, players[4])
                    .await
                    .expect("leaves")
            );
            assert!(
                !store
                    .release_seat(reopened.room, players[4])
                    .await
                    .expect("leaves")
            );
            let numbers: Vec<u32> = store
                .rooms_of(space, much_later + 300)
                .await
                .expect("rooms")
                .iter()
                .map(|room| room.number)
                .collect();
            assert_eq!(numbers, [1], "{}", test.name);
            let (rooms,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM rooms")
                .fetch_one(store.pool_for_tests())
                .await
                .expect("counts");
            assert_eq!(rooms, 1, "{}", test.name);
            test.remove().await;
        }
    });
}
