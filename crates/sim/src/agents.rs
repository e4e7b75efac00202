//! Wandering agents: seeded stand-ins for players, for `meridian simulate`, benches
//! and tests. They drive avatars through the same inputs and validation as clients.

use std::f32::consts::TAU;

use meridian_protocol::{AnimationState, Input, MovementIntent};

use crate::{AvatarSpawn, ClientId, ClientInput, RejectReason, SpawnError, TickOutput, Vec2, Zone};

/// A small, fast, seeded random number generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator from a seed.
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A float uniform in `[0, 1)`.
    pub fn next_f32(&mut self) -> f32 {
        // The top 24 bits fill an f32 mantissa exactly.
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// An integer uniform in `[low, high)` (`high > low`).
    pub fn range_u32(&mut self, low: u32, high: u32) -> u32 {
        let span = u64::from(high.saturating_sub(low).max(1));
        // The remainder is below `span`, which fits u32.
        low + (self.next_u64() % span) as u32
    }
}

/// Walking speed of a wandering agent, m/s.
const WALK: f32 = 1.4;
/// Running speed, m/s.
const RUN: f32 = 4.5;

#[derive(Debug, Clone)]
struct Agent {
    client: ClientId,
    sequence: u32,
    direction: f32,
    speed: f32,
    ticks_until_change: u32,
}

/// A crowd of agents that wander the zone: each walks, runs or idles in a random
/// direction for a random while, turns back from the world's edge, and picks a new
/// direction when the zone refuses its step.
#[derive(Debug, Clone)]
pub struct Wanderers {
    rng: SplitMix64,
    agents: Vec<Agent>,
}

impl Wanderers {
    /// Spawns `count` avatars at random free spots (clients `first_client..`).
    pub fn spawn(
        zone: &mut Zone,
        count: usize,
        first_client: u64,
        seed: u64,
    ) -> Result<Self, SpawnError> {
        let mut rng = SplitMix64::new(seed);
        let mut agents = Vec::with_capacity(count);
        let (width, height) = (zone.config().world_width, zone.config().world_height);
        for index in 0..count as u64 {
            let client = ClientId(first_client + index);
            let mut attempts = 0;
            loop {
                let position = Vec2::new(rng.next_f32() * width, rng.next_f32() * height);
                let spawn = AvatarSpawn {
                    position,
                    heading: rng.next_f32() * TAU,
                    appearance: rng.range_u32(0, 8),
                };
                match zone.spawn_avatar(client, spawn) {
                    Ok(_) => break,
                    Err(SpawnError::OutOfBounds | SpawnError::Occupied) if attempts < 100 => {
                        attempts += 1;
                    }
                    Err(error) => return Err(error),
                }
            }
            agents.push(Agent {
                client,
                sequence: 0,
                direction: 0.0,
                speed: 0.0,
                ticks_until_change: 0,
            });
        }
        Ok(Self { rng, agents })
    }

    /// How many agents there are.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    /// Writes one input per agent for the next tick into `out` (cleared first).
    pub fn plan(&mut self, zone: &Zone, out: &mut Vec<ClientInput>) {
        out.clear();
        let config = zone.config();
        let (width, height) = (config.world_width, config.world_height);
        let dt = config.tick_seconds();
        for agent in &mut self.agents {
            let Some(avatar) = zone.avatar(agent.client) else {
                continue;
            };
            if agent.ticks_until_change == 0 {
                let roll = self.rng.next_f32();
                agent.speed = if roll < 0.2 {
                    0.0
                } else if roll < 0.7 {
                    WALK
                } else {
                    RUN
                };
                agent.direction = self.rng.next_f32() * TAU;
                agent.ticks_until_change = self.rng.range_u32(20, 100);
            }
            agent.ticks_until_change -= 1;
            let (sin, cos) = agent.direction.sin_cos();
            // Look a few steps ahead; near the edge, head for the middle instead.
            let ahead = avatar.position + Vec2::new(cos, sin) * (agent.speed * dt * 4.0 + 1.0);
            if ahead.x < 1.0 || ahead.y < 1.0 || ahead.x > width - 1.0 || ahead.y > height - 1.0 {
                let to_middle = Vec2::new(width / 2.0, height / 2.0) - avatar.position;
                agent.direction = to_middle.y.atan2(to_middle.x);
            }
            let (sin, cos) = agent.direction.sin_cos();
            agent.sequence += 1;
            let moving = agent.speed > 0.0;
            out.push(ClientInput {
                client: agent.client,
                input: Input {
                    sequence: agent.sequence,
                    intent: MovementIntent {
                        move_x: if moving { cos } else { 0.0 },
                        move_y: if moving { sin } else { 0.0 },
                        speed: agent.speed,
                        heading: agent.direction,
                        animation: AnimationState::Idle,
                    },
                },
            });
        }
    }

    /// Lets agents whose step was refused (a wall, the edge) choose anew next tick.
    pub fn observe(&mut self, output: &TickOutput<'_>, first_client: u64) {
        for rejection in output.rejections {
            if matches!(
                rejection.reason,
                RejectReason::Collision | RejectReason::OutOfBounds
            ) {
                let index = rejection.client.0.wrapping_sub(first_client);
                if let Some(agent) = usize::try_from(index)
                    .ok()
                    .and_then(|i| self.agents.get_mut(i))
                {
                    agent.ticks_until_change = 0;
                }
            }
        }
    }
}
