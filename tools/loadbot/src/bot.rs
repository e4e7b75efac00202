//! One bot: a behaviour that drives a real client, and what it measured.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use meridian_netcode::driver::client::Behaviour;
use meridian_netcode::{Client, ClientEvent};
use meridian_protocol::messages::{
    AnimationState, ChatChannel, ChatSend, DisconnectReason, MovementIntent, Welcome,
};
use meridian_sim::agents::SplitMix64;
use serde::{Deserialize, Serialize};

use crate::samples::Recorder;

/// What a bot does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BehaviourKind {
    /// Walks in a straight line, turning every few seconds and at the edges.
    RandomWalk,
    /// Heads for one of a few hot spots and mills about there.
    Flock,
    /// Stands still (inputs keep coming, as from an idle player).
    Idle,
    /// Walks at random and talks every few seconds.
    Chat,
    /// Walks back and forth across the nearest border between zones (needs
    /// the zone size; walks at random without it).
    Cross,
}

impl BehaviourKind {
    /// Every kind, for mixes.
    pub const ALL: [Self; 5] = [
        Self::RandomWalk,
        Self::Flock,
        Self::Idle,
        Self::Chat,
        Self::Cross,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::RandomWalk => "random-walk",
            Self::Flock => "flock",
            Self::Idle => "idle",
            Self::Chat => "chat",
            Self::Cross => "cross",
        }
    }

    /// Parses a name as written on the command line.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "random-walk" | "walk" => Self::RandomWalk,
            "flock" => Self::Flock,
            "idle" => Self::Idle,
            "chat" => Self::Chat,
            "cross" => Self::Cross,
            _ => return None,
        })
    }
}

/// Metres from the edge at which a bot turns back.
const EDGE_MARGIN: f32 = 8.0;

/// How far past a border a crossing bot walks before it turns back, metres.
const CROSS_PAST: f32 = 6.0;

/// The fastest a bot moves, metres per second (flock and cross run at 3).
const TOP_SPEED: f32 = 3.5;

/// A step of one's own avatar this much longer than the time since the last
/// snapshot allows is a jump, metres.
const JUMP_M: f32 = 0.5;

/// Counts of one bot; its distributions go to its [`Recorder`].
#[derive(Debug, Clone, Default)]
pub struct BotRecord {
    /// Welcomed at.
    pub welcomed_at: Option<Instant>,
    /// How it ended, if the server ended it.
    pub disconnect: Option<DisconnectReason>,
    /// Refused at the hello.
    pub refused: bool,
    /// Chat lines received.
    pub chat_received: u64,
    /// Largest view seen.
    pub max_view: usize,
    /// Steps longer than its top speed allows in the server time between the
    /// two snapshots (plus 0.5 m): a visible jump.
    pub jumps: u64,
    /// Connections lost and joined again (through another server).
    pub reconnects: u64,
    /// Times the server said its room moved to another shard (a drain): the
    /// bot joined again at once, the same session going on.
    pub moves: u64,
    /// The longest time between two snapshots it decoded, across lost
    /// connections and moves included, milliseconds.
    pub largest_freeze_ms: f64,
}

/// A bot's mind.
#[derive(Debug)]
pub struct Bot {
    kind: BehaviourKind,
    random: SplitMix64,
    welcome: Option<Welcome>,
    direction: (f32, f32),
    turn_in_ticks: u32,
    target: Option<(f32, f32)>,
    hot_spots: Vec<(f32, f32)>,
    ticks: u64,
    pending: VecDeque<(u32, Instant)>,
    last_snapshot: Option<Instant>,
    /// Its last snapshot on any connection (kept across reconnections).
    last_snapshot_ever: Option<Instant>,
    /// Its own last place, and the tick of the view it was read from.
    last_position: Option<(f32, f32, u32)>,
    /// Lost at, and where it was then, until it is seen again.
    lost: Option<(Instant, Option<(f32, f32)>)>,
    cross_target: Option<f32>,
    stuck_ticks: u32,
    /// The world's zone size, for the crossing behaviour.
    pub zone_size: Option<f32>,
    /// What it counted.
    pub record: BotRecord,
    /// Where its distributions and the timeline go.
    pub recorder: Recorder,
    /// Bytes its current connection had received at the last snapshot.
    bytes_seen: u64,
    /// Inputs it may send now, earned at the server's tick rate (at most
    /// two saved), and when it last earned: one input per server tick.
    input_credit: (f64, Option<Instant>),
    /// Counted up when the bot is welcomed (live progress).
    pub welcomed_counter: Option<Arc<AtomicUsize>>,
    /// Counted up for every snapshot decoded (live progress).
    pub snapshot_counter: Option<Arc<AtomicU64>>,
    /// Its voice side, when it takes part in voice.
    pub voice: Option<crate::voice::BotVoice>,
}

