//! A realtime token admits one connection: the same token presented again (a
//! second connection, a replay of a captured hello) is refused as a bad token
//! with a reason that says so, and counted; a fresh token for the same account
//! is admitted.

mod stepper;

use meridian_netcode::emulator::LinkConditions;
use meridian_netcode::{ClientEvent, NetcodeConfig};
use meridian_protocol::messages::RefusalReason;
use meridian_sim::SimConfig;
use stepper::{Stepper, token};

fn idle(_: usize, _: &mut meridian_netcode::Client, _: std::time::Instant) {}

#[test]
fn a_token_presented_twice_is_refused_the_second_time() {
    let sim = SimConfig {
        world_width: 100.0,
        world_height: 100.0,
        ..SimConfig::default()
    };
    let mut stepper = Stepper::new(sim, NetcodeConfig::default());
    let once = token(&stepper.authority, 1);
    let first = stepper.connect(once.clone(), LinkConditions::PERFECT, 1);
    stepper.run_ticks(3, idle);
    assert!(
        stepper.peers[first].client.welcome().is_some(),
        "the first use is admitted"
    );

    let replay = stepper.connect(once, LinkConditions::PERFECT, 2);
    let fresh = stepper.connect(token(&stepper.authority, 1), LinkConditions::PERFECT, 3);
    stepper.run_ticks(5, idle);
    let refusal = stepper.peers[replay]
        .events
        .iter()
        .find_map(|event| match event {
            ClientEvent::Refused(refusal) => Some(refusal.clone()),
            _ => None,
        })
        .expect("the replay is refused");
    assert_eq!(refusal.reason, RefusalReason::BadToken);
    assert!(
        refusal.detail.contains("already been used"),
        "{}",
        refusal.detail
    );
    assert!(
        stepper.peers[fresh].client.welcome().is_some(),
        "a new token for the same account is admitted"
    );
    let metrics = stepper.host.server_ref().metrics();
    assert_eq!(metrics.refusals_for(RefusalReason::BadToken), 1);
}
