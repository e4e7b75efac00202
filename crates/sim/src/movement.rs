//! Movement: integrate each avatar's velocity for one tick.

use bevy_ecs::prelude::*;
use meridian_protocol::AnimationState;

use crate::Settings;
use crate::components::{Animation, InputState, Position, Velocity};
use crate::input::inside_world;
use crate::math::Vec2;
use crate::statics::StaticIndex;

/// MovementSet: move every avatar by its velocity. An avatar whose client has been
/// silent for `input_hold_ticks` stops; one whose step is blocked (by the world's
/// edge or an element placed since its input was accepted) stops where it is.
pub(crate) fn apply_movement(
    settings: Res<Settings>,
    statics: Res<StaticIndex>,
    mut avatars: Query<(
        &mut Position,
        &mut Velocity,
        &mut Animation,
        &mut InputState,
    )>,
) {
    let config = &settings.0;
    let dt = config.tick_seconds();
    for (mut position, mut velocity, mut animation, mut state) in &mut avatars {
        if state.ticks_since_input >= config.input_hold_ticks {
            stop(&mut velocity, &mut animation);
        }
        state.ticks_since_input = state.ticks_since_input.saturating_add(1);
        if velocity.0 == Vec2::ZERO {
            continue;
        }
        let next = position.0 + velocity.0 * dt;
        if inside_world(config, next) && !statics.blocks(next, config.avatar_radius) {
            position.0 = next;
        } else {
            stop(&mut velocity, &mut animation);
        }
    }
}

fn stop(velocity: &mut Mut<'_, Velocity>, animation: &mut Mut<'_, Animation>) {
    if velocity.0 != Vec2::ZERO {
        velocity.0 = Vec2::ZERO;
    }
    if animation.0.is_locomotion() {
        animation.0 = AnimationState::Idle;
    }
}
