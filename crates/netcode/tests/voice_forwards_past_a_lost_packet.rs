//! A speaker's packet lost on the way to the server does not hold back the
//! ones after it: the forwarding unit forwards each packet as it arrives
//! (the listener's jitter buffer conceals the gap). Before, str0m's
//! reordering buffer held the speaker's next packets until 15 more had
//! arrived or a second had passed, waiting for the lost one: 300 ms of
//! silence and then a burst, for every loss.
//!
//! The gap itself reaches the listener (the packets around it are numbered
//! two apart on its line), so that its jitter buffer knows to conceal.
//!
//! Real str0m peers on 127.0.0.1 (the listener, like a browser, does not
//! hold packets after a gap); the loss is one RTP datagram from the
//! speaker that the server's socket reads and drops. Waits are bounded;
//! nothing asserts on time: the listener must receive the packet after the
//! gap before the speaker has sent three more.

#[path = "common/voice_peer.rs"]
mod voice_peer;

use std::time::{Duration, Instant};

use voice_peer::{VoicePeer, VoiceServer, connected_pair, pump_until};

/// RTP, not RTCP (RFC 5761 §4): version 2, and a payload type outside
/// RTCP's 64-95 once the marker bit is masked. SRTP leaves the header clear.
fn is_rtp(datagram: &[u8]) -> bool {
    matches!(datagram, [128..=191, second, ..] if !(64..=95).contains(&(second & 0x7F)))
}

/// Pumps A, B and the server for 20 ms, a packet's time.
fn pump_for_a_packet_time(server: &mut VoiceServer, a: &mut VoicePeer, b: &mut VoicePeer) {
    let next = Instant::now() + Duration::from_millis(20);
    pump_until(server, &mut [a, b], Duration::from_millis(20), |_, _| {
        Instant::now() >= next
    });
}

/// One server turn in which the first RTP datagram from `from` is lost.
fn pump_losing_one(server: &mut VoiceServer, from: std::net::SocketAddr, lost: &mut bool) {
    let now = Instant::now();
    server.receive_losing(now, |source, datagram| {
        if !*lost && source == from && is_rtp(datagram) {
            *lost = true;
            return true;
        }
        false
    });
    server.send(now);
}

#[test]
fn the_packets_after_a_lost_one_are_forwarded_at_once() {
    let (mut server, mut a, mut b, _) = connected_pair();

    // A speaks; B hears the first ten.
    let mut sent = Vec::new();
    for index in 0..10 {
        sent.push(a.send_opus(Instant::now(), index, -20));
        let next = Instant::now() + Duration::from_millis(20);
        pump_until(
            &mut server,
            &mut [&mut a, &mut b],
            Duration::from_millis(20),
            |_, _| Instant::now() >= next,
        );
    }
    let heard_first = pump_until(
        &mut server,
        &mut [&mut a, &mut b],
        Duration::from_secs(2),
        |_, peers| {
            peers[1]
                .received
                .iter()
                .any(|packet| packet.payload == sent[9])
        },
    );
    assert!(heard_first, "B did not hear A's first packets");

    // Packet 10 is lost on the way in; packets 11 to 14 follow, 20 ms apart.
    let address_a = a.address();
    let mut lost = false;
    let lost_payload = a.send_opus(Instant::now(), 10, -20);
    let deadline = Instant::now() + Duration::from_secs(2);
    while !lost && Instant::now() < deadline {
        a.pump(Instant::now());
        pump_losing_one(&mut server, address_a, &mut lost);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(lost, "A's packet 10 never reached the server's socket");
    let after_gap = a.send_opus(Instant::now(), 11, -20);
    let mut later = Vec::new();
    let mut heard_at = None;
    for index in 12..15 {
        pump_for_a_packet_time(&mut server, &mut a, &mut b);
        if heard_at.is_none() && b.received.iter().any(|packet| packet.payload == after_gap) {
            heard_at = Some(index);
        }
        later.push(a.send_opus(Instant::now(), index, -20));
    }
    assert!(
        heard_at.is_some(),
        "B did not receive packet 11 before A sent packet 14: held back behind the lost one \
         ({} packets received, {:?})",
        b.received.len(),
        server.sfu.counters()
    );
    assert!(
        !b.received
            .iter()
            .any(|packet| packet.payload == lost_payload),
        "the lost packet cannot have arrived"
    );
    let seq_of = |payload: &Vec<u8>| {
        b.received
            .iter()
            .find(|packet| packet.payload == *payload)
            .map(|packet| packet.seq)
    };
    let before_gap = seq_of(&sent[9]).expect("packet 9 was heard");
    assert_eq!(
        seq_of(&after_gap),
        Some(before_gap + 2),
        "the lost packet leaves a gap in the listener's numbering"
    );
    // And the rest keep coming.
    let heard_rest = pump_until(
        &mut server,
        &mut [&mut a, &mut b],
        Duration::from_secs(2),
        |_, peers| {
            later.iter().all(|payload| {
                peers[1]
                    .received
                    .iter()
                    .any(|packet| packet.payload == *payload)
            })
        },
    );
    assert!(heard_rest, "B missed some of packets 12 to 14");
}
