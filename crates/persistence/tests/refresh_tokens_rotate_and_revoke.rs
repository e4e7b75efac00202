//! Refresh tokens on SQLite and PostgreSQL: a rotation revokes the old token and
//! re-reads the account's role; the old token used again revokes the whole
//! family (theft); a logout revokes the family; expired tokens are refused and
//! forgotten.

mod common;

use meridian_persistence::{NewRefreshToken, RefreshOutcome, Role, Store};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn token<'a>(
    hash: &'a str,
    account_id: i64,
    family: &'a str,
    expires_at: i64,
) -> NewRefreshToken<'a> {
    NewRefreshToken {
        token_hash: hash,
        account_id,
        family,
        expires_at,
    }
}

async fn count(store: &Store) -> i64 {
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM refresh_tokens")
        .fetch_one(store.pool_for_tests())
        .await
        .expect("counts");
    rows
}

#[test]
fn a_rotated_token_is_refused_and_its_reuse_revokes_the_family() {
    runtime().block_on(async {
        for test in common::both("refresh_rotation").await {
            let store = &test.store;
            let ada = store
                .create_account("ada", "h", Role::User, 1)
                .await
                .expect("created");
            store
                .issue_refresh_token(token("first", ada.id, "login-1", 1_000), 10)
                .await
                .expect("issued");
            let rotated = store
                .rotate_refresh_token("first", token("second", 0, "ignored", 1_100), 20)
                .await
                .expect("rotates");
            let RefreshOutcome::Rotated(account) = rotated else {
                panic!("{}: {rotated:?}", test.name);
            };
            assert_eq!(account.account_id, ada.id, "{}", test.name);
            assert_eq!(account.username, "ada");
            assert_eq!(account.role, Role::User);
            // The old token again: theft. The family (the new token too) is revoked.
            let reused = store
                .rotate_refresh_token("first", token("third", 0, "", 1_100), 30)
                .await
                .expect("answers");
            assert_eq!(reused, RefreshOutcome::Reused, "{}", test.name);
            let after_theft = store
                .rotate_refresh_token("second", token("fourth", 0, "", 1_100), 31)
                .await
                .expect("answers");
            assert_eq!(after_theft, RefreshOutcome::Reused, "{}", test.name);
            let unknown = store
                .rotate_refresh_token("never issued", token("fifth", 0, "", 1_100), 31)
                .await
                .expect("answers");
            assert_eq!(unknown, RefreshOutcome::Unknown, "{}", test.name);
            test.remove().await;
        }
    });
}

#[test]
fn logout_revokes_the_family_and_expired_tokens_are_refused_and_pruned() {
    runtime().block_on(async {
        for test in common::both("refresh_logout").await {
            let store = &test.store;
            let ada = store
                .create_account("ada", "h", Role::Admin, 1)
                .await
                .expect("created");
            store
                .issue_refresh_token(token("a1", ada.id, "phone", 1_000), 10)
                .await
                .expect("issued");
            store
                .issue_refresh_token(token("b1", ada.id, "laptop", 1_000), 10)
                .await
                .expect("issued");
            let RefreshOutcome::Rotated(account) = store
                .rotate_refresh_token("a1", token("a2", 0, "", 1_000), 11)
                .await
                .expect("rotates")
            else {
                panic!("{}: a1 rotates", test.name);
            };
            assert_eq!(account.role, Role::Admin, "{}", test.name);
            assert!(
                store
                    .revoke_refresh_family("a2", 12)
                    .await
                    .expect("revokes")
            );
            assert!(
                !store
                    .revoke_refresh_family("nothing", 12)
                    .await
                    .expect("answers")
            );
            assert_eq!(
                store
                    .rotate_refresh_token("a2", token("a3", 0, "", 1_000), 13)
                    .await
                    .expect("answers"),
                RefreshOutcome::Reused,
                "{}: a logged-out token is refused",
                test.name
            );
            // The other login is untouched until it expires.
            let other = store
                .rotate_refresh_token("b1", token("b2", 0, "", 20), 14)
                .await
                .expect("answers");
            assert!(
                matches!(other, RefreshOutcome::Rotated(_)),
                "{}: {other:?}",
                test.name
            );
            assert_eq!(
                store
                    .rotate_refresh_token("b2", token("b3", 0, "", 2_000), 20)
                    .await
                    .expect("answers"),
                RefreshOutcome::Expired,
                "{}",
                test.name
            );
            assert_eq!(count(store).await, 4, "{}", test.name);
            // A later login forgets every token that expired before it.
            store
                .issue_refresh_token(token("c1", ada.id, "tablet", 5_000), 1_500)
                .await
                .expect("issued");
            assert_eq!(count(store).await, 1, "{}: only c1 is left", test.name);
            test.remove().await;
        }
    });
}