impl Bot {
    /// A bot of this kind; `hot_spot_seed` is shared by the swarm so that flocks
    /// agree on where to go.
    pub fn new(kind: BehaviourKind, seed: u64, hot_spot_seed: u64) -> Self {
        Self::with_recorder(kind, seed, hot_spot_seed, Recorder::new(Instant::now()))
    }

    /// A bot that records into `recorder` (shared by a swarm's bots: a bot
    /// makes no histograms of its own).
    pub fn with_recorder(
        kind: BehaviourKind,
        seed: u64,
        hot_spot_seed: u64,
        recorder: Recorder,
    ) -> Self {
        let mut spots = SplitMix64::new(hot_spot_seed);
        let hot_spots = (0..4)
            .map(|_| (spots.next_f32(), spots.next_f32()))
            .collect();
        Self {
            kind,
            random: SplitMix64::new(seed),
            welcome: None,
            direction: (1.0, 0.0),
            turn_in_ticks: 0,
            target: None,
            hot_spots,
            ticks: 0,
            pending: VecDeque::new(),
            last_snapshot: None,
            last_snapshot_ever: None,
            last_position: None,
            lost: None,
            cross_target: None,
            stuck_ticks: 0,
            zone_size: None,
            record: BotRecord::default(),
            recorder,
            bytes_seen: 0,
            input_credit: (1.0, None),
            welcomed_counter: None,
            snapshot_counter: None,
            voice: None,
        }
    }

    /// The connection was lost: the next one is a reconnection.
    pub fn connection_lost(&mut self, now: Instant) {
        // A second loss before the bot saw itself again keeps the first: the
        // move is measured from the last place it was seen.
        if self.lost.is_none() {
            self.lost = Some((now, self.last_position.map(|(x, y, _)| (x, y))));
        }
        self.record.disconnect = None;
        self.welcome = None;
        self.pending.clear();
        self.last_snapshot = None;
        self.last_position = None;
        self.bytes_seen = 0;
    }

    /// Since when it has been out (its connection lost, not seen itself
    /// again since), if it is.
    pub fn lost_since(&self) -> Option<Instant> {
        self.lost.map(|(at, _)| at)
    }

    /// Whether its connection ended with the server saying the room moved.
    pub fn was_moved(&self) -> bool {
        self.record.disconnect == Some(DisconnectReason::Moved)
    }

    /// Toward the far side of the nearest border and back, along x.
    fn cross(&mut self, position: Option<(f32, f32)>, zone: f32, width: f32) -> (f32, f32) {
        let Some((x, _)) = position else {
            return self.direction;
        };
        let border = ((x / zone).round() * zone).clamp(zone, (width - zone).max(zone));
        let target = *self.cross_target.get_or_insert(if x < border {
            border + CROSS_PAST
        } else {
            border - CROSS_PAST
        });
        if (x - target).abs() < 0.5 {
            // Across: now back over the same border.
            self.cross_target = Some(if target > border {
                border - CROSS_PAST
            } else {
                border + CROSS_PAST
            });
        }
        let dx = if self.cross_target.unwrap_or(target) > x {
            1.0
        } else {
            -1.0
        };
        if self.turn_in_ticks > 0 {
            // Stepping around something in the way.
            return self.direction;
        }
        (dx, 0.0)
    }

    fn own_position(&self, client: &Client) -> Option<(f32, f32)> {
        let me = self.welcome.as_ref()?.avatar_id;
        let view = client.view();
        let index = view.binary_search_by_key(&me, |state| state.id).ok()?;
        let [x, y] = view[index].position();
        Some((x, y))
    }

