//! Joins fill the fullest room with a free seat, the oldest among equals, and
//! open a new room only when every room is full: 200 joins at once into rooms
//! of 50 seats make exactly 4 full rooms, each account seated once; rooms with
//! 30 and 10 free seats fill the one with 10 first. On SQLite and on the real
//! PostgreSQL.

mod common;

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::time::Duration;

use meridian_persistence::{RoomOccupancy, Seat, SeatState, Store};

const LIFETIME: Duration = Duration::from_secs(300);
const NOW: i64 = 1_000;

fn fifty() -> Option<NonZeroU32> {
    NonZeroU32::new(50)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime")
}

/// (number, seated) of each room, by number.
async fn occupancy(store: &Store, space: i64) -> Vec<(u32, u32)> {
    store
        .rooms_of(space, NOW)
        .await
        .expect("rooms")
        .iter()
        .map(|room: &RoomOccupancy| (room.number, room.seated))
        .collect()
}

#[test]
fn two_hundred_joins_at_once_make_four_full_rooms() {
    let runtime = runtime();
    let stores = runtime.block_on(common::both(
        "two_hundred_joins_at_once_make_four_full_rooms",
    ));
    for test in stores {
        let store = test.store.clone();
        runtime.block_on(async {
            let (_, space) = common::owner_and_space(&store).await;
            store
                .set_space_capacity(space, fifty(), true)
                .await
                .expect("capacity");
            let players = common::accounts(&store, "player", 200).await;

            let mut tasks = tokio::task::JoinSet::new();
            for &player in &players {
                let store = store.clone();
                tasks.spawn(async move {
                    let seat = store.reserve_seat(space, player, None, NOW, LIFETIME).await;
                    (player, seat)
                });
            }
            let mut seats: HashMap<i64, Seat> = HashMap::new();
            while let Some(joined) = tasks.join_next().await {
                let (player, seat) = joined.expect("the task ran");
                let seat = seat.unwrap_or_else(|error| panic!("{}: join: {error}", test.name));
                assert_eq!(seat.state, SeatState::Reserved, "{}", test.name);
                assert_eq!(seat.expires_at, Some(NOW + 300), "{}", test.name);
                assert!(seats.insert(player, seat).is_none(), "{}", test.name);
            }

            let mut per_room: HashMap<i64, u32> = HashMap::new();
            for seat in seats.values() {
                *per_room.entry(seat.room).or_default() += 1;
            }
            assert_eq!(per_room.len(), 4, "{}: {per_room:?}", test.name);
            assert!(
                per_room.values().all(|&seated| seated == 50),
                "{}: {per_room:?}",
                test.name
            );
            assert_eq!(
                occupancy(&store, space).await,
                [(1, 50), (2, 50), (3, 50), (4, 50)],
                "{}",
                test.name
            );
            assert_eq!(
                store.live_counts(NOW).await.expect("counts").get(&space),
                Some(&200),
                "{}",
                test.name
            );
            // Each account holds one seat, the one its join returned.
            let (rows, accounts): (i64, i64) =
                sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT account_id) FROM room_seats")
                    .fetch_one(store.pool_for_tests())
                    .await
                    .expect("counts");
            assert_eq!((rows, accounts), (200, 200), "{}", test.name);
            for &player in &players {
                assert_eq!(
                    store.seat(space, player).await.expect("reads"),
                    Some(seats[&player]),
                    "{}",
                    test.name
                );
            }
            let rooms: HashSet<u32> = seats.values().map(|seat| seat.number).collect();
            assert_eq!(rooms, HashSet::from([1, 2, 3, 4]), "{}", test.name);
        });
        runtime.block_on(test.remove());
    }
}

#[test]
fn the_room_with_fewer_free_seats_fills_first() {
    runtime().block_on(async {
        for test in common::both("the_room_with_fewer_free_seats_fills_first").await {
            let store = &test.store;
            let (_, space) = common::owner_and_space(store).await;
            store
                .set_space_capacity(space, fifty(), true)
                .await
                .expect("capacity");
            let players = common::accounts(store, "player", 130).await;
            let join = |player: i64| store.reserve_seat(space, player, None, NOW, LIFETIME);

            // 90 joins one by one: room 1 fills, then room 2 takes 40.
            let mut seats = Vec::new();
            for &player in &players[..90] {
                seats.push(join(player).await.expect("joins"));
            }
            assert!(
                seats[..50].iter().all(|seat| seat.number == 1),
                "{}",
                test.name
            );
            assert!(
                seats[50..].iter().all(|seat| seat.number == 2),
                "{}",
                test.name
            );
            // 30 of room 1 leave: room 1 has 30 free seats, room 2 has 10.
            for (&player, seat) in players[..30].iter().zip(&seats) {
                assert!(store.release_seat(seat.room, player).await.expect("leaves"));
            }
            assert_eq!(
                occupancy(store, space).await,
                [(1, 20), (2, 40)],
                "{}",
                test.name
            );

            // The next 10 fill room 2, the 10 after them go to room 1.
            for &player in &players[90..100] {
                assert_eq!(
                    join(player).await.expect("joins").number,
                    2,
                    "{}",
                    test.name
                );
            }
            for &player in &players[100..110] {
                assert_eq!(
                    join(player).await.expect("joins").number,
                    1,
                    "{}",
                    test.name
                );
            }
            assert_eq!(
                occupancy(store, space).await,
                [(1, 30), (2, 50)],
                "{}",
                test.name
            );

            // 20 leave room 2: both rooms hold 30, and the older room wins.
            for &player in &players[50..70] {
                assert!(
                    store
                        .release_seat(seats[60].room, player)
                        .await
                        .expect("leaves")
                );
            }
            assert_eq!(
                occupancy(store, space).await,
                [(1, 30), (2, 30)],
                "{}",
                test.name
            );
            assert_eq!(
                join(players[110]).await.expect("joins").number,
                1,
                "{}",
                test.name
            );
            assert_eq!(
                join(players[111]).await.expect("joins").number,
                1,
                "{}",
                test.name
            );
            test.remove().await;
        }
    });
}

#[test]
fn a_space_without_capacity_keeps_one_room() {
    runtime().block_on(async {
        for test in common::both("a_space_without_capacity_keeps_one_room").await {
            let store = &test.store;
            let (_, space) = common::owner_and_space(store).await;
            assert_eq!(
                store.space_capacity(space).await.expect("reads").capacity,
                None,
                "{}",
                test.name
            );
            for player in common::accounts(store, "player", 120).await {
                let seat = store
                    .reserve_seat(space, player, None, NOW, LIFETIME)
                    .await
                    .expect("joins");
                assert_eq!(seat.number, 1, "{}", test.name);
            }
            let rooms = store.rooms_of(space, NOW).await.expect("rooms");
            assert_eq!(rooms.len(), 1, "{}", test.name);
            assert_eq!(
                (rooms[0].seated, rooms[0].capacity),
                (120, None),
                "{}",
                test.name
            );
            test.remove().await;
        }
    });
}
