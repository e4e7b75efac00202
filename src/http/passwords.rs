//! Password hashing off the async workers: argon2 takes tens of milliseconds
//! of CPU, so it runs on tokio's blocking threads, at most `threads` at once,
//! with at most `queue` more waiting; past that a caller is told the pool is
//! busy (the API answers 429 with `Retry-After`) instead of queueing without
//! bound.
//!
//! A login for an unknown account, or for one whose stored hash is no PHC
//! string (a guest's), is checked against a dummy hash, so it costs as much as
//! a wrong password and timing does not tell who exists.
//!
//! The permits travel with the blocking task: a request dropped mid-hash (the
//! client went away, the deadline fired) frees its place only when argon2 is
//! done, so the pool stays bounded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

/// Why a password could not be hashed or checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PasswordError {
    /// Every hashing thread is busy and the queue is full.
    #[error("the server is busy checking passwords; try again shortly")]
    Busy,
    /// argon2 failed or the blocking task did not finish.
    #[error("cannot hash the password")]
    Failed,
}

/// The bounded hashing pool, cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct PasswordPool {
    /// Permits to hash now.
    running: Arc<Semaphore>,
    /// Permits to be running or waiting.
    admitted: Arc<Semaphore>,
    /// Checks made against the dummy hash (no account, or no PHC hash).
    dummy_checks: Arc<AtomicU64>,
}

/// The dummy PHC hash unknown accounts are checked against (made once, with
/// the same parameters as real hashes).
fn dummy_hash() -> Option<&'static str> {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    DUMMY
        .get_or_init(|| hash_now("not the password of any account"))
        .as_deref()
}

fn hash_now(password: &str) -> Option<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .ok()
        .map(|hash| hash.to_string())
}

fn matches_now(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).ok().is_some_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// Checks `password` against `stored`; with no stored hash, or one that is no
/// PHC string (a guest's `!guest`), against the dummy instead (counted in
/// `dummy_checks`), so every refusal costs one argon2 verification.
fn verify_now(password: &str, stored: Option<&str>, dummy_checks: &AtomicU64) -> bool {
    if let Some(stored) = stored
        && PasswordHash::new(stored).is_ok()
    {
        return matches_now(password, stored);
    }
    dummy_checks.fetch_add(1, Ordering::Relaxed);
    if let Some(dummy) = dummy_hash() {
        let _ = matches_now(password, dummy);
    }
    false
}

impl PasswordPool {
    /// A pool of `threads` hashing at once (at least 1) and `queue` more
    /// waiting.
    pub(crate) fn new(threads: usize, queue: usize) -> Self {
        let threads = threads.max(1);
        Self {
            running: Arc::new(Semaphore::new(threads)),
            admitted: Arc::new(Semaphore::new(threads + queue)),
            dummy_checks: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A pool sized from the machine: half the cores hash, the rest carry the
    /// game and the API; eight waiting per thread.
    pub(crate) fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        let threads = (cores / 2).max(1);
        Self::new(threads, threads * 8)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| PasswordError::Busy)?;
        let running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Failed)?;
        // The permits move into the blocking task: if this future is dropped
        // while argon2 runs, they are released when it finishes, not before.
        tokio::task::spawn_blocking(move || {
            let _permits = (admitted, running);
            work()
        })
        .await
        .map_err(|_| PasswordError::Failed)
    }

    /// An argon2id PHC hash of `password` with a random salt.
    pub(crate) async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.run(move || hash_now(&password))
            .await?
            .ok_or(PasswordError::Failed)
    }

    /// Whether `password` matches `stored`; with no stored hash (no such
    /// account) the password is checked against the dummy and never matches.
    pub(crate) async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let dummy_checks = Arc::clone(&self.dummy_checks);
        self.run(move || verify_now(&password, stored.as_deref(), &dummy_checks))
            .await
    }

    /// Checks made against the dummy hash so far.
    #[cfg(test)]
    fn dummy_checks(&self) -> u64 {
        self.dummy_checks.load(Ordering::Relaxed)
    }
}

/// Hashes now, on this thread (for the command line, not the server).
pub(crate) fn hash_password(password: &str) -> Option<String> {
    hash_now(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_match() {
        let pool = PasswordPool::new(1, 1);
        let hash = pool.hash("correct horse".into()).await.expect("hashes");
        assert_eq!(
            pool.verify("correct horse".into(), Some(hash.clone()))
                .await,
            Ok(true)
        );
        assert_eq!(pool.verify("wrong".into(), Some(hash)).await, Ok(false));
        assert_eq!(pool.dummy_checks(), 0, "real hashes need no dummy");
        assert_eq!(pool.verify("anything".into(), None).await, Ok(false));
        assert_eq!(pool.dummy_checks(), 1, "an unknown account costs a check");
        // A guest's hash is no PHC string: it costs the same dummy check.
        assert_eq!(
            pool.verify(
                "anything".into(),
                Some(meridian_persistence::GUEST_PASSWORD_HASH.into())
            )
            .await,
            Ok(false)
        );
        assert_eq!(pool.dummy_checks(), 2, "a guest costs a check");
        assert_eq!(
            pool.verify("anything".into(), Some("not a hash".into()))
                .await,
            Ok(false)
        );
        assert_eq!(pool.dummy_checks(), 3);
    }

    #[tokio::test]
    async fn permits_are_held_until_the_hash_finishes_even_if_the_caller_goes() {
        let pool = PasswordPool::new(1, 1);
        let (started, has_started) = tokio::sync::oneshot::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (finished, has_finished) = tokio::sync::oneshot::channel::<()>();
        let caller = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = started.send(());
                    // Stands for a long argon2 run; a deadline, not a hang.
                    let _ = released.recv_timeout(std::time::Duration::from_secs(30));
                    let _ = finished.send(());
                })
                .await
            })
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), has_started)
            .await
            .expect("the work starts in time")
            .expect("the work starts");
        // The caller goes away (a client that hung up, a request deadline).
        caller.abort();
        assert!(caller.await.is_err(), "the caller was cancelled");
        assert_eq!(
            pool.running.available_permits(),
            0,
            "the thread is still hashing"
        );
        assert_eq!(
            pool.admitted.available_permits(),
            1,
            "only the queue place is free"
        );
        release.send(()).expect("the work waits");
        tokio::time::timeout(std::time::Duration::from_secs(30), has_finished)
            .await
            .expect("the work finishes in time")
            .expect("the work finishes");
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        while pool.admitted.available_permits() < 2 || pool.running.available_permits() < 1 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the permits come back when the work is done"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_full_queue_says_busy_instead_of_waiting() {
        let pool = PasswordPool::new(1, 0);
        // Hold the only admission permit, as a hash in progress would.
        let held = pool.admitted.clone().try_acquire_owned().expect("free");
        assert_eq!(
            pool.hash("a password".into()).await,
            Err(PasswordError::Busy)
        );
        drop(held);
        assert!(pool.hash("a password".into()).await.is_ok());
    }
}
