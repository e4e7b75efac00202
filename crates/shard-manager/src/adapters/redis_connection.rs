//! One connection to Redis that comes back by itself: a
//! [`MultiplexedConnection`] that is replaced after a connection-level error
//! (Redis restarted, the network broke, an answer timed out), redialled with
//! a backoff of [`FIRST_BACKOFF`] doubling up to [`MAX_BACKOFF`].
//!
//! While Redis is away every call fails at once (no caller waits through the
//! backoff); the first call after it dials again. Failures are counted
//! ([`RedisTotals::errors`]) and logged at most once per [`LOG_EVERY`], with
//! how many were not logged; the connection coming back is counted
//! ([`RedisTotals::reconnects`]) and logged once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::time::Instant;

/// The first pause after a failed dial.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The longest pause between two dials.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How long a dial may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long an answer may take before the connection is given up.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Failures are logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Why a Redis operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HintError {
    /// Redis answered with an error, or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The connection was lost and the next dial is not due yet.
    #[error("redis is unreachable; the next attempt in {retry_in:?}")]
    Reconnecting {
        /// How long until the next dial.
        retry_in: Duration,
    },
}

/// What the connection counted since it was made.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisTotals {
    /// Operations that failed (Redis down, an error answer, a dial not due).
    pub errors: u64,
    /// Times the connection was lost and made again.
    pub reconnects: u64,
}

/// The connection now, and when to dial again if there is none.
#[derive(Debug)]
struct Slot {
    /// The live connection and which one it is.
    connection: Option<(u64, MultiplexedConnection)>,
    /// Connections made so far.
    made: u64,
    /// Failed dials in a row.
    failed_dials: u32,
    /// No dial before this.
    dial_after: Option<Instant>,
    /// A connection was lost and not yet made again.
    lost: bool,
}

/// When the last failure was logged, and how many were not since.
#[derive(Debug, Default)]
struct LogGate {
    last: Option<Instant>,
    unlogged: u64,
}

/// A connection to one Redis that redials after it breaks.
#[derive(Debug)]
pub(crate) struct Reconnecting {
    client: redis::Client,
    /// Held across a dial, so that one caller dials and the others wait for it.
    slot: tokio::sync::Mutex<Slot>,
    errors: AtomicU64,
    reconnects: AtomicU64,
    log: Mutex<LogGate>,
}

impl Reconnecting {
    /// Dials `client` once; fails if Redis does not answer.
    pub(crate) async fn connect(client: redis::Client) -> Result<Self, HintError> {
        let connection = dial(&client).await?;
        Ok(Self {
            client,
            slot: tokio::sync::Mutex::new(Slot {
                connection: Some((1, connection)),
                made: 1,
                failed_dials: 0,
                dial_after: None,
                lost: false,
            }),
            errors: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            log: Mutex::default(),
        })
    }

    /// What was counted.
    pub(crate) fn totals(&self) -> RedisTotals {
        RedisTotals {
            errors: self.errors.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
        }
    }

    /// Runs `command` on the connection (dialling first if it was lost and a
    /// dial is due); a connection-level error gives the connection up.
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, HintError> {
        let result = match self.connection().await {
            Ok((which, mut connection)) => {
                let answer = command.query_async::<T>(&mut connection).await;
                if let Err(error) = &answer
                    && breaks_connection(error)
                {
                    self.give_up(which).await;
                }
                answer.map_err(HintError::from)
            }
            Err(error) => Err(error),
        };
        if let Err(error) = &result {
            self.failed(error);
        }
        result
    }

    /// The live connection, or a fresh one if a dial is due.
    async fn connection(&self) -> Result<(u64, MultiplexedConnection), HintError> {
        let mut slot = self.slot.lock().await;
        if let Some((which, connection)) = &slot.connection {
            return Ok((*which, connection.clone()));
        }
        let now = Instant::now();
        if let Some(after) = slot.dial_after
            && now < after
        {
            return Err(HintError::Reconnecting {
                retry_in: after - now,
            });
        }
        match dial(&self.client).await {
            Ok(connection) => {
                slot.made += 1;
                slot.failed_dials = 0;
                slot.dial_after = None;
                let which = slot.made;
                slot.connection = Some((which, connection.clone()));
                if std::mem::take(&mut slot.lost) {
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("the connection to Redis is back");
                }
                Ok((which, connection))
            }
            Err(error) => {
                slot.failed_dials = slot.failed_dials.saturating_add(1);
                slot.dial_after = Some(Instant::now() + backoff(slot.failed_dials));
                Err(error)
            }
        }
    }

    /// Drops connection `which` (if it is still the live one): the next call
    /// dials again at once.
    async fn give_up(&self, which: u64) {
        let mut slot = self.slot.lock().await;
        if slot
            .connection
            .as_ref()
            .is_some_and(|(live, _)| *live == which)
        {
            slot.connection = None;
            slot.lost = true;
            slot.dial_after = None;
        }
    }

    /// Counts a failure; logs it unless one was logged within [`LOG_EVERY`].
    fn failed(&self, error: &HintError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let Ok(mut gate) = self.log.lock() else {
            return;
        };
        let now = Instant::now();
        if gate.last.is_some_and(|last| now < last + LOG_EVERY) {
            gate.unlogged += 1;
            return;
        }
        let unlogged = std::mem::take(&mut gate.unlogged);
        gate.last = Some(now);
        tracing::warn!(
            %error,
            unlogged,
            every_s = LOG_EVERY.as_secs(),
            "a Redis operation failed (hints wait; at most one such line per interval)"
        );
    }
}

/// Whether `error` means the connection itself is broken (as opposed to an
/// error answer from a working Redis).
fn breaks_connection(error: &redis::RedisError) -> bool {
    error.is_unrecoverable_error()
        || error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
}

/// The pause after `failed_dials` failed dials in a row.
fn backoff(failed_dials: u32) -> Duration {
    let doublings = failed_dials.saturating_sub(1).min(16);
    FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

async fn dial(client: &redis::Client) -> Result<MultiplexedConnection, HintError> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    Ok(client
        .get_multiplexed_async_connection_with_config(&config)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_the_first_pause_up_to_the_longest() {
        assert_eq!(backoff(1), FIRST_BACKOFF);
        assert_eq!(backoff(2), FIRST_BACKOFF * 2);
        assert_eq!(backoff(3), FIRST_BACKOFF * 4);
        assert_eq!(backoff(5), FIRST_BACKOFF * 16);
        assert_eq!(backoff(6), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
