//! Live settings on a running host: every connected client is told the new
//! tick rate and limits once (and reads them from its welcome afterwards),
//! a newcomer is welcomed with them, snapshots shrink to the new interest
//! radius, and a refused value changes nothing and tells nobody.

mod stepper;

use meridian_netcode::emulator::LinkConditions;
use meridian_netcode::{ClientEvent, NetcodeConfig};
use meridian_shard_manager::LiveSettingsError;
use meridian_sim::SimConfig;
use stepper::{Stepper, token};

fn settings_changes(stepper: &Stepper, peer: usize) -> Vec<(u16, f32)> {
    stepper.peers[peer]
        .events
        .iter()
        .filter_map(|event| match event {
            ClientEvent::SettingsChanged(changed) => {
                Some((changed.tick_rate_hz, changed.limits.interest_radius))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn clients_learn_new_settings_and_views_follow_them() {
    let sim = SimConfig {
        world_width: 100.0,
        world_height: 100.0,
        interest_radius: 60.0,
        interest_hysteresis: 5.0,
        ..SimConfig::default()
    };
    let mut stepper = Stepper::new(sim, NetcodeConfig::default());
    for account in 0..4 {
        let token = token(&stepper.authority, account);
        stepper.connect(token, LinkConditions::PERFECT, account);
    }
    stepper.run_ticks(10, |_, _, _| {});
    // Spawned in the plaza-less default: anywhere; at 60 m everyone sees
    // nearly everyone. Record the views before.
    let views_before: usize = stepper
        .peers
        .iter()
        .map(|peer| peer.client.view().len())
        .sum();

    let mut live = stepper.host.zone().config().live_settings();
    live.tick_rate_hz = 10;
    live.interest_radius = 0.5;
    live.interest_hysteresis = 0.0;
    stepper
        .host
        .apply_live_settings(&live, 8_000)
        .expect("valid settings");
    assert_eq!(stepper.host.zone().config().tick_rate_hz, 10);
    assert_eq!(
        stepper.host.server_ref().config().snapshot_bytes_per_second,
        8_000
    );
    stepper.run_ticks(10, |_, _, _| {});
    for peer in 0..4 {
        assert_eq!(settings_changes(&stepper, peer), [(10, 0.5)], "peer {peer}");
        let welcome = stepper.peers[peer].client.welcome().expect("welcomed");
        assert_eq!(welcome.tick_rate_hz, 10);
        assert_eq!(welcome.limits.interest_radius, 0.5);
    }
    // Half a metre: each sees itself (avatars stand at least 0.6 m apart).
    let views_after: usize = stepper
        .peers
        .iter()
        .map(|peer| peer.client.view().len())
        .sum();
    assert_eq!(views_after, 4, "only themselves (before: {views_before})");
    assert!(views_before > views_after);

    // A newcomer is welcomed with the new settings.
    let token = token(&stepper.authority, 9);
    stepper.connect(token, LinkConditions::PERFECT, 9);
    stepper.run_ticks(5, |_, _, _| {});
    let welcome = stepper.peers[4].client.welcome().expect("welcomed");
    assert_eq!(
        (welcome.tick_rate_hz, welcome.limits.interest_radius),
        (10, 0.5)
    );
    assert!(settings_changes(&stepper, 4).is_empty());

    // Refused as a settings file would be (the budget, then the speed at
    // 2 Hz): nothing changes and nobody is told.
    assert!(matches!(
        stepper.host.apply_live_settings(&live, 10),
        Err(LiveSettingsError::Netcode(_))
    ));
    live.tick_rate_hz = 2;
    assert!(matches!(
        stepper.host.apply_live_settings(&live, 8_000),
        Err(LiveSettingsError::Sim(_))
    ));
    stepper.run_ticks(3, |_, _, _| {});
    assert_eq!(stepper.host.zone().config().tick_rate_hz, 10);
    assert_eq!(
        stepper.host.server_ref().config().snapshot_bytes_per_second,
        8_000
    );
    assert_eq!(settings_changes(&stepper, 0).len(), 1);
}

#[test]
fn a_smaller_snapshot_budget_holds_changes_back_from_the_next_tick() {
    use meridian_protocol::messages::{AnimationState, MovementIntent};
    let sim = SimConfig {
        world_width: 100.0,
        world_height: 100.0,
        interest_radius: 150.0,
        ..SimConfig::default()
    };
    let mut stepper = Stepper::new(sim, NetcodeConfig::default());
    for account in 0..30 {
        let token = token(&stepper.authority, account);
        stepper.connect(token, LinkConditions::PERFECT, account);
    }
    // Everyone walks, each its own way, so every snapshot carries changes.
    let mut walk = |index: usize, client: &mut meridian_netcode::Client, now| {
        let angle = index as f32 * 0.7;
        client.send_input(
            now,
            MovementIntent {
                move_x: angle.cos(),
                move_y: angle.sin(),
                speed: 1.0,
                heading: angle,
                animation: AnimationState::Walk,
            },
        );
    };
    stepper.run_ticks(20, &mut walk);
    let deferred = |stepper: &Stepper| {
        stepper
            .host
            .server_ref()
            .metrics()
            .changes_deferred_by_budget
    };
    let sent = |stepper: &Stepper| stepper.host.server_ref().metrics().changes_sent;
    let (deferred_before, sent_before) = (deferred(&stepper), sent(&stepper));
    stepper.run_ticks(10, &mut walk);
    let (deferred_roomy, sent_roomy) = (
        deferred(&stepper) - deferred_before,
        sent(&stepper) - sent_before,
    );

    // 1,000 bytes a second at 20 Hz: 50 bytes a tick for 30 walkers.
    let live = stepper.host.zone().config().live_settings();
    stepper
        .host
        .apply_live_settings(&live, 1_000)
        .expect("valid settings");
    let (deferred_before, sent_before) = (deferred(&stepper), sent(&stepper));
    stepper.run_ticks(10, &mut walk);
    let (deferred_tight, sent_tight) = (
        deferred(&stepper) - deferred_before,
        sent(&stepper) - sent_before,
    );
    eprintln!(
        "10 ticks at 16,000 B/s: {sent_roomy} changes sent, {deferred_roomy} deferred; \
         at 1,000 B/s: {sent_tight} sent, {deferred_tight} deferred"
    );
    assert_eq!(
        deferred_roomy, 0,
        "16,000 bytes a second fit ({sent_roomy} sent)"
    );
    assert!(
        deferred_tight > 0 && sent_tight < sent_roomy,
        "held back: {deferred_tight} deferred, {sent_tight} sent against {sent_roomy}"
    );
}
