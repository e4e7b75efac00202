//! Players for the voice end-to-end tests: a game connection on a task (a
//! behaviour that walks where it is told, sends voice requests and keeps the
//! voice answers) beside a str0m WebRTC peer per player, and the helpers that
//! pump the peers. Used by `voice_follows_proximity_blocks_and_walks` and
//! `voice_stays_in_its_room`; each declares `mod common` and `mod voice_peer`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meridian_netcode::driver::client::{Behaviour, Ending};
use meridian_netcode::{Client, ClientEvent};
use meridian_protocol::NetworkId;
use meridian_protocol::messages::{AnimationState, ClientMessage, MovementIntent, ServerMessage};
use meridian_protocol::quantize::fields;
use tokio::sync::mpsc;

use crate::common::{self, Joined};
use crate::voice_peer::{self, OPUS_TOC, VoicePeer};

/// How long any one step may take before the test fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);
/// The audio level speakers' packets carry (dBov).
pub(crate) const LEVEL: i8 = -30;

/// What a player's connection task shares with the test.
#[derive(Default)]
struct Seen {
    avatar: Option<NetworkId>,
    position: Option<(f32, f32)>,
    voice: Vec<ServerMessage>,
    ended: bool,
}

enum Order {
    Voice(ClientMessage),
    WalkTo(f32, f32),
}

struct Voiced {
    orders: mpsc::UnboundedReceiver<Order>,
    seen: Arc<Mutex<Seen>>,
    target: Option<(f32, f32)>,
    /// When the last input went: one per server tick, no more (the server
    /// counts faster inputs against the player).
    last_input: Option<Instant>,
    /// Where the avatar last made progress, and when.
    progress: Option<((f32, f32), Instant)>,
    /// Walking around an element that stopped it, until then.
    detour_until: Option<Instant>,
    /// A line to walk to first (north or south), then along it.
    lane: Option<f32>,
}

impl Behaviour for Voiced {
    fn on_tick(&mut self, client: &mut Client, now: Instant) {
        while let Ok(order) = self.orders.try_recv() {
            match order {
                Order::Voice(message) => client.send_voice(message),
                Order::WalkTo(x, y) => self.target = Some((x, y)),
            }
        }
        let mut seen = self.seen.lock().expect("seen");
        while let Some(message) = client.poll_voice() {
            seen.voice.push(message);
        }
        let (Some(target), Some(here), Some(welcome)) =
            (self.target, seen.position, client.welcome())
        else {
            return;
        };
        let tick = Duration::from_secs_f32(1.0 / f32::from(welcome.tick_rate_hz.max(1)));
        if self.last_input.is_some_and(|last| now < last + tick) {
            return;
        }
        self.last_input = Some(now);
        // First north (or south) to the lane, then along it.
        let target = match self.lane {
            Some(lane) if (here.1 - lane).abs() > 1.0 && (here.0 - target.0).abs() > 1.0 => {
                (here.0, lane)
            }
            _ => target,
        };
        let (mut dx, mut dy) = (target.0 - here.0, target.1 - here.1);
        let distance = dx.hypot(dy);
        // Stopped by something (an element of the plaza) for half a second: sidestep at
        // right angles for a second, then head for the target again.
        match self.progress {
            Some((at, since)) if (at.0 - here.0).hypot(at.1 - here.1) < 0.1 => {
                if distance > 0.5 && now > since + Duration::from_millis(500) {
                    self.detour_until = Some(now + Duration::from_secs(1));
                    self.progress = Some((here, now));
                }
            }
            _ => self.progress = Some((here, now)),
        }
        if self.detour_until.is_some_and(|until| now < until) {
            (dx, dy) = (dy, -dx);
        }
        let intent = if distance < 0.3 {
            MovementIntent::idle(0.0)
        } else {
            let speed = welcome.limits.max_speed.min(distance * 10.0);
            MovementIntent {
                move_x: dx / distance,
                move_y: dy / distance,
                speed,
                heading: dy.atan2(dx),
                animation: AnimationState::Run,
            }
        };
        client.send_input(now, intent);
    }

