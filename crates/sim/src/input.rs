//! Input validation: every client input is checked before it touches the world.
//!
//! In order: the client has an avatar; the sequence is newer than the last applied;
//! the client has an input credit (rate limit); the intent is well formed (direction
//! at most unit length, speed not negative); the speed is within the zone's maximum;
//! the next step stays within the world and clear of static elements. A rejected
//! input is counted by reason and never applied; the tick goes on. An input
//! refused for what it asks (malformed, too fast, out of the world, into an
//! element) also stops the avatar until an accepted input moves it again; a
//! stale or rate-limited one changes nothing (it may be a duplicate or a late
//! datagram).

use std::collections::HashMap;

use bevy_ecs::prelude::*;
use meridian_protocol::{AnimationState, Input};
use serde::Serialize;

use crate::Settings;
use crate::components::{Animation, ClientId, Heading, InputState, Position, Velocity};
use crate::math::Vec2;
use crate::statics::StaticIndex;

/// One input from one client, as the transport hands it to the zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientInput {
    /// Who sent it.
    pub client: ClientId,
    /// What it says.
    pub input: Input,
}

/// Why an input was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum RejectReason {
    /// The client has no avatar in this zone.
    UnknownClient,
    /// The sequence is not newer than one already applied (a replay or reorder).
    StaleSequence,
    /// The client sent inputs faster than one per tick beyond its burst allowance.
    RateLimited,
    /// The direction is longer than unit length or the speed is negative.
    MalformedIntent,
    /// The requested speed is above the zone's maximum.
    SpeedExceeded,
    /// The step would leave the world.
    OutOfBounds,
    /// The step would walk into a static element.
    Collision,
}

impl RejectReason {
    /// Every reason, in the order of [`RejectionCounts::by_reason`].
    pub const ALL: [Self; 7] = [
        Self::UnknownClient,
        Self::StaleSequence,
        Self::RateLimited,
        Self::MalformedIntent,
        Self::SpeedExceeded,
        Self::OutOfBounds,
        Self::Collision,
    ];

    /// A stable snake_case name for metrics and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Self::UnknownClient => "unknown_client",
            Self::StaleSequence => "stale_sequence",
            Self::RateLimited => "rate_limited",
            Self::MalformedIntent => "malformed_intent",
            Self::SpeedExceeded => "speed_exceeded",
            Self::OutOfBounds => "out_of_bounds",
            Self::Collision => "collision",
        }
    }

    const fn index(self) -> usize {
        match self {
            Self::UnknownClient => 0,
            Self::StaleSequence => 1,
            Self::RateLimited => 2,
            Self::MalformedIntent => 3,
            Self::SpeedExceeded => 4,
            Self::OutOfBounds => 5,
            Self::Collision => 6,
        }
    }
}

/// One rejected input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    /// Who sent it.
    pub client: ClientId,
    /// Its sequence number.
    pub sequence: u32,
    /// Why it was rejected.
    pub reason: RejectReason,
}

/// Rejections counted since the zone started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectionCounts {
    /// Counts indexed like [`RejectReason::ALL`].
    pub by_reason: [u64; RejectReason::ALL.len()],
}

impl RejectionCounts {
    /// The count for one reason.
    pub fn get(&self, reason: RejectReason) -> u64 {
        self.by_reason[reason.index()]
    }

    /// All rejections.
    pub fn total(&self) -> u64 {
        self.by_reason.iter().sum()
    }

    fn add(&mut self, reason: RejectReason) {
        self.by_reason[reason.index()] += 1;
    }
}

/// Inputs waiting for this tick.
#[derive(Resource, Debug, Default)]
pub(crate) struct PendingInputs(pub(crate) Vec<ClientInput>);

/// Which avatar entity each client drives.
#[derive(Resource, Debug, Default)]
pub(crate) struct Clients(pub(crate) HashMap<ClientId, Entity>);

/// This tick's rejections and the running totals.
#[derive(Resource, Debug, Default)]
pub(crate) struct Rejections {
    pub(crate) this_tick: Vec<Rejection>,
    pub(crate) totals: RejectionCounts,
    pub(crate) accepted_this_tick: usize,
}

/// Tolerance on the intent's direction length, for float noise in clients.
const DIRECTION_TOLERANCE: f32 = 1e-3;

/// InputSet, first: each avatar earns one input credit per tick, up to the burst.
pub(crate) fn refill_input_credits(settings: Res<Settings>, mut states: Query<&mut InputState>) {
    let burst = settings.0.input_burst;
    for mut state in &mut states {
        if state.credits < burst {
            state.credits += 1;
        }
    }
}

