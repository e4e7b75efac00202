//! Runs a swarm: logs each bot in with its own account (signing it up the first
//! time), asks the space's join endpoint for a fresh realtime token before every
//! connection, connects it over QUIC, drives it for the run, and gathers the
//! report.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use meridian_netcode::driver::client::{ClientConnection, Ending, QuinnEndpoint, client_endpoint};
use meridian_netcode::driver::tls::parse_sha256_hex;
use meridian_netcode::{Client, ClientPhase};
use thiserror::Error;

use crate::account::{self, AccountError, Credentials, Join, Session};
use crate::bot::{BehaviourKind, Bot};
use crate::http;
use crate::report::{Percentiles, Report, ServerTick};

/// How a swarm runs.
#[derive(Debug, Clone)]
pub struct SwarmConfig {
    /// The servers' HTTP addresses (join endpoints and metrics): the shards of
    /// a cluster, or one server. Bots join them round robin.
    pub servers: Vec<SocketAddr>,
    /// Where each server serves `/metrics`, in the order of `servers`; empty
    /// means on the servers' own addresses.
    pub metrics: Vec<SocketAddr>,
    /// The world's zone size in metres, for the `cross` behaviour.
    pub zone_size: Option<f32>,
    /// A bot that loses its connection joins again through the next server.
    pub reconnect: bool,
    /// The bots' accounts: bot `i` is `{accounts}-{i}` (see
    /// [`Credentials::for_bot`]), signed up if it does not exist yet.
    pub accounts: String,
    /// How many bots.
    pub bots: usize,
    /// How long each bot stays, after the ramp-up.
    pub duration: Duration,
    /// Bots start evenly over this time.
    pub ramp_up: Duration,
    /// Which behaviours, assigned round robin.
    pub behaviours: Vec<BehaviourKind>,
    /// Client UDP sockets to spread the bots over.
    pub endpoints: usize,
    /// The server's tick rate (inputs are sent once per tick).
    pub tick_rate_hz: u32,
    /// Seed for the bots' choices.
    pub seed: u64,
    /// Print progress to stderr once a second.
    pub progress: bool,
}

/// Why a swarm could not start at all.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SwarmError {
    /// Logging in or joining failed.
    #[error("cannot join the server with an account: {0}")]
    Join(#[from] AccountError),
    /// The join answer made no sense.
    #[error("the join endpoint answered something unexpected: {0}")]
    BadJoin(String),
    /// A client socket could not be opened.
    #[error("cannot open a client endpoint: {0}")]
    Endpoint(#[from] meridian_netcode::driver::client::EndpointError),
}

#[derive(Debug, Default)]
struct Progress {
    connected: Arc<AtomicUsize>,
    failed: AtomicUsize,
    dropped: AtomicUsize,
    snapshots: Arc<AtomicU64>,
}

/// What one bot brings home.
struct Outcome {
    bot: Option<Bot>,
    client_stats: Option<meridian_netcode::ClientStats>,
    seconds_connected: f64,
    error: Option<String>,
    dropped: bool,
}

/// Runs the swarm to the end and reports.
pub async fn run(config: SwarmConfig) -> Result<Report, SwarmError> {
    let started = Instant::now();
    let idle_timeout = Duration::from_secs(10);
    let run_ends = started + config.ramp_up + config.duration;
    // Each server has its own certificate: sockets pinned to each. The first
    // bot's account asks each server which space it hosts and what to pin.
    let mut endpoints = Vec::new();
    let mut spaces = Vec::new();
    let mut prober = Session::new(Credentials::for_bot(&config.accounts, 0));
    for server in &config.servers {
        let access = prober.access_token(*server, run_ends).await?;
        let space = account::hosted_space(*server, &access, run_ends).await?;
        let probe = prober.join(*server, space, run_ends).await?;
        spaces.push(space);
        let hash = parse_sha256_hex(&probe.certificate_sha256)
            .ok_or_else(|| SwarmError::BadJoin("certificate_sha256 is not 64 hex digits".into()))?;
        let bind = if probe.game_address.is_ipv6() {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0))
        } else {
            SocketAddr::from(([127, 0, 0, 1], 0))
        };
        endpoints.push(
            (0..config.endpoints.max(1))
                .map(|_| client_endpoint(bind, hash, idle_timeout))
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    let endpoints = Arc::new(endpoints);
    let spaces = Arc::new(spaces);
    let progress = Arc::new(Progress::default());
    let tick = Duration::from_secs_f64(1.0 / f64::from(config.tick_rate_hz.max(1)));
    let everyone_in_by = started + config.ramp_up;
    let metrics = if config.metrics.is_empty() {
        config.servers.clone()
    } else {
        config.metrics.clone()
    };
    // The servers' CPU over the measurement window: after the ramp-up, to the end.
    let cpu_window = tokio::spawn(server_cpu_pct(
        metrics.clone(),
        everyone_in_by,
        everyone_in_by + config.duration,
    ));
    let mut tasks = Vec::with_capacity(config.bots);
    for index in 0..config.bots {
        let offset = config
            .ramp_up
            .mul_f64(index as f64 / config.bots.max(1) as f64);
        let kind = config.behaviours[index % config.behaviours.len().max(1)];
        let progress = progress.clone();
        let route = Route {
            servers: config.servers.clone(),
            endpoints: endpoints.clone(),
            spaces: spaces.clone(),
            accounts: config.accounts.clone(),
            first: index,
            reconnect: config.reconnect,
            zone_size: config.zone_size,
        };
        let deadline = everyone_in_by + config.duration;
        let seed = config
            .seed
            .wrapping_mul(1_000_003)
            .wrapping_add(index as u64);
        let hot_spots = config.seed;
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(started + offset)).await;
            run_bot(route, kind, seed, hot_spots, tick, deadline, &progress).await
        }));
    }
    let reporter = config.progress.then(|| {
        let progress = progress.clone();
        let total = config.bots;
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let snapshots = progress.snapshots.load(Ordering::Relaxed);
                eprintln!(
                    "loadbot {:>5.0}s: {} of {} connected, {} failed, {} dropped, {} snapshots/s",
                    started.elapsed().as_secs_f64(),
                    progress.connected.load(Ordering::Relaxed),
                    total,
                    progress.failed.load(Ordering::Relaxed),
                    progress.dropped.load(Ordering::Relaxed),
                    snapshots - last
                );
                last = snapshots;
            }
        })
    });
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.unwrap_or_else(|error| Outcome {
            bot: None,
            client_stats: None,
            seconds_connected: 0.0,
            error: Some(format!("bot task failed: {error}")),
            dropped: false,
        }));
    }
    if let Some(reporter) = reporter {
        reporter.abort();
    }
    let server_tick = server_tick(metrics[0]).await;
    let server_cpu = cpu_window.await.ok().flatten();
    for endpoint in endpoints.iter().flatten() {
        endpoint.wait_idle().await;
    }
    let mut report = summarize(&config, outcomes, server_tick, started.elapsed(), tick);
    report.server_cpu_pct = server_cpu;
    Ok(report)
}

