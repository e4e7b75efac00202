//! The voice forwarding unit on a real UDP socket on 127.0.0.1 with three
//! str0m client peers, each on its own socket: A speaks; B, routed to hear A,
//! receives A's Opus packets byte for byte with their audio level; C, routed
//! to no one, receives none; routed away (as a block does), B receives none
//! of what A says after; silent for longer than ICE allows, every session
//! ends. Every wait is bounded; nothing asserts on timing.

#[path = "common/voice_peer.rs"]
mod voice_peer;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use meridian_netcode::voice::{
    CloseReason, Heard, ParticipantId, Routing, VoiceConfig, VoiceEvent,
};
use voice_peer::{VoicePeer, VoiceServer, pump_until};

const A: ParticipantId = ParticipantId(1);
const B: ParticipantId = ParticipantId(2);
const C: ParticipantId = ParticipantId(3);
const PACKETS: u32 = 50;
const LEVEL: i8 = -30;
const OPUS_INTERVAL: Duration = Duration::from_millis(20);

/// A speaks `PACKETS` packets, one every 20 ms as Opus would, numbered from
/// `first`, while everyone is pumped; returns the payloads sent and when the
/// last one was.
fn speak(
    server: &mut VoiceServer,
    a: &mut VoicePeer,
    b: &mut VoicePeer,
    c: &mut VoicePeer,
    first: u32,
) -> (HashSet<Vec<u8>>, Instant) {
    let mut sent = HashSet::new();
    let mut last = Instant::now();
    for index in first..first + PACKETS {
        let now = Instant::now();
        last = now;
        sent.insert(a.send_opus(now, index, LEVEL));
        let next = now + OPUS_INTERVAL;
        pump_until(
            server,
            &mut [&mut *a, &mut *b, &mut *c],
            OPUS_INTERVAL,
            |_, _| Instant::now() >= next,
        );
    }
    (sent, last)
}

#[test]
fn routed_listeners_receive_opus_unchanged_and_others_receive_none() {
    let now = Instant::now();
    let mut server = VoiceServer::new(VoiceConfig::default());
    let (mut a, offer_a) = VoicePeer::new(now, 1);
    let (mut b, offer_b) = VoicePeer::new(now, 1);
    let (mut c, offer_c) = VoicePeer::new(now, 1);
    server.admit(now, A, &mut a, &offer_a);
    server.admit(now, B, &mut b, &offer_b);
    server.admit(now, C, &mut c, &offer_c);
    eprintln!("voice port {}", server.address());

    let mut routing = Routing::new();
    routing.set(
        B,
        vec![Heard {
            speaker: A,
            distance: 4.0,
        }],
    );
    routing.set(C, Vec::new());
    server.sfu.set_routing(&routing);

    let connected = pump_until(
        &mut server,
        &mut [&mut a, &mut b, &mut c],
        Duration::from_secs(15),
        |server, peers| {
            peers.iter().all(|peer| peer.connected)
                && [A, B, C].iter().all(|participant| {
                    server.events.contains(&VoiceEvent::Connected {
                        participant: *participant,
                    })
                })
        },
    );
    assert!(
        connected,
        "ICE and DTLS did not come up: {:?}",
        server.events
    );
    assert!(
        server.events.iter().any(|event| matches!(
            event,
            VoiceEvent::Heard { listener, heard: Some(heard), .. }
                if *listener == B && heard.speaker == A && heard.distance == 4.0
        )),
        "B is told it hears A on a line: {:?}",
        server.events
    );

    // A speaks; B is routed to hear A.
    let (first_words, last_spoken) = speak(&mut server, &mut a, &mut b, &mut c, 0);
    pump_until(
        &mut server,
        &mut [&mut a, &mut b, &mut c],
        Duration::from_secs(3),
        |_, peers| peers[1].received.len() >= first_words.len(),
    );
    let heard_by_b = b.received.len();
    eprintln!(
        "B received {heard_by_b} of {} packets; C {}; {:?}",
        first_words.len(),
        c.received.len(),
        server.sfu.counters()
    );
    assert!(
        heard_by_b * 10 >= first_words.len() * 9,
        "B received {heard_by_b} of {} packets",
        first_words.len()
    );
    for packet in &b.received {
        assert!(
            first_words.contains(&packet.payload),
            "B received bytes A never sent: {:?}",
            packet.payload
        );
        assert_eq!(packet.slot, b.slots[0], "on its listening line");
        assert_eq!(
            packet.audio_level,
            Some(LEVEL),
            "the audio level is forwarded"
        );
    }
    let distinct: HashSet<&Vec<u8>> = b.received.iter().map(|packet| &packet.payload).collect();
    assert_eq!(distinct.len(), heard_by_b, "no packet is delivered twice");
    assert!(
        c.received.is_empty(),
        "C is routed to no one: {:?}",
        c.received
    );
    assert!(a.received.is_empty(), "A does not hear itself");
    let counters = server.sfu.counters();
    assert!(counters.packets_in >= heard_by_b as u64);
    assert!(counters.packets_forwarded >= heard_by_b as u64);
    assert_eq!(counters.sessions, 3);
    // The last packet arrived after it was sent, so its level is current then.
    assert_eq!(server.sfu.audio_level(last_spoken, A), Some(LEVEL));
    assert_eq!(
        server
            .sfu
            .audio_level(Instant::now() + Duration::from_secs(1), A),
        None,
        "a level goes stale"
    );

    // B is routed away from A, as a block would do; what A says next does
    // not reach B.
    routing.set(B, Vec::new());
    server.sfu.set_routing(&routing);
    let forwarded_before = server.sfu.counters().packets_forwarded;
    let (second_words, _) = speak(&mut server, &mut a, &mut b, &mut c, 1_000);
    // Let anything still in flight arrive.
    pump_until(
        &mut server,
        &mut [&mut a, &mut b, &mut c],
        Duration::from_millis(500),
        |_, _| false,
    );
    let late: Vec<_> = b
        .received
        .iter()
        .filter(|packet| second_words.contains(&packet.payload))
        .collect();
    assert!(
        late.is_empty(),
        "B still received A after the reroute: {late:?}"
    );
    assert!(c.received.is_empty());
    let counters = server.sfu.counters();
    assert_eq!(
        counters.packets_forwarded, forwarded_before,
        "nothing forwarded after the reroute"
    );
    assert!(
        counters.packets_in >= forwarded_before + u64::from(PACKETS) / 2,
        "A kept speaking to the server: {counters:?}"
    );
    assert_eq!(
        server
            .events
            .iter()
            .filter(|event| matches!(event, VoiceEvent::Heard { listener, heard: None, .. } if *listener == B))
            .count(),
        1,
        "B is told its line is free"
    );
    eprintln!("after the reroute: {counters:?}");

    // Peers that go silent are dropped: ICE-lite loses a peer 15 s after its
    // last STUN check. The SFU takes time as an argument, so 20 s are
    // passed to it rather than waited for.
    let later = Instant::now() + Duration::from_secs(20);
    server.sfu.handle_timeout(later);
    let closed: Vec<ParticipantId> = std::iter::from_fn(|| server.sfu.poll_event())
        .filter_map(|event| match event {
            VoiceEvent::Closed {
                participant,
                reason: CloseReason::Ended,
            } => Some(participant),
            _ => None,
        })
        .collect();
    assert_eq!(closed.len(), 3, "every silent session ends: {closed:?}");
    assert_eq!(server.sfu.counters().sessions, 0);
    assert_eq!(server.sfu.poll_timeout(), None, "nothing left to wake for");
}
