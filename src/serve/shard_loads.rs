//! Placement by load: every cluster shard publishes its gateway and load
//! (players, instances, simulation CPU) in Redis twice a second, signed with
//! the link key (`shard_load::ShardLoad`); a join that would start an
//! instance reads the live shards' entries and sends the join to the least
//! loaded one (`ShardLoad::weight`: players, and ten per instance); ties go
//! to the shard answering, then to the lower tick CPU, then to the lower id. An
//! entry lasts 3 s, so a dead shard stops being chosen within that time;
//! a draining shard takes its entry away at once.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meridian_shard_manager::ShardId;
use meridian_shard_manager::adapters::redis::RedisHints;
use meridian_shard_manager::link_handshake::LinkKey;
use meridian_shard_manager::shard_load::ShardLoad;

use super::live::LiveMetrics;

/// How often a shard publishes its load.
const PUBLISH_EVERY: Duration = Duration::from_millis(500);

/// How long a load entry lasts in Redis.
const ENTRY_TTL_MS: u64 = 3_000;

/// The cluster's load entries, as one shard reads and writes them.
pub(crate) struct ShardLoads {
    hints: RedisHints,
    key: LinkKey,
    me: u32,
    shards: u32,
}

impl ShardLoads {
    pub(crate) fn new(hints: RedisHints, key: LinkKey, me: u32, shards: u32) -> Self {
        Self {
            hints,
            key,
            me,
            shards,
        }
    }

    /// The gateway of the least loaded live shard, if it is not this one
    /// (None: place here, also when no entry can be read).
    pub(crate) async fn elsewhere(&self) -> Option<SocketAddr> {
        let now = super::ledger::now_ms();
        let mut best: Option<(u64, bool, u32, u32, SocketAddr)> = None;
        for shard in 1..=self.shards {
            let Ok(Some(load)) = self.hints.shard_load(ShardId(shard), &self.key, now).await else {
                continue;
            };
            let rank = (
                load.weight(),
                shard != self.me,
                load.tick_cpu_permille,
                shard,
                load.gateway,
            );
            if best.is_none_or(|best| rank < best) {
                best = Some(rank);
            }
        }
        best.and_then(|(_, elsewhere, _, _, gateway)| elsewhere.then_some(gateway))
    }

    /// Publishes this shard's load until the process stops.
    pub(crate) async fn publish_forever(
        self: Arc<Self>,
        gateway: SocketAddr,
        live: Arc<Mutex<LiveMetrics>>,
    ) {
        let mut every = tokio::time::interval(PUBLISH_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut cpu = SimulationCpu::default();
        loop {
            every.tick().await;
            let (players, instances) = live.lock().map_or((0, 0), |live| {
                let in_instances: usize = live.instances.iter().map(|each| each.players).sum();
                (live.avatars + in_instances, live.instances.len())
            });
            let load = ShardLoad {
                gateway,
                players: u32::try_from(players).unwrap_or(u32::MAX),
                instances: u32::try_from(instances).unwrap_or(u32::MAX),
                tick_cpu_permille: cpu.permille(),
            };
            let now = super::ledger::now_ms();
            if let Err(error) = self
                .hints
                .announce_load(ShardId(self.me), &load, &self.key, now, ENTRY_TTL_MS)
                .await
            {
                tracing::debug!(%error, "the load entry was not published");
            }
        }
    }

    /// Takes this shard's entry away (draining: it takes no more instances).
    pub(crate) async fn withdraw(&self) {
        if let Err(error) = self.hints.withdraw_load(ShardId(self.me)).await {
            tracing::warn!(%error, "the load entry was not taken away; it lapses");
        }
    }
}

/// The simulation threads' CPU between two readings.
#[derive(Default)]
struct SimulationCpu {
    last: Option<(Instant, f64)>,
}

impl SimulationCpu {
    /// CPU of the zone and simulation threads since the last call, per
    /// mille of one core (0 the first time, or where /proc cannot be read).
    fn permille(&mut self) -> u32 {
        let Some(figures) = super::process_metrics::ProcessSample::read() else {
            return 0;
        };
        let zone = super::process_metrics::ROLES
            .iter()
            .position(|role| *role == "zone")
            .map_or(0.0, |index| figures.role_cpu_seconds[index]);
        let now = Instant::now();
        let permille = match self.last {
            Some((at, seconds)) => {
                let elapsed = now.saturating_duration_since(at).as_secs_f64();
                if elapsed > 0.0 {
                    ((zone - seconds).max(0.0) / elapsed * 1_000.0) as u32
                } else {
                    0
                }
            }
            None => 0,
        };
        self.last = Some((now, zone));
        permille
    }
}
