//! The outside services some tests need (PostgreSQL, Redis): a test that
//! cannot reach one says `SKIPPED ...` on stderr and passes, except under CI
//! (`CI` set), where it fails.

use std::io::Write;

use meridian_persistence::Store;

/// Whether this run is CI's, which must run every test rather than skip it.
pub(crate) fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Says `SKIPPED {why}` on stderr, past the test harness's capture so a
/// passing test shows it too; under CI, fails instead.
pub(crate) fn skipped(why: &str) {
    assert!(!in_ci(), "CI runs every test, but {why}");
    let _ = writeln!(std::io::stderr(), "SKIPPED {why}");
}

/// The PostgreSQL server the tests use (`MERIDIAN_TEST_DATABASE_URL`, by
/// default the local `test` database as `postgres`).
pub(crate) fn postgres_server() -> String {
    std::env::var("MERIDIAN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A database of one test's own on the real PostgreSQL, dropped when this is
/// dropped.
pub(crate) struct PostgresDatabase {
    /// Where the test's database is.
    pub(crate) url: String,
    /// The server's maintenance database, through which it is dropped.
    server: String,
    /// Its name (letters, digits and underscores).
    name: String,
}

impl PostgresDatabase {
    /// Creates `{prefix}_{process id}_{counter}` on [`postgres_server`], or
    /// says it skipped `test` (see [`skipped`]) and returns `None`.
    pub(crate) fn create(test: &str, prefix: &str) -> Option<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let server = postgres_server();
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        if !runtime().block_on(Store::database_for_tests(&server, &name, true)) {
            skipped(&format!("{test}: cannot create a database at {server}"));
            return None;
        }
        let (base, _) = server.rsplit_once('/').expect("a database URL");
        Some(Self {
            url: format!("{base}/{name}"),
            server,
            name,
        })
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        runtime().block_on(Store::database_for_tests(&self.server, &self.name, false));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
