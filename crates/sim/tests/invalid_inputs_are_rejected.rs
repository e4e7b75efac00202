//! Every kind of invalid input is rejected, counted by reason, and never applied.

use meridian_protocol::{AnimationState, Input, MovementIntent};
use meridian_sim::{
    Aabb, AvatarSpawn, ClientId, ClientInput, ElementPlacement, RejectReason, SimConfig, Vec2, Zone,
};

const PLAYER: ClientId = ClientId(1);

fn zone_with_player(at: Vec2) -> Zone {
    let mut zone = Zone::new(SimConfig {
        world_width: 100.0,
        world_height: 100.0,
        ..SimConfig::default()
    })
    .unwrap();
    zone.spawn_avatar(
        PLAYER,
        AvatarSpawn {
            position: at,
            heading: 0.0,
            appearance: 0,
        },
    )
    .unwrap();
    zone
}

fn walk(sequence: u32, x: f32, y: f32, speed: f32) -> ClientInput {
    ClientInput {
        client: PLAYER,
        input: Input {
            sequence,
            intent: MovementIntent {
                move_x: x,
                move_y: y,
                speed,
                heading: 0.0,
                animation: AnimationState::Idle,
            },
        },
    }
}

/// Steps once with `input` and checks that it was rejected for `reason` and that
/// the avatar did not move.
fn assert_rejected(zone: &mut Zone, input: ClientInput, reason: RejectReason) {
    let before = zone.avatar(PLAYER).map(|a| a.position);
    let counted = zone.rejection_counts().get(reason);
    let output = zone.step(&[input]);
    assert_eq!(output.accepted_inputs, 0, "{reason:?}");
    assert_eq!(output.rejections.len(), 1);
    assert_eq!(output.rejections[0].reason, reason);
    assert_eq!(output.rejections[0].sequence, input.input.sequence);
    assert_eq!(zone.rejection_counts().get(reason), counted + 1);
    assert_eq!(
        zone.avatar(PLAYER).map(|a| a.position),
        before,
        "{reason:?} moved the avatar"
    );
}

#[test]
fn a_valid_walk_moves_the_avatar_at_the_requested_speed() {
    let mut zone = zone_with_player(Vec2::new(50.0, 50.0));
    let output = zone.step(&[walk(1, 1.0, 0.0, 2.0)]);
    assert_eq!(output.accepted_inputs, 1);
    let avatar = zone.avatar(PLAYER).unwrap();
    assert!((avatar.position.x - 50.1).abs() < 1e-4, "{avatar:?}");
    assert_eq!(avatar.animation, AnimationState::Walk);
    let output = zone.step(&[walk(2, 0.0, 1.0, 5.0)]);
    assert_eq!(output.accepted_inputs, 1);
    assert_eq!(zone.avatar(PLAYER).unwrap().animation, AnimationState::Run);
}

#[test]
fn stale_and_replayed_sequences_are_rejected() {
    let mut zone = zone_with_player(Vec2::new(50.0, 50.0));
    assert_eq!(zone.step(&[walk(5, 0.0, 0.0, 0.0)]).accepted_inputs, 1);
    assert_rejected(
        &mut zone,
        walk(5, 1.0, 0.0, 1.0),
        RejectReason::StaleSequence,
    );
    assert_rejected(
        &mut zone,
        walk(3, 1.0, 0.0, 1.0),
        RejectReason::StaleSequence,
    );
}

#[test]
fn a_flood_beyond_the_burst_is_rate_limited() {
    let mut zone = zone_with_player(Vec2::new(50.0, 50.0));
    let burst = zone.config().input_burst as usize;
    let flood: Vec<_> = (1..=20).map(|seq| walk(seq, 0.0, 0.0, 0.0)).collect();
    let output = zone.step(&flood);
    // One credit is earned at the start of the tick, on top of the initial burst,
    // capped at the burst.
    assert_eq!(output.accepted_inputs, burst);
    assert_eq!(output.rejections.len(), 20 - burst);
    assert!(
        output
            .rejections
            .iter()
            .all(|r| r.reason == RejectReason::RateLimited)
    );
    // A tick later, one more credit.
    let output = zone.step(&[walk(21, 0.0, 0.0, 0.0), walk(22, 0.0, 0.0, 0.0)]);
    assert_eq!(output.accepted_inputs, 1);
}

#[test]
fn malformed_intents_are_rejected() {
    let mut zone = zone_with_player(Vec2::new(50.0, 50.0));
    assert_rejected(
        &mut zone,
        walk(1, 3.0, 0.0, 1.0),
        RejectReason::MalformedIntent,
    );
    assert_rejected(
        &mut zone,
        walk(2, 1.0, 0.0, -1.0),
        RejectReason::MalformedIntent,
    );
    assert_rejected(
        &mut zone,
        walk(3, f32::NAN, 0.0, 1.0),
        RejectReason::MalformedIntent,
    );
}

#[test]
fn too_fast_is_rejected() {
    let mut zone = zone_with_player(Vec2::new(50.0, 50.0));
    let max = zone.config().max_speed;
    assert_rejected(
        &mut zone,
        walk(1, 1.0, 0.0, max + 0.1),
        RejectReason::SpeedExceeded,
    );
}

