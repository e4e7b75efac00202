//! Ghosts: a neighbour's entity mirrored read-only. Watchers see it and lose it
//! when it is removed; it takes no input; a handoff promotes a ghost to the real
//! avatar (and demotes the real one to a ghost) under the same network id, with
//! no gap in anyone's view.

use meridian_protocol::{AnimationState, Input, MovementIntent, NetworkId};
use meridian_sim::{
    AvatarSpawn, ClientId, ClientInput, GhostState, InterestChange, InterestEvent, SimConfig,
    SpawnError, Vec2, Zone,
};

const WATCHER: ClientId = ClientId(1);
const TRAVELLER: ClientId = ClientId(2);
/// A neighbour's id range.
const GHOST: NetworkId = NetworkId(1_000_001);

fn zone() -> Zone {
    Zone::new(SimConfig {
        world_width: 200.0,
        world_height: 200.0,
        ..SimConfig::default()
    })
    .expect("valid")
}

fn ghost_at(x: f32) -> GhostState {
    GhostState {
        id: GHOST,
        appearance: 3,
        position: Vec2::new(x, 50.0),
        heading: 0.5,
        animation: AnimationState::Walk,
    }
}

fn walk(client: ClientId, sequence: u32) -> ClientInput {
    ClientInput {
        client,
        input: Input {
            sequence,
            intent: MovementIntent {
                move_x: 1.0,
                move_y: 0.0,
                speed: 2.0,
                heading: 0.0,
                animation: AnimationState::Walk,
            },
        },
    }
}

fn step(zone: &mut Zone, inputs: &[ClientInput]) -> Vec<InterestEvent> {
    zone.step(inputs).interest_events.to_vec()
}

fn watcher_events(events: &[InterestEvent], entity: NetworkId) -> Vec<InterestChange> {
    events
        .iter()
        .filter(|event| event.subscriber == WATCHER && event.entity == entity)
        .map(|event| event.change)
        .collect()
}

fn spawn_watcher(zone: &mut Zone) {
    zone.spawn_avatar(
        WATCHER,
        AvatarSpawn {
            position: Vec2::new(40.0, 50.0),
            heading: 0.0,
            appearance: 0,
        },
    )
    .expect("spawned");
}

#[test]
fn a_ghost_is_seen_replicated_and_lost_when_removed() {
    let mut zone = zone();
    spawn_watcher(&mut zone);
    zone.upsert_ghost(ghost_at(50.0)).expect("upsert");
    let events = step(&mut zone, &[]);
    assert_eq!(watcher_events(&events, GHOST), [InterestChange::Entered]);
    let state = *zone
        .replicated_states()
        .iter()
        .find(|state| state.id == GHOST)
        .expect("replicated");
    assert_eq!((state.appearance, state.x), (3, 50 * 64));
    assert_eq!(zone.avatar_count(), 1, "a ghost is not an avatar here");
    assert_eq!(zone.ghost_count(), 1);

    // Its owner moves it; nothing else does.
    zone.upsert_ghost(ghost_at(52.0)).expect("update");
    step(&mut zone, &[]);
    let moved = zone
        .replicated_states()
        .iter()
        .find(|s| s.id == GHOST)
        .copied();
    assert_eq!(moved.map(|s| s.x), Some(52 * 64));
    step(&mut zone, &[]);
    let still = zone
        .replicated_states()
        .iter()
        .find(|s| s.id == GHOST)
        .copied();
    assert_eq!(still, moved);

    zone.remove_ghost(GHOST).expect("remove");
    let events = step(&mut zone, &[]);
    assert_eq!(watcher_events(&events, GHOST), [InterestChange::Left]);
    assert_eq!(zone.ghost_count(), 0);
    assert_eq!(
        zone.remove_ghost(GHOST),
        Err(SpawnError::UnknownGhost(GHOST))
    );
    assert_eq!(
        zone.upsert_ghost(ghost_at(500.0)),
        Err(SpawnError::OutOfBounds)
    );
}

#[test]
fn a_promoted_ghost_is_the_same_entity_to_every_watcher() {
    let mut zone = zone();
    spawn_watcher(&mut zone);
    zone.upsert_ghost(ghost_at(45.0)).expect("upsert");
    step(&mut zone, &[]);
    // The handoff arrives: the traveller's inputs up to 7 were applied at the source.
    zone.promote_ghost(GHOST, TRAVELLER, Some(7))
        .expect("promote");
    assert_eq!(zone.ghost_count(), 0);
    assert_eq!(zone.avatar_count(), 2);
    let mut events = Vec::new();
    let old = walk(TRAVELLER, 7);
    let outcome = zone.step(&[old]);
    assert_eq!(
        outcome.rejections.len(),
        1,
        "an input applied at the source is not applied again"
    );
    events.extend(outcome.interest_events.iter().copied());
    for sequence in 8..28 {
        events.extend(step(&mut zone, &[walk(TRAVELLER, sequence)]));
    }
    assert!(
        watcher_events(&events, GHOST).is_empty(),
        "no leave and enter: {events:?}"
    );
    let traveller = zone.avatar(TRAVELLER).expect("real here");
    assert_eq!(traveller.id, GHOST);
    assert!(
        traveller.position.x > 45.5,
        "its inputs move it: {traveller:?}"
    );
    // The traveller sees the watcher from its first tick here.
    assert!(zone.visible(TRAVELLER).is_some_and(|view| !view.is_empty()));
}

#[test]
fn a_demoted_avatar_stays_in_view_as_a_ghost() {
    let mut zone = zone();
    spawn_watcher(&mut zone);
    let id = zone
        .spawn_avatar(
            TRAVELLER,
            AvatarSpawn {
                position: Vec2::new(48.0, 50.0),
                heading: 0.0,
                appearance: 2,
            },
        )
        .expect("spawned");
    let events = step(&mut zone, &[]);
    assert_eq!(watcher_events(&events, id), [InterestChange::Entered]);
    assert_eq!(zone.demote_to_ghost(TRAVELLER), Ok(id));
    assert!(zone.avatar(TRAVELLER).is_none());
    // Inputs for it are refused here now; its new owner sends its state.
    let outcome = zone.step(&[walk(TRAVELLER, 1)]);
    assert_eq!(outcome.rejections.len(), 1);
    let events = outcome.interest_events.to_vec();
    assert!(watcher_events(&events, id).is_empty(), "{events:?}");
    zone.upsert_ghost(GhostState {
        id,
        appearance: 2,
        position: Vec2::new(49.0, 50.0),
        heading: 0.0,
        animation: AnimationState::Walk,
    })
    .expect("owner's update");
    step(&mut zone, &[]);
    let state = zone
        .replicated_states()
        .iter()
        .find(|s| s.id == id)
        .copied();
    assert_eq!(state.map(|s| s.x), Some(49 * 64));
}

#[test]
fn zones_hand_out_ids_from_their_own_range() {
    let mut zone = Zone::new(SimConfig {
        first_network_id: 2_000_001,
        ..SimConfig::default()
    })
    .expect("valid");
    let id = zone
        .spawn_avatar(
            WATCHER,
            AvatarSpawn {
                position: Vec2::new(5.0, 5.0),
                heading: 0.0,
                appearance: 0,
            },
        )
        .expect("spawned");
    assert_eq!(id, NetworkId(2_000_001));
    let refused = Zone::new(SimConfig {
        first_network_id: 0,
        ..SimConfig::default()
    });
    assert!(refused.is_err());
}
