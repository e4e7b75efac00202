//! Bad input to the voice forwarding unit is refused and counted, never a
//! panic: malformed or unusable offers get a typed error; random datagrams,
//! STUN for unknown ufrags and garbage from a connected peer's own address
//! are dropped while the session keeps working; a flood of RTP from one
//! session is cut by its rate and cannot grow the outbound queue past its
//! bound.

#[path = "common/voice_peer.rs"]
mod voice_peer;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use meridian_netcode::voice::{OfferError, ParticipantId, Sfu, VoiceConfig};
use meridian_sim::agents::SplitMix64;
use voice_peer::{VoicePeer, VoiceServer, connected_pair, pump_until};

const A: ParticipantId = ParticipantId(1);
const B: ParticipantId = ParticipantId(2);

fn sfu(config: VoiceConfig) -> Sfu {
    Sfu::new(config, "127.0.0.1:3479".parse().unwrap()).unwrap()
}

/// A STUN binding request whose USERNAME is `username`, with a made-up
/// MESSAGE-INTEGRITY.
fn binding_request(username: &str, transaction: [u8; 12]) -> Vec<u8> {
    let mut attributes = Vec::new();
    let name = username.as_bytes();
    attributes.extend_from_slice(&0x0006u16.to_be_bytes());
    attributes.extend_from_slice(&(name.len() as u16).to_be_bytes());
    attributes.extend_from_slice(name);
    attributes.resize(attributes.len().div_ceil(4) * 4, 0);
    attributes.extend_from_slice(&0x0008u16.to_be_bytes());
    attributes.extend_from_slice(&20u16.to_be_bytes());
    attributes.extend_from_slice(&[0x5A; 20]);
    let mut message = vec![0x00, 0x01];
    message.extend_from_slice(&(attributes.len() as u16).to_be_bytes());
    message.extend_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
    message.extend_from_slice(&transaction);
    message.extend_from_slice(&attributes);
    message
}

fn random_bytes(random: &mut SplitMix64, length: usize) -> Vec<u8> {
    (0..length).map(|_| random.next_u64() as u8).collect()
}

fn random_address(random: &mut SplitMix64) -> SocketAddr {
    let port = random.range_u32(1, 65_535) as u16;
    SocketAddr::from(([127, 0, 0, random.range_u32(1, 255) as u8], port))
}

#[test]
fn malformed_and_unusable_offers_are_refused_with_typed_errors_and_counted() {
    let now = Instant::now();
    let mut sfu = sfu(VoiceConfig {
        max_sessions: 1,
        max_slots: 2,
        ..VoiceConfig::default()
    });
    for garbage in [
        "",
        "hello",
        "v=0\r\nm=audio",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n\u{0}\u{ff}",
    ] {
        let refused = sfu.handle_offer(now, A, garbage);
        assert!(
            matches!(refused, Err(OfferError::Malformed(_))),
            "{garbage:?}: {refused:?}"
        );
    }
    let mut random = SplitMix64::new(17);
    for _ in 0..200 {
        let length = random.range_u32(0, 600) as usize;
        let text: String = random_bytes(&mut random, length)
            .into_iter()
            .map(|byte| char::from(byte % 96 + 32))
            .collect();
        assert!(sfu.handle_offer(now, A, &text).is_err());
    }
    // Valid SDP with too many listening lines.
    let (_peer, offer) = VoicePeer::new(now, 3);
    let refused = sfu.handle_offer(now, A, &offer);
    assert!(
        matches!(
            refused,
            Err(OfferError::TooManySlots {
                offered: 3,
                allowed: 2
            })
        ),
        "{refused:?}"
    );
    // Valid SDP with no audio at all (a data channel only).
    let mut rtc = str0m::Rtc::builder().build(now);
    let mut api = rtc.sdp_api();
    api.add_channel("chat".into());
    let (data_only, _pending) = api.apply().unwrap();
    let refused = sfu.handle_offer(now, A, &data_only.to_sdp_string());
    assert!(matches!(refused, Err(OfferError::NoAudio)), "{refused:?}");
    // Full.
    let (_peer, offer) = VoicePeer::new(now, 1);
    sfu.handle_offer(now, A, &offer).expect("one session fits");
    let (_peer, offer) = VoicePeer::new(now, 1);
    let refused = sfu.handle_offer(now, B, &offer);
    assert!(matches!(refused, Err(OfferError::Full(1))), "{refused:?}");
    let counters = sfu.counters();
    assert_eq!(counters.offers_refused, 4 + 200 + 3);
    assert_eq!(counters.sessions, 1);
    eprintln!("{counters:?}");
}

#[test]
fn random_datagrams_and_unknown_ufrags_are_dropped_and_counted() {
    let now = Instant::now();
    let mut sfu = sfu(VoiceConfig::default());
    let (_peer, offer) = VoicePeer::new(now, 1);
    sfu.handle_offer(now, A, &offer).unwrap();
    let mut random = SplitMix64::new(0x5eed);
    let datagrams = 20_000;
    for index in 0..datagrams {
        let length = random.range_u32(0, 2_100) as usize;
        let mut datagram = random_bytes(&mut random, length);
        // Aim a share at each class: STUN, DTLS and RTP first bytes.
        if let Some(first) = datagram.first_mut() {
            *first = match index % 4 {
                0 => 0x00,
                1 => 22,
                2 => 0x80,
                _ => *first,
            };
        }
        sfu.handle_datagram(now, random_address(&mut random), &datagram);
    }
    for index in 0..1_000u32 {
        let mut transaction = [0; 12];
        transaction[..4].copy_from_slice(&index.to_be_bytes());
        sfu.handle_datagram(
            now,
            random_address(&mut random),
            &binding_request(&format!("nosuch{index}:client"), transaction),
        );
    }
    let counters = sfu.counters();
    eprintln!("{counters:?}");
    assert_eq!(counters.datagrams_in, datagrams + 1_000);
    assert_eq!(
        counters.refused.total(),
        datagrams + 1_000,
        "nothing reached a session"
    );
    assert!(counters.refused.unknown_ufrag >= 1_000);
    assert!(counters.refused.unknown_address > 0);
    assert!(counters.refused.size > 0);
    assert!(counters.refused.not_webrtc > 0);
    assert_eq!(counters.sessions, 1);
    assert_eq!(sfu.queued_transmits(), 0, "nothing answered");
}