    fn steer(&mut self, client: &Client) -> MovementIntent {
        let Some(welcome) = &self.welcome else {
            return MovementIntent::idle(0.0);
        };
        let (width, height) = (welcome.zone_width, welcome.zone_height);
        let radius = welcome.limits.avatar_radius;
        let position = self.own_position(client);
        let (mut dx, mut dy) = self.direction;
        match self.kind {
            BehaviourKind::Idle => return MovementIntent::idle(0.0),
            BehaviourKind::Flock => {
                let spot = *self.target.get_or_insert_with(|| {
                    let (fx, fy) = self.hot_spots[self.random.range_u32(0, 4) as usize];
                    (
                        EDGE_MARGIN + fx * (width - 2.0 * EDGE_MARGIN),
                        EDGE_MARGIN + fy * (height - 2.0 * EDGE_MARGIN),
                    )
                });
                if let Some((x, y)) = position {
                    let (tx, ty) = (spot.0 - x, spot.1 - y);
                    let distance = (tx * tx + ty * ty).sqrt();
                    if distance > 6.0 {
                        (dx, dy) = (tx / distance, ty / distance);
                    } else if self.turn_in_ticks == 0 {
                        let angle = self.random.next_f32() * std::f32::consts::TAU;
                        (dx, dy) = (angle.cos(), angle.sin());
                        self.turn_in_ticks = 20;
                    }
                }
            }
            BehaviourKind::Cross if self.zone_size.is_some() => {
                let zone = self.zone_size.unwrap_or(width);
                if self.stuck_ticks >= 10 && self.turn_in_ticks == 0 {
                    // Blocked: step aside for a while.
                    let side = if self.random.next_f32() < 0.5 {
                        1.0
                    } else {
                        -1.0
                    };
                    self.direction = (0.0, side);
                    self.turn_in_ticks = 15;
                    self.stuck_ticks = 0;
                }
                (dx, dy) = self.cross(position, zone, width);
            }
            BehaviourKind::RandomWalk | BehaviourKind::Chat | BehaviourKind::Cross => {
                if self.turn_in_ticks == 0 {
                    let angle = self.random.next_f32() * std::f32::consts::TAU;
                    (dx, dy) = (angle.cos(), angle.sin());
                    self.turn_in_ticks = self.random.range_u32(40, 100);
                }
            }
        }
        // Step around the blocking elements in view: inputs into one are rejected.
        if let Some(from) = position {
            let ahead = crate::obstacles::way_around(client.view(), from, (dx, dy), 1.0, radius);
            if let Some(turned) = ahead.filter(|turned| *turned != (dx, dy)) {
                (dx, dy) = turned;
                self.turn_in_ticks = self.turn_in_ticks.max(10);
            }
        }
        // Turn back from the edges: inputs that leave the world are rejected.
        if let Some((x, y)) = position {
            if (x < EDGE_MARGIN && dx < 0.0) || (x > width - EDGE_MARGIN && dx > 0.0) {
                dx = -dx;
            }
            if (y < EDGE_MARGIN && dy < 0.0) || (y > height - EDGE_MARGIN && dy > 0.0) {
                dy = -dy;
            }
        }
        self.turn_in_ticks = self.turn_in_ticks.saturating_sub(1);
        self.direction = (dx, dy);
        let speed = if matches!(self.kind, BehaviourKind::Flock | BehaviourKind::Cross) {
            3.0
        } else {
            1.8
        };
        MovementIntent {
            move_x: dx,
            move_y: dy,
            speed,
            heading: dy.atan2(dx),
            animation: if speed > 2.0 {
                AnimationState::Run
            } else {
                AnimationState::Walk
            },
        }
    }
}

impl Behaviour for Bot {
    fn on_tick(&mut self, client: &mut Client, now: Instant) {
        if let Some(voice) = &mut self.voice {
            voice.on_tick(client, now);
        }
        // One input per server tick, as PROTOCOL.md asks: a swarm ticking
        // faster than the server (its tick rate lowered while it runs) skips
        // some of its own ticks rather than run out of input credits.
        let server_rate = client
            .welcome()
            .map_or(0.0, |welcome| f64::from(welcome.tick_rate_hz));
        let (credit, earned_at) = &mut self.input_credit;
        if let Some(earned_at) = earned_at.replace(now) {
            *credit = (*credit + (now - earned_at).as_secs_f64() * server_rate).min(2.0);
        }
        if *credit < 1.0 {
            return;
        }
        *credit -= 1.0;
        self.ticks += 1;
        let mut intent = self.steer(client);
        if let Some(welcome) = client.welcome() {
            // The limit may have been lowered while the bot runs.
            intent.speed = intent.speed.min(welcome.limits.max_speed);
        }
        if let Some(sequence) = client.send_input(now, intent) {
            self.pending.push_back((sequence, now));
            // The server applies at most a few inputs per tick; keep a bounded
            // history of those not yet acknowledged.
            while self.pending.len() > 256 {
                self.pending.pop_front();
            }
        }
        if self.kind == BehaviourKind::Chat && self.ticks.is_multiple_of(100) {
            let channel = if self.ticks.is_multiple_of(300) {
                ChatChannel::Zone
            } else {
                ChatChannel::Proximity
            };
            client.send_chat(ChatSend {
                channel,
                text: format!("hello from a bot, tick {}", self.ticks),
            });
        }
    }

