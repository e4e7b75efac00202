//! Runs a swarm: logs each bot in with its own account (signing it up the first
//! time), asks the space's join endpoint for a fresh realtime token before every
//! connection, drives every bot's connection from one client loop thread
//! (`meridian_netcode::transport::client_loop`), and gathers the report.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use meridian_netcode::driver::socket::bind_udp;
use meridian_netcode::driver::tls::{TlsError, parse_sha256_hex, pinned_client_config};
use meridian_netcode::transport::client_loop::{ClientLoopStats, ClientLoopThread};
use thiserror::Error;

use crate::account::{self, AccountError, Credentials, NewSpace, Session};
use crate::bot::{BehaviourKind, Bot};
use crate::cpu::{self, CpuUse};
use crate::http;
use crate::report::{BehaviourRow, Report, ServerTick};
use crate::rooms::{Destination, RoomJoins};
use crate::roster::{Outcome, Progress, Roster, Routes};
use crate::samples::{Recorder, SampleError, Samples, Timeline};
use crate::voice::{BotVoice, VoiceLoad, VoiceThread};

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
    /// Which bots turn voice on and speak (none by default).
    pub voice: VoiceLoad,
}

/// Why a swarm could not start at all.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SwarmError {
    /// No server was named.
    #[error("no server to join")]
    NoServer,
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
    /// The bots' samples could not be put together.
    #[error("cannot put the samples together: {0}")]
    Samples(SampleError),
}

/// Runs the swarm into each server's hosted space to the end and reports.
pub async fn run(config: SwarmConfig) -> Result<Report, SwarmError> {
    run_into(config, Destination::Hosted).await
}

