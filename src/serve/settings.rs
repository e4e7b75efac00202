//! `meridian serve` settings: file, then environment, then flags, then checks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use meridian_netcode::NetcodeConfig;
use meridian_shard_manager::{ZoneMap, ZoneMapConfig};
use meridian_sim::SimConfig;
use serde::Deserialize;

use crate::config::FileConfig;

/// Flags of `meridian serve`; each overrides the file and the environment.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// TOML file with `[serve]`, `[sim]` and `[netcode]` tables.
    #[arg(long)]
    config: Option<PathBuf>,
    /// UDP address for QUIC (env MERIDIAN_GAME_ADDRESS). Default 127.0.0.1:4433.
    #[arg(long)]
    game_address: Option<SocketAddr>,
    /// TCP address for HTTP (env MERIDIAN_HTTP_ADDRESS). Default 127.0.0.1:8080.
    #[arg(long)]
    http_address: Option<SocketAddr>,
    /// Simulation ticks per second.
    #[arg(long)]
    tick_rate: Option<u32>,
    /// Side of the square world, metres.
    #[arg(long)]
    world_size: Option<f32>,
    /// How the world is cut into zones, `COLUMNSxROWS` (default 1x1); zones are
    /// square, so the world's width over columns must equal its height over rows.
    #[arg(long)]
    zones: Option<String>,
    /// Offer the development join endpoint (`POST /api/v1/dev/join`: a fresh
    /// guest account per call, no password). Off by default; refused in
    /// cluster mode. Never on a server others can reach.
    #[arg(long)]
    dev: bool,
    /// Where durable state lives (env MERIDIAN_DATABASE_URL):
    /// `sqlite://path` (default `sqlite://meridian-data/meridian.db`) or
    /// `postgres://user@host/db`.
    #[arg(long)]
    database_url: Option<String>,
    /// Run as shard N (1-based) of a cluster instead of the whole world
    /// (env MERIDIAN_SHARD_ID); needs --shards, --redis-url, a PostgreSQL
    /// database and a shared token secret (MERIDIAN_TOKEN_SECRET).
    #[arg(long)]
    shard_id: Option<u32>,
    /// How many shards the cluster has (each holds its share of the zones
    /// and backs up the next shard's).
    #[arg(long)]
    shards: Option<u32>,
    /// Redis, where shards find each other (env MERIDIAN_REDIS_URL).
    #[arg(long)]
    redis_url: Option<String>,
    /// UDP address for the QUIC link between shards. Default 127.0.0.1:0.
    #[arg(long)]
    link_address: Option<SocketAddr>,
    /// The cluster's name: its shards find each other under it in Redis, so
    /// several clusters can share one Redis. Default `meridian`.
    #[arg(long)]
    cluster_name: Option<String>,
    /// Serve `/metrics` only on this TCP address, not on the HTTP address
    /// (env MERIDIAN_METRICS_ADDRESS). Default: on the HTTP address.
    #[arg(long)]
    metrics_address: Option<SocketAddr>,
    /// An origin (`https://play.example`) whose pages may call the HTTP API
    /// from a browser; repeat for several (env MERIDIAN_CORS_ALLOWED_ORIGINS,
    /// comma-separated). Default: none, so cross-origin calls fail.
    #[arg(long = "cors-allowed-origin")]
    cors_allowed_origins: Vec<String>,
    /// Where newcomers appear: `plaza` (near the centre, the default) or
    /// `uniform` (anywhere in the world).
    #[arg(long, value_enum)]
    spawn: Option<SpawnPolicy>,
    /// Which driver serves the game port: `tasks` (the default) or
    /// `event-loop` (raw QUIC and WebTransport; see docs/TRANSPORT.md).
    #[arg(long, value_enum)]
    transport: Option<super::game_transport::TransportKind>,
    /// Log lines as `text` (the default) or `json`, on standard error (env
    /// MERIDIAN_LOG_FORMAT); RUST_LOG filters them (docs/OPERATIONS.md, Logs).
    #[arg(long, value_enum)]
    log_format: Option<crate::logging::LogFormat>,
}