/// A speaks `count` packets 20 ms apart from `first`; returns whether B
/// received at least one of them within a bounded wait.
fn b_hears_a(
    server: &mut VoiceServer,
    a: &mut VoicePeer,
    b: &mut VoicePeer,
    first: u32,
    count: u32,
) -> bool {
    let mut sent = Vec::new();
    for index in first..first + count {
        sent.push(a.send_opus(Instant::now(), index, -20));
        let next = Instant::now() + Duration::from_millis(20);
        pump_until(
            server,
            &mut [&mut *a, &mut *b],
            Duration::from_millis(20),
            |_, _| Instant::now() >= next,
        );
    }
    pump_until(
        server,
        &mut [&mut *a, &mut *b],
        Duration::from_secs(2),
        |_, peers| {
            peers[1]
                .received
                .iter()
                .any(|packet| sent.contains(&packet.payload))
        },
    )
}

#[test]
fn garbage_from_a_connected_peer_is_dropped_and_the_session_keeps_working() {
    let (mut server, mut a, mut b, ufrag_a) = connected_pair();
    let address_a = a.address();
    let mut random = SplitMix64::new(99);
    let now = Instant::now();
    // STUN naming A's ufrag with a wrong integrity, from anywhere: it has a
    // bucket of its own, so A's real traffic goes on at once.
    for index in 0..3_000u32 {
        let mut transaction = [0; 12];
        transaction[..4].copy_from_slice(&index.to_be_bytes());
        let request = binding_request(&format!("{ufrag_a}:forged"), transaction);
        server
            .sfu
            .handle_datagram(now, random_address(&mut random), &request);
    }
    let counters = server.sfu.counters();
    eprintln!("after forged STUN: {counters:?}");
    assert!(counters.refused.rate_limited > 2_900, "{counters:?}");
    assert!(
        b_hears_a(&mut server, &mut a, &mut b, 0, 10),
        "a forged STUN flood silenced A: {:?}",
        server.sfu.counters()
    );
    // Garbage that looks like each class, from A's own address.
    for index in 0..3_000u32 {
        let length = random.range_u32(1, 1_400) as usize;
        let mut datagram = random_bytes(&mut random, length);
        datagram[0] = [0x00, 22, 0x80, 0x81][index as usize % 4];
        server
            .sfu
            .handle_datagram(Instant::now(), address_a, &datagram);
    }
    let counters = server.sfu.counters();
    eprintln!("after garbage: {counters:?}");
    assert!(counters.refused.total() > 0);
    assert_eq!(counters.sessions, 2, "no session was closed by garbage");
    // The rate limiter spent A's bucket on garbage; let it refill, then A
    // speaks and B hears.
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        b_hears_a(&mut server, &mut a, &mut b, 100, 10),
        "B no longer hears A after the garbage: {:?}",
        server.sfu.counters()
    );
}

#[test]
fn an_rtp_flood_from_one_session_is_rate_limited_and_memory_stays_bounded() {
    let (mut server, mut a, mut b, _ufrag) = connected_pair();
    let config = VoiceConfig::default();
    // A real flood: A's client writes 3,000 Opus packets as fast as it can.
    let mut most_queued = 0;
    for index in 0..3_000u32 {
        let now = Instant::now();
        a.send_opus(now, 10_000 + index, -10);
        a.pump(now);
        server.receive(now);
        most_queued = most_queued.max(server.sfu.queued_transmits());
        server.pump(now);
        b.pump(now);
    }
    pump_until(
        &mut server,
        &mut [&mut a, &mut b],
        Duration::from_millis(500),
        |_, _| false,
    );
    let counters = server.sfu.counters();
    eprintln!(
        "flood: most queued {most_queued}, B received {}, {counters:?}",
        b.received.len()
    );
    assert!(
        counters.refused.rate_limited > 0,
        "the flood was not limited: {counters:?}"
    );
    assert!(
        counters.packets_in < 3_000,
        "every flooded packet reached the forwarder"
    );
    assert!(most_queued <= config.max_queued_transmits);
    // A synthetic flood of RTP-looking datagrams from A's address, all at one
    // instant: all but the burst are refused before any work.
    let address_a = a.address();
    let before = server.sfu.counters();
    let now = Instant::now();
    let mut random = SplitMix64::new(3);
    for _ in 0..50_000 {
        let mut datagram = random_bytes(&mut random, 200);
        datagram[0] = 0x80;
        datagram[1] = 111;
        server.sfu.handle_datagram(now, address_a, &datagram);
        assert!(server.sfu.queued_transmits() <= config.max_queued_transmits);
    }
    let after = server.sfu.counters();
    let limited = after.refused.rate_limited - before.refused.rate_limited;
    eprintln!("synthetic flood: {limited} of 50000 rate limited, {after:?}");
    assert!(limited >= 50_000 - u64::from(config.session_datagram_burst));
    assert_eq!(after.sessions, 2);
}