/// InputSet, second: validate every pending input and apply the accepted ones to
/// the avatar's velocity, heading and animation.
pub(crate) fn validate_inputs(
    settings: Res<Settings>,
    pending: Res<PendingInputs>,
    clients: Res<Clients>,
    statics: Res<StaticIndex>,
    mut rejections: ResMut<Rejections>,
    mut avatars: Query<(
        &mut InputState,
        &Position,
        &mut Velocity,
        &mut Heading,
        &mut Animation,
    )>,
) {
    let config = &settings.0;
    // At most one rejection per input: reserve so the list never grows mid-tick.
    rejections.this_tick.reserve(pending.0.len());
    for &ClientInput { client, input } in &pending.0 {
        let verdict = clients
            .0
            .get(&client)
            .and_then(|&entity| avatars.get_mut(entity).ok())
            .ok_or(RejectReason::UnknownClient)
            .and_then(
                |(mut state, position, mut velocity, mut heading, mut animation)| {
                    check_sequence_and_rate(&mut state, input.sequence)?;
                    let step = match check_intent(config, &statics, position.0, &input) {
                        Ok(step) => step,
                        Err(reason) => {
                            // A refused intent stops the avatar: it does not
                            // go on with an older input the client has
                            // already replaced.
                            stop(&mut velocity, &mut animation);
                            return Err(reason);
                        }
                    };
                    state.last_sequence = Some(input.sequence);
                    state.ticks_since_input = 0;
                    velocity.0 = step.velocity;
                    heading.0 = step.heading;
                    animation.0 = step.animation;
                    Ok(())
                },
            );
        match verdict {
            Ok(()) => rejections.accepted_this_tick += 1,
            Err(reason) => {
                rejections.totals.add(reason);
                rejections.this_tick.push(Rejection {
                    client,
                    sequence: input.sequence,
                    reason,
                });
            }
        }
    }
}

/// Zero velocity; a walking or running animation becomes idle. Writes only
/// what changes.
fn stop(velocity: &mut Mut<'_, Velocity>, animation: &mut Mut<'_, Animation>) {
    if velocity.0 != Vec2::ZERO {
        velocity.0 = Vec2::ZERO;
    }
    if animation.0.is_locomotion() {
        animation.0 = AnimationState::Idle;
    }
}

fn check_sequence_and_rate(state: &mut InputState, sequence: u32) -> Result<(), RejectReason> {
    if state.last_sequence.is_some_and(|last| sequence <= last) {
        return Err(RejectReason::StaleSequence);
    }
    if state.credits == 0 {
        return Err(RejectReason::RateLimited);
    }
    state.credits -= 1;
    Ok(())
}

/// What an accepted intent does to the avatar.
struct Step {
    velocity: Vec2,
    heading: f32,
    animation: AnimationState,
}

fn check_intent(
    config: &crate::SimConfig,
    statics: &StaticIndex,
    position: Vec2,
    input: &Input,
) -> Result<Step, RejectReason> {
    let intent = &input.intent;
    let direction = Vec2::new(intent.move_x, intent.move_y);
    let finite = direction.is_finite() && intent.speed.is_finite() && intent.heading.is_finite();
    if !finite || direction.length() > 1.0 + DIRECTION_TOLERANCE || intent.speed < 0.0 {
        return Err(RejectReason::MalformedIntent);
    }
    if intent.speed > config.max_speed {
        return Err(RejectReason::SpeedExceeded);
    }
    let velocity = direction * intent.speed;
    if velocity.length_squared() == 0.0 {
        let animation = if intent.animation.is_locomotion() {
            AnimationState::Idle
        } else {
            intent.animation
        };
        return Ok(Step {
            velocity: Vec2::ZERO,
            heading: intent.heading,
            animation,
        });
    }
    let next = position + velocity * config.tick_seconds();
    if !inside_world(config, next) {
        return Err(RejectReason::OutOfBounds);
    }
    if statics.blocks(next, config.avatar_radius) {
        return Err(RejectReason::Collision);
    }
    let speed = velocity.length();
    Ok(Step {
        velocity,
        heading: velocity.y.atan2(velocity.x),
        animation: if speed <= config.walk_speed {
            AnimationState::Walk
        } else {
            AnimationState::Run
        },
    })
}

/// Whether an avatar centred at `point` lies wholly inside the world.
pub(crate) fn inside_world(config: &crate::SimConfig, point: Vec2) -> bool {
    let radius = config.avatar_radius;
    point.is_finite()
        && point.x >= radius
        && point.y >= radius
        && point.x <= config.world_width - radius
        && point.y <= config.world_height - radius
}
