//! Joining a space again while holding a seat in it returns the same seat: a
//! reserved one with its lifetime renewed from the new join, a taken one as it
//! is; no second seat is made. On SQLite and on the real PostgreSQL.

mod common;

use std::num::NonZeroU32;
use std::time::Duration;

use meridian_persistence::SeatState;

const LIFETIME: Duration = Duration::from_secs(300);
const NOW: i64 = 1_000;

#[test]
fn rejoining_keeps_the_same_seat() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for test in common::both("rejoining_keeps_the_same_seat").await {
            let store = &test.store;
            let (_, space) = common::owner_and_space(store).await;
            store
                .set_space_capacity(space, NonZeroU32::new(2), true)
                .await
                .expect("capacity");
            let players = common::accounts(store, "player", 3).await;
            let join =
                |player: i64, now: i64| store.reserve_seat(space, player, None, now, LIFETIME);
            let first = join(players[0], NOW).await.expect("joins");
            // A rejoin 200 s later: same room, expiry from the rejoin.
            let again = join(players[0], NOW + 200).await.expect("joins");
            assert_eq!(
                (again.room, again.number),
                (first.room, first.number),
                "{}",
                test.name
            );
            assert_eq!(again.expires_at, Some(NOW + 500), "{}", test.name);
            assert_eq!(
                store.seat(space, players[0]).await.expect("reads"),
                Some(again)
            );
            // The first lifetime's end passes; the renewed seat stays.
            assert_eq!(store.release_expired(NOW + 300).await.expect("sweeps"), 0);
            let rooms = store.rooms_of(space, NOW + 300).await.expect("rooms");
            assert_eq!(rooms.len(), 1, "{}", test.name);
            assert_eq!(rooms[0].seated, 1, "{}", test.name);

            // With a full room 1, a rejoin of a seated player does not move it
            // or open a room, with or without a friend elsewhere.
            join(players[1], NOW + 200).await.expect("joins");
            let elsewhere = join(players[2], NOW + 200).await.expect("joins");
            assert_eq!(elsewhere.number, 2, "{}", test.name);
            let again = store
                .reserve_seat(space, players[0], Some(players[2]), NOW + 250, LIFETIME)
                .await
                .expect("joins");
            assert_eq!(again.room, first.room, "{}", test.name);

            // Taken, then joined again: still taken, no expiry.
            store
                .take_seat(first.room, players[0], NOW + 260)
                .await
                .expect("takes");
            let again = join(players[0], NOW + 270).await.expect("joins");
            assert_eq!(
                (again.room, again.state, again.expires_at),
                (first.room, SeatState::Taken, None),
                "{}",
                test.name
            );
            let (seats, mine): (i64, i64) = sqlx::query_as(
                "SELECT COUNT(*), SUM(CASE WHEN account_id = $1 THEN 1 ELSE 0 END) FROM room_seats",
            )
            .bind(players[0])
            .fetch_one(store.pool_for_tests())
            .await
            .expect("counts");
            assert_eq!((seats, mine), (3, 1), "{}", test.name);
            test.remove().await;
        }
    });
}