/// Where a newcomer (no saved place) appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SpawnPolicy {
    /// Within a few metres of the world's centre, where the others are; the
    /// area grows with the crowd (one avatar per 200 m²).
    #[default]
    Plaza,
    /// Anywhere in the world, seeded by `[serve] seed`.
    Uniform,
}

/// Newcomers of the plaza policy spawn within this many metres of the centre
/// (while the crowd is small).
pub(crate) const SPAWN_RADIUS: f32 = 8.0;

impl SpawnPolicy {
    /// The area newcomers spawn in, as the zone host takes it (centre and
    /// radius); none means the whole world. Either way a spot taken by a
    /// blocking element or an avatar is skipped for another.
    pub(crate) fn area(self, sim: &SimConfig) -> Option<(meridian_sim::Vec2, f32)> {
        match self {
            Self::Plaza => Some((
                meridian_sim::Vec2::new(sim.world_width / 2.0, sim.world_height / 2.0),
                SPAWN_RADIUS,
            )),
            Self::Uniform => None,
        }
    }
}

/// Where an embedded server keeps its data.
pub(crate) const DEFAULT_DATABASE_URL: &str = "sqlite://meridian-data/meridian.db";

/// The `[serve]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ServeTable {
    /// UDP address for QUIC.
    pub(crate) game_address: SocketAddr,
    /// TCP address for HTTP.
    pub(crate) http_address: SocketAddr,
    /// The space (world) this server hosts.
    pub(crate) space: u32,
    /// The zone's id within it.
    pub(crate) zone_id: u32,
    /// Seed for spawn points.
    pub(crate) seed: u64,
    /// Offer the development join endpoint (fresh guests, no password); off
    /// unless asked for, never in cluster mode.
    pub(crate) dev_tokens: bool,
    /// Secret for realtime tokens (at least 32 bytes); random per start if unset.
    pub(crate) token_secret: Option<String>,
    /// Days a development certificate is valid, 1..=13.
    pub(crate) certificate_validity_days: u32,
    /// Where durable state lives.
    pub(crate) database_url: String,
    /// Characters are checkpointed this often, milliseconds (the most movement a
    /// crash can lose).
    pub(crate) checkpoint_interval_ms: u64,
    /// How the world is cut into zones, `COLUMNSxROWS`.
    pub(crate) zones: String,
    /// This process is shard N (1-based) of a cluster; unset runs every zone.
    pub(crate) shard_id: Option<u32>,
    /// How many shards the cluster has.
    pub(crate) shards: u32,
    /// Redis, where shards find each other.
    pub(crate) redis_url: Option<String>,
    /// UDP address for the QUIC link between shards.
    pub(crate) link_address: SocketAddr,
    /// The cluster's name in Redis.
    pub(crate) cluster_name: String,
    /// Seconds an access token is valid (a role change or ban reaches the
    /// API within this), 60..=86400.
    pub(crate) access_token_seconds: u64,
    /// Seconds a refresh token is valid (a session idle longer logs in
    /// again), at least `access_token_seconds`, at most a year.
    pub(crate) refresh_token_seconds: u64,
    /// Logins and sign-ups per client address a minute (loadbot runs from
    /// one address need more), 1..=1000000.
    pub(crate) login_attempts_per_address_per_minute: u32,
    /// Failed logins per account name a minute (a right password is not
    /// counted), 1..=1000000.
    pub(crate) login_attempts_per_account_per_minute: u32,
    /// Joins (realtime tokens) per account a minute, 1..=1000000: each
    /// connection of the web client or of a loadbot bot asks for one.
    pub(crate) joins_per_account_per_minute: u32,
    /// Client addresses (and account names) the login limits track at most.
    pub(crate) login_limit_tracked_keys: usize,
    /// TCP address serving `/metrics` alone; unset serves it on `http_address`.
    pub(crate) metrics_address: Option<SocketAddr>,
    /// Origins whose pages may call the HTTP API (CORS); empty sends no CORS
    /// headers at all.
    pub(crate) cors_allowed_origins: Vec<String>,
    /// A client has this long to send a request's line and headers,
    /// milliseconds (also how long an idle kept-alive connection stays open).
    pub(crate) http_header_timeout_ms: u64,
    /// A request's body and its handler have this long, milliseconds.
    pub(crate) http_request_timeout_ms: u64,
    /// The largest request body, bytes.
    pub(crate) http_body_limit_bytes: u64,
    /// HTTP connections open at once (an upgraded WebSocket no longer counts).
    pub(crate) http_max_connections: u32,
    /// A connection over the cap waits this long for a free slot before it is
    /// closed, milliseconds.
    pub(crate) http_connection_wait_ms: u64,
    /// HTTP connections one client address (IPv6: its /64) may hold open at
    /// once; one more is closed at once.
    pub(crate) http_max_connections_per_address: u32,
    /// Spaces one user may own (admins are exempt: they curate templates).
    pub(crate) max_spaces_per_user: u32,
    /// Elements placed in one space (admins are exempt).
    pub(crate) max_elements_per_space: u32,
    /// Where newcomers appear: `"plaza"` or `"uniform"`.
    pub(crate) spawn: SpawnPolicy,
    /// Which driver serves the game port: `"event-loop"` (the default; raw
    /// QUIC and WebTransport; see docs/TRANSPORT.md) or `"tasks"`.
    pub(crate) transport: super::game_transport::TransportKind,
    /// Log lines as `"text"` or `"json"`.
    pub(crate) log_format: crate::logging::LogFormat,
    /// On SIGINT / SIGTERM, `/ready` answers 503 for this long, milliseconds,
    /// while everything else still runs (load balancers stop sending), then
    /// the server stops.
    pub(crate) drain_ms: u64,
    /// An instance of a space (other than the world) stops once it has been
    /// empty this long, milliseconds, 0..=86400000; the next join starts it
    /// again where it was.
    pub(crate) instance_idle_grace_ms: u64,
    /// Instances of spaces one process runs at most, 1..=100000; a join that
    /// would start one more is refused (503) and counted.
    pub(crate) max_instances: u32,
    /// Threads that run the instances of other spaces (the world has the
    /// zone thread), 1..=64; each instance runs on one of them, so a slow
    /// one delays only those beside it.
    pub(crate) simulation_threads: u32,
    /// Instances one account's joins may start a minute, 1..=10000 (a join
    /// over it is refused with 429 and counted).
    pub(crate) instance_starts_per_account_per_minute: u32,
}

