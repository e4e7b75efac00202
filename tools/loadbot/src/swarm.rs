//! Runs a swarm: logs each bot in with its own account (signing it up the first
//! time), asks the space's join endpoint for a fresh realtime token before every
//! connection, drives every bot's connection from one client loop thread
//! (`meridian_netcode::transport::client_loop`), and gathers the report.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use meridian_netcode::driver::socket::bind_udp;
use meridian_netcode::driver::tls::{TlsError, parse_sha256_hex, pinned_client_config};
use meridian_netcode::transport::client_loop::{ClientLoopStats, ClientLoopThread};
use thiserror::Error;

use crate::account::{self, AccountError, Credentials, Session};
use crate::bot::{BehaviourKind, Bot};
use crate::cpu::{self, CpuUse};
use crate::http;
use crate::report::{Percentiles, Report, ServerTick};
use crate::roster::{Outcome, Progress, Roster, Routes};

/// The client loop thread's name (what `loadbot_loop_cpu_pct` measures).
pub const LOOP_THREAD: &str = "loadbot-loop";

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
    /// Client UDP sockets to spread the bots over (per address family), all
    /// read by the one loop thread.
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
    /// The client TLS configuration could not be made.
    #[error("cannot set up client TLS: {0}")]
    Tls(#[from] TlsError),
    /// A client socket or the loop thread could not be started.
    #[error("cannot start the client loop: {0}")]
    Loop(std::io::Error),
}

/// Runs the swarm to the end and reports.
pub async fn run(config: SwarmConfig) -> Result<Report, SwarmError> {
    let started = Instant::now();
    let idle_timeout = Duration::from_secs(10);
    let run_ends = started + config.ramp_up + config.duration;
    let endpoints = config.endpoints.max(1);
    // Each server has its own certificate: one client configuration pinned to
    // each. The first bot's account asks each server which space it hosts and
    // what to pin.
    let (mut configs, mut spaces, mut families) = (Vec::new(), Vec::new(), [false; 2]);
    let mut prober = Session::new(Credentials::for_bot(&config.accounts, 0));
    for server in &config.servers {
        let access = prober.access_token(*server, run_ends).await?;
        let space = account::hosted_space(*server, &access, run_ends).await?;
        let probe = prober.join(*server, space, run_ends).await?;
        spaces.push(space);
        let hash = parse_sha256_hex(&probe.certificate_sha256)
            .ok_or_else(|| SwarmError::BadJoin("certificate_sha256 is not 64 hex digits".into()))?;
        configs.push(pinned_client_config(hash, idle_timeout)?);
        families[usize::from(probe.game_address.is_ipv6())] = true;
    }
    // `endpoints` sockets per address family in use, on loopback as before.
    let mut sockets = Vec::new();
    let mut socket_groups = [0; 2];
    for (family, bind) in [
        SocketAddr::from(([127, 0, 0, 1], 0)),
        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0)),
    ]
    .into_iter()
    .enumerate()
    {
        socket_groups[family] = sockets.len();
        if families[family] {
            for _ in 0..endpoints {
                sockets.push(bind_udp(bind).map_err(SwarmError::Loop)?);
            }
        }
    }
    let (ended_sender, mut ended) = tokio::sync::mpsc::unbounded_channel();
    let client_loop = ClientLoopThread::spawn(LOOP_THREAD, sockets, move |run| {
        // The receiver outlives the loop; a send fails only after the run.
        let _ = ended_sender.send(run);
    })
    .map_err(SwarmError::Loop)?;
    let progress = Arc::new(Progress::default());
    let tick = Duration::from_secs_f64(1.0 / f64::from(config.tick_rate_hz.max(1)));
    let everyone_in_by = started + config.ramp_up;
    let deadline = everyone_in_by + config.duration;
    let metrics = if config.metrics.is_empty() {
        config.servers.clone()
    } else {
        config.metrics.clone()
    };
    // The servers' CPU and loadbot's own over the measurement window: after
    // the ramp-up, to the end.
    let server_cpu_window = tokio::spawn(server_cpu_pct(metrics.clone(), everyone_in_by, deadline));
    let own_cpu_window = tokio::spawn(own_cpu(everyone_in_by, deadline));
    let bots = (0..config.bots)
        .map(|index| {
            let kind = config.behaviours[index % config.behaviours.len().max(1)];
            let seed = config
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(index as u64);
            Roster::bot(kind, seed, config.seed, config.zone_size, &progress)
        })
        .collect::<Vec<Bot>>();
    let routes = Routes {
        servers: config.servers.clone(),
        spaces,
        configs,
        socket_groups,
        endpoints,
        accounts: config.accounts.clone(),
        reconnect: config.reconnect,
    };
    let mut roster = Roster::new(
        routes,
        bots,
        client_loop.inbox().clone(),
        progress.clone(),
        tick,
        deadline,
    );
    for index in 0..config.bots {
        let offset = config
            .ramp_up
            .mul_f64(index as f64 / config.bots.max(1) as f64);
        roster.start(index, started + offset);
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
    let outcomes = roster.run(&mut ended).await;
    if let Some(reporter) = reporter {
        reporter.abort();
    }
    let server_tick = server_tick(metrics[0]).await;
    let server_cpu = server_cpu_window.await.ok().flatten();
    let own_cpu = own_cpu_window.await.ok().unwrap_or_default();
    // Every run has ended: the loop only closes what is still draining.
    let loop_stats = tokio::task::spawn_blocking(move || client_loop.shutdown())
        .await
        .map_err(|error| SwarmError::Loop(std::io::Error::other(error)))?
        .map_err(SwarmError::Loop)?;
    if config.progress {
        eprintln!("{}", loop_line(&loop_stats));
    }
    let mut report = summarize(&config, outcomes, server_tick, started.elapsed(), tick);
    report.server_cpu_pct = server_cpu;
    report.loadbot_cpu_pct = own_cpu.process_pct;
    report.loadbot_loop_cpu_pct = own_cpu.thread_pct;
    Ok(report)
}

/// The client loop's counters, for people.
fn loop_line(stats: &ClientLoopStats) -> String {
    format!(
        "loadbot client loop: {} connections, {} turns, {} datagrams in {} receive calls, \
         {} datagrams out in {} send calls, {} sends dropped (buffer full), {} datagrams ignored",
        stats.connections,
        stats.turns,
        stats.udp.datagrams_received,
        stats.udp.receive_calls,
        stats.udp.datagrams_sent,
        stats.udp.send_calls,
        stats.udp.send_would_block,
        stats.datagrams_ignored
    )
}

/// loadbot's own CPU from `start` to `end`: the process and the loop thread.
async fn own_cpu(start: Instant, end: Instant) -> CpuUse {
    tokio::time::sleep_until(tokio::time::Instant::from_std(start)).await;
    let first = cpu::sample(LOOP_THREAD);
    tokio::time::sleep_until(tokio::time::Instant::from_std(end)).await;
    let last = cpu::sample(LOOP_THREAD);
    match (first, last) {
        (Some(first), Some(last)) => cpu::between(first, last),
        _ => CpuUse::default(),
    }
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
