//! `meridian serve`: a whole world in one process.
//!
//! With no arguments it runs one zone on embedded defaults: raw QUIC on
//! 127.0.0.1:4433 (ALPN `meridian/1`), HTTP on 127.0.0.1:8080 (health, Prometheus
//! metrics, and the development join endpoint that mints realtime tokens), and a
//! generated development certificate valid for at most 13 days, rotated at half
//! its life. Settings come from a TOML file (`[serve]`, `[sim]`, `[netcode]`),
//! then `MERIDIAN_*` environment variables, then flags; all are validated before
//! anything starts. SIGINT or SIGTERM stops it gracefully: every client is told
//! why, the zone thread ends, the endpoint closes.

pub(crate) mod announce;
pub(crate) mod build_info;
pub(crate) mod cluster;
pub(crate) mod drain;
pub(crate) mod elements;
pub(crate) mod game_transport;
pub(crate) mod hand_on;
pub(crate) mod histogram;
pub(crate) mod instance;
pub(crate) mod instance_leases;
pub(crate) mod instances;
pub(crate) mod keys;
pub(crate) mod ledger;
pub(crate) mod live;
pub(crate) mod live_settings;
pub(crate) mod moderation_orders;
pub(crate) mod own_thread;
pub(crate) mod persist;
pub(crate) mod process_metrics;
pub(crate) mod seats;
pub(crate) mod settings;
pub(crate) mod shard_loads;
pub(crate) mod sim_pool;
pub(crate) mod voice;
pub(crate) mod world_view;
pub(crate) mod zone_loop;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use game_transport::GameTransport;
use meridian_netcode::driver::admission::Admission;
use meridian_netcode::driver::server::{ConnectionIds, DriverCounters};
use meridian_netcode::driver::tls::DevCertificate;
use meridian_netcode::{Server, TokenAuthority};
use meridian_shard_manager::ZoneHost;
use meridian_shard_manager::adapters::redis::RedisHints;
use meridian_shard_manager::adapters::sql::SqlLedger;
use meridian_shard_manager::peers::{first_avatar_id, shard_borders};
use meridian_shard_manager::zone_map::zone_config;
use meridian_shard_manager::{LeaseTiming, Peers, Shard};
use meridian_sim::Zone;
use ring::rand::SecureRandom;

pub(crate) use crate::http::auth::valid_username;
pub(crate) use crate::http::passwords::hash_password;
pub(crate) use persist::open as open_store;
use settings::ServeSettings;
pub(crate) use settings::{DEFAULT_DATABASE_URL, ServeArgs};

/// Events the transport may queue for the zone thread before it drops datagrams.
const INBOUND_CAPACITY: usize = 65_536;

/// How often the certificate's age is checked.
const ROTATION_CHECK: Duration = Duration::from_secs(600);

pub(crate) fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let settings = args.settings()?;
    crate::logging::init(settings.serve.log_format)?;
    let workers = std::thread::available_parallelism()
        .map_or(1, |cores| cores.get().saturating_sub(1))
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        // The role `io` in `meridian_thread_cpu_seconds_total` (the blocking
        // pool, where passwords are hashed, shares the name).
        .thread_name("meridian-io")
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(settings))
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

fn token_secret(settings: &ServeSettings) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &settings.serve.token_secret {
        return Ok(secret.as_bytes().to_vec());
    }
    let mut secret = vec![0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| anyhow::anyhow!("the system random source failed"))?;
    Ok(secret)
}