impl Default for ServeTable {
    fn default() -> Self {
        Self {
            game_address: SocketAddr::from(([127, 0, 0, 1], 4433)),
            http_address: SocketAddr::from(([127, 0, 0, 1], 8080)),
            space: 1,
            zone_id: 1,
            seed: 1,
            dev_tokens: false,
            token_secret: None,
            certificate_validity_days: 10,
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            checkpoint_interval_ms: 2_000,
            zones: "1x1".to_owned(),
            shard_id: None,
            shards: 1,
            redis_url: None,
            link_address: SocketAddr::from(([127, 0, 0, 1], 0)),
            cluster_name: "meridian".to_owned(),
            access_token_seconds: 900,
            refresh_token_seconds: 30 * 86_400,
            login_attempts_per_address_per_minute: 60,
            login_attempts_per_account_per_minute: 10,
            joins_per_account_per_minute: 60,
            login_limit_tracked_keys: 65_536,
            metrics_address: None,
            cors_allowed_origins: Vec::new(),
            http_header_timeout_ms: 10_000,
            http_request_timeout_ms: 30_000,
            http_body_limit_bytes: 1_048_576,
            http_max_connections: 512,
            http_connection_wait_ms: 1_000,
            http_max_connections_per_address: 64,
            max_spaces_per_user: 100,
            max_elements_per_space: 5_000,
            spawn: SpawnPolicy::Plaza,
            transport: super::game_transport::TransportKind::EventLoop,
            log_format: crate::logging::LogFormat::Text,
            drain_ms: 0,
            instance_idle_grace_ms: 60_000,
            max_instances: 500,
            simulation_threads: 2,
            instance_starts_per_account_per_minute: 10,
        }
    }
}

impl ServeTable {
    pub(crate) fn certificate_validity(&self) -> Duration {
        Duration::from_secs(u64::from(self.certificate_validity_days) * 86_400)
    }

