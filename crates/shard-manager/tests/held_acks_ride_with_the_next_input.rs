//! A client that holds its snapshot `Ack`s ([`Client::hold_acks`]) sends each
//! one together with its next input, in the same flush (so in the same QUIC
//! packet), or alone once the hold is over; either way the server keeps
//! delta-encoding against fresh baselines and every view stays right. A client
//! that does not hold them sends each `Ack` alone, as before.

mod stepper;

use std::time::Duration;

use meridian_netcode::emulator::LinkConditions;
use meridian_netcode::{Client, NetcodeConfig};
use meridian_protocol::messages::{AnimationState, MovementIntent};
use meridian_sim::SimConfig;
use stepper::{Stepper, token};

const TICKS: u32 = 100;

fn link() -> LinkConditions {
    LinkConditions {
        delay: Duration::from_millis(10),
        ..LinkConditions::PERFECT
    }
}

fn walk(client: &mut Client, now: std::time::Instant) {
    client.send_input(
        now,
        MovementIntent {
            move_x: 1.0,
            move_y: 0.0,
            speed: 1.5,
            heading: 0.0,
            animation: AnimationState::Walk,
        },
    );
}

#[test]
fn held_acks_leave_with_the_next_input_or_alone_when_the_hold_is_over() {
    let sim = SimConfig {
        world_width: 200.0,
        world_height: 200.0,
        ..SimConfig::default()
    };
    let mut stepper = Stepper::new(sim, NetcodeConfig::default());
    // 0: acks at once; 1: held longer than a tick, so the input the stepper
    // sends just before each tick always carries it; 2: held 10 ms, shorter
    // than the wait for that input, so it goes alone.
    let holds = [
        None,
        Some(Duration::from_millis(60)),
        Some(Duration::from_millis(10)),
    ];
    for (account, hold) in holds.iter().enumerate() {
        let token = token(&stepper.authority, account as u64);
        let index = stepper.connect(token, link(), account as u64 + 1);
        if let Some(hold) = hold {
            stepper.peers[index].client.hold_acks(*hold);
        }
    }
    stepper.run_ticks(20, |_, client, now| walk(client, now));
    let keyframes_at_start = stepper.host.server_ref().metrics().keyframes_sent;
    stepper.run_ticks(TICKS - 20, |_, client, now| walk(client, now));

    let mut alone = Vec::new();
    for (index, peer) in stepper.peers.iter().enumerate() {
        let stats = peer.client.stats();
        assert_eq!(
            stats.decode_errors,
            0,
            "peer {index}: {:?}",
            peer.client.last_decode_error()
        );
        assert!(
            stats.snapshots >= u64::from(TICKS) - 5,
            "peer {index} decoded {} snapshots in {TICKS} ticks",
            stats.snapshots
        );
        let acks: usize = peer.datagram_flushes.iter().map(|(_, acks)| acks).sum();
        assert!(
            acks as u64 + 3 >= stats.snapshots,
            "peer {index} acknowledged {acks} of {} snapshots",
            stats.snapshots
        );
        alone.push(
            peer.datagram_flushes
                .iter()
                .filter(|(inputs, acks)| *acks > 0 && *inputs == 0)
                .count(),
        );
        // Its newest view is the one the server meant it to have.
        let tick = peer.client.view_tick().expect("a view");
        let truth = stepper
            .truth
            .get(&(index, tick))
            .expect("the server's view of that tick");
        assert_eq!(
            peer.client.view(),
            truth.as_slice(),
            "peer {index} at tick {tick}"
        );
    }
    let snapshots = stepper.peers[0].client.stats().snapshots as usize;
    assert!(
        alone[0] + 5 >= snapshots,
        "acks at once go alone: {alone:?}"
    );
    assert_eq!(
        alone[1], 0,
        "a hold longer than a tick: every ack rides with an input"
    );
    assert!(
        alone[2] + 5 >= snapshots,
        "a short hold ends before the input: {alone:?}"
    );

    let metrics = stepper.host.server_ref().metrics();
    assert_eq!(metrics.bad_acks, 0);
    // Keyframes only at the start: held acks still arrive before the
    // baselines they name are dropped, so the server never falls back.
    assert_eq!(metrics.keyframes_sent, keyframes_at_start);
}
