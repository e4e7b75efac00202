//! A zone served by the sans-IO event loop on loopback, with a zone thread
//! that swaps batches with it once per tick, and real quinn clients.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use meridian_netcode::driver::admission::Admission;
use meridian_netcode::driver::client::{Behaviour, ClientConnection, Ending, client_endpoint};
use meridian_netcode::driver::server::{ConnectionIds, DriverCounters};
use meridian_netcode::driver::tls::DevCertificate;
use meridian_netcode::transport::{EventLoopServer, LoopStats, ZoneSide};
use meridian_netcode::{
    Client, ClientEvent, NetcodeConfig, NetcodeMetrics, RealtimeClaims, Server, TokenAuthority,
    token::REALTIME_SCOPE,
};
use meridian_shard_manager::ZoneHost;
use meridian_sim::{SimConfig, Zone};

use super::{SECRET, SPACE};

pub(crate) const LOOPBACK: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A token for `account`, valid for a minute from now.
pub(crate) fn live_token(authority: &TokenAuthority, account: u64) -> String {
    authority.mint(&RealtimeClaims {
        sub: account,
        name: format!("bot{account}"),
        space: SPACE,
        exp: unix_now() + 60,
        scope: REALTIME_SCOPE.into(),
        jti: meridian_netcode::token::random_token_id(),
        gateway: 0,
    })
}

/// What the zone thread reports when it stops.
pub(crate) struct ZoneReport {
    pub(crate) metrics: NetcodeMetrics,
    pub(crate) connections_left: usize,
}

pub(crate) struct LoopZone {
    pub(crate) address: SocketAddr,
    pub(crate) certificate_sha256: [u8; 32],
    pub(crate) authority: TokenAuthority,
    pub(crate) counters: Arc<DriverCounters>,
    pub(crate) config: NetcodeConfig,
    server: Option<EventLoopServer>,
    stop: Arc<AtomicBool>,
    zone: Option<JoinHandle<ZoneReport>>,
}

impl LoopZone {
    /// Starts the loop and a zone thread ticking at the sim's rate.
    pub(crate) fn start(config: NetcodeConfig) -> Self {
        let sim = SimConfig {
            world_width: 100.0,
            world_height: 100.0,
            ..SimConfig::default()
        };
        Self::start_with(config, sim, |_, _| {})
    }

    /// [`Self::start`] with this zone, and `between_ticks` called on the zone
    /// thread before every turn of its loop (to change the world between two
    /// ticks, as `meridian serve` does with what its HTTP API is told).
    pub(crate) fn start_with(
        config: NetcodeConfig,
        sim: SimConfig,
        mut between_ticks: impl FnMut(&mut ZoneHost, Instant) + Send + 'static,
    ) -> Self {
        let certificate =
            DevCertificate::generate(SystemTime::now(), Duration::from_secs(24 * 3600))
                .expect("certificate");
        let counters = Arc::new(DriverCounters::default());
        let admission = Arc::new(Admission::new(&config, counters.clone()));
        let server = EventLoopServer::bind(
            LOOPBACK,
            &certificate,
            Duration::from_millis(config.idle_timeout_ms),
            Arc::new(ConnectionIds::default()),
            admission.clone(),
            counters.clone(),
        )
        .expect("bind the event loop");
        let authority = TokenAuthority::new(SECRET);
        let tick = Duration::from_secs_f32(sim.tick_seconds());
        let start = Instant::now();
        let netcode = Server::new(config.clone(), authority.clone(), SPACE, start, unix_now())
            .expect("valid netcode config");
        let mut host = ZoneHost::new(Zone::new(sim).expect("valid sim"), netcode, 1, 7);
        let mut side = ZoneSide::new(server.exchange().clone(), admission);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let zone = std::thread::spawn(move || {
            let mut next_tick = start + tick;
            while !stopping.load(Ordering::Relaxed) {
                let now = Instant::now();
                between_ticks(&mut host, now);
                side.receive(now, host.server());
                if now >= next_tick {
                    next_tick += tick;
                    host.tick(now);
                } else {
                    host.server().handle_timeout(now);
                }
                side.send(host.server());
                std::thread::sleep(Duration::from_millis(5));
            }
            ZoneReport {
                metrics: host.server_ref().metrics().clone(),
                connections_left: host.server_ref().connection_count(),
            }
        });
        Self {
            address: server.local_addr(),
            certificate_sha256: certificate.sha256,
            authority,
            counters,
            config,
            server: Some(server),
            stop,
            zone: Some(zone),
        }
    }

    pub(crate) fn stats(&self) -> LoopStats {
        self.server.as_ref().expect("running").exchange().stats()
    }

    /// Stops the zone thread and the loop; the zone's final figures.
    pub(crate) fn stop(mut self) -> ZoneReport {
        self.stop.store(true, Ordering::Relaxed);
        let report = self
            .zone
            .take()
            .expect("running")
            .join()
            .expect("the zone thread ends without panicking");
        self.server
            .take()
            .expect("running")
            .shutdown()
            .expect("the loop ends without an error");
        report
    }

    /// A client endpoint that trusts this zone's certificate.
    pub(crate) fn client_endpoint(&self) -> quinn::Endpoint {
        client_endpoint(
            LOOPBACK,
            self.certificate_sha256,
            Duration::from_millis(self.config.idle_timeout_ms),
        )
        .expect("client endpoint")
    }

    /// A netcode client with this token.
    pub(crate) fn client(&self, token: String) -> Client {
        Client::new(
            Instant::now(),
            token,
            self.config.heartbeat_interval(),
            Duration::from_millis(self.config.idle_timeout_ms),
        )
    }
}

/// Records what a client heard.
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) welcomed: bool,
    pub(crate) refused: bool,
    pub(crate) snapshots: usize,
}

impl Behaviour for Recorder {
    fn on_tick(&mut self, _client: &mut Client, _now: Instant) {}

    fn on_event(&mut self, _client: &mut Client, event: ClientEvent, _now: Instant) {
        match event {
            ClientEvent::Welcomed(_) => self.welcomed = true,
            ClientEvent::Refused(_) => self.refused = true,
            ClientEvent::Snapshot { .. } => self.snapshots += 1,
            _ => {}
        }
    }
}

/// Connects one client with `token`, drives it for `play`, and says goodbye.
pub(crate) async fn play(
    endpoint: &quinn::Endpoint,
    server: SocketAddr,
    mut client: Client,
    play: Duration,
) -> (Ending, Recorder) {
    let connection = ClientConnection::connect(endpoint, server, Duration::from_secs(10))
        .await
        .expect("the client connects to the event loop");
    let mut recorder = Recorder::default();
    let ending = connection
        .drive(
            &mut client,
            &mut recorder,
            Duration::from_millis(50),
            Instant::now() + play,
        )
        .await;
    (ending, recorder)
}

/// Waits (with a deadline) until `condition` holds.
pub(crate) fn wait_until(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !condition() {
        assert!(Instant::now() < until, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
