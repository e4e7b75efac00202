//! A space that may not overflow opens its first room and no other: when that
//! room is full the next join is refused with `Full` and nothing is reserved,
//! and a seat freed is taken again. Capacity and overflow read back as set,
//! come from a template to the spaces made from it, and an unknown space is
//! refused. On SQLite and on the real PostgreSQL.

mod common;

use std::num::NonZeroU32;
use std::time::Duration;

use meridian_persistence::{Role, SeatError, SpaceCapacity, StoreError};

const LIFETIME: Duration = Duration::from_secs(300);
const NOW: i64 = 1_000;

#[test]
fn a_full_space_without_overflow_refuses_the_next_join() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for test in common::both("a_full_space_without_overflow_refuses_the_next_join").await {
            let store = &test.store;
            let (_, space) = common::owner_and_space(store).await;
            let two = NonZeroU32::new(2);
            store
                .set_space_capacity(space, two, false)
                .await
                .expect("capacity");
            assert_eq!(
                store.space_capacity(space).await.expect("reads"),
                SpaceCapacity {
                    capacity: two,
                    overflow: false
                },
                "{}",
                test.name
            );
            let players = common::accounts(store, "player", 4).await;
            let join = |player: i64| store.reserve_seat(space, player, None, NOW, LIFETIME);
            let first = join(players[0]).await.expect("joins");
            assert_eq!(join(players[1]).await.expect("joins").room, first.room);

            for refused_player in [players[2], players[3]] {
                let refused = join(refused_player).await;
                assert!(
                    matches!(refused, Err(SeatError::Full { capacity }) if Some(capacity) == two),
                    "{}: {refused:?}",
                    test.name
                );
                assert_eq!(
                    store.seat(space, refused_player).await.expect("reads"),
                    None
                );
            }
            let rooms = store.rooms_of(space, NOW).await.expect("rooms");
            assert_eq!(rooms.len(), 1, "{}", test.name);
            assert_eq!(
                (rooms[0].seated, rooms[0].capacity),
                (2, two),
                "{}",
                test.name
            );
            let (seats,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM room_seats")
                .fetch_one(store.pool_for_tests())
                .await
                .expect("counts");
            assert_eq!(seats, 2, "{}", test.name);

            // One leaves: the next join gets the seat.
            assert!(
                store
                    .release_seat(first.room, players[0])
                    .await
                    .expect("leaves")
            );
            assert_eq!(join(players[2]).await.expect("joins").room, first.room);
            // Overflow allowed again: a second room opens.
            store
                .set_space_capacity(space, two, true)
                .await
                .expect("capacity");
            assert_eq!(
                join(players[3]).await.expect("joins").number,
                2,
                "{}",
                test.name
            );

            // Unknown spaces.
            let unknown = store
                .reserve_seat(space + 1_000, players[0], None, NOW, LIFETIME)
                .await;
            assert!(
                matches!(unknown, Err(SeatError::UnknownSpace)),
                "{}: {unknown:?}",
                test.name
            );
            let unknown = store.set_space_capacity(space + 1_000, two, true).await;
            assert!(
                matches!(unknown, Err(StoreError::NotFound { what: "space" })),
                "{}: {unknown:?}",
                test.name
            );
            test.remove().await;
        }
    });
}

#[test]
fn spaces_made_from_a_template_take_its_capacity() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for test in common::both("spaces_made_from_a_template_take_its_capacity").await {
            let store = &test.store;
            let admin = store
                .create_account("admin", "h", Role::Admin, 1)
                .await
                .expect("admin");
            let template = store
                .create_space(None, "hall", 20, 20, true, false, None, None, 1, None)
                .await
                .expect("template");
            let plain = store
                .create_space(
                    Some(admin.id),
                    "mine",
                    20,
                    20,
                    false,
                    false,
                    None,
                    None,
                    1,
                    None,
                )
                .await
                .expect("space");
            assert_eq!(
                store.space_capacity(plain).await.expect("reads"),
                SpaceCapacity {
                    capacity: None,
                    overflow: true
                },
                "{}",
                test.name
            );
            let twelve = NonZeroU32::new(12);
            store
                .set_space_capacity(template, twelve, false)
                .await
                .expect("capacity");
            let copy = store
                .create_space(
                    Some(admin.id),
                    "copy",
                    5,
                    5,
                    false,
                    false,
                    None,
                    Some(template),
                    1,
                    None,
                )
                .await
                .expect("copied");
            assert_eq!(
                store.space_capacity(copy).await.expect("reads"),
                SpaceCapacity {
                    capacity: twelve,
                    overflow: false
                },
                "{}",
                test.name
            );
            test.remove().await;
        }
    });
}
