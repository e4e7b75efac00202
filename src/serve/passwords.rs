//! Password hashing off the async workers: argon2 takes tens of milliseconds
//! of CPU, so it runs on tokio's blocking threads, at most `threads` at once,
//! with at most `queue` more waiting; past that a caller is told the pool is
//! busy (the API answers 429 with `Retry-After`) instead of queueing without
//! bound.
//!
//! A login for an unknown account is checked against a dummy hash, so it costs
//! as much as a wrong password and timing does not tell who exists.

use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

/// Why a password could not be hashed or checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasswordError {
    /// Every hashing thread is busy and the queue is full.
    Busy,
    /// argon2 failed or the blocking task did not finish.
    Failed,
}

impl std::fmt::Display for PasswordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Busy => "the server is busy checking passwords; try again shortly",
            Self::Failed => "cannot hash the password",
        })
    }
}

impl std::error::Error for PasswordError {}

/// The bounded hashing pool, cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct PasswordPool {
    /// Permits to hash now.
    running: Arc<Semaphore>,
    /// Permits to be running or waiting.
    admitted: Arc<Semaphore>,
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

impl PasswordPool {
    /// A pool of `threads` hashing at once (at least 1) and `queue` more
    /// waiting.
    pub(crate) fn new(threads: usize, queue: usize) -> Self {
        let threads = threads.max(1);
        Self {
            running: Arc::new(Semaphore::new(threads)),
            admitted: Arc::new(Semaphore::new(threads + queue)),
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
        let _admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| PasswordError::Busy)?;
        let _running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Failed)?;
        tokio::task::spawn_blocking(work)
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
        self.run(move || match stored {
            Some(stored) => matches_now(&password, &stored),
            None => {
                if let Some(dummy) = dummy_hash() {
                    let _ = matches_now(&password, dummy);
                }
                false
            }
        })
        .await
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
        assert_eq!(pool.verify("anything".into(), None).await, Ok(false));
        assert_eq!(
            pool.verify("anything".into(), Some("not a hash".into()))
                .await,
            Ok(false)
        );
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