    fn on_event(&mut self, client: &mut Client, event: ClientEvent, _now: Instant) {
        let mut seen = self.seen.lock().expect("seen");
        match event {
            ClientEvent::Welcomed(welcome) => seen.avatar = Some(welcome.avatar_id),
            ClientEvent::Snapshot { .. } => {
                if let Some(me) = seen
                    .avatar
                    .and_then(|avatar| client.view().iter().find(|entity| entity.id == avatar))
                {
                    seen.position = Some((
                        fields::POSITION.dequantize(me.x),
                        fields::POSITION.dequantize(me.y),
                    ));
                }
            }
            ClientEvent::Disconnected(_) | ClientEvent::Refused(_) => seen.ended = true,
            _ => {}
        }
    }
}

/// One player: its game connection (on a task) and its WebRTC peer.
pub(crate) struct Player {
    pub(crate) name: &'static str,
    orders: mpsc::UnboundedSender<Order>,
    seen: Arc<Mutex<Seen>>,
    pub(crate) task: tokio::task::JoinHandle<Ending>,
}

impl Player {
    /// Connects as `joined`; walks go by `lane` first when one is given.
    pub(crate) async fn start(name: &'static str, joined: &Joined, lane: Option<f32>) -> Self {
        let (endpoint, connection, mut client) = joined.connect().await;
        let (orders, receiver) = mpsc::unbounded_channel();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut behaviour = Voiced {
            orders: receiver,
            seen: seen.clone(),
            target: None,
            last_input: None,
            progress: None,
            detour_until: None,
            lane,
        };
        let task = tokio::spawn(async move {
            let _endpoint = endpoint;
            connection
                .drive(
                    &mut client,
                    &mut behaviour,
                    Duration::from_millis(20),
                    Instant::now() + Duration::from_secs(240),
                )
                .await
        });
        Self {
            name,
            orders,
            seen,
            task,
        }
    }

    pub(crate) fn avatar(&self) -> Option<NetworkId> {
        self.seen.lock().expect("seen").avatar
    }

    pub(crate) fn position(&self) -> Option<(f32, f32)> {
        self.seen.lock().expect("seen").position
    }

    pub(crate) fn walk_to(&self, x: f32, y: f32) {
        let _ = self.orders.send(Order::WalkTo(x, y));
    }

    pub(crate) fn is_near(&self, x: f32, y: f32) -> bool {
        self.position()
            .is_some_and(|(px, py)| (px - x).hypot(py - y) < 1.0)
    }

    pub(crate) fn send(&self, message: ClientMessage) {
        let _ = self.orders.send(Order::Voice(message));
    }

    /// Whether its connection has ended (disconnected or refused).
    pub(crate) fn has_ended(&self) -> bool {
        self.seen.lock().expect("seen").ended
    }

    pub(crate) fn voice(&self) -> Vec<ServerMessage> {
        self.seen.lock().expect("seen").voice.clone()
    }

    /// The speaker on `slot` as the newest VoiceLines say.
    pub(crate) fn on_line(&self, slot: &str) -> Option<(NetworkId, f32)> {
        let mut current = None;
        for message in self.voice() {
            if let ServerMessage::VoiceLines(lines) = message {
                for line in lines.lines.iter().filter(|line| line.slot == slot) {
                    current = line.speaker.map(|speaker| (speaker, line.distance));
                }
            }
        }
        current
    }
}

/// Pumps the peers until `done` holds or [`PATIENCE`] passes.
pub(crate) fn pump_until(
    peers: &mut [&mut VoicePeer],
    mut done: impl FnMut(&[&mut VoicePeer]) -> bool,
) -> bool {
    voice_peer::pump_peers_until(peers, PATIENCE, |peers| done(peers))
}

/// The peer `speaker` sends `count` packets, 20 ms of peer pumping apart
/// (its RTP clock advances 960 per packet); returns the index after the last.
pub(crate) fn speak(speaker: usize, peers: &mut [&mut VoicePeer], from: u32, count: u32) -> u32 {
    for index in from..from + count {
        let sent = peers[speaker].send_opus(Instant::now(), index, LEVEL);
        assert_eq!(sent[0], OPUS_TOC);
        let until = Instant::now() + Duration::from_millis(20);
        while Instant::now() < until {
            let now = Instant::now();
            for peer in peers.iter_mut() {
                peer.pump(now);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    from + count
}

/// The account id of an access token's holder (its `sub` claim).
pub(crate) fn account_id(access: &str) -> i64 {
    common::token_claims(access)["sub"]
        .as_i64()
        .expect("an account id")
}

/// A value of `/metrics` text, or -1 when it is absent.
pub(crate) fn metric(text: &str, name: &str) -> f64 {
    loadbot::http::prometheus_value(text, name).unwrap_or(-1.0)
}