/// Runs the swarm into `destination` to the end and reports. A space other
/// than the hosted one (named, or made by the first bot's account) is the
/// same id on every server.
pub async fn run_into(config: SwarmConfig, destination: Destination) -> Result<Report, SwarmError> {
    let started = Instant::now();
    let idle_timeout = Duration::from_secs(10);
    let run_ends = started + config.ramp_up + config.duration;
    let endpoints = config.endpoints.max(1);
    // Each server has its own certificate: one client configuration pinned to
    // each. The first bot's account asks each server which space it hosts and
    // what to pin.
    // The probe joins the hosted world: a join of another space would seat
    // the first bot and start a room before the run times it.
    let (mut configs, mut spaces, mut families) = (Vec::new(), Vec::new(), [false; 2]);
    let mut prober = Session::new(Credentials::for_bot(&config.accounts, 0));
    let chosen = match destination {
        Destination::Hosted => None,
        Destination::Space(id) => Some(id),
        Destination::Create(shape) => {
            let Some(&server) = config.servers.first() else {
                return Err(SwarmError::NoServer);
            };
            let access = prober.access_token(server, run_ends).await?;
            let space = NewSpace {
                name: format!("{} rooms", config.accounts),
                width: shape.width,
                height: shape.height,
                capacity: shape.capacity,
            };
            Some(account::create_space(server, &access, &space, run_ends).await?)
        }
    };
    for server in &config.servers {
        let access = prober.access_token(*server, run_ends).await?;
        let hosted = account::hosted_space(*server, &access, run_ends).await?;
        let probe = prober.join(*server, hosted, run_ends).await?;
        spaces.push(chosen.unwrap_or(hosted));
        let hash = parse_sha256_hex(&probe.certificate_sha256)
            .ok_or_else(|| SwarmError::BadJoin("certificate_sha256 is not 64 hex digits".into()))?;
        configs.push(pinned_client_config(hash, idle_timeout)?);
        families[usize::from(probe.game_address.is_ipv6())] = true;
    }
    // `endpoints` sockets per address family in use, on the unspecified
    // address: the system picks each datagram's source for its server, so
    // servers on other hosts are reached as well as those on loopback.
    let mut sockets = Vec::new();
    let mut socket_groups = [0; 2];
    for (family, bind) in [
        SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)),
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
    let server_tick_window = tokio::spawn(server_tick(metrics[0], everyone_in_by, deadline));
    let voice_delay_window = config.voice.enabled().then(|| {
        tokio::spawn(server_quantiles(
            metrics[0],
            VOICE_FORWARD_DELAY,
            everyone_in_by,
            deadline,
        ))
    });
    let own_cpu_window = tokio::spawn(own_cpu(everyone_in_by, deadline));
    // One sample store per behaviour and one timeline, shared by the bots.
    let mut samples: BehaviourSamples = Vec::new();
    for &kind in &config.behaviours {
        if !samples.iter().any(|(known, _)| *known == kind) {
            samples.push((kind, Arc::default()));
        }
    }
    let timeline: Arc<Mutex<Timeline>> = Arc::default();
    let voice_thread = if config.voice.enabled() {
        Some(VoiceThread::spawn().map_err(SwarmError::Loop)?)
    } else {
        None
    };
    let bots = (0..config.bots)
        .map(|index| {
            let kind = config.behaviours[index % config.behaviours.len().max(1)];
            let seed = config
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(index as u64);
            let shared = samples
                .iter()
                .find(|(known, _)| *known == kind)
                .map(|(_, shared)| shared.clone())
                .unwrap_or_default();
            let recorder = Recorder::shared(started, shared, timeline.clone());
            let mut bot = Roster::bot(
                kind,
                seed,
                config.seed,
                config.zone_size,
                &progress,
                recorder,
            );
            if let (Some(thread), Some(speaker)) =
                (&voice_thread, config.voice.role(index, config.bots))
            {
                bot.voice = Some(BotVoice::new(
                    thread.hub().clone(),
                    speaker,
                    config.voice.slots.max(1),
                ));
            }
            bot
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
    let mut voice = voice_thread.map(VoiceThread::finish);
    if let Some(reporter) = reporter {
        reporter.abort();
    }
    let server_tick = server_tick_window.await.unwrap_or_default();
    if let (Some(voice), Some(window)) = (voice.as_mut(), voice_delay_window) {
        let delay = window.await.unwrap_or_default();
        voice.server_forward_ms_p50 = delay.p50;
        voice.server_forward_ms_p99 = delay.p99;
    }
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
    let timeline = timeline
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut report =
        summarize(&config, outcomes, &samples, timeline).map_err(SwarmError::Samples)?;
    report.server_tick_ms = server_tick;
    report.duration_s = started.elapsed().as_secs_f64();
    report.server_cpu_pct = server_cpu;
    report.loadbot_cpu_pct = own_cpu.process_pct;
    report.loadbot_loop_cpu_pct = own_cpu.thread_pct;
    report.voice = voice;
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

/// The first server's tick time from `start` to `end`: quantiles of what
/// its `meridian_tick_duration_seconds` histogram counted in between (since
/// it started, if its metrics could not be read at `start`), milliseconds.
async fn server_tick(server: SocketAddr, start: Instant, end: Instant) -> ServerTick {
    server_quantiles(server, "meridian_tick_duration_seconds", start, end).await
}

/// The server's histogram of the delay each forwarded voice copy spent
/// inside it (from the speaker's datagram read to the copy handed to the
/// kernel).
const VOICE_FORWARD_DELAY: &str = "meridian_voice_forward_delay_seconds";

/// The median and p99 of what the first server's histogram `name` counted
/// from `start` to `end` (since it started, if its metrics could not be read
/// at `start`), milliseconds.
async fn server_quantiles(
    server: SocketAddr,
    name: &'static str,
    start: Instant,
    end: Instant,
) -> ServerTick {
    tokio::time::sleep_until(tokio::time::Instant::from_std(start)).await;
    let before = match http::get(server, "/metrics").await {
        Ok(text) => http::histogram_buckets(&text, name),
        Err(_) => Vec::new(),
    };
    tokio::time::sleep_until(tokio::time::Instant::from_std(end)).await;
    let Ok(metrics) = http::get(server, "/metrics").await else {
        return ServerTick::default();
    };
    let after = http::histogram_buckets(&metrics, name);
    let quantile =
        |q: f64| http::histogram_quantile(q, &before, &after).map(|seconds| seconds * 1e3);
    ServerTick {
        p99: quantile(0.99),
        p50: quantile(0.5),
    }
}

/// One shared sample store per behaviour of the run.
type BehaviourSamples = Vec<(BehaviourKind, Arc<Mutex<Samples>>)>;

fn summarize(
    config: &SwarmConfig,
    outcomes: Vec<Outcome>,
    samples: &BehaviourSamples,
    timeline: Timeline,
) -> Result<Report, SampleError> {
    let mut rows: Vec<BehaviourRow> = samples
        .iter()
        .map(|(kind, shared)| {
            let mut row = BehaviourRow::new(*kind);
            row.histograms = shared
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            row
        })
        .collect();
    let mut report = Report {
        joins: RoomJoins::of(outcomes.iter().filter_map(|outcome| {
            let welcomed = outcome.bot.as_ref().and_then(|bot| bot.record.welcomed_at);
            outcome.first_join.map(|join| (join, welcomed))
        })),
        ..Report::default()
    };
    for (index, outcome) in outcomes.into_iter().enumerate() {
        let kind = config.behaviours[index % config.behaviours.len().max(1)];
        let Some(row) = rows.iter_mut().find(|row| row.behaviour == kind) else {
            continue;
        };
        row.bots += 1;
        if let Some(error) = outcome.error {
            report.note_error(error);
        }
        let (Some(bot), Some(stats)) = (outcome.bot, outcome.client_stats) else {
            row.failed += 1;
            continue;
        };
        row.connected += 1;
        row.dropped += usize::from(outcome.dropped);
        row.decode_errors += stats.decode_errors;
        row.snapshots += stats.snapshots;
        row.chat_received += bot.record.chat_received;
        row.max_view = row.max_view.max(bot.record.max_view);
        row.jumps += bot.record.jumps;
        row.reconnects += bot.record.reconnects;
        row.moves += bot.record.moves;
        row.largest_freeze_ms = row.largest_freeze_ms.max(bot.record.largest_freeze_ms);
        if outcome.seconds_connected > 1.0 {
            row.histograms
                .bytes_per_client_per_s
                .record(stats.bytes_in as f64 / outcome.seconds_connected);
        }
    }
    report.behaviours = rows;
    report.timeline = timeline;
    report.settle()?;
    Ok(report)
}