    /// Password hashing, login limits and session lifetimes, from these
    /// settings.
    pub(crate) fn logins(&self) -> crate::http::sessions::Logins {
        crate::http::sessions::Logins {
            passwords: crate::http::passwords::PasswordPool::for_this_machine(),
            limits: std::sync::Arc::new(crate::http::rate_limit::LoginLimits::new(
                crate::http::rate_limit::LoginLimitSettings {
                    per_address_per_minute: self.login_attempts_per_address_per_minute,
                    per_account_per_minute: self.login_attempts_per_account_per_minute,
                    joins_per_account_per_minute: self.joins_per_account_per_minute,
                    tracked_keys: self.login_limit_tracked_keys,
                },
            )),
            access_token_seconds: self.access_token_seconds,
            refresh_token_seconds: self.refresh_token_seconds,
        }
    }

    fn validate_logins(&self) -> anyhow::Result<()> {
        if !(60..=86_400).contains(&self.access_token_seconds) {
            bail!(
                "[serve] access_token_seconds is {}, it must be within 60..=86400",
                self.access_token_seconds
            );
        }
        if !(self.access_token_seconds..=365 * 86_400).contains(&self.refresh_token_seconds) {
            bail!(
                "[serve] refresh_token_seconds is {}, it must be within \
                 access_token_seconds..=31536000",
                self.refresh_token_seconds
            );
        }
        for (name, value) in [
            (
                "login_attempts_per_address_per_minute",
                self.login_attempts_per_address_per_minute,
            ),
            (
                "login_attempts_per_account_per_minute",
                self.login_attempts_per_account_per_minute,
            ),
            (
                "joins_per_account_per_minute",
                self.joins_per_account_per_minute,
            ),
        ] {
            if !(1..=1_000_000).contains(&value) {
                bail!("[serve] {name} is {value}, it must be within 1..=1000000");
            }
        }
        if !(1..=10_000_000).contains(&self.login_limit_tracked_keys) {
            bail!(
                "[serve] login_limit_tracked_keys is {}, it must be within 1..=10000000",
                self.login_limit_tracked_keys
            );
        }
        Ok(())
    }
}

/// Everything `serve` runs with, validated.
#[derive(Debug, Clone)]
pub(crate) struct ServeSettings {
    pub(crate) serve: ServeTable,
    pub(crate) sim: SimConfig,
    pub(crate) netcode: NetcodeConfig,
    pub(crate) voice: super::voice::VoiceTable,
}

fn env_address(name: &str) -> anyhow::Result<Option<SocketAddr>> {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .map(Some)
            .with_context(|| format!("{name}={text:?} is not an address like 127.0.0.1:4433")),
        Err(_) => Ok(None),
    }
}

