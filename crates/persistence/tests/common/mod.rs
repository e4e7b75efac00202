//! Opening the same store on SQLite (a fresh file) and on the real PostgreSQL of
//! this machine (a fresh schema), so every repository test runs on both.
//!
//! PostgreSQL comes from `MERIDIAN_TEST_DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`. If it cannot be reached the
//! PostgreSQL half is skipped with a line on stderr that says so, except under
//! `CI=true`, where it fails.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use meridian_persistence::{DatabaseConfig, Store};

static NEXT: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// A store to test against, removed when dropped.
pub(crate) struct TestStore {
    pub(crate) store: Store,
    pub(crate) name: &'static str,
    cleanup: Cleanup,
}

enum Cleanup {
    File(std::path::PathBuf),
    Schema(String, String),
}

impl TestStore {
    pub(crate) async fn remove(self) {
        self.store.close().await;
        match self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Schema(url, schema) => Store::drop_schema_at_for_tests(&url, &schema).await,
        }
    }
}

pub(crate) fn postgres_url() -> String {
    std::env::var("MERIDIAN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh SQLite store in a temporary file.
pub(crate) async fn sqlite() -> TestStore {
    sqlite_with_connections(DatabaseConfig::new(String::new()).max_connections).await
}

/// A fresh SQLite store in a temporary file, with a pool of `connections`.
pub(crate) async fn sqlite_with_connections(connections: u32) -> TestStore {
    let path = std::env::temp_dir().join(format!("{}.db", unique("meridian_test")));
    let config = DatabaseConfig {
        max_connections: connections,
        ..DatabaseConfig::new(format!("sqlite://{}", path.display()))
    };
    let store = Store::open(&config).await.expect("SQLite opens");
    TestStore {
        store,
        name: "sqlite",
        cleanup: Cleanup::File(path),
    }
}

/// A fresh PostgreSQL schema, or None (said on stderr) when PostgreSQL is not
/// reachable outside CI.
pub(crate) async fn postgres(test: &str) -> Option<TestStore> {
    postgres_with_connections(test, DatabaseConfig::new(String::new()).max_connections).await
}

/// A fresh PostgreSQL schema with a pool of `connections`, or None as
/// [`postgres`].
pub(crate) async fn postgres_with_connections(test: &str, connections: u32) -> Option<TestStore> {
    let url = postgres_url();
    let schema = unique("meridian_test");
    let config = DatabaseConfig {
        schema: Some(schema.clone()),
        max_connections: connections,
        ..DatabaseConfig::new(url.clone())
    };
    match Store::open(&config).await {
        Ok(store) => Some(TestStore {
            store,
            name: "postgres",
            cleanup: Cleanup::Schema(url, schema),
        }),
        Err(error) if std::env::var("CI").is_err() => {
            // Written past the test harness's capture, so it shows in any run.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED the PostgreSQL half of {test}: cannot reach {url}: {error}"
            );
            None
        }
        Err(error) => panic!("CI needs PostgreSQL at {url}: {error}"),
    }
}

/// Both stores that are available.
pub(crate) async fn both(test: &str) -> Vec<TestStore> {
    let mut stores = vec![sqlite().await];
    stores.extend(postgres(test).await);
    stores
}

/// An account named "owner" and a space "plaza" it owns: the setup most tests
/// start from. Returns the account id and the space id.
pub(crate) async fn owner_and_space(store: &Store) -> (i64, i64) {
    let owner = store
        .create_account("owner", "h", meridian_persistence::Role::User, 1)
        .await
        .expect("created");
    let space = store
        .create_space_for_tests(owner.id, "plaza")
        .await
        .expect("space");
    (owner.id, space)
}

/// `count` accounts named `{prefix}{index}`, their ids in order.
pub(crate) async fn accounts(store: &Store, prefix: &str, count: usize) -> Vec<i64> {
    let mut ids = Vec::with_capacity(count);
    for index in 0..count {
        let account = store
            .create_account(
                &format!("{prefix}{index}"),
                "h",
                meridian_persistence::Role::User,
                1,
            )
            .await
            .expect("created");
        ids.push(account.id);
    }
    ids
}
