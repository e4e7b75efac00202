//! ReplicationSet: the tick's replicated state, quantized once for every client,
//! and the state hash that makes determinism testable.

use bevy_ecs::prelude::*;
use meridian_protocol::snapshot::{EntityState, Footprint};

use crate::TickClock;
use crate::components::{Animation, Heading, PlacedElement, Position, Replicated};

/// Every replicated entity's quantized state this tick (placed elements with
/// their footprints), sorted by network id, and the
/// hash of it all.
#[derive(Resource, Debug, Default)]
pub(crate) struct ReplicatedStates {
    pub(crate) states: Vec<EntityState>,
    pub(crate) hash: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn mix(hash: u64, word: u64) -> u64 {
    (hash ^ word).wrapping_mul(FNV_PRIME)
}

/// What a replicated entity's state is made of (animation for avatars, a
/// footprint for placed elements).
type ReplicatedQuery<'w, 's> = Query<
    'w,
    's,
    (
        &'static Replicated,
        &'static Position,
        &'static Heading,
        Option<&'static Animation>,
        Option<&'static PlacedElement>,
    ),
>;

/// Quantizes every replicated entity (once per tick, shared by all clients) and
/// hashes the result together with the tick number.
pub(crate) fn collect_replicated_states(
    clock: Res<TickClock>,
    mut replicated: ResMut<ReplicatedStates>,
    entities: ReplicatedQuery,
) {
    let ReplicatedStates { states, hash } = &mut *replicated;
    states.clear();
    states.extend(
        entities
            .iter()
            .map(|(replicated, position, heading, animation, element)| {
                let state = EntityState::quantize(
                    replicated.id,
                    replicated.kind,
                    replicated.appearance,
                    [position.0.x, position.0.y],
                    heading.0,
                    animation.map(|a| a.0).unwrap_or_default(),
                );
                match element {
                    Some(element) => state.with_footprint(Footprint::quantize(
                        element.bounds.max.x - element.bounds.min.x,
                        element.bounds.max.y - element.bounds.min.y,
                        element.blocking,
                    )),
                    None => state,
                }
            }),
    );
    states.sort_unstable_by_key(|state| state.id);
    *hash = states
        .iter()
        .fold(mix(FNV_OFFSET, clock.tick), |hash, state| {
            let hash = mix(
                hash,
                u64::from(state.id.0) << 32 | u64::from(state.appearance),
            );
            let hash = mix(hash, u64::from(state.x) << 32 | u64::from(state.y));
            let hash = mix(
                hash,
                u64::from(state.heading) << 16 | (state.animation as u64) << 8 | state.kind as u64,
            );
            match state.footprint {
                Some(footprint) => mix(
                    hash,
                    u64::from(footprint.width) << 33
                        | u64::from(footprint.height) << 1
                        | u64::from(footprint.blocking),
                ),
                None => hash,
            }
        });
}
