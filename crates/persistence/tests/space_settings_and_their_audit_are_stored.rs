//! Live settings on SQLite and on the real PostgreSQL: a space's saved
//! settings read back as saved (the last save wins), every change is logged
//! with its admin, field, before and after, newest first, and an unknown
//! space stores nothing.

mod common;

use meridian_persistence::{Role, SettingChange, StoreError};

fn change(field: &str, before: &str, after: &str) -> SettingChange {
    SettingChange {
        field: field.to_owned(),
        before: before.to_owned(),
        after: after.to_owned(),
    }
}

#[test]
fn settings_and_their_audit_round_trip() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for test in common::both("space_settings_round_trip").await {
            let store = &test.store;
            let (_, space) = common::owner_and_space(store).await;
            let admin = store
                .create_account("boss", "hash", Role::Admin, 1)
                .await
                .expect("created")
                .id;
            assert_eq!(store.space_settings(space).await.expect("reads"), None);
            assert!(
                store
                    .space_settings_audit(space, 10)
                    .await
                    .expect("reads")
                    .is_empty()
            );

            store
                .save_space_settings(
                    space,
                    r#"{"tickRate":10}"#,
                    admin,
                    &[change("tickRate", "20", "10")],
                    1_000,
                )
                .await
                .expect("saves");
            store
                .save_space_settings(
                    space,
                    r#"{"tickRate":10,"interestRadius":12.5}"#,
                    admin,
                    &[
                        change("interestRadius", "30.0", "12.5"),
                        change("viewCap", "256", "64"),
                    ],
                    2_000,
                )
                .await
                .expect("saves");
            assert_eq!(
                store.space_settings(space).await.expect("reads").as_deref(),
                Some(r#"{"tickRate":10,"interestRadius":12.5}"#),
                "{}",
                test.name
            );
            let audit = store.space_settings_audit(space, 10).await.expect("reads");
            let seen: Vec<_> = audit
                .iter()
                .map(|entry| {
                    (
                        entry.admin_id,
                        entry.change.field.as_str(),
                        entry.change.before.as_str(),
                        entry.change.after.as_str(),
                        entry.at_ms,
                    )
                })
                .collect();
            assert_eq!(
                seen,
                [
                    (admin, "viewCap", "256", "64", 2_000),
                    (admin, "interestRadius", "30.0", "12.5", 2_000),
                    (admin, "tickRate", "20", "10", 1_000),
                ],
                "{}",
                test.name
            );
            assert_eq!(
                store
                    .space_settings_audit(space, 1)
                    .await
                    .expect("reads")
                    .len(),
                1
            );

            let unknown = store
                .save_space_settings(space + 1_000, "{}", admin, &[], 3_000)
                .await;
            assert!(
                matches!(unknown, Err(StoreError::NotFound { what: "space" })),
                "{unknown:?}"
            );
            assert_eq!(
                store.space_settings(space + 1_000).await.expect("reads"),
                None
            );
            test.remove().await;
        }
    });
}
