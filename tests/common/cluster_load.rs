//! A cluster of two `meridian serve` shards (a world of 2 × 2 zones, two
//! each) under a swarm of loadbot bots, for tests that take a service away
//! underneath it and bring it back.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use loadbot::{BehaviourKind, Report, SwarmConfig};

use super::{Server, config_file, start_server_env};

/// The link and token secret the shards share.
const SECRET: &str = "a shared secret for the shards of the outage tests only";

/// The shards of the cluster.
pub(crate) const SHARDS: u32 = 2;

/// What `meridian_zones_held` says on each shard once settled.
pub(crate) const ZONES_EACH: [f64; 2] = [2.0, 2.0];

/// The zone size, metres: a 60 m world cut in two each way.
pub(crate) const ZONE_SIZE: f32 = 30.0;

/// One running shard.
pub(crate) struct Shard {
    pub(crate) http: SocketAddr,
    _server: Server,
}

/// The two shards, each killed when this is dropped.
pub(crate) struct Cluster {
    pub(crate) shards: Vec<Shard>,
    config: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The shards are killed by their own guards.
        let _ = std::fs::remove_file(&self.config);
    }
}

impl Cluster {
    /// Starts both shards on `database_url` and `redis_url` under `cluster`,
    /// and waits (at most 30 s) until each holds its two zones.
    pub(crate) fn start(database_url: &str, redis_url: &str, cluster: &str) -> Self {
        // Dozens of sign-ups from one address: the login limits are raised as
        // for a load test.
        let config = config_file(
            "[serve]\nlogin_attempts_per_account_per_minute = 1000\n\
             login_attempts_per_address_per_minute = 1000\n",
        );
        let config_path = config.display().to_string();
        let shards = (1..=SHARDS)
            .map(|id| {
                let id = id.to_string();
                let shards = SHARDS.to_string();
                let (server, http) = start_server_env(
                    database_url,
                    &[
                        "--config",
                        &config_path,
                        "--zones",
                        "2x2",
                        "--shard-id",
                        &id,
                        "--shards",
                        &shards,
                        "--redis-url",
                        redis_url,
                        "--cluster-name",
                        cluster,
                    ],
                    &[("MERIDIAN_TOKEN_SECRET", SECRET)],
                );
                Shard {
                    http,
                    _server: server,
                }
            })
            .collect();
        let cluster = Self { shards, config };
        let settled = wait_for(Duration::from_secs(30), || {
            cluster.zones_held() == ZONES_EACH
        });
        assert!(
            settled.is_some(),
            "each shard holds its zones: {:?}",
            cluster.zones_held()
        );
        cluster
    }

    /// Each shard's `meridian_zones_held`.
    pub(crate) fn zones_held(&self) -> Vec<f64> {
        self.metric("meridian_zones_held")
    }

    /// `series` on each shard's metrics page (0 if absent or unreachable).
    pub(crate) fn metric(&self, series: &str) -> Vec<f64> {
        self.shards
            .iter()
            .map(|shard| metric(shard.http, series))
            .collect()
    }

    /// Each shard's `/health`: whether it answered 200, and its JSON.
    pub(crate) fn health(&self) -> Vec<(bool, serde_json::Value)> {
        self.shards.iter().map(|shard| health(shard.http)).collect()
    }

    /// Starts `bots` bots joining both shards over `ramp_up`, each staying
    /// `stay` after the ramp-up, on a thread of their own. They do not join
    /// again if they lose their connection: a loss is a `dropped` bot.
    pub(crate) fn swarm(
        &self,
        accounts: &str,
        bots: usize,
        ramp_up: Duration,
        stay: Duration,
    ) -> Swarm {
        let config = SwarmConfig {
            servers: self.shards.iter().map(|shard| shard.http).collect(),
            metrics: Vec::new(),
            zone_size: Some(ZONE_SIZE),
            reconnect: false,
            accounts: accounts.into(),
            bots,
            duration: stay,
            ramp_up,
            behaviours: vec![
                BehaviourKind::Cross,
                BehaviourKind::RandomWalk,
                BehaviourKind::Idle,
            ],
            endpoints: 2,
            tick_rate_hz: 20,
            seed: 15,
            progress: false,
            voice: loadbot::VoiceLoad::default(),
        };
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(loadbot::run(config))
                .unwrap_or_else(|error| panic!("the swarm starts: {error}"))
        });
        Swarm { started, thread }
    }
}

/// A swarm running on its thread.
pub(crate) struct Swarm {
    /// When it started (its timeline counts from here).
    pub(crate) started: Instant,
    thread: std::thread::JoinHandle<Report>,
}

impl Swarm {
    /// Waits for its end and its report.
    pub(crate) fn report(self) -> Report {
        self.thread.join().expect("the swarm ends")
    }
}

/// Snapshots the bots decoded from `from` on (from the report's timeline,
/// whole buckets only).
pub(crate) fn snapshots_since(report: &Report, swarm_started: Instant, from: Instant) -> u64 {
    let timeline = &report.timeline;
    let bucket = timeline.bucket_seconds.max(1);
    let first = from.saturating_duration_since(swarm_started).as_secs() / bucket + 1;
    timeline.snapshots.iter().skip(first as usize).sum::<u64>()
}

/// `series` on the metrics page at `http` (0 if absent or unreachable).
pub(crate) fn metric(http: SocketAddr, series: &str) -> f64 {
    runtime()
        .block_on(loadbot::http::get(http, "/metrics"))
        .ok()
        .and_then(|page| loadbot::http::prometheus_value(&page, series))
        .unwrap_or(0.0)
}

/// `/health` at `http`: whether it answered 200, and its JSON (null if it
/// did not answer JSON).
pub(crate) fn health(http: SocketAddr) -> (bool, serde_json::Value) {
    match runtime().block_on(loadbot::http::get(http, "/health")) {
        Ok(body) => (true, serde_json::from_str(&body).unwrap_or_default()),
        Err(loadbot::http::HttpError::Status { body, .. }) => {
            (false, serde_json::from_str(&body).unwrap_or_default())
        }
        Err(_) => (false, serde_json::Value::Null),
    }
}

/// Waits (at most `limit`) until `done` holds; how long it took.
pub(crate) fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Where each of the swarm's `bots` bots (accounts `{accounts}-{i}`) was last
/// checkpointed in the hosted space, read from the database at
/// `database_url` (`None` for a bot with no row yet).
pub(crate) fn checkpointed_positions(
    database_url: &str,
    accounts: &str,
    bots: usize,
) -> Vec<Option<(f64, f64)>> {
    runtime().block_on(async {
        let config = meridian_persistence::DatabaseConfig::new(database_url);
        let store = meridian_persistence::Store::open(&config)
            .await
            .expect("the database opens");
        // The shards made the space at start-up: this finds it.
        let space = store
            .ensure_space("plaza", 60, 60, 0)
            .await
            .expect("the hosted space");
        let mut positions = Vec::new();
        for index in 0..bots {
            let username = loadbot::account::Credentials::for_bot(accounts, index).username;
            let position = match store.account_by_username(&username).await {
                Ok(account) => store
                    .character(account.id, space)
                    .await
                    .expect("reads the character")
                    .map(|row| (row.x, row.y)),
                Err(_) => None,
            };
            positions.push(position);
        }
        store.close().await;
        positions
    })
}
