//! The host enforces moderation on a deterministic stepper: two players who
//! blocked each other (either way) are not sent each other's lines while a
//! third hears both, a block lifted lets them hear again, a muted speaker's
//! line reaches nobody and is counted, a banned account is disconnected at
//! once (`Kicked`) and refused (`Banned`) when it comes back with a token it
//! already held.

mod stepper;

use std::time::Duration;

use meridian_netcode::emulator::LinkConditions;
use meridian_netcode::{ClientEvent, NetcodeConfig};
use meridian_protocol::messages::{ChatChannel, ChatSend, DisconnectReason, RefusalReason};
use meridian_sim::SimConfig;
use stepper::{Stepper, token};

fn three_players() -> Stepper {
    let sim = SimConfig {
        world_width: 30.0,
        world_height: 30.0,
        interest_radius: 40.0,
        ..SimConfig::default()
    };
    let mut stepper = Stepper::new(sim, NetcodeConfig::default());
    let now = stepper.now;
    // Accounts 0 and 1 come with their blocks loaded, as the join endpoint does.
    stepper.host.moderation_mut().load_blocks(now, 0, [1], []);
    stepper.host.moderation_mut().load_blocks(now, 1, [], [0]);
    for account in 0..3 {
        let token = token(&stepper.authority, account);
        stepper.connect(token, LinkConditions::PERFECT, account);
    }
    stepper.run_ticks(5, |_, _, _| {});
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
fn a_block_hides_both_ways_and_lifting_it_restores_both() {
    let mut stepper = three_players();
    say(&mut stepper, 0, "from zero");
    say(&mut stepper, 1, "from one");
    assert!(heard(&stepper, 2, "from zero") && heard(&stepper, 2, "from one"));
    assert!(
        !heard(&stepper, 1, "from zero"),
        "the blocked does not hear the blocker"
    );
    assert!(
        !heard(&stepper, 0, "from one"),
        "nor the blocker the blocked"
    );
    assert!(heard(&stepper, 0, "from zero"), "a speaker hears itself");
    assert_eq!(stepper.host.moderation().hidden_lines(), 2);

    // A block made while both are here, the other way: lifting the first
    // still leaves them apart.
    stepper.host.moderation_mut().block(1, 0);
    stepper.host.moderation_mut().unblock(0, 1);
    say(&mut stepper, 0, "still apart");
    assert!(!heard(&stepper, 1, "still apart"));
    stepper.host.moderation_mut().unblock(1, 0);
    say(&mut stepper, 1, "together again");
    assert!(heard(&stepper, 0, "together again"));
}

#[test]
fn a_muted_line_reaches_nobody_and_is_counted() {
    let mut stepper = three_players();
    let until = stepper.now + Duration::from_secs(60);
    stepper.host.moderation_mut().mute(2, until);
    say(&mut stepper, 2, "muted");
    assert!((0..3).all(|peer| !heard(&stepper, peer, "muted")));
    assert_eq!(stepper.host.moderation().muted_lines(), 1);
    assert!(
        stepper
            .host
            .take_said()
            .iter()
            .all(|line| line.text != "muted"),
        "not stored either"
    );
    stepper.host.moderation_mut().unmute(2);
    say(&mut stepper, 2, "heard again");
    assert!((0..3).all(|peer| heard(&stepper, peer, "heard again")));
}

#[test]
fn a_ban_disconnects_at_once_and_refuses_the_next_hello() {
    let mut stepper = three_players();
    let now = stepper.now;
    stepper.host.moderation_mut().ban(now, 2);
    assert!(stepper.host.disconnect_account(2, DisconnectReason::Kicked));
    stepper.run_ticks(4, |_, _, _| {});
    assert!(
        stepper.peers[2]
            .events
            .contains(&ClientEvent::Disconnected(DisconnectReason::Kicked)),
        "{:?}",
        stepper.peers[2].events
    );
    assert_eq!(stepper.host.member_count(), 2);
    // A realtime token minted before the ban does not get back in.
    let token = token(&stepper.authority, 2);
    let again = stepper.connect(token, LinkConditions::PERFECT, 9);
    stepper.run_ticks(5, |_, _, _| {});
    assert!(
        stepper.peers[again].events.iter().any(|event| matches!(
            event,
            ClientEvent::Refused(refusal) if refusal.reason == RefusalReason::Banned
        )),
        "{:?}",
        stepper.peers[again].events
    );
    assert_eq!(stepper.host.member_count(), 2);
    // Lifted: the next hello is welcomed.
    stepper.host.moderation_mut().unban(2);
    let token = stepper::token(&stepper.authority, 2);
    let welcome = stepper.connect(token, LinkConditions::PERFECT, 10);
    stepper.run_ticks(5, |_, _, _| {});
    assert!(
        stepper.peers[welcome]
            .events
            .iter()
            .any(|event| matches!(event, ClientEvent::Welcomed(_)))
    );
}
