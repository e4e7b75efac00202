//! Spawn hints (a join's saved place) wait for their player only as long as
//! the realtime token that came with them, and only so many wait: joins whose
//! player never connects cannot grow the host without bound. A player who
//! connects in time still spawns at the saved place.

mod stepper;

use std::time::Duration;

use meridian_netcode::NetcodeConfig;
use meridian_netcode::emulator::LinkConditions;
use meridian_shard_manager::SpawnHint;
use meridian_sim::{SimConfig, Vec2};
use stepper::{Stepper, token};

fn stepper() -> Stepper {
    let sim = SimConfig {
        world_width: 60.0,
        world_height: 60.0,
        ..SimConfig::default()
    };
    Stepper::new(sim, NetcodeConfig::default())
}

fn hint(account: u64) -> SpawnHint {
    SpawnHint {
        account,
        place: Some((Vec2::new(10.0, 12.0), 0.0)),
        appearance: None,
    }
}

#[test]
fn hints_nobody_takes_expire_and_the_store_is_bounded() {
    let mut stepper = stepper();
    stepper.host.limit_spawn_hints(Duration::from_secs(2), 100);
    for account in 1_000..1_500 {
        stepper.host.set_spawn_hint(stepper.now, hint(account));
        assert!(stepper.host.spawn_hints_waiting() <= 100);
    }
    assert_eq!(stepper.host.spawn_hints_waiting(), 100);
    assert_eq!(stepper.host.spawn_hints_dropped(), 400);
    // Past the lifetime (3 s of zone ticks), the rest expire.
    let ticks =
        (Duration::from_secs(3).as_secs_f64() / stepper.tick_interval.as_secs_f64()).ceil() as u32;
    stepper.run_ticks(ticks, |_, _, _| {});
    assert_eq!(stepper.host.spawn_hints_waiting(), 0);
    assert_eq!(stepper.host.spawn_hints_dropped(), 500);
}

#[test]
fn a_player_who_connects_in_time_spawns_at_the_saved_place() {
    let mut stepper = stepper();
    stepper
        .host
        .limit_spawn_hints(Duration::from_secs(300), 100);
    stepper.host.set_spawn_hint(stepper.now, hint(7));
    let token = token(&stepper.authority, 7);
    stepper.connect(token, LinkConditions::PERFECT, 7);
    stepper.run_ticks(5, |_, _, _| {});
    let states = stepper.host.member_states();
    let state = states
        .iter()
        .find(|state| state.account == 7)
        .expect("joined");
    assert!(
        (state.position - Vec2::new(10.0, 12.0)).length() < 1.0,
        "{:?}",
        state.position
    );
    assert_eq!(stepper.host.spawn_hints_waiting(), 0, "the hint was taken");
}
