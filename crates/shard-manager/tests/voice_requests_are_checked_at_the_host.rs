//! The host checks voice requests on a deterministic stepper: with voice off
//! every offer is refused `VoiceDisabled`; with it on, a moderator-muted
//! player's offer is refused `MutedByModerator` and a banned one's `Banned`,
//! each counted; an accepted offer becomes an order for the voice port, a
//! second offer closes the first session before opening the next, and
//! `VoiceOff` closes it. No voice port runs here: the orders are read as the
//! zone thread would read them.

mod stepper;

use std::time::Duration;

use meridian_netcode::NetcodeConfig;
use meridian_netcode::emulator::LinkConditions;
use meridian_netcode::voice::ParticipantId;
use meridian_protocol::messages::{ClientMessage, ServerMessage, VoiceOffer, VoiceRefusalReason};
use meridian_shard_manager::VoiceOrder;
use meridian_sim::SimConfig;
use stepper::{Stepper, token};

fn offer(stepper: &mut Stepper, peer: usize, sdp: &str) {
    stepper.peers[peer]
        .client
        .send_voice(ClientMessage::VoiceOffer(VoiceOffer { sdp: sdp.into() }));
    stepper.run_ticks(4, |_, _, _| {});
}

fn refusals(stepper: &mut Stepper, peer: usize) -> Vec<VoiceRefusalReason> {
    let mut reasons = Vec::new();
    while let Some(message) = stepper.peers[peer].client.poll_voice() {
        if let ServerMessage::VoiceRefused(refused) = message {
            reasons.push(refused.reason);
        }
    }
    reasons
}

#[test]
fn offers_are_refused_by_reason_and_accepted_ones_become_orders() {
    let sim = SimConfig {
        world_width: 30.0,
        world_height: 30.0,
        ..SimConfig::default()
    };
    let mut stepper = Stepper::new(sim, NetcodeConfig::default());
    for account in 0..3 {
        let token = token(&stepper.authority, account);
        stepper.connect(token, LinkConditions::PERFECT, account);
    }
    stepper.run_ticks(5, |_, _, _| {});

    // Voice off (the host's default): refused, counted, no order.
    offer(&mut stepper, 0, "v=0\r\n");
    assert_eq!(
        refusals(&mut stepper, 0),
        [VoiceRefusalReason::VoiceDisabled]
    );
    assert!(stepper.host.take_voice_orders().is_empty());

    stepper.host.set_voice_enabled(true);
    let now = stepper.now;
    stepper
        .host
        .moderation_mut()
        .mute(1, now + Duration::from_secs(600));
    stepper.host.moderation_mut().ban(now, 2);
    offer(&mut stepper, 1, "v=0\r\n");
    offer(&mut stepper, 2, "v=0\r\n");
    assert_eq!(
        refusals(&mut stepper, 1),
        [VoiceRefusalReason::MutedByModerator]
    );
    assert_eq!(refusals(&mut stepper, 2), [VoiceRefusalReason::Banned]);
    let counted = stepper.host.voice_refusals();
    assert_eq!(
        (
            counted.voice_disabled,
            counted.muted_by_moderator,
            counted.banned
        ),
        (1, 1, 1)
    );
    assert!(stepper.host.take_voice_orders().is_empty());

    // Accepted: an order to open; a second offer closes, then opens; off closes.
    let participant = ParticipantId(0);
    offer(&mut stepper, 0, "first");
    offer(&mut stepper, 0, "second");
    stepper.peers[0].client.send_voice(ClientMessage::VoiceOff);
    stepper.run_ticks(4, |_, _, _| {});
    assert_eq!(
        stepper.host.take_voice_orders(),
        [
            VoiceOrder::Offer {
                participant,
                sdp: "first".into()
            },
            VoiceOrder::Close { participant },
            VoiceOrder::Offer {
                participant,
                sdp: "second".into()
            },
            VoiceOrder::Close { participant },
        ]
    );
    assert!(refusals(&mut stepper, 0).is_empty());
    assert_eq!(stepper.host.voice_sessions(), 0);
}
