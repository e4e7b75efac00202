//! Moderation records on SQLite and on the real PostgreSQL: blocks read back
//! both ways and can be lifted; a ban is in force until its end or until it
//! is lifted, and a second ban replaces the first; reports page newest first.

mod common;

use meridian_persistence::{BlockRelations, Role, StoreError};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn blocks_bans_and_reports_round_trip() {
    runtime().block_on(async {
        for test in common::both("sanctions_round_trip").await {
            let store = &test.store;
            let mut ids = Vec::new();
            for name in ["ada", "bob", "cid"] {
                let account = store
                    .create_account(name, "hash", Role::User, 1)
                    .await
                    .expect("created");
                ids.push(account.id);
            }
            let [ada, bob, cid] = ids[..] else {
                unreachable!("three accounts")
            };

            store.block(ada, bob, 2).await.expect("blocks");
            store.block(cid, ada, 3).await.expect("blocks");
            assert_eq!(
                store.block_relations(ada).await.expect("reads"),
                BlockRelations {
                    blocks: vec![bob],
                    blocked_by: vec![cid],
                },
                "{}",
                test.name
            );
            assert!(store.unblock(ada, bob).await.expect("lifts"));
            assert!(!store.unblock(ada, bob).await.expect("nothing to lift"));
            assert_eq!(
                store.block_relations(bob).await.expect("reads"),
                BlockRelations::default()
            );

            assert_eq!(store.active_ban(bob, 10).await.expect("reads"), None);
            store.ban(bob, "spam", Some(100), 10).await.expect("bans");
            let ban = store.active_ban(bob, 50).await.expect("reads");
            assert_eq!(
                ban.map(|ban| (ban.reason, ban.banned_until)),
                Some(("spam".to_owned(), Some(100))),
                "{}",
                test.name
            );
            assert_eq!(store.active_ban(bob, 100).await.expect("reads"), None);
            // A second ban replaces the first: this one has no end.
            store.ban(bob, "again", None, 60).await.expect("bans");
            assert!(
                store
                    .active_ban(bob, 1_000_000)
                    .await
                    .expect("reads")
                    .is_some()
            );
            assert!(store.unban(bob).await.expect("lifts"));
            assert!(!store.unban(bob).await.expect("nothing to lift"));
            assert_eq!(store.active_ban(bob, 61).await.expect("reads"), None);
            assert!(matches!(
                store.ban(424_242, "nobody", None, 1).await,
                Err(StoreError::NotFound { what: "account" })
            ));
            assert!(store.account_exists(ada).await.expect("reads"));
            assert!(!store.account_exists(424_242).await.expect("reads"));

            let mut filed = Vec::new();
            for (index, reason) in ["one", "two", "three"].into_iter().enumerate() {
                filed.push(
                    store
                        .report(ada, bob, reason, index as i64)
                        .await
                        .expect("files"),
                );
            }
            let first = store.reports(None, 2).await.expect("pages");
            let reasons: Vec<&str> = first.iter().map(|report| report.reason.as_str()).collect();
            assert_eq!(reasons, ["three", "two"], "{}", test.name);
            let rest = store
                .reports(first.last().map(|report| report.id), 2)
                .await
                .expect("pages");
            assert_eq!(rest.len(), 1);
            assert_eq!(
                (rest[0].id, rest[0].reporter_id, rest[0].reported_id),
                (filed[0], ada, bob)
            );
            test.remove().await;
        }
    });
}
