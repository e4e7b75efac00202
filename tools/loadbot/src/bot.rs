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
use serde::Serialize;

/// What a bot does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
}

impl BehaviourKind {
    /// Every kind, for mixes.
    pub const ALL: [Self; 4] = [Self::RandomWalk, Self::Flock, Self::Idle, Self::Chat];

    /// Parses a name as written on the command line.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "random-walk" | "walk" => Self::RandomWalk,
            "flock" => Self::Flock,
            "idle" => Self::Idle,
            "chat" => Self::Chat,
            _ => return None,
        })
    }
}

/// Metres from the edge at which a bot turns back.
const EDGE_MARGIN: f32 = 8.0;

/// Measurements of one bot.
#[derive(Debug, Clone, Default)]
pub struct BotRecord {
    /// Welcomed at.
    pub welcomed_at: Option<Instant>,
    /// Input → acknowledging snapshot, milliseconds.
    pub round_trips_ms: Vec<f32>,
    /// Time between consecutive snapshots, milliseconds.
    pub snapshot_intervals_ms: Vec<f32>,
    /// How it ended, if the server ended it.
    pub disconnect: Option<DisconnectReason>,
    /// Refused at the hello.
    pub refused: bool,
    /// Chat lines received.
    pub chat_received: u64,
    /// Largest view seen.
    pub max_view: usize,
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
    /// What it measured.
    pub record: BotRecord,
    /// Counted up when the bot is welcomed (live progress).
    pub welcomed_counter: Option<Arc<AtomicUsize>>,
    /// Counted up for every snapshot decoded (live progress).
    pub snapshot_counter: Option<Arc<AtomicU64>>,
}

impl Bot {
    /// A bot of this kind; `hot_spot_seed` is shared by the swarm so that flocks
    /// agree on where to go.
    pub fn new(kind: BehaviourKind, seed: u64, hot_spot_seed: u64) -> Self {
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
            record: BotRecord::default(),
            welcomed_counter: None,
            snapshot_counter: None,
        }
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
            BehaviourKind::RandomWalk | BehaviourKind::Chat => {
                if self.turn_in_ticks == 0 {
                    let angle = self.random.next_f32() * std::f32::consts::TAU;
                    (dx, dy) = (angle.cos(), angle.sin());
                    self.turn_in_ticks = self.random.range_u32(40, 100);
                }
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
        let speed = if self.kind == BehaviourKind::Flock {
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
        self.ticks += 1;
        let intent = self.steer(client);
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
                self.record.welcomed_at = Some(now);
                if let Some(counter) = &self.welcomed_counter {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                self.welcome = Some(welcome);
            }
            ClientEvent::Refused(_) => self.record.refused = true,
            ClientEvent::Snapshot {
                last_input_sequence,
                ..
            } => {
                if let Some(counter) = &self.snapshot_counter {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(previous) = self.last_snapshot.replace(now) {
                    self.record
                        .snapshot_intervals_ms
                        .push((now - previous).as_secs_f32() * 1e3);
                }
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
                if let Some(sent) = newest {
                    self.record
                        .round_trips_ms
                        .push((now - sent).as_secs_f32() * 1e3);
                }
                self.record.max_view = self.record.max_view.max(client.view().len());
            }
            ClientEvent::Chat(_) => self.record.chat_received += 1,
            // Names and inventory answers carry nothing a bot measures.
            ClientEvent::Presence(_) | ClientEvent::Inventory(_) => {}
            ClientEvent::Disconnected(reason) => self.record.disconnect = Some(reason),
        }
    }
}