    fn on_event(&mut self, client: &mut Client, event: ClientEvent, now: Instant) {
        match event {
            ClientEvent::Welcomed(welcome) => {
                if let Some((lost_at, _)) = self.lost {
                    self.record.reconnects += 1;
                    let back_after_ms = (now - lost_at).as_secs_f64() * 1e3;
                    self.recorder
                        .samples(|samples| samples.back_after_ms.record(back_after_ms));
                }
                if self.record.welcomed_at.is_none()
                    && let Some(counter) = &self.welcomed_counter
                {
                    // Bots connected, not welcomes: a reconnection counts once.
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                self.record.welcomed_at.get_or_insert(now);
                self.welcome = Some(welcome);
            }
            ClientEvent::Refused(_) => self.record.refused = true,
            ClientEvent::Snapshot {
                last_input_sequence,
                tick,
                ..
            } => {
                if let Some(counter) = &self.snapshot_counter {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(previous) = self.last_snapshot_ever.replace(now) {
                    let freeze_ms = (now - previous).as_secs_f64() * 1e3;
                    self.record.largest_freeze_ms = self.record.largest_freeze_ms.max(freeze_ms);
                }
                let bytes_in = client.stats().bytes_in;
                self.recorder
                    .arrived(now, bytes_in.saturating_sub(self.bytes_seen), 1);
                self.bytes_seen = bytes_in;
                let tick_rate = self
                    .welcome
                    .as_ref()
                    .map_or(20.0, |w| f32::from(w.tick_rate_hz))
                    .max(1.0);
                let interval_ms = self
                    .last_snapshot
                    .replace(now)
                    .map(|previous| (now - previous).as_secs_f64() * 1e3);
                // The newest input this snapshot reflects gives one round trip;
                // older pending ones are done too.
                let mut newest = None;
                while let Some(&(sequence, sent)) = self.pending.front() {
                    if sequence > last_input_sequence {
                        break;
                    }
                    newest = Some(sent);
                    self.pending.pop_front();
                }
                let rtt_ms = newest.map(|sent| (now - sent).as_secs_f64() * 1e3);
                self.record.max_view = self.record.max_view.max(client.view().len());
                let position = self.own_position(client);
                // The position is read from the view, which is the newest
                // snapshot decoded: when several arrive in one turn (the
                // bot's process or the network held them), every event of
                // the burst sees the last one. The view's tick, not the
                // event's, says how long the step took.
                let view_tick = client.view_tick().unwrap_or(tick);
                let (mut moved_m, mut step_m) = (None, None);
                if let Some((x, y)) = position {
                    if let Some((_, Some((lx, ly)))) = self.lost.take() {
                        moved_m = Some(((x - lx).powi(2) + (y - ly).powi(2)).sqrt());
                    }
                    if let Some((px, py, at)) = self.last_position {
                        let step = ((x - px).powi(2) + (y - py).powi(2)).sqrt();
                        step_m = Some(step);
                        // By server time (ticks), as interpolation plays it back.
                        let elapsed = view_tick.saturating_sub(at) as f32 / tick_rate;
                        let possible = TOP_SPEED * elapsed;
                        self.record.jumps += u64::from(step > possible + JUMP_M);
                        if step < 0.01 {
                            self.stuck_ticks += 1;
                        } else {
                            self.stuck_ticks = 0;
                        }
                    }
                    self.last_position = Some((x, y, view_tick));
                }
                let tick_ms = 1e3 / f64::from(tick_rate);
                self.recorder.samples(|samples| {
                    if let Some(interval) = interval_ms {
                        samples.snapshot_interval_ms.record(interval);
                        samples
                            .snapshot_jitter_ms
                            .record((interval - tick_ms).abs());
                    }
                    if let Some(rtt) = rtt_ms {
                        samples.rtt_ms.record(rtt);
                    }
                    if let Some(step) = step_m {
                        samples.own_step_m.record(f64::from(step));
                    }
                    if let Some(moved) = moved_m {
                        samples.moved_across_reconnect_m.record(f64::from(moved));
                    }
                });
            }
            ClientEvent::SettingsChanged(changed) => {
                // Its own copy paces the jump check by the new tick rate.
                if let Some(welcome) = &mut self.welcome {
                    welcome.tick_rate_hz = changed.tick_rate_hz;
                    welcome.limits = changed.limits;
                }
            }
            ClientEvent::Chat(_) => self.record.chat_received += 1,
            // Names and inventory answers carry nothing a bot measures.
            ClientEvent::Presence(_) | ClientEvent::Inventory(_) => {}
            ClientEvent::Disconnected(reason) => {
                self.record.moves += u64::from(reason == DisconnectReason::Moved);
                self.record.disconnect = Some(reason);
            }
        }
    }
}
