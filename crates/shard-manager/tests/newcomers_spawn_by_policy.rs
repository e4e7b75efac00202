//! Where newcomers appear, under the two spawn policies `meridian serve`
//! offers: with a spawn area (the plaza) a hundred joins stay within the area
//! as the crowd grows it; without one (uniform) they cover the whole zone, every
//! quadrant.

mod stepper;

use meridian_netcode::NetcodeConfig;
use meridian_netcode::emulator::LinkConditions;
use meridian_sim::{SimConfig, Vec2};
use stepper::{Stepper, token};

const JOINS: u64 = 100;
const SIDE: f32 = 400.0;

/// Every newcomer's position after `JOINS` joins, one per tick.
fn positions(spawn_area: Option<(Vec2, f32)>) -> Vec<Vec2> {
    let sim = SimConfig {
        world_width: SIDE,
        world_height: SIDE,
        ..SimConfig::default()
    };
    let mut stepper = Stepper::new(sim, NetcodeConfig::default());
    if let Some((centre, radius)) = spawn_area {
        stepper.host.set_spawn_area(centre, radius);
    }
    for account in 0..JOINS {
        let token = token(&stepper.authority, account);
        stepper.connect(token, LinkConditions::PERFECT, account);
        stepper.run_ticks(1, |_, _, _| {});
    }
    stepper.run_ticks(3, |_, _, _| {});
    let positions: Vec<Vec2> = stepper
        .host
        .member_states()
        .iter()
        .map(|state| state.position)
        .collect();
    assert_eq!(positions.len(), JOINS as usize, "everyone joined");
    positions
}

#[test]
fn uniform_spawns_cover_every_quadrant_of_the_zone() {
    let middle = SIDE / 2.0;
    let mut quadrants = [0usize; 4];
    for position in positions(None) {
        let index = usize::from(position.x >= middle) + 2 * usize::from(position.y >= middle);
        quadrants[index] += 1;
    }
    // A hundred uniform draws leave a quadrant empty with odds of 4 × 0.75^100.
    assert!(quadrants.iter().all(|count| *count > 0), "{quadrants:?}");
}

#[test]
fn plaza_spawns_stay_within_the_area_the_crowd_needs() {
    let centre = Vec2::new(SIDE / 2.0, SIDE / 2.0);
    let radius = 8.0;
    // The area grows to hold one avatar per 200 m² (about 80 m for 100).
    let grown = (JOINS as f32
        / (std::f32::consts::PI * meridian_shard_manager::host::SPAWN_DENSITY))
        .sqrt()
        .max(radius);
    for position in positions(Some((centre, radius))) {
        // The area is a square around the centre: its corners lie √2 radii out.
        let offset = position - centre;
        assert!(
            offset.x.abs() <= grown && offset.y.abs() <= grown,
            "{position:?} is outside the {grown} m plaza"
        );
    }
}
