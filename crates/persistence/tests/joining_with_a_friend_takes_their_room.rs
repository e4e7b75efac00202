//! A join "with" another player gets that player's room when it has a free
//! seat, even over a fuller room; when that player holds no seat in the space,
//! or their room is full, the join is refused with its own error and nothing is
//! reserved. On SQLite and on the real PostgreSQL.

mod common;

use std::num::NonZeroU32;
use std::time::Duration;

use meridian_persistence::{SeatError, Store};

const LIFETIME: Duration = Duration::from_secs(300);
const NOW: i64 = 1_000;

/// (number, seated) of each room and the seats per space, to compare before
/// and after a refused join.
async fn occupancy(store: &Store, space: i64) -> (Vec<(u32, u32)>, Option<u32>) {
    let rooms = store
        .rooms_of(space, NOW)
        .await
        .expect("rooms")
        .iter()
        .map(|room| (room.number, room.seated))
        .collect();
    let live = store.live_counts(NOW).await.expect("counts");
    (rooms, live.get(&space).copied())
}

#[test]
fn a_join_with_a_friend_takes_their_room_or_says_why_not() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for test in common::both("a_join_with_a_friend_takes_their_room_or_says_why_not").await {
            let store = &test.store;
            let (_, space) = common::owner_and_space(store).await;
            store
                .set_space_capacity(space, NonZeroU32::new(3), true)
                .await
                .expect("capacity");
            let players = common::accounts(store, "player", 8).await;
            let join = |player: i64, with: Option<i64>| {
                store.reserve_seat(space, player, with, NOW, LIFETIME)
            };
            // Room 1 holds players 0, 1 and 2; room 2 holds player 3 and 4.
            for &player in &players[..5] {
                join(player, None).await.expect("joins");
            }
            let friend = store.seat(space, players[4]).await.expect("reads").expect("seated");
            assert_eq!(friend.number, 2, "{}", test.name);
            // Player 0 leaves room 1: both rooms hold 2 of 3, and the older
            // one, room 1, takes player 5.
            let first = store.seat(space, players[0]).await.expect("reads").expect("seated");
            assert!(store.release_seat(first.room, players[0]).await.expect("leaves"));
            assert_eq!(join(players[5], None).await.expect("joins").number, 1, "{}", test.name);
            assert_eq!(occupancy(store, space).await.0, [(1, 3), (2, 2)], "{}", test.name);

            // Player 5 leaves: 2 and 2 again. With a friend in room 2, room 2,
            // though a join alone would get room 1 (the older).
            store.release_seat(first.room, players[5]).await.expect("leaves");
            assert_eq!(occupancy(store, space).await.0, [(1, 2), (2, 2)], "{}", test.name);
            let seat = join(players[6], Some(players[4])).await.expect("joins");
            assert_eq!((seat.room, seat.number), (friend.room, 2), "{}", test.name);

            // Room 2 is full now: with player 4 again is refused.
            let before = occupancy(store, space).await;
            assert_eq!(before, (vec![(1, 2), (2, 3)], Some(5)), "{}", test.name);
            let refused = join(players[7], Some(players[4])).await;
            assert!(
                matches!(refused, Err(SeatError::WithRoomFull { room, number: 2 }) if room == friend.room),
                "{}: {refused:?}",
                test.name
            );
            assert_eq!(occupancy(store, space).await, before, "{}", test.name);
            assert_eq!(store.seat(space, players[7]).await.expect("reads"), None);

            // With player 0, who left: not present.
            let refused = join(players[7], Some(players[0])).await;
            assert!(
                matches!(refused, Err(SeatError::WithNotPresent)),
                "{}: {refused:?}",
                test.name
            );
            // With an account that does not exist: not present either.
            let refused = join(players[7], Some(players[7] + 1_000)).await;
            assert!(
                matches!(refused, Err(SeatError::WithNotPresent)),
                "{}: {refused:?}",
                test.name
            );
            assert_eq!(occupancy(store, space).await, before, "{}", test.name);
            assert_eq!(store.seat(space, players[7]).await.expect("reads"), None);

            // A friend whose reservation lapsed is not present.
            let later = NOW + 300;
            let refused = store
                .reserve_seat(space, players[7], Some(players[4]), later, LIFETIME)
                .await;
            assert!(
                matches!(refused, Err(SeatError::WithNotPresent)),
                "{}: {refused:?}",
                test.name
            );
            test.remove().await;
        }
    });
}