/// The servers' process CPU from `start` to `end`, percent of one core
/// (summed over the servers); none if any server's metrics could not be read
/// at either end.
async fn server_cpu_pct(metrics: Vec<SocketAddr>, start: Instant, end: Instant) -> Option<f64> {
    async fn total(metrics: &[SocketAddr]) -> Option<f64> {
        let mut sum = 0.0;
        for address in metrics {
            let text = http::get(*address, "/metrics").await.ok()?;
            sum += http::prometheus_value(&text, "process_cpu_seconds_total ")?;
        }
        Some(sum)
    }
    tokio::time::sleep_until(tokio::time::Instant::from_std(start)).await;
    let (first, opened) = (total(&metrics).await, Instant::now());
    tokio::time::sleep_until(tokio::time::Instant::from_std(end)).await;
    let (last, closed) = (total(&metrics).await, Instant::now());
    let seconds = closed.duration_since(opened).as_secs_f64();
    let used = last? - first?;
    (seconds > 0.0).then(|| used / seconds * 100.0)
}

/// Where a bot joins: its server first, then (reconnecting) the next ones.
struct Route {
    servers: Vec<SocketAddr>,
    endpoints: Arc<Vec<Vec<QuinnEndpoint>>>,
    /// The space each server hosts.
    spaces: Arc<Vec<i64>>,
    /// The accounts' prefix.
    accounts: String,
    /// The bot's index: its account and its first server.
    first: usize,
    reconnect: bool,
    zone_size: Option<f32>,
}