async fn serve(mut settings: ServeSettings) -> anyhow::Result<()> {
    // One key per use, derived from the one secret.
    let keys = keys::DerivedKeys::derive(&token_secret(&settings)?);
    let authority = TokenAuthority::new(&keys.realtime);
    let validity = settings.serve.certificate_validity();
    let certificate = DevCertificate::generate(SystemTime::now(), validity)
        .context("cannot generate the development certificate")?;
    let (inbound, inbound_events) = crossbeam_channel::bounded(INBOUND_CAPACITY);
    let counters = Arc::new(DriverCounters::default());
    let connection_ids = Arc::new(ConnectionIds::default());
    let idle_timeout = Duration::from_millis(settings.netcode.idle_timeout_ms);
    let admission = Arc::new(Admission::new(&settings.netcode, counters.clone()));
    let shared = game_transport::Shared {
        inbound: inbound.clone(),
        counters: counters.clone(),
        ids: connection_ids.clone(),
        admission: admission.clone(),
    };
    let quic = Arc::new(
        GameTransport::bind(
            settings.serve.transport,
            settings.serve.game_address,
            &certificate,
            idle_timeout,
            &shared,
        )
        .with_context(|| format!("cannot serve QUIC on {}", settings.serve.game_address))?,
    );
    let game_address = quic.local_addr()?;

    let store = persist::open(&settings.serve.database_url).await?;
    let space_id = store
        .ensure_space(
            "plaza",
            settings.sim.world_width as i32,
            settings.sim.world_height as i32,
            persist::now_seconds(),
        )
        .await
        .context("cannot create the space")?;
    // Knobs an admin changed while an earlier run went on win over the file.
    live_settings::load_saved(&store, space_id, &mut settings.sim, &mut settings.netcode).await?;
    if store
        .seed_starter_catalogue(space_id, spawn_centre_tiles(&settings.sim))
        .await
        .context("cannot seed the starter catalogue")?
    {
        tracing::info!("a fresh world: added the starter avatars and elements");
    }
    let (storage, storage_tasks) = persist::start(&store, space_id, settings.serve.zone_id);
    let (hint_sender, spawn_hints) = crossbeam_channel::bounded(4_096);
    let tick_ms = 1_000 / u64::from(settings.sim.tick_rate_hz.max(1));
    let tick = Duration::from_secs_f64(1.0 / f64::from(settings.sim.tick_rate_hz.max(1)));
    let checkpoint_every = (settings.serve.checkpoint_interval_ms / tick_ms.max(1)).max(1);

    let map = settings.zone_map()?;
    // One process is a cluster of one: it holds every zone, under leases
    // taken before it serves anyone (another server on this database stops
    // it here) and kept by the same state machine as a cluster shard's.
    let mut alone = match settings.serve.shard_id {
        None => {
            let mut borders = shard_borders(map, 1, 1, ledger::ALONE_LEASES);
            ledger::take_zones(&SqlLedger::new(store.clone()), &mut borders, &map).await?;
            Some(borders)
        }
        Some(_) => None,
    };
    let (ledger_requests, ledger_answers, ledger_done) =
        ledger::start(&settings.serve.database_url).await?;
    let placed = store
        .placed_elements(space_id)
        .await
        .context("cannot read the space's elements")?;
    let mut zones = Vec::new();
    for zone_id in map.zones() {
        zones.push(
            Zone::new(zone_config(&map, zone_id, &settings.sim))
                .context("invalid [sim] settings")?,
        );
    }
    // Every zone knows every static element (they block movement anywhere).
    let mut elements = elements::Elements::default();
    let blocking = placed
        .iter()
        .filter(|placement| elements.place(&mut zones, placement))
        .count();
    let (element_sender, element_changes) = crossbeam_channel::bounded(1_024);
    let (moderation_sender, moderation_orders) =
        crossbeam_channel::bounded(moderation_orders::ORDER_QUEUE);
    let (settings_sender, settings_orders) = crossbeam_channel::bounded(live_settings::ORDER_QUEUE);
    let (instance_sender, instance_orders) = crossbeam_channel::bounded(INSTANCE_ORDER_QUEUE);
    // Rooms belong to this process's run: seats held when it last stopped
    // are nobody's now.
    if settings.serve.shard_id.is_none() {
        store
            .clear_seats()
            .await
            .context("cannot clear the seats of the last run")?;
    }
    let (seat_queue, seat_writer) = seats::start_writer(store.clone());
    // Instances still running when the zone thread stops: written before the
    // database closes.
    let instances_left_running = Arc::new(Mutex::new(Vec::new()));
    let mut server = Server::new(
        settings.netcode.clone(),
        authority.clone(),
        settings.serve.space,
        Instant::now(),
        unix_now(),
    )
    .context("invalid [netcode] settings")?;
    // A cluster shard admits only the tokens its own join endpoint minted.
    server.set_gateway(gateway_of(&settings));
    tracing::info!(
        placed = placed.len(),
        blocking,
        "the space's placed elements are loaded"
    );
    let live = Arc::new(Mutex::new(live::LiveMetrics::with_world(
        world_view::WorldView::new(&map, settings.serve.shard_id),
    )));
    let stop = Arc::new(AtomicBool::new(false));
    let mut instances = instances::Instances::new(
        settings.serve.simulation_threads as usize,
        Duration::from_secs_f32(settings.sim.tick_seconds()),
        Duration::from_millis(settings.serve.instance_idle_grace_ms),
        tokio::runtime::Handle::current(),
        instances_left_running.clone(),
    )
    .context("cannot start the simulation threads")?;
    let (stop_notices, stopped_rooms) = tokio::sync::mpsc::unbounded_channel();
    if settings.serve.shard_id.is_some() {
        instances.notify_stops(stop_notices);
    }
    let instance_fences = instance_sender.clone();
    let instance_drain = instance_sender.clone();
    let world_voice = voice::VoiceRelay::start(&settings.voice)?;
    let parts = zone_loop::Parts {
        space_id,
        inbound: inbound_events,
        live: live.clone(),
        stop: stop.clone(),
        spawn_hints,
        storage,
        checkpoint_every,
        ledger_requests,
        ledger_answers,
        elements,
        element_changes,
        moderation_orders,
        settings_orders,
        admission: admission.clone(),
        event_loop: quic.zone_side(admission.clone()),
        instances,
        instance_orders,
        voice: world_voice.clone(),
    };
    // In cluster mode Redis is connected before the zones start: `/health`
    // asks it too.
    let redis = match settings.serve.shard_id {
        None => None,
        Some(_) => {
            let redis_url = settings.serve.redis_url.clone().unwrap_or_default();
            Some(
                RedisHints::connect(&redis_url, &settings.serve.cluster_name)
                    .await
                    .with_context(|| format!("cannot reach Redis at {redis_url}"))?,
            )
        }
    };
    let probes = crate::http::health::Probes::new(redis.clone());
    let load_hints = redis.clone();
    let zone_thread = match (settings.serve.shard_id, redis, alone.take()) {
        (Some(me), Some(hints), _) => {
            let shards = settings.serve.shards;
            let secret = keys.link;
            let link =
                cluster::link::start(me, shards, settings.serve.link_address, &secret, hints)?;
            tracing::info!(
                shard = me,
                shards,
                link = %link.address,
                "shard link listening (ALPN meridian-shard/1)"
            );
            let borders = shard_borders(map, me, shards, LeaseTiming::default());
            let mut host = new_host(&settings, zones, borders, server);
            host.link_as(me, first_avatar_id(&map));
            let peers = Peers::new(Instant::now(), &map, me, shards, tick);
            let shard = Shard::new(host, peers);
            zone_loop::launch(shard, cluster::ClusterLoop::new(link), parts)?
        }
        (None, _, Some(borders)) => {
            let mut host = new_host(&settings, zones, borders, server);
            host.link_as(1, first_avatar_id(&map));
            let shard = Shard::new(host, Peers::new(Instant::now(), &map, 1, 1, tick));
            zone_loop::launch(shard, cluster::ClusterLoop::alone(), parts)?
        }
        // A shard always has Redis (connected above), and one process its
        // zones (taken above).
        _ => anyhow::bail!("a shard without Redis, or one process without its zones"),
    };

    let listeners = crate::http::server::Listeners::bind(&settings.serve).await?;
    let http_address = listeners.http_address()?;
    let certificate_sha256 = Arc::new(RwLock::new(certificate.sha256_hex()));
    let live_for_start = live.clone();
    // A shard runs instances of other spaces under leases in the ledger.
    let instance_leases = settings.serve.shard_id.map(|me| {
        Arc::new(instance_leases::InstanceLeases::new(
            store.clone(),
            me.to_string(),
            http_address.to_string(),
        ))
    });
    let shard_loads = settings.serve.shard_id.zip(load_hints).map(|(me, hints)| {
        Arc::new(shard_loads::ShardLoads::new(
            hints,
            meridian_shard_manager::link_handshake::LinkKey::new(&keys.link),
            me,
            settings.serve.shards,
        ))
    });
    let entrance = Arc::new(crate::http::entrance::Entrance::new(
        instance_sender,
        store.clone(),
        crate::http::entrance::EntranceSettings {
            sim: settings.sim.clone(),
            netcode: settings.netcode.clone(),
            authority: authority.clone(),
            spawn: settings.serve.spawn,
            seed: settings.serve.seed,
            checkpoint_interval_ms: settings.serve.checkpoint_interval_ms,
            max_instances: settings.serve.max_instances as usize,
            world: settings.serve.space,
            gateway: gateway_of(&settings),
            leases: instance_leases.clone(),
            loads: shard_loads.clone(),
            live: live_for_start.clone(),
            seats: seat_queue,
            seat_lifetime: Duration::from_secs(crate::http::auth::REALTIME_TOKEN_SECONDS),
            starts_per_account_per_minute: settings.serve.instance_starts_per_account_per_minute,
            voice: world_voice,
        },
    ));
    let drain_request = Arc::new(drain::DrainRequest::default());
    let entrance_for_drain = entrance.clone();
    let lease_tasks = instance_leases
        .clone()
        .zip(shard_loads.clone())
        .map(|(leases, loads)| {
            let entrance = entrance.clone();
            [
                tokio::spawn(leases.renew_forever(instance_fences)),
                tokio::spawn(give_up_stopped(entrance, stopped_rooms)),
                tokio::spawn(loads.publish_forever(http_address, live_for_start.clone())),
            ]
        });
    let state = crate::http::HttpState {
        live,
        driver: counters.clone(),
        tokens: authority.clone(),
        access_tokens: TokenAuthority::new(&keys.access),
        logins: settings.serve.logins(),
        dev_tokens: settings.serve.dev_tokens,
        game_address,
        certificate_sha256: certificate_sha256.clone(),
        space: settings.serve.space,
        gateway: gateway_of(&settings),
        store: store.clone(),
        space_id,
        zone_id: settings.serve.zone_id,
        spawn_hints: hint_sender,
        http_address,
        element_changes: element_sender,
        moderation: moderation_sender,
        fallback: crate::http::websocket::Fallback {
            inbound,
            ids: connection_ids,
            counters: counters.clone(),
            admission,
        },
        quotas: crate::http::quotas::Quotas {
            spaces_per_user: settings.serve.max_spaces_per_user,
            elements_per_space: settings.serve.max_elements_per_space,
        },
        probes: probes.clone(),
        entrance,
        instance_leases: instance_leases.clone(),
        drain: drain_request.clone(),
        live_settings: live_settings::LiveKnobs::new(
            &settings.sim,
            &settings.netcode,
            settings_sender,
            settings.serve.shard_id.is_some(),
        ),
    };
    let http_server = crate::http::server::start(listeners, state, &settings.serve)?;

    let listening = announce::Listening {
        game: game_address,
        http: http_address,
        space_id,
    };
    wait_for_first_tick(&live_for_start).await;
    probes.running();
    announce::announce(&settings, &listening, &http_server, &certificate);

    let rotation = tokio::spawn(rotate_certificates(
        quic.clone(),
        certificate,
        validity,
        certificate_sha256,
    ));

    tokio::select! {
        () = wait_for_signal() => {}
        () = drain_request.asked() => {}
    }
    probes.draining();
    // A shard seats no join any more: its rooms go on elsewhere. (A server
    // of one keeps answering joins until it stops, as it always did.)
    if instance_leases.is_some() {
        entrance_for_drain.drain();
    }
    // A draining shard takes no more instances.
    if let Some(loads) = &shard_loads {
        if let Some(tasks) = &lease_tasks {
            tasks[2].abort();
        }
        loads.withdraw().await;
    }
    // Its instances go on elsewhere: every place written, then the lease
    // released, then the players told to join again.
    if let Some(leases) = &instance_leases {
        hand_on::hand_on_instances(&instance_drain, leases, &store).await;
    }
    if settings.serve.drain_ms > 0 {
        tracing::info!(
            drain_ms = settings.serve.drain_ms,
            "draining: /ready answers 503; stopping after the drain (or at a second signal)"
        );
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(settings.serve.drain_ms)) => {}
            () = wait_for_signal() => {}
        }
    }
    tracing::info!("shutting down");
    stop.store(true, Ordering::Relaxed);
    rotation.abort();
    if let Some(tasks) = lease_tasks {
        for task in tasks {
            task.abort();
        }
    }
    let joined = tokio::task::spawn_blocking(move || zone_thread.join()).await;
    match joined {
        Ok(Ok(leases)) => {
            // One process is shard 1 of a cluster of one.
            release_leases(&store, settings.serve.shard_id.unwrap_or(1), &leases).await;
            // The zone thread and its simulation threads have stopped: no
            // instance runs here any more.
            if let Some(instance_leases) = &instance_leases {
                instance_leases.release_all().await;
            }
        }
        _ => tracing::error!("the zone thread ended abnormally"),
    }
    quic.shutdown().await;
    // The instances still running when the zone thread stopped: their writes too.
    let left_running: Vec<persist::StorageTasks> = instances_left_running
        .lock()
        .map(|mut left| left.drain(..).collect())
        .unwrap_or_default();
    for tasks in left_running {
        if tasks.finish().await.is_none() {
            tracing::error!("an instance's last writes did not reach the database in time");
        }
    }
    // Seat releases still queued are not waited for: the next start clears
    // every seat of this run anyway.
    seat_writer.abort();
    // The zone thread dropped its queues: write what is left, then stop.
    // The zone thread dropped its ledger queue: the task ends after what is queued.
    let _ = tokio::time::timeout(Duration::from_secs(10), ledger_done).await;
    match storage_tasks.finish().await {
        Some(counters) => {
            store.close().await;
            tracing::info!(
                rows = counters.rows.load(Ordering::Relaxed),
                writes = counters.writes.load(Ordering::Relaxed),
                lost = counters.lost_rows.load(Ordering::Relaxed),
                "character rows checkpointed"
            );
        }
        None => tracing::error!(
            "the database did not take the last writes in time; \
             unwritten checkpoints and chat lines are lost"
        ),
    }
    if !http_server.stop().await {
        tracing::warn!("the HTTP server did not stop cleanly");
    }
    tracing::info!("stopped");
    Ok(())
}

