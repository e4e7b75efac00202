//! A running zone takes new live settings between two steps: a smaller
//! interest radius shrinks views at their next refresh, a larger one grows
//! them again, and a faster tick rate moves avatars less per tick; a refused
//! setting changes nothing.

use meridian_protocol::messages::{AnimationState, Input, MovementIntent};
use meridian_sim::{AvatarSpawn, ClientId, ClientInput, ConfigError, SimConfig, Vec2, Zone};

fn spawn_row(zone: &mut Zone, count: u64, spacing: f32) {
    for index in 0..count {
        zone.spawn_avatar(
            ClientId(index + 1),
            AvatarSpawn {
                position: Vec2::new(10.0 + spacing * index as f32, 50.0),
                heading: 0.0,
                appearance: 0,
            },
        )
        .expect("room to spawn");
    }
}

#[test]
fn views_follow_the_interest_radius_from_the_next_refresh() {
    let mut zone = Zone::new(SimConfig {
        world_width: 100.0,
        world_height: 100.0,
        interest_radius: 30.0,
        interest_hysteresis: 2.0,
        interest_refresh_ticks: 1,
        ..SimConfig::default()
    })
    .expect("valid");
    // Ten avatars 5 m apart: at 30 m the first sees six others.
    spawn_row(&mut zone, 10, 5.0);
    zone.step(&[]);
    assert_eq!(zone.visible(ClientId(1)).map(<[_]>::len), Some(6));

    let mut live = zone.config().live_settings();
    live.interest_radius = 6.0;
    live.interest_hysteresis = 0.5;
    zone.apply_live_settings(&live).expect("valid");
    assert_eq!(zone.config().interest_radius, 6.0);
    zone.step(&[]);
    // Within 6.5 m: only the neighbour.
    assert_eq!(zone.visible(ClientId(1)).map(<[_]>::len), Some(1));

    live.interest_radius = 50.0;
    live.interest_hysteresis = 5.0;
    zone.apply_live_settings(&live).expect("valid");
    zone.step(&[]);
    assert_eq!(zone.visible(ClientId(1)).map(<[_]>::len), Some(9));

    // Refused as a settings file would be: nothing changes.
    live.interest_hysteresis = 80.0;
    assert!(matches!(
        zone.apply_live_settings(&live),
        Err(ConfigError::OutOfRange {
            field: "interest_hysteresis",
            ..
        })
    ));
    assert_eq!(zone.config().interest_hysteresis, 5.0);
}

#[test]
fn a_faster_tick_moves_avatars_less_per_tick() {
    let mut zone = Zone::new(SimConfig {
        world_width: 100.0,
        world_height: 100.0,
        ..SimConfig::default()
    })
    .expect("valid");
    spawn_row(&mut zone, 1, 0.0);
    let walk = |sequence| ClientInput {
        client: ClientId(1),
        input: Input {
            sequence,
            intent: MovementIntent {
                move_x: 1.0,
                move_y: 0.0,
                speed: 4.0,
                heading: 0.0,
                animation: AnimationState::Run,
            },
        },
    };
    let x = |zone: &Zone| zone.avatar(ClientId(1)).expect("there").position.x;
    let start = x(&zone);
    zone.step(&[walk(1)]);
    let at_20_hz = x(&zone) - start;
    let mut live = zone.config().live_settings();
    live.tick_rate_hz = 40;
    zone.apply_live_settings(&live).expect("valid");
    let before = x(&zone);
    zone.step(&[walk(2)]);
    let at_40_hz = x(&zone) - before;
    assert!((at_20_hz - 0.2).abs() < 1e-3, "{at_20_hz}");
    assert!((at_40_hz - 0.1).abs() < 1e-3, "{at_40_hz}");
}