async fn run_bot(
    route: Route,
    kind: BehaviourKind,
    seed: u64,
    hot_spots: u64,
    tick: Duration,
    deadline: Instant,
    progress: &Progress,
) -> Outcome {
    let failed = |error: String| {
        progress.failed.fetch_add(1, Ordering::Relaxed);
        Outcome {
            bot: None,
            client_stats: None,
            seconds_connected: 0.0,
            error: Some(error),
            dropped: false,
        }
    };
    let mut bot = Bot::new(kind, seed, hot_spots);
    bot.zone_size = route.zone_size;
    bot.welcomed_counter = Some(progress.connected.clone());
    bot.snapshot_counter = Some(progress.snapshots.clone());
    let mut totals = meridian_netcode::ClientStats::default();
    let mut session = Session::new(Credentials::for_bot(&route.accounts, route.first));
    let mut attempt = 0;
    let ending = loop {
        if attempt > 0 && Instant::now() >= deadline {
            // Reconnecting failed until the run ended: the bot is dropped.
            break (Ending::TransportLost, ClientPhase::Closed);
        }
        let server_index = (route.first + attempt) % route.servers.len();
        let sockets = &route.endpoints[server_index];
        let endpoint = &sockets[route.first % sockets.len()];
        // A fresh realtime token for every connection: a server admits each
        // token once.
        let join: Join = match session
            .join(
                route.servers[server_index],
                route.spaces[server_index],
                deadline,
            )
            .await
        {
            Ok(join) => join,
            Err(error) if attempt == 0 => return failed(error.to_string()),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let connection =
            match ClientConnection::connect(endpoint, join.game_address, Duration::from_secs(10))
                .await
            {
                Ok(connection) => connection,
                Err(error) if attempt == 0 => return failed(error.to_string()),
                Err(_) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
        let mut client = Client::new(
            Instant::now(),
            join.token,
            Duration::from_secs(1),
            Duration::from_secs(10),
        );
        let ending = connection
            .drive(&mut client, &mut bot, tick, deadline)
            .await;
        let stats = client.stats();
        totals.snapshots += stats.snapshots;
        totals.decode_errors += stats.decode_errors;
        totals.bytes_in += stats.bytes_in;
        let finished = ending == Ending::Deadline && client.phase() == ClientPhase::Closed;
        if finished
            || !route.reconnect
            || Instant::now() >= deadline
            || bot.record.welcomed_at.is_none()
        {
            break (ending, client.phase());
        }
        bot.connection_lost(Instant::now());
        attempt += 1;
    };
    progress
        .snapshots
        .fetch_add(totals.snapshots, Ordering::Relaxed);
    let Some(welcomed) = bot.record.welcomed_at else {
        let reason = if bot.record.refused {
            "refused at hello"
        } else {
            "never welcomed"
        };
        return failed(format!("{reason} ({:?})", ending.0));
    };
    let dropped = ending.0 != Ending::Deadline || ending.1 != ClientPhase::Closed;
    if dropped {
        progress.dropped.fetch_add(1, Ordering::Relaxed);
    }
    let seconds_connected = welcomed.elapsed().as_secs_f64();
    let error = dropped.then(|| {
        format!(
            "dropped: {:?}, server said {:?}",
            ending.0, bot.record.disconnect
        )
    });
    Outcome {
        bot: Some(bot),
        client_stats: Some(totals),
        seconds_connected,
        error,
        dropped,
    }
}

async fn server_tick(server: SocketAddr) -> ServerTick {
    let Ok(metrics) = http::get(server, "/metrics").await else {
        return ServerTick::default();
    };
    let quantile = |q: &str| {
        http::prometheus_value(
            &metrics,
            &format!("meridian_tick_duration_window_seconds{{quantile=\"{q}\"}}"),
        )
        .map(|seconds| seconds * 1e3)
    };
    ServerTick {
        p99: quantile("0.99"),
        p50: quantile("0.5"),
    }
}

fn summarize(
    config: &SwarmConfig,
    outcomes: Vec<Outcome>,
    server_tick_ms: ServerTick,
    elapsed: Duration,
    tick: Duration,
) -> Report {
    let mut report = Report {
        bots: config.bots,
        server_tick_ms,
        duration_s: elapsed.as_secs_f64(),
        ..Report::default()
    };
    let (mut rtts, mut jitter, mut rates) = (Vec::new(), Vec::new(), Vec::new());
    let (mut steps, mut back, mut moved) = (Vec::new(), Vec::new(), Vec::new());
    let tick_ms = tick.as_secs_f64() * 1e3;
    for outcome in outcomes {
        if let Some(error) = outcome.error
            && report.errors.len() < 10
        {
            report.errors.push(error);
        }
        let (Some(bot), Some(stats)) = (outcome.bot, outcome.client_stats) else {
            report.failed += 1;
            continue;
        };
        report.connected += 1;
        report.dropped += usize::from(outcome.dropped);
        report.decode_errors += stats.decode_errors;
        report.snapshots += stats.snapshots;
        report.chat_received += bot.record.chat_received;
        report.max_view = report.max_view.max(bot.record.max_view);
        report.jumps += bot.record.jumps;
        report.reconnects += bot.record.reconnects;
        steps.extend(bot.record.own_steps_m.iter().map(|&m| f64::from(m)));
        back.extend(bot.record.back_after_ms.iter().map(|&ms| f64::from(ms)));
        moved.extend(
            bot.record
                .moved_across_reconnect_m
                .iter()
                .map(|&m| f64::from(m)),
        );
        rtts.extend(bot.record.round_trips_ms.iter().map(|&ms| f64::from(ms)));
        jitter.extend(
            bot.record
                .snapshot_intervals_ms
                .iter()
                .map(|&ms| (f64::from(ms) - tick_ms).abs()),
        );
        if outcome.seconds_connected > 1.0 {
            rates.push(stats.bytes_in as f64 / outcome.seconds_connected);
        }
    }
    report.rtt_ms = Percentiles::of(&mut rtts);
    report.snapshot_jitter_ms = Percentiles::of(&mut jitter);
    report.bytes_per_client_per_s = Percentiles::of(&mut rates);
    report.own_step_m = Percentiles::of(&mut steps);
    report.back_after_ms = Percentiles::of(&mut back);
    report.moved_across_reconnect_m = Percentiles::of(&mut moved);
    report
}