/// A cluster shard that stops on purpose gives its zones' leases up once
/// its zone thread no longer simulates them, so the other shards take them
/// over at once instead of after the lease's time (as they would after a
/// crash). A release that fails leaves the lease to lapse.
async fn release_leases(
    store: &meridian_persistence::Store,
    shard: u32,
    leases: &[(
        meridian_shard_manager::ZoneId,
        meridian_shard_manager::Epoch,
    )],
) {
    let holder = shard.to_string();
    let mut released = 0;
    for (zone, epoch) in leases {
        let Ok(epoch_number) = i64::try_from(epoch.0) else {
            continue;
        };
        match store
            .release_lease(i64::from(zone.0), &holder, epoch_number)
            .await
        {
            Ok(true) => released += 1,
            Ok(false) => tracing::warn!(zone = zone.0, "a lease to give up was no longer ours"),
            Err(error) => {
                tracing::warn!(zone = zone.0, %error, "a lease was not given up; it lapses")
            }
        }
    }
    tracing::info!(
        released,
        held = leases.len(),
        "zone leases given up for the other shards"
    );
}

/// Gives up the leases of the instances that stopped (a cluster shard).
async fn give_up_stopped(
    entrance: Arc<crate::http::entrance::Entrance>,
    mut stopped_rooms: tokio::sync::mpsc::UnboundedReceiver<i64>,
) {
    while let Some(room) = stopped_rooms.recv().await {
        entrance.instance_stopped(room).await;
    }
}