#[test]
fn leaving_the_world_is_rejected() {
    let mut zone = zone_with_player(Vec2::new(0.35, 50.0));
    assert_rejected(
        &mut zone,
        walk(1, -1.0, 0.0, 2.0),
        RejectReason::OutOfBounds,
    );
}

#[test]
fn walking_into_an_element_is_rejected() {
    let mut zone = zone_with_player(Vec2::new(50.0, 50.0));
    zone.place_element(ElementPlacement {
        bounds: Aabb::from_corners(Vec2::new(50.35, 40.0), Vec2::new(52.0, 60.0)),
        appearance: 9,
        blocking: true,
    })
    .unwrap();
    assert_rejected(&mut zone, walk(1, 1.0, 0.0, 2.0), RejectReason::Collision);
    // Walking away from it is fine.
    assert_eq!(zone.step(&[walk(2, -1.0, 0.0, 2.0)]).accepted_inputs, 1);
}

#[test]
fn inputs_for_unknown_clients_are_rejected() {
    let mut zone = zone_with_player(Vec2::new(50.0, 50.0));
    let mut stranger = walk(1, 1.0, 0.0, 1.0);
    stranger.client = ClientId(99);
    let output = zone.step(&[stranger]);
    assert_eq!(output.rejections[0].reason, RejectReason::UnknownClient);
}

#[test]
fn a_silent_client_stops_after_the_hold_time() {
    let mut zone = zone_with_player(Vec2::new(50.0, 50.0));
    let hold = zone.config().input_hold_ticks as usize;
    zone.step(&[walk(1, 1.0, 0.0, 2.0)]);
    for _ in 1..hold {
        zone.step(&[]);
    }
    let moving = zone.avatar(PLAYER).unwrap().position;
    assert!(
        (moving.x - (50.0 + 0.1 * hold as f32)).abs() < 1e-3,
        "{moving:?}"
    );
    zone.step(&[]);
    zone.step(&[]);
    let stopped = zone.avatar(PLAYER).unwrap();
    assert_eq!(stopped.position, moving);
    assert_eq!(stopped.animation, AnimationState::Idle);
}

/// Walks east at 2 m/s for a tick: accepted, the avatar moves.
fn walking_east(zone: &mut Zone) {
    assert_eq!(zone.step(&[walk(1, 1.0, 0.0, 2.0)]).accepted_inputs, 1);
    assert_eq!(zone.avatar(PLAYER).unwrap().animation, AnimationState::Walk);
}

#[test]
fn a_move_vector_longer_than_one_is_refused_not_clamped_and_stops_the_avatar() {
    let mut zone = zone_with_player(Vec2::new(50.0, 50.0));
    walking_east(&mut zone);
    // Length 1.01: past the 0.001 tolerance. A clamping server would move the
    // avatar at 2 m/s north-east; this one refuses it and the avatar stops.
    let longer = 1.01 / 2f32.sqrt();
    assert_rejected(
        &mut zone,
        walk(2, longer, longer, 2.0),
        RejectReason::MalformedIntent,
    );
    let avatar = zone.avatar(PLAYER).unwrap();
    assert_eq!(avatar.animation, AnimationState::Idle, "{avatar:?}");
    // Stopped, not only for the tick of the refusal: it waits for an accepted input.
    let before = avatar.position;
    zone.step(&[]);
    assert_eq!(zone.avatar(PLAYER).unwrap().position, before);
    // Within the tolerance (length 1.0005) is accepted.
    let within = 1.0005 / 2f32.sqrt();
    assert_eq!(
        zone.step(&[walk(3, within, within, 2.0)]).accepted_inputs,
        1
    );
    assert_ne!(zone.avatar(PLAYER).unwrap().position, before);
}

#[test]
fn every_input_refused_for_what_it_asks_stops_a_walking_avatar() {
    let cases = [
        (walk(2, 0.0, 0.0, -1.0), RejectReason::MalformedIntent),
        (walk(2, 1.0, 0.0, 6.5), RejectReason::SpeedExceeded),
    ];
    for (input, reason) in cases {
        let mut zone = zone_with_player(Vec2::new(50.0, 50.0));
        walking_east(&mut zone);
        assert_rejected(&mut zone, input, reason);
        let before = zone.avatar(PLAYER).unwrap().position;
        zone.step(&[]);
        assert_eq!(
            zone.avatar(PLAYER).unwrap().position,
            before,
            "{reason:?} left the avatar walking"
        );
    }
}

#[test]
fn a_stale_input_leaves_a_walking_avatar_walking() {
    let mut zone = zone_with_player(Vec2::new(50.0, 50.0));
    walking_east(&mut zone);
    let before = zone.avatar(PLAYER).unwrap().position;
    let output = zone.step(&[walk(1, 0.0, 0.0, 0.0)]);
    assert_eq!(output.rejections[0].reason, RejectReason::StaleSequence);
    let after = zone.avatar(PLAYER).unwrap();
    assert!(
        after.position.x > before.x,
        "a duplicate stopped it: {after:?}"
    );
    assert_eq!(after.animation, AnimationState::Walk);
}
