//! A bot whose snapshots arrive in a burst (its process or the network held
//! several, then they are decoded in one turn) counts no jump: every event of
//! the burst reads the newest view, so the step it measures is timed by that
//! view's tick, not by the tick of the event being handled.
//!
//! A real server ([`ZoneHost`]) and a real client ([`Client`]) in one process,
//! on a stepped clock; the bot is loadbot's own [`Bot`], handed the client's
//! events the way the client loop hands them (all datagrams of a turn first,
//! then the events).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use loadbot::BehaviourKind;
use loadbot::bot::Bot;
use meridian_netcode::driver::client::Behaviour;
use meridian_netcode::token::REALTIME_SCOPE;
use meridian_netcode::{
    Client, ClientEvent, ClientTransmit, ConnectionId, NetcodeConfig, Payload, RealtimeClaims,
    Server, TokenAuthority,
};
use meridian_protocol::messages::{AnimationState, MovementIntent};
use meridian_shard_manager::ZoneHost;
use meridian_sim::{SimConfig, Zone};

const SPACE: u32 = 1;
const START_UNIX: u64 = 1_800_000_000;
/// Ticks whose snapshots are held back and then decoded in one turn.
const HELD_TICKS: u32 = 8;
/// The bot walks this fast (loadbot's crossing speed), metres per second.
const SPEED: f32 = 3.0;

/// One server, one client, one bot; datagrams to the client can be held.
struct Setup {
    now: Instant,
    tick_interval: Duration,
    host: ZoneHost,
    connection: ConnectionId,
    client: Client,
    bot: Bot,
    /// Datagrams and stream bytes for the client not delivered yet.
    held: VecDeque<Payload>,
    /// Snapshot events handed to the bot, with the view's own position.
    snapshots: Vec<(u32, Option<[f32; 2]>)>,
}

impl Setup {
    fn new() -> Self {
        let now = Instant::now();
        let sim = SimConfig::default();
        let tick_interval = Duration::from_secs_f32(sim.tick_seconds());
        let authority = TokenAuthority::new(b"burst test secret, not for production");
        let server = Server::new(
            NetcodeConfig::default(),
            authority.clone(),
            SPACE,
            now,
            START_UNIX,
        )
        .expect("valid netcode config");
        let mut host = ZoneHost::new(Zone::new(sim).expect("valid sim config"), server, 1, 7);
        let connection = ConnectionId(1);
        host.server().handle_connected(now, connection);
        let config = host.server_ref().config().clone();
        let token = authority.mint(&RealtimeClaims {
            sub: 42,
            name: "bot42".into(),
            space: SPACE,
            exp: START_UNIX + 3_600,
            scope: REALTIME_SCOPE.into(),
            jti: meridian_netcode::token::random_token_id(),
            gateway: 0,
        });
        let client = Client::new(
            now,
            token,
            config.heartbeat_interval(),
            Duration::from_millis(config.idle_timeout_ms),
        );
        Self {
            now,
            tick_interval,
            host,
            connection,
            client,
            bot: Bot::new(BehaviourKind::Cross, 1, 2),
            held: VecDeque::new(),
            snapshots: Vec::new(),
        }
    }

    /// One tick: the client's input (once welcomed) and what it sent go to
    /// the server, the zone ticks, and what the server sent is queued for the
    /// client; delivered at once unless `hold`.
    fn tick(&mut self, hold: bool) {
        self.now += self.tick_interval;
        let now = self.now;
        if self.client.welcome().is_some() {
            let intent = MovementIntent {
                move_x: 1.0,
                move_y: 0.0,
                speed: SPEED,
                heading: 0.0,
                animation: AnimationState::Walk,
            };
            let _ = self.client.send_input(now, intent);
        }
        while let Some(transmit) = self.client.poll_transmit() {
            match transmit {
                ClientTransmit::Datagram(bytes) => {
                    self.host
                        .server()
                        .handle_datagram(now, self.connection, &bytes);
                }
                ClientTransmit::Stream(bytes) => {
                    self.host
                        .server()
                        .handle_stream(now, self.connection, &bytes);
                }
                ClientTransmit::Close => {}
            }
        }
        self.host.tick(now);
        while let Some(transmit) = self.host.server().poll_transmit() {
            if transmit.connection == self.connection {
                self.held.push_back(transmit.payload);
            }
        }
        if !hold {
            self.deliver();
        }
    }

    /// Like the client loop: every held datagram is decoded first, then the
    /// client's events go to the bot.
    fn deliver(&mut self) {
        let now = self.now;
        while let Some(payload) = self.held.pop_front() {
            match payload {
                Payload::Datagram(bytes) => self.client.handle_datagram(now, &bytes),
                Payload::Stream(bytes) => self.client.handle_stream(now, &bytes),
                Payload::Close(_) => {}
            }
        }
        while let Some(event) = self.client.poll_event() {
            if let ClientEvent::Snapshot { tick, .. } = &event {
                let me = self.client.welcome().map(|welcome| welcome.avatar_id);
                let position = self
                    .client
                    .view()
                    .iter()
                    .find(|state| Some(state.id) == me)
                    .map(|state| state.position());
                self.snapshots.push((*tick, position));
            }
            self.bot.on_event(&mut self.client, event, now);
        }
    }
}

#[test]
fn a_burst_of_snapshots_is_no_jump() {
    let mut setup = Setup::new();
    // Welcomed, walking, one snapshot per tick.
    for _ in 0..40 {
        setup.tick(false);
    }
    assert!(setup.client.welcome().is_some(), "the client was welcomed");
    let before = setup.snapshots.len();
    let last_seen = setup
        .snapshots
        .last()
        .and_then(|(_, position)| *position)
        .expect("the bot saw its own avatar");
    assert_eq!(setup.bot.record.jumps, 0, "no jump while snapshots flow");

    // The next snapshots are held, then decoded in one turn.
    for _ in 0..HELD_TICKS {
        setup.tick(true);
    }
    setup.deliver();
    let burst = &setup.snapshots[before..];
    assert!(
        burst.len() > 1,
        "the burst carried several snapshots ({} of them)",
        burst.len()
    );
    let [x, y] = burst[0].1.expect("its own avatar in the view");
    let moved = ((x - last_seen[0]).powi(2) + (y - last_seen[1]).powi(2)).sqrt();
    // What the bot allows for one tick: 3.5 m/s for 1/20 s, plus 0.5 m.
    let one_tick_allows = 3.5 / 20.0 + 0.5;
    assert!(
        moved > one_tick_allows,
        "the avatar walked farther during the burst ({moved:.2} m) than one tick allows \
         ({one_tick_allows:.2} m), so pairing the first event's tick with the newest view \
         would count a jump"
    );
    assert_eq!(
        setup.bot.record.jumps,
        0,
        "a burst of snapshots is no jump (the avatar walked {moved:.2} m over {} snapshots)",
        burst.len()
    );

    // And it goes on counting nothing once snapshots flow again.
    for _ in 0..10 {
        setup.tick(false);
    }
    assert_eq!(setup.bot.record.jumps, 0);
}
