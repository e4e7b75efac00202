//! Malformed datagrams, oversized messages, wrong protocol versions, bad tokens,
//! floods and silence: each gets a typed refusal or disconnect with a reason and a
//! counted metric, and the zone keeps ticking for everyone else.

mod stepper;

use std::time::Duration;

use meridian_netcode::emulator::LinkConditions;
use meridian_netcode::token::REALTIME_SCOPE;
use meridian_netcode::{ClientEvent, NetcodeConfig, Payload, RealtimeClaims, TokenAuthority};
use meridian_protocol::PROTOCOL_VERSION;
use meridian_protocol::framing::write_frame;
use meridian_protocol::messages::{
    Ack, ClientMessage, DisconnectReason, Hello, Input, MovementIntent, RefusalReason,
};
use meridian_sim::{RejectReason, SimConfig};
use stepper::{SPACE, START_UNIX, Stepper, token};

fn stepper() -> Stepper {
    let sim = SimConfig {
        world_width: 100.0,
        world_height: 100.0,
        ..SimConfig::default()
    };
    Stepper::new(sim, NetcodeConfig::default())
}

fn refusal_of(stepper: &Stepper, peer: usize) -> Option<RefusalReason> {
    stepper.peers[peer]
        .events
        .iter()
        .find_map(|event| match event {
            ClientEvent::Refused(refusal) => Some(refusal.reason),
            _ => None,
        })
}

fn disconnect_of(stepper: &Stepper, peer: usize) -> Option<DisconnectReason> {
    stepper.peers[peer]
        .events
        .iter()
        .find_map(|event| match event {
            ClientEvent::Disconnected(reason) => Some(*reason),
            _ => None,
        })
}

fn idle(_: usize, _: &mut meridian_netcode::Client, _: std::time::Instant) {}

#[test]
fn hellos_with_a_wrong_version_or_bad_tokens_are_refused_with_the_reason() {
    let mut stepper = stepper();
    let good = stepper.connect(token(&stepper.authority, 1), LinkConditions::PERFECT, 1);
    let forged = TokenAuthority::new(b"someone else's key").mint(&RealtimeClaims {
        sub: 2,
        name: "mallory".into(),
        space: SPACE,
        exp: START_UNIX + 60,
        scope: REALTIME_SCOPE.into(),
        jti: meridian_netcode::token::random_token_id(),
        gateway: 0,
    });
    let bad_signature = stepper.connect(forged, LinkConditions::PERFECT, 2);
    let claims = |space, exp| RealtimeClaims {
        sub: 3,
        name: "eve".into(),
        space,
        exp,
        scope: REALTIME_SCOPE.into(),
        jti: meridian_netcode::token::random_token_id(),
        gateway: 0,
    };
    let expired = stepper.authority.mint(&claims(SPACE, START_UNIX - 1));
    let expired = stepper.connect(expired, LinkConditions::PERFECT, 3);
    let other_space = stepper.authority.mint(&claims(SPACE + 1, START_UNIX + 60));
    let wrong_space = stepper.connect(other_space, LinkConditions::PERFECT, 4);
    let garbage = stepper.connect("not a token".into(), LinkConditions::PERFECT, 5);
    // A hello from the future: protocol version + 1, sent by hand.
    let future = stepper.connect(String::new(), LinkConditions::PERFECT, 6);
    let hello = ClientMessage::Hello(Hello {
        protocol_version: PROTOCOL_VERSION + 1,
        auth_token: token(&stepper.authority, 9),
    });
    let (mut encoded, mut framed) = (Vec::new(), Vec::new());
    hello.encode(&mut encoded).expect("encodes");
    write_frame(&encoded, &mut framed).expect("frames");
    let connection = stepper.peers[future].connection;
    // Replace the empty-token hello the client queued with ours.
    while stepper.peers[future].client.poll_transmit().is_some() {}
    let now = stepper.now;
    stepper
        .host
        .server()
        .handle_stream(now, connection, &framed);
    stepper.run_ticks(5, idle);

    assert!(stepper.peers[good].client.welcome().is_some());
    assert_eq!(
        refusal_of(&stepper, bad_signature),
        Some(RefusalReason::BadToken)
    );
    assert_eq!(
        refusal_of(&stepper, expired),
        Some(RefusalReason::TokenExpired)
    );
    assert_eq!(
        refusal_of(&stepper, wrong_space),
        Some(RefusalReason::WrongSpace)
    );
    assert_eq!(refusal_of(&stepper, garbage), Some(RefusalReason::BadToken));
    assert_eq!(
        refusal_of(&stepper, future),
        Some(RefusalReason::VersionMismatch)
    );
    let metrics = stepper.host.server_ref().metrics();
    assert_eq!(metrics.refusals_for(RefusalReason::BadToken), 2);
    assert_eq!(metrics.refusals_for(RefusalReason::TokenExpired), 1);
    assert_eq!(metrics.refusals_for(RefusalReason::WrongSpace), 1);
    assert_eq!(metrics.refusals_for(RefusalReason::VersionMismatch), 1);
    assert_eq!(stepper.host.member_count(), 1);
}

