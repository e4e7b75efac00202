//! `Store::create_guest` on SQLite and PostgreSQL: every call is a new account
//! with a new number, a `guest~` username a signup cannot have (so a guest
//! named after a player neither is that player nor takes their name), and the
//! guest password hash, which no password matches.

mod common;

use meridian_persistence::{GUEST_PASSWORD_HASH, Role, Store};

#[test]
fn every_guest_is_a_new_account_and_never_a_player() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            for test in common::both("every_guest_is_a_new_account_and_never_a_player").await {
                let store: &Store = &test.store;
                let carol = store
                    .create_account("carol", "$argon2id$hash", Role::User, 1)
                    .await
                    .expect("carol signs up");
                let first = store.create_guest(Some("carol"), 2).await.expect("a guest");
                let second = store.create_guest(Some("carol"), 3).await.expect("a guest");
                let unnamed = store.create_guest(None, 4).await.expect("a guest");
                let ids = [carol.id, first.id, second.id, unnamed.id];
                for (index, id) in ids.iter().enumerate() {
                    assert!(!ids[index + 1..].contains(id), "{}: {ids:?}", test.name);
                }
                assert!(first.username.starts_with("guest~carol~"), "{first:?}");
                assert_ne!(first.username, second.username, "{}", test.name);
                assert!(unnamed.username.starts_with("guest~"), "{unnamed:?}");
                assert!(!unnamed.username[6..].contains('~'), "{unnamed:?}");
                for guest in [&first, &second, &unnamed] {
                    assert_eq!(guest.password_hash, GUEST_PASSWORD_HASH);
                    assert_eq!(guest.role, Role::User);
                    let stored = store
                        .account_by_username(&guest.username)
                        .await
                        .expect("stored");
                    assert_eq!(&stored, guest, "{}", test.name);
                }
                // The player keeps their account.
                let found = store.account_by_username("carol").await.expect("found");
                assert_eq!(found, carol, "{}", test.name);
                test.remove().await;
            }
        });
}
