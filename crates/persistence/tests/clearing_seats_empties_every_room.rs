//! An embedded server's rooms belong to its run: at start it clears every
//! seat and room of the run before, in every space, and the next join opens
//! room 1 again. On SQLite and on the real PostgreSQL.

mod common;

use std::num::NonZeroU32;
use std::time::Duration;

const LIFETIME: Duration = Duration::from_secs(300);
const NOW: i64 = 1_000;

#[test]
fn clearing_seats_empties_every_room() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for test in common::both("clearing_seats_empties_every_room").await {
            let store = &test.store;
            let (owner, space) = common::owner_and_space(store).await;
            let other = store
                .create_space_for_tests(owner, "bar")
                .await
                .expect("space");
            for room in [space, other] {
                store
                    .set_space_capacity(room, NonZeroU32::new(1), true)
                    .await
                    .expect("capacity");
            }
            let players = common::accounts(store, "player", 3).await;
            for player in &players {
                store
                    .reserve_seat(space, *player, None, NOW, LIFETIME)
                    .await
                    .expect("joins");
            }
            let taken = store
                .reserve_seat(other, players[0], None, NOW, LIFETIME)
                .await
                .expect("joins");
            store
                .take_seat(taken.room, players[0], NOW)
                .await
                .expect("arrives");
            assert_eq!(store.rooms_of(space, NOW).await.expect("rooms").len(), 3);

            assert_eq!(
                store.clear_seats().await.expect("clears"),
                4,
                "{}",
                test.name
            );
            assert!(store.rooms_of(space, NOW).await.expect("rooms").is_empty());
            assert!(store.rooms_of(other, NOW).await.expect("rooms").is_empty());
            assert!(store.live_counts(NOW).await.expect("counts").is_empty());
            let first = store
                .reserve_seat(space, players[2], None, NOW, LIFETIME)
                .await
                .expect("joins");
            assert_eq!(first.number, 1, "{}", test.name);
        }
    });
}