#[test]
fn malformed_and_oversized_datagrams_are_counted_then_disconnect() {
    let mut stepper = stepper();
    let bystander = stepper.connect(token(&stepper.authority, 1), LinkConditions::PERFECT, 1);
    let attacker = stepper.connect(token(&stepper.authority, 2), LinkConditions::PERFECT, 2);
    stepper.run_ticks(3, idle);
    let connection = stepper.peers[attacker].connection;
    let junk: [&[u8]; 4] = [
        &[0xff, 0xff, 0xff],
        &[],
        &[1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80],
        &[7; 5_000],
    ];
    let before = stepper.tick();
    for round in 0..40 {
        let now = stepper.now;
        for bytes in junk {
            stepper
                .host
                .server()
                .handle_datagram(now, connection, bytes);
        }
        stepper.run_ticks(1, idle);
        if round == 0 {
            assert!(stepper.host.server_ref().metrics().malformed_datagrams >= 4);
        }
    }
    assert_eq!(
        disconnect_of(&stepper, attacker),
        Some(DisconnectReason::ProtocolViolation)
    );
    let metrics = stepper.host.server_ref().metrics();
    assert_eq!(
        metrics.disconnects_for(DisconnectReason::ProtocolViolation),
        1
    );
    assert!(stepper.tick() >= before + 40, "the zone kept ticking");
    assert!(
        stepper.peers[bystander]
            .client
            .view_tick()
            .is_some_and(|tick| tick + 3 >= stepper.tick())
    );
    assert_eq!(stepper.host.member_count(), 1);
}

/// Sends `count` datagrams built by `message` (given a running number) at once.
fn flood(stepper: &mut Stepper, peer: usize, count: u32, message: impl Fn(u32) -> ClientMessage) {
    let connection = stepper.peers[peer].connection;
    let now = stepper.now;
    for number in 0..count {
        let mut bytes = Vec::new();
        message(number).encode(&mut bytes).expect("encodes");
        stepper
            .host
            .server()
            .handle_datagram(now, connection, &bytes);
    }
}

#[test]
fn an_input_flood_is_rejected_by_the_zone_then_disconnected() {
    let mut stepper = stepper();
    let flooder = stepper.connect(token(&stepper.authority, 1), LinkConditions::PERFECT, 1);
    stepper.run_ticks(3, idle);
    // Fresh sequence numbers, so only the rate is wrong: 100 inputs in one tick.
    flood(&mut stepper, flooder, 100, |number| {
        ClientMessage::Input(Input {
            sequence: number + 1,
            intent: MovementIntent::idle(0.0),
        })
    });
    stepper.run_ticks(2, idle);
    assert_eq!(
        disconnect_of(&stepper, flooder),
        Some(DisconnectReason::RateLimited)
    );
    let rejected = stepper.host.rejections_by_reason()[&RejectReason::RateLimited];
    assert!(
        rejected > 40,
        "{rejected} inputs rejected by the zone's rate limit"
    );
    let metrics = stepper.host.server_ref().metrics();
    assert_eq!(metrics.disconnects_for(DisconnectReason::RateLimited), 1);
    assert_eq!(stepper.host.zone().avatar_count(), 0);
}