impl ServeArgs {
    pub(crate) fn settings(&self) -> anyhow::Result<ServeSettings> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let mut settings = ServeSettings {
            serve: file.serve,
            sim: file.sim,
            netcode: file.netcode,
            voice: file.voice,
        };
        if let Some(address) = env_address("MERIDIAN_GAME_ADDRESS")? {
            settings.serve.game_address = address;
        }
        if let Some(address) = env_address("MERIDIAN_HTTP_ADDRESS")? {
            settings.serve.http_address = address;
        }
        if let Ok(url) = std::env::var("MERIDIAN_DATABASE_URL") {
            settings.serve.database_url = url;
        }
        if let Some(url) = &self.database_url {
            settings.serve.database_url = url.clone();
        }
        if let Ok(secret) = std::env::var("MERIDIAN_TOKEN_SECRET") {
            settings.serve.token_secret = Some(secret);
        }
        if let Some(address) = self.game_address {
            settings.serve.game_address = address;
        }
        if let Some(address) = self.http_address {
            settings.serve.http_address = address;
        }
        if let Some(rate) = self.tick_rate {
            settings.sim.tick_rate_hz = rate;
        }
        if let Some(size) = self.world_size {
            settings.sim.world_width = size;
            settings.sim.world_height = size;
        }
        if let Some(zones) = &self.zones {
            settings.serve.zones.clone_from(zones);
        }
        if self.dev {
            settings.serve.dev_tokens = true;
        }
        if let Ok(id) = std::env::var("MERIDIAN_SHARD_ID") {
            let id = id
                .parse()
                .with_context(|| format!("MERIDIAN_SHARD_ID={id:?} is not a number"))?;
            settings.serve.shard_id = Some(id);
        }
        if let Ok(url) = std::env::var("MERIDIAN_REDIS_URL") {
            settings.serve.redis_url = Some(url);
        }
        if self.shard_id.is_some() {
            settings.serve.shard_id = self.shard_id;
        }
        if let Some(shards) = self.shards {
            settings.serve.shards = shards;
        }
        if let Some(url) = &self.redis_url {
            settings.serve.redis_url = Some(url.clone());
        }
        if let Some(address) = self.link_address {
            settings.serve.link_address = address;
        }
        if let Some(name) = &self.cluster_name {
            settings.serve.cluster_name.clone_from(name);
        }
        if let Some(address) = env_address("MERIDIAN_METRICS_ADDRESS")? {
            settings.serve.metrics_address = Some(address);
        }
        if let Some(address) = self.metrics_address {
            settings.serve.metrics_address = Some(address);
        }
        if let Ok(origins) = std::env::var("MERIDIAN_CORS_ALLOWED_ORIGINS") {
            settings.serve.cors_allowed_origins = origins
                .split(',')
                .map(str::trim)
                .filter(|origin| !origin.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if !self.cors_allowed_origins.is_empty() {
            settings
                .serve
                .cors_allowed_origins
                .clone_from(&self.cors_allowed_origins);
        }
        if let Some(spawn) = self.spawn {
            settings.serve.spawn = spawn;
        }
        if let Some(transport) = self.transport {
            settings.serve.transport = transport;
        }
        if let Some(format) = self.log_format.or(crate::logging::LogFormat::from_env()?) {
            settings.serve.log_format = format;
        }
        settings.validate()?;
        Ok(settings)
    }
}

impl ServeSettings {
    /// The zone map the settings describe.
    pub(crate) fn zone_map(&self) -> anyhow::Result<ZoneMap> {
        let (columns, rows) = self
            .serve
            .zones
            .split_once('x')
            .and_then(|(c, r)| Some((c.trim().parse::<u32>().ok()?, r.trim().parse::<u32>().ok()?)))
            .filter(|(c, r)| (1..=16).contains(c) && (1..=16).contains(r))
            .with_context(|| {
                format!(
                    "[serve] zones is {:?}, it must be COLUMNSxROWS with 1 to 16 each",
                    self.serve.zones
                )
            })?;
        let zone_size = self.sim.world_width / columns as f32;
        let height = self.sim.world_height / rows as f32;
        if (zone_size - height).abs() > 0.01 {
            bail!(
                "zones are square: world_width / columns ({zone_size} m) must equal \
                 world_height / rows ({height} m)"
            );
        }
        ZoneMap::new(ZoneMapConfig {
            columns,
            rows,
            zone_size,
            handoff_margin: 2.0_f32.min(zone_size / 4.0),
        })
        .context("invalid zone map")
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.zone_map()?;
        self.sim.validate().context("invalid [sim] settings")?;
        self.netcode
            .validate()
            .context("invalid [netcode] settings")?;
        self.voice.validate()?;
        super::live_settings::check_datagram_rate(&self.sim, &self.netcode)
            .map_err(|why| anyhow::anyhow!("invalid [sim] tick_rate_hz: {why}"))?;
        if !(1..=13).contains(&self.serve.certificate_validity_days) {
            bail!(
                "[serve] certificate_validity_days is {}, it must be within 1..=13 \
                 (browsers pin only short-lived certificates)",
                self.serve.certificate_validity_days
            );
        }
        if !(100..=600_000).contains(&self.serve.checkpoint_interval_ms) {
            bail!(
                "[serve] checkpoint_interval_ms is {}, it must be within 100..=600000",
                self.serve.checkpoint_interval_ms
            );
        }
        let url = &self.serve.database_url;
        if !(url.starts_with("sqlite://")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            bail!("the database URL {url:?} must start with sqlite:// or postgres://");
        }
        self.serve.validate_logins()?;
        if let Some(secret) = &self.serve.token_secret
            && secret.len() < 32
        {
            bail!("the token secret must be at least 32 bytes long");
        }
        if let Some(shard) = self.serve.shard_id {
            if self.serve.dev_tokens {
                bail!(
                    "development tokens (--dev or [serve] dev_tokens) are never on in cluster \
                     mode (--shard-id): players join with accounts"
                );
            }
            self.validate_cluster(shard)?;
        }
        if self.serve.game_address.port() != 0 && self.serve.game_address == self.serve.http_address
        {
            bail!("the game and HTTP addresses must differ");
        }
        self.validate_http()?;
        self.validate_quotas()?;
        Ok(())
    }