/// Instance joins and starts waiting for the zone thread.
const INSTANCE_ORDER_QUEUE: usize = 1_024;

/// How long start-up waits for the zone thread's first tick before it says
/// "ready" anyway (`/health` and `/ready` then say the zone thread is down).
const FIRST_TICK_WAIT: Duration = Duration::from_secs(10);

/// Waits (at most [`FIRST_TICK_WAIT`]) until the zone thread has ticked, so
/// that "ready" is said, and `/ready` answers 200, once players are served.
async fn wait_for_first_tick(live: &Mutex<live::LiveMetrics>) {
    let deadline = Instant::now() + FIRST_TICK_WAIT;
    while Instant::now() < deadline {
        if live.lock().is_ok_and(|live| live.last_tick_at.is_some()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tracing::warn!(
        wait_s = FIRST_TICK_WAIT.as_secs(),
        "the zone thread has not ticked yet; starting anyway"
    );
}

/// The gateway id realtime tokens are bound to: the shard id in a cluster,
/// 0 for a server of one.
fn gateway_of(settings: &ServeSettings) -> u32 {
    settings.serve.shard_id.unwrap_or(0)
}

/// The zones behind one gateway, set up the same way in one process and as a
/// shard.
fn new_host<B: meridian_shard_manager::Borders>(
    settings: &ServeSettings,
    zones: Vec<Zone>,
    borders: B,
    server: Server,
) -> ZoneHost<B> {
    let mut host = ZoneHost::with_borders(
        zones,
        borders,
        server,
        settings.serve.zone_id,
        settings.serve.seed,
    );
    configure_host(&mut host, settings.serve.spawn, &settings.sim);
    host
}

/// What every host, the world's and each instance's, is set up with.
pub(crate) fn configure_host<B: meridian_shard_manager::Borders>(
    host: &mut ZoneHost<B>,
    spawn: settings::SpawnPolicy,
    sim: &meridian_sim::SimConfig,
) {
    // Nobody hears a line that a crash could lose.
    host.store_chat_before_relay(true);
    // Newcomers appear in the plaza's middle, where the others are, unless
    // the settings spread them over the whole world.
    if let Some((centre, radius)) = spawn.area(sim) {
        host.set_spawn_area(centre, radius);
    }
    // A join's saved place waits as long as its realtime token can connect.
    host.limit_spawn_hints(
        Duration::from_secs(crate::http::auth::REALTIME_TOKEN_SECONDS),
        meridian_shard_manager::DEFAULT_SPAWN_HINT_CAPACITY,
    );
}

async fn rotate_certificates(
    quic: Arc<GameTransport>,
    mut current: DevCertificate,
    validity: Duration,
    published: Arc<RwLock<String>>,
) {
    loop {
        tokio::time::sleep(ROTATION_CHECK).await;
        let half_life_left = current
            .not_after
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        if half_life_left > validity / 2 {
            continue;
        }
        match DevCertificate::generate(SystemTime::now(), validity) {
            Ok(next) => match quic.rotate(&next) {
                Ok(()) => {
                    if let Ok(mut hash) = published.write() {
                        *hash = next.sha256_hex();
                    }
                    tracing::info!(sha256 = %next.sha256_hex(), "rotated the certificate");
                    current = next;
                }
                Err(error) => tracing::error!(%error, "certificate rotation failed"),
            },
            Err(error) => tracing::error!(%error, "certificate generation failed"),
        }
    }
}

async fn wait_for_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// The zone's centre in whole tiles (metres), where the starter plaza is laid.
fn spawn_centre_tiles(sim: &meridian_sim::SimConfig) -> (i32, i32) {
    (
        (sim.world_width / 2.0) as i32,
        (sim.world_height / 2.0) as i32,
    )
}