#[test]
fn a_datagram_flood_is_dropped_by_the_connection_limit_then_disconnected() {
    let mut stepper = stepper();
    let flooder = stepper.connect(token(&stepper.authority, 1), LinkConditions::PERFECT, 1);
    stepper.run_ticks(3, idle);
    // Acknowledgements never reach the zone: only the per-connection datagram
    // limit (120 per second) stands in the way.
    for _ in 0..4 {
        flood(&mut stepper, flooder, 100, |_| {
            ClientMessage::Ack(Ack { snapshot_tick: 1 })
        });
        stepper.run_ticks(1, idle);
    }
    assert_eq!(
        disconnect_of(&stepper, flooder),
        Some(DisconnectReason::RateLimited)
    );
    let metrics = stepper.host.server_ref().metrics();
    assert!(metrics.datagrams_rate_limited > 60, "{metrics:?}");
    assert_eq!(metrics.disconnects_for(DisconnectReason::RateLimited), 1);
}

#[test]
fn silent_connections_time_out_and_a_missing_hello_is_not_waited_for() {
    let mut stepper = stepper();
    let talker = stepper.connect(token(&stepper.authority, 1), LinkConditions::PERFECT, 1);
    let mute = stepper.connect(token(&stepper.authority, 2), LinkConditions::PERFECT, 2);
    // The mute client's hello never leaves; its connection must be closed after
    // the hello timeout. Its transmits are dropped from here on.
    while stepper.peers[mute].client.poll_transmit().is_some() {}
    let server_closed = |stepper: &Stepper| stepper.peers[mute].server_closed;
    stepper.run_ticks(3, |index, client, now| {
        if index == 0 {
            client.send_input(now, MovementIntent::idle(0.0));
        }
    });
    // Swallow everything the mute peer would send from now on.
    stepper.peers[mute].up = meridian_netcode::emulator::Link::new(
        LinkConditions {
            loss: 1.0,
            ..LinkConditions::PERFECT
        },
        3,
    );
    let hello_timeout = Duration::from_millis(NetcodeConfig::default().hello_timeout_ms);
    let ticks = (hello_timeout.as_millis() / 50) as u32 + 2;
    stepper.run_ticks(ticks, |index, client, now| {
        if index == 0 {
            client.send_input(now, MovementIntent::idle(0.0));
        }
    });
    assert!(
        server_closed(&stepper),
        "hello timeout closed the mute connection"
    );
    assert!(stepper.peers[talker].client.welcome().is_some());
    // Now the talker falls silent too: after the idle timeout it is gone.
    stepper.peers[talker].up = meridian_netcode::emulator::Link::new(
        LinkConditions {
            loss: 1.0,
            ..LinkConditions::PERFECT
        },
        4,
    );
    let idle_ticks = (NetcodeConfig::default().idle_timeout_ms / 50) as u32 + 2;
    stepper.run_ticks(idle_ticks, idle);
    let metrics = stepper.host.server_ref().metrics();
    assert_eq!(
        metrics.disconnects_for(DisconnectReason::IdleTimeout),
        2,
        "{metrics:?}"
    );
    assert_eq!(stepper.host.member_count(), 0);
    assert_eq!(
        stepper.host.zone().avatar_count(),
        0,
        "the avatar left the zone"
    );
}

#[test]
fn a_hello_twice_or_garbage_on_the_stream_closes_the_connection() {
    let mut stepper = stepper();
    let peer = stepper.connect(token(&stepper.authority, 1), LinkConditions::PERFECT, 1);
    stepper.run_ticks(2, idle);
    let connection = stepper.peers[peer].connection;
    let now = stepper.now;
    // A frame that claims 1 MB.
    stepper
        .host
        .server()
        .handle_stream(now, connection, &[0x80, 0x80, 0x40]);
    stepper.run_ticks(2, idle);
    assert_eq!(
        disconnect_of(&stepper, peer),
        Some(DisconnectReason::ProtocolViolation)
    );
    let metrics = stepper.host.server_ref().metrics();
    assert_eq!(metrics.malformed_stream_messages, 1);
    // The server never sends to it again.
    let closed = std::iter::from_fn(|| stepper.host.server().poll_transmit()).all(|transmit| {
        transmit.connection != connection || matches!(transmit.payload, Payload::Close(_))
    });
    assert!(closed);
}
