//! A block holds while both players are here, whatever else happens: the
//! blocked player asking for joins it never uses (each one loads its blocks
//! again, as the join endpoint does) does not make the host forget them once
//! those loads would have expired, and a block known only from the speaker's
//! side (the listener's relations were never loaded here) still hides the
//! line both ways.

mod stepper;

use std::time::Duration;

use meridian_netcode::emulator::LinkConditions;
use meridian_netcode::moderation::PENDING_LIFETIME;
use meridian_netcode::{ClientEvent, NetcodeConfig};
use meridian_protocol::messages::{ChatChannel, ChatSend};
use meridian_sim::SimConfig;
use stepper::{Stepper, token};

/// Accounts 0, 1 and 2 connected; account 0 blocked account 1. `load_blocked`
/// says whether account 1's side was loaded too.
fn three_players(load_blocked: bool) -> Stepper {
    let sim = SimConfig {
        world_width: 30.0,
        world_height: 30.0,
        interest_radius: 40.0,
        ..SimConfig::default()
    };
    let mut stepper = Stepper::new(sim, NetcodeConfig::default());
    let now = stepper.now;
    stepper.host.moderation_mut().load_blocks(now, 0, [1], []);
    if load_blocked {
        stepper.host.moderation_mut().load_blocks(now, 1, [], [0]);
    }
    for account in 0..3 {
        let token = token(&stepper.authority, account);
        stepper.connect(token, LinkConditions::PERFECT, account);
    }
    stepper.run_ticks(5, |_, _, _| {});
    assert_eq!(stepper.host.member_count(), 3);
    stepper
}

fn say(stepper: &mut Stepper, peer: usize, text: &str) {
    stepper.peers[peer].client.send_chat(ChatSend {
        channel: ChatChannel::Zone,
        text: text.into(),
    });
    stepper.run_ticks(4, |_, _, _| {});
}

fn heard(stepper: &Stepper, peer: usize, text: &str) -> bool {
    stepper.peers[peer]
        .events
        .iter()
        .any(|event| matches!(event, ClientEvent::Chat(relay) if relay.text == text))
}

#[test]
fn joins_a_blocked_member_never_uses_do_not_undo_the_block() {
    let mut stepper = three_players(true);
    // The blocked player (and, for good measure, the blocker) asks for more
    // joins; the tokens are never used.
    for _ in 0..3 {
        let now = stepper.now;
        stepper.host.moderation_mut().load_blocks(now, 1, [], [0]);
        stepper.host.moderation_mut().load_blocks(now, 0, [1], []);
        stepper.run_ticks(20, |_, _, _| {});
    }
    // Past the pending expiry of every one of those loads, ticking all along
    // (the host passes each tick's time to moderation).
    let until = stepper.now + PENDING_LIFETIME + Duration::from_secs(5);
    stepper.step = stepper.tick_interval;
    while stepper.now < until {
        stepper.run_ticks(100, |_, _, _| {});
    }
    assert_eq!(stepper.host.member_count(), 3, "everyone is still here");

    say(&mut stepper, 0, "from the blocker");
    say(&mut stepper, 1, "from the blocked");
    assert!(
        !heard(&stepper, 1, "from the blocker"),
        "the blocked player does not hear the blocker again"
    );
    assert!(
        !heard(&stepper, 0, "from the blocked"),
        "nor the blocker the blocked"
    );
    assert!(heard(&stepper, 2, "from the blocker") && heard(&stepper, 2, "from the blocked"));
}

#[test]
fn the_speakers_block_hides_the_line_when_the_listeners_side_is_unknown() {
    let mut stepper = three_players(false);
    say(&mut stepper, 0, "from the blocker");
    say(&mut stepper, 1, "from the blocked");
    assert!(
        !heard(&stepper, 1, "from the blocker"),
        "the speaker's block is checked"
    );
    assert!(
        !heard(&stepper, 0, "from the blocked"),
        "and the listener's"
    );
    assert!(heard(&stepper, 2, "from the blocker") && heard(&stepper, 2, "from the blocked"));
    assert_eq!(stepper.host.moderation().hidden_lines(), 2);
}
