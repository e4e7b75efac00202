//! Hints between shard processes, in Redis: which shard serves a zone, where a
//! player is, and notices broadcast to every shard. Only hints: each one expires
//! on its own, and every decision is checked against the ledger, so a stale,
//! missing or wrong hint costs a retry, never safety.
//!
//! The connection comes back by itself after Redis restarts or the network
//! breaks (see the `redis_connection` module): meanwhile every
//! operation fails at once with a [`HintError`] (counted, see
//! [`RedisHints::totals`]), and whoever keeps hints alive (the shard link
//! renews its entry every half second) writes them again once it is back.
//! Redis keeps nothing across a restart here, so hints are only as old as
//! their last renewal.

use std::sync::Arc;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::redis_connection::Reconnecting;
pub use super::redis_connection::{HintError, RedisTotals};

use crate::ids::{EntityId, ShardId, ZoneId};
use crate::link_handshake::LinkKey;
use crate::shard_entry::{EntryError, ShardEntry};

/// Notices a subscriber may hold before the oldest are dropped.
const NOTICE_BUFFER: usize = 1_024;

/// Why no shard entry was read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShardEntryError {
    /// Redis could not be read.
    #[error(transparent)]
    Hint(#[from] HintError),
    /// An entry is there but is not taken (unsigned, badly signed or stale).
    #[error("shard entry ignored: {0}")]
    Ignored(#[from] EntryError),
}

/// The hints of one world, under keys prefixed `meridian:{world}:`.
#[derive(Clone)]
pub struct RedisHints {
    client: redis::Client,
    connection: Arc<Reconnecting>,
    prefix: String,
}

impl std::fmt::Debug for RedisHints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisHints")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisHints {
    /// Connects to `url` (`redis://host:port/db`) for `world`; fails if
    /// Redis does not answer now (later losses are recovered from).
    pub async fn connect(url: &str, world: &str) -> Result<Self, HintError> {
        let client = redis::Client::open(url)?;
        let connection = Reconnecting::connect(client.clone()).await?;
        Ok(Self {
            client,
            connection: Arc::new(connection),
            prefix: format!("meridian:{world}:"),
        })
    }

    /// What the connection counted (failed operations, reconnections), for
    /// the metrics page.
    pub fn totals(&self) -> RedisTotals {
        self.connection.totals()
    }

    /// Whether Redis answers `PING` on this connection, for health checks.
    pub async fn ping(&self) -> Result<(), HintError> {
        let _: String = self.connection.query(&redis::cmd("PING")).await?;
        Ok(())
    }

    /// The value at `what`, if any.
    async fn get<T: redis::FromRedisValue>(&self, what: &str) -> Result<Option<T>, HintError> {
        self.connection
            .query(redis::cmd("GET").arg(self.key(what)))
            .await
    }

    fn key(&self, what: &str) -> String {
        format!("{}{what}", self.prefix)
    }

    /// Sets `what` to `value` for `ttl_ms`.
    async fn set_expiring(
        &self,
        what: &str,
        value: impl redis::ToRedisArgs + Send + Sync,
        ttl_ms: u64,
    ) -> Result<(), HintError> {
        let () = self
            .connection
            .query(
                redis::cmd("SET")
                    .arg(self.key(what))
                    .arg(value)
                    .arg("PX")
                    .arg(ttl_ms.max(1)),
            )
            .await?;
        Ok(())
    }

    /// Says that `address` serves `zone`, for `ttl_ms` (renew it with the lease).
    pub async fn announce_zone(
        &self,
        zone: ZoneId,
        address: &str,
        ttl_ms: u64,
    ) -> Result<(), HintError> {
        self.set_expiring(&format!("zone:{}", zone.0), address, ttl_ms)
            .await
    }

    /// Who serves `zone`, if anyone said so recently.
    pub async fn zone_hint(&self, zone: ZoneId) -> Result<Option<String>, HintError> {
        self.get(&format!("zone:{}", zone.0)).await
    }

    /// Says where shard `shard`'s link listens and how to recognise it,
    /// signed with `key` and dated `now_ms` (milliseconds since the Unix
    /// epoch), for `ttl_ms`: other shards find it with [`Self::shard_entry`].
    pub async fn announce_shard_entry(
        &self,
        shard: ShardId,
        entry: &ShardEntry,
        key: &LinkKey,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<(), HintError> {
        self.announce_shard(shard, &entry.sign(key, shard, now_ms), ttl_ms)
            .await
    }

    /// Where shard `shard`'s link listens, if it said so recently in an entry
    /// signed with `key` and made within
    /// [`MAX_ENTRY_AGE_MS`](crate::shard_entry::MAX_ENTRY_AGE_MS) of `now_ms`.
    /// Any other entry is [`ShardEntryError::Ignored`].
    pub async fn shard_entry(
        &self,
        shard: ShardId,
        key: &LinkKey,
        now_ms: u64,
    ) -> Result<Option<ShardEntry>, ShardEntryError> {
        match self.shard_hint(shard).await? {
            None => Ok(None),
            Some(text) => Ok(Some(ShardEntry::verify(&text, key, shard, now_ms)?)),
        }
    }

    /// Writes `text` as shard `shard`'s entry, for `ttl_ms`, as it is (use
    /// [`Self::announce_shard_entry`]; this is for tests of forged entries).
    pub async fn announce_shard(
        &self,
        shard: ShardId,
        address: &str,
        ttl_ms: u64,
    ) -> Result<(), HintError> {
        self.set_expiring(&format!("shard:{}", shard.0), address, ttl_ms)
            .await
    }

    /// The text of shard `shard`'s entry as it is, unchecked (use
    /// [`Self::shard_entry`]).
    pub async fn shard_hint(&self, shard: ShardId) -> Result<Option<String>, HintError> {
        self.get(&format!("shard:{}", shard.0)).await
    }

    /// Says where shard `shard`'s gateway is and how loaded it is, signed
    /// with `key` and dated `now_ms`, for `ttl_ms`: read with
    /// [`Self::shard_load`].
    pub async fn announce_load(
        &self,
        shard: ShardId,
        load: &crate::shard_load::ShardLoad,
        key: &LinkKey,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<(), HintError> {
        self.set_expiring(
            &format!("load:{}", shard.0),
            load.sign(key, shard, now_ms),
            ttl_ms,
        )
        .await
    }

    /// Shard `shard`'s gateway and load, if it said so recently in an entry
    /// signed with `key`; any other entry is [`ShardEntryError::Ignored`].
    pub async fn shard_load(
        &self,
        shard: ShardId,
        key: &LinkKey,
        now_ms: u64,
    ) -> Result<Option<crate::shard_load::ShardLoad>, ShardEntryError> {
        let text: Option<String> = self.get(&format!("load:{}", shard.0)).await?;
        match text {
            None => Ok(None),
            Some(text) => Ok(Some(crate::shard_load::ShardLoad::verify(
                &text, key, shard, now_ms,
            )?)),
        }
    }

    /// Takes shard `shard`'s load entry away (it stops taking instances).
    pub async fn withdraw_load(&self, shard: ShardId) -> Result<(), HintError> {
        let _: i64 = self
            .connection
            .query(redis::cmd("DEL").arg(self.key(&format!("load:{}", shard.0))))
            .await?;
        Ok(())
    }

    /// Says that `entity` is in `zone`, for `ttl_ms`.
    pub async fn set_presence(
        &self,
        entity: EntityId,
        zone: ZoneId,
        ttl_ms: u64,
    ) -> Result<(), HintError> {
        self.set_expiring(&format!("presence:{}", entity.0), zone.0, ttl_ms)
            .await
    }

    /// Where `entity` was last said to be.
    pub async fn presence(&self, entity: EntityId) -> Result<Option<ZoneId>, HintError> {
        let zone: Option<u32> = self.get(&format!("presence:{}", entity.0)).await?;
        Ok(zone.map(ZoneId))
    }

    /// Broadcasts a notice to every shard subscribed; returns how many got it.
    pub async fn publish(&self, notice: &str) -> Result<u64, HintError> {
        self.connection
            .query(redis::cmd("PUBLISH").arg(self.key("notices")).arg(notice))
            .await
    }

    /// Subscribes to the world's notices: they arrive on the receiver until it
    /// is dropped or the subscription's own connection ends (it is not made
    /// again: the receiver then closes, and the caller subscribes anew). A slow reader loses the newest ones
    /// beyond [`NOTICE_BUFFER`], never blocks Redis.
    pub async fn subscribe(&self) -> Result<mpsc::Receiver<String>, HintError> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(self.key("notices")).await?;
        let (sender, receiver) = mpsc::channel(NOTICE_BUFFER);
        tokio::spawn(async move {
            let mut messages = pubsub.on_message();
            while let Some(message) = messages.next().await {
                let Ok(notice) = message.get_payload::<String>() else {
                    continue;
                };
                match sender.try_send(notice) {
                    Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
        });
        Ok(receiver)
    }
}