    fn validate_quotas(&self) -> anyhow::Result<()> {
        let quotas = [
            ("max_spaces_per_user", self.serve.max_spaces_per_user),
            ("max_elements_per_space", self.serve.max_elements_per_space),
        ];
        for (name, value) in quotas {
            if !(1..=1_000_000).contains(&value) {
                bail!("[serve] {name} is {value}, it must be within 1..=1000000");
            }
        }
        Ok(())
    }
}

impl ServeSettings {
    fn validate_http(&self) -> anyhow::Result<()> {
        let serve = &self.serve;
        let ranges: [(&str, u64, std::ops::RangeInclusive<u64>); 11] = [
            (
                "http_header_timeout_ms",
                serve.http_header_timeout_ms,
                100..=300_000,
            ),
            (
                "http_request_timeout_ms",
                serve.http_request_timeout_ms,
                100..=600_000,
            ),
            (
                "http_body_limit_bytes",
                serve.http_body_limit_bytes,
                1_024..=67_108_864,
            ),
            (
                "http_max_connections",
                u64::from(serve.http_max_connections),
                1..=65_536,
            ),
            (
                "http_connection_wait_ms",
                serve.http_connection_wait_ms,
                0..=60_000,
            ),
            (
                "http_max_connections_per_address",
                u64::from(serve.http_max_connections_per_address),
                1..=65_536,
            ),
            ("drain_ms", serve.drain_ms, 0..=600_000),
            (
                "instance_idle_grace_ms",
                serve.instance_idle_grace_ms,
                0..=86_400_000,
            ),
            ("max_instances", u64::from(serve.max_instances), 1..=100_000),
            (
                "simulation_threads",
                u64::from(serve.simulation_threads),
                1..=64,
            ),
            (
                "instance_starts_per_account_per_minute",
                u64::from(serve.instance_starts_per_account_per_minute),
                1..=10_000,
            ),
        ];
        for (name, value, range) in ranges {
            if !range.contains(&value) {
                bail!(
                    "[serve] {name} is {value}, it must be within {}..={}",
                    range.start(),
                    range.end()
                );
            }
        }
        for origin in &serve.cors_allowed_origins {
            if !crate::http::limits::valid_origin(origin) {
                bail!(
                    "[serve] cors_allowed_origins has {origin:?}: each must be an origin \
                     like https://play.example or http://127.0.0.1:3000 (scheme, host, \
                     optional port; no path, no wildcard)"
                );
            }
        }
        if let Some(metrics) = serve.metrics_address
            && metrics.port() != 0
            && (metrics == serve.http_address || metrics == serve.game_address)
        {
            bail!("the metrics address must differ from the HTTP and game addresses");
        }
        Ok(())
    }

    fn validate_cluster(&self, shard: u32) -> anyhow::Result<()> {
        let shards = self.serve.shards;
        if !(1..=64).contains(&shards) || !(1..=shards).contains(&shard) {
            bail!(
                "--shard-id is {shard} of --shards {shards}: it must be within 1..=shards (at most 64)"
            );
        }
        if self.serve.redis_url.is_none() {
            bail!("a shard needs --redis-url (MERIDIAN_REDIS_URL): shards find each other there");
        }
        if self.serve.token_secret.is_none() {
            bail!(
                "a shard needs the cluster's shared secret in MERIDIAN_TOKEN_SECRET \
                 (or [serve] token_secret): shards prove who they are with it"
            );
        }
        if !self.serve.database_url.starts_with("postgres") {
            bail!(
                "a shard needs a PostgreSQL database shared by the cluster (--database-url postgres://...)"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
