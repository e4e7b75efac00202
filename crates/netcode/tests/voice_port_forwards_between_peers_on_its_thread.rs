//! The voice port's thread (`VoicePort`) on a real UDP socket on 127.0.0.1:
//! offers and routing go in as commands, answers and events come out as
//! outcomes, and two str0m peers talk through it: B hears A, then A hangs
//! up and B is told. Every wait is bounded; nothing asserts on timing.

#[path = "common/voice_peer.rs"]
mod voice_peer;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use meridian_netcode::voice::{
    CloseReason, Heard, InstanceKey, OfferError, ParticipantId, RoomTraffic, Routing, VoiceCommand,
    VoiceConfig, VoiceEvent, VoiceOutcome, VoicePort,
};
use voice_peer::{VoicePeer, pump_peers_until};

const A: ParticipantId = ParticipantId(1);
const B: ParticipantId = ParticipantId(2);
/// Rooms (instances) A's and B's traffic is counted under.
const ROOM_A: InstanceKey = InstanceKey(7);
const ROOM_B: InstanceKey = InstanceKey(8);

/// Waits (bounded) for the answer to `participant`'s offer; every outcome
/// taken from the port stays in `seen` except that answer.
fn answer_for(
    port: &VoicePort,
    participant: ParticipantId,
    seen: &mut Vec<VoiceOutcome>,
) -> Result<String, OfferError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        port.take_outcomes(seen);
        let position = seen.iter().position(|outcome| {
            matches!(outcome, VoiceOutcome::Answer { participant: whose, .. } if *whose == participant)
        });
        if let Some(position) = position {
            let VoiceOutcome::Answer { answer, .. } = seen.remove(position) else {
                unreachable!("matched an answer above");
            };
            return answer;
        }
        assert!(Instant::now() < deadline, "no answer for {participant:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn peers_talk_through_the_voice_thread() {
    let port = VoicePort::start(VoiceConfig::default(), "127.0.0.1:0".parse().unwrap())
        .expect("the voice port starts");
    let now = Instant::now();
    let (mut a, offer_a) = VoicePeer::new(now, 1);
    let (mut b, offer_b) = VoicePeer::new(now, 1);
    let mut seen = Vec::new();
    port.submit([
        VoiceCommand::Offer {
            participant: A,
            sdp: offer_a.clone(),
            room: ROOM_A,
        },
        VoiceCommand::Offer {
            participant: B,
            sdp: offer_b,
            room: ROOM_B,
        },
        VoiceCommand::Offer {
            participant: ParticipantId(3),
            sdp: "not sdp".into(),
            room: ROOM_A,
        },
    ]);
    a.accept_answer(&answer_for(&port, A, &mut seen).expect("A's offer is answered"));
    b.accept_answer(&answer_for(&port, B, &mut seen).expect("B's offer is answered"));
    assert!(matches!(
        answer_for(&port, ParticipantId(3), &mut seen),
        Err(OfferError::Malformed(_))
    ));
    let mut routing = Routing::new();
    routing.set(
        B,
        vec![Heard {
            speaker: A,
            distance: 6.0,
        }],
    );
    port.submit([VoiceCommand::Route(routing)]);
    assert!(
        pump_peers_until(&mut [&mut a, &mut b], Duration::from_secs(15), |peers| {
            peers.iter().all(|peer| peer.connected)
        }),
        "ICE and DTLS did not come up through the voice thread"
    );

    let mut sent = HashSet::new();
    for index in 0..25 {
        sent.insert(a.send_opus(Instant::now(), index, -12));
        let next = Instant::now() + Duration::from_millis(20);
        pump_peers_until(&mut [&mut a, &mut b], Duration::from_millis(20), |_| {
            Instant::now() >= next
        });
    }
    pump_peers_until(&mut [&mut a, &mut b], Duration::from_secs(3), |peers| {
        peers[1].received.len() >= sent.len()
    });
    eprintln!(
        "B received {} of {}; {:?}; levels {:?}",
        b.received.len(),
        sent.len(),
        port.stats(),
        port.audio_levels()
    );
    assert!(
        b.received.len() * 10 >= sent.len() * 9,
        "B received {} of {}",
        b.received.len(),
        sent.len()
    );
    assert!(
        b.received
            .iter()
            .all(|packet| sent.contains(&packet.payload))
    );
    let stats = port.stats();
    assert_eq!(stats.counters.sessions, 2);
    assert!(stats.counters.packets_forwarded >= b.received.len() as u64);
    // Each copy B received was sent, and timed from its read to its send.
    assert!(
        stats.forward_delay.count() >= b.received.len() as u64,
        "{:?}",
        stats.forward_delay
    );
    assert!(stats.forward_delay.count() <= stats.counters.packets_forwarded);
    assert_eq!(stats.counters.offers_refused, 1);
    // Each room's traffic: A's packets came in under A's room, their copies
    // went out under B's (published at most every 50 ms).
    let deadline = Instant::now() + Duration::from_secs(3);
    let (room_a, room_b, counters) = loop {
        let counters = port.stats().counters;
        let (room_a, room_b) = (port.room_traffic(ROOM_A), port.room_traffic(ROOM_B));
        if room_b.packets_forwarded == counters.packets_forwarded
            && room_a.packets_in == counters.packets_in
            || Instant::now() > deadline
        {
            break (room_a, room_b, counters);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(room_a.packets_in, counters.packets_in, "{room_a:?}");
    assert!(room_a.packets_in >= b.received.len() as u64);
    assert_eq!(room_a.packets_forwarded, 0, "{room_a:?}");
    assert_eq!(room_b.packets_in, 0, "{room_b:?}");
    assert_eq!(room_b.packets_forwarded, counters.packets_forwarded);
    assert_eq!(room_b.bytes_forwarded, counters.bytes_forwarded);
    assert!(room_a.datagram_bytes_in > room_a.bytes_in, "{room_a:?}");
    assert!(
        room_b.datagram_bytes_out > room_b.bytes_forwarded,
        "{room_b:?}"
    );
    assert_eq!(port.room_traffic(InstanceKey(9)), RoomTraffic::default());

    // A hangs up: the thread reports it, and B's line is freed by the next
    // routing (the caller's part).
    port.submit([VoiceCommand::Close { participant: A }]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let closed = VoiceEvent::Closed {
        participant: A,
        reason: CloseReason::Closed,
    };
    loop {
        let mut outcomes = Vec::new();
        port.take_outcomes(&mut outcomes);
        seen.extend(outcomes);
        if seen
            .iter()
            .any(|outcome| matches!(outcome, VoiceOutcome::Event(event) if *event == closed))
        {
            break;
        }
        assert!(Instant::now() < deadline, "no Closed event: {seen:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(seen.iter().any(|outcome| matches!(
        outcome,
        VoiceOutcome::Event(VoiceEvent::Connected { participant }) if *participant == B
    )));
    port.stop().expect("the voice thread ends cleanly");
}
