//! Proximity voice end to end through the real binary (issue #17): three
//! players over QUIC signal voice on their game stream (VoiceOffer, then the
//! server's VoiceAnswer and VoiceLines), and each runs a str0m WebRTC peer on
//! its own UDP socket against the server's voice port. In a 60 m world of
//! 3×3 zones: ada speaks; bob, 4 m away, receives her Opus packets
//! (payload and audio level unchanged, on the line VoiceLines names for her
//! avatar); cid, 50 m away, receives none. Bob blocks ada through the
//! block API: his line is cleared and none of ada's next packets reach him.
//! Ada walks across zone borders to 4 m from cid, and cid starts receiving.
//! An admin puts bob on the stage (`PUT /api/v1/space/{id}/stage`; a player
//! may not): cid, 46 m from bob, hears him at distance 0; ada, whom bob
//! blocked, still hears nothing of him. A moderator mutes bob: cid's line
//! for him is cleared and bob's next offer is refused `MutedByModerator`
//! (counted in /metrics).
//! Waits are bounded; nothing asserts on time.

mod common;
#[path = "../crates/netcode/tests/common/voice_peer.rs"]
mod voice_peer;
mod voice_players;

use std::time::{Duration, Instant};

use common::api::{call, log_in};
use common::{account_join, create_admin, remove_database, start_server_with, temporary_database};
use meridian_protocol::messages::{ClientMessage, ServerMessage, VoiceOffer, VoiceRefusalReason};
use voice_peer::{OPUS_TOC, VoicePeer};
use voice_players::{LEVEL, PATIENCE, Player, account_id, metric, pump_until, speak};

/// Where ada, bob and cid stand first: ada and bob 4 m apart in the west
/// zones, cid in the north-east corner zone, 50 m east of ada.
const ADA: (f32, f32) = (5.0, LANE);
const BOB: (f32, f32) = (9.0, LANE);
const CID: (f32, f32) = (55.0, LANE);
/// Where ada walks to: 4 m from cid.
const ADA_LATER: (f32, f32) = (51.0, LANE);
/// Players walk north to this line first, then along it (the plaza's
/// elements stand south of it).
const LANE: f32 = 46.0;

#[test]
fn voice_reaches_the_near_not_the_far_not_the_blocker_and_follows_a_walk() {
    let database = temporary_database();
    create_admin(&database, "boss", "boss password");
    let (_server, server) = start_server_with(&database, &["--zones", "3x3"]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (ada, bob, cid, bob_access, ada_access, world) = runtime.block_on(async {
        let ada_join = account_join(server, "ada").await;
        let bob_join = account_join(server, "bob").await;
        let cid_join = account_join(server, "cid").await;
        let ada = Player::start("ada", &ada_join, Some(LANE)).await;
        let bob = Player::start("bob", &bob_join, Some(LANE)).await;
        let cid = Player::start("cid", &cid_join, Some(LANE)).await;
        (
            ada,
            bob,
            cid,
            bob_join.access_token,
            ada_join.access_token,
            ada_join.space_id,
        )
    });
    let players = [&ada, &bob, &cid];

    // Places: ada and bob 4 m apart in one corner zone, cid in the opposite one.
    ada.walk_to(ADA.0, ADA.1);
    bob.walk_to(BOB.0, BOB.1);
    cid.walk_to(CID.0, CID.1);
    let placed = voice_peer::pump_peers_until(&mut [], PATIENCE, |_| {
        ada.is_near(ADA.0, ADA.1) && bob.is_near(BOB.0, BOB.1) && cid.is_near(CID.0, CID.1)
    });
    assert!(
        placed,
        "players reach their places: {:?}",
        players.map(|player| (player.name, player.position()))
    );

    // Voice on: an offer each, an answer each.
    let now = Instant::now();
    let (mut ada_peer, ada_offer) = VoicePeer::new(now, 2);
    let (mut bob_peer, bob_offer) = VoicePeer::new(now, 2);
    let (mut cid_peer, cid_offer) = VoicePeer::new(now, 2);
    for (player, sdp) in [(&ada, ada_offer), (&bob, bob_offer), (&cid, cid_offer)] {
        player.send(ClientMessage::VoiceOffer(VoiceOffer { sdp }));
    }
    for (player, peer) in [
        (&ada, &mut ada_peer),
        (&bob, &mut bob_peer),
        (&cid, &mut cid_peer),
    ] {
        let deadline = Instant::now() + PATIENCE;
        let answer = loop {
            let answer = player
                .voice()
                .into_iter()
                .find_map(|message| match message {
                    ServerMessage::VoiceAnswer(answer) => Some(answer.sdp),
                    _ => None,
                });
            if let Some(answer) = answer {
                break answer;
            }
            assert!(
                Instant::now() < deadline,
                "{} gets a voice answer: {:?}",
                player.name,
                player.voice()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(answer.contains("a=ice-lite"), "{answer}");
        peer.accept_answer(&answer);
    }
    let mut peers = [&mut ada_peer, &mut bob_peer, &mut cid_peer];
    assert!(
        pump_until(&mut peers, |peers| peers.iter().all(|peer| peer.connected)),
        "every peer connects to the voice port"
    );

    // Ada speaks: bob hears her on the line VoiceLines names; cid hears nothing.
    let bob_slots: Vec<String> = peers[1].slots.iter().map(ToString::to_string).collect();
    let ada_avatar = ada.avatar().expect("ada is welcomed");
    let mut next = speak(0, &mut peers, 0, 50);
    let deadline = Instant::now() + PATIENCE;
    while peers[1].received.len() < 25 && Instant::now() < deadline {
        next = speak(0, &mut peers, next, 10);
    }
    let bob_heard = peers[1].received.len();
    assert!(
        bob_heard >= 25,
        "bob received {bob_heard} of ada's {next} packets"
    );
    for packet in &peers[1].received {
        assert_eq!(packet.payload[0], OPUS_TOC);
        assert_eq!(packet.payload.len(), 25);
        assert_eq!(packet.audio_level, Some(LEVEL));
    }
    let bob_line = peers[1].received[0].slot.to_string();
    assert!(bob_slots.contains(&bob_line));
    let named = bob.on_line(&bob_line);
    assert!(
        named.is_some_and(
            |(speaker, distance)| speaker == ada_avatar && (2.0..6.0).contains(&distance)
        ),
        "bob's line {bob_line} names ada ({ada_avatar}) about 4 m away: {named:?}"
    );
    assert!(
        peers[2].received.is_empty(),
        "cid, 50 m away, received {:?}",
        peers[2].received.len()
    );
    assert!(peers[0].received.is_empty(), "ada does not hear herself");
    eprintln!("ada sent {next} packets; bob received {bob_heard}; cid 0");

    // Bob blocks ada: his line is cleared, and none of her later packets reach him.
    runtime.block_on(async {
        let block = format!(r#"{{"userId":{}}}"#, account_id(&ada_access));
        let (status, answer) = call(
            server,
            "POST",
            "/api/v1/user/block",
            Some(&block),
            Some(&bob_access),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
    });
    let cleared = pump_until(&mut peers, |_| bob.on_line(&bob_line).is_none());
    assert!(cleared, "bob's line is cleared: {:?}", bob.voice());
    // What was already on its way arrives; then ada speaks again.
    next = speak(0, &mut peers, next, 10);
    let bob_before = peers[1].received.len();
    next = speak(0, &mut peers, next, 50);
    assert_eq!(
        peers[1].received.len(),
        bob_before,
        "bob received ada's packets after blocking her"
    );
    assert!(peers[2].received.is_empty(), "cid is still far");

    // Ada walks across the zone borders to 4 m from cid: cid hears her.
    ada.walk_to(ADA_LATER.0, ADA_LATER.1);
    let walked = pump_until(&mut peers, |_| ada.is_near(ADA_LATER.0, ADA_LATER.1));
    assert!(walked, "ada reaches cid: {:?}", ada.position());
    let deadline = Instant::now() + PATIENCE;
    while peers[2].received.len() < 25 && Instant::now() < deadline {
        next = speak(0, &mut peers, next, 10);
    }
    let cid_heard = peers[2].received.len();
    assert!(
        cid_heard >= 25,
        "cid received {cid_heard} after ada walked to him"
    );
    assert!(
        peers[2]
            .received
            .iter()
            .all(|packet| packet.audio_level == Some(LEVEL))
    );
    let cid_line = peers[2].received[0].slot.to_string();
    assert!(
        cid.on_line(&cid_line)
            .is_some_and(|(speaker, _)| speaker == ada_avatar),
        "cid's line names ada: {:?}",
        cid.voice()
    );
    assert_eq!(peers[1].received.len(), bob_before, "bob still blocks ada");

    // The stage: an admin puts bob on it; cid, 46 m from bob, hears him;
    // ada, whom bob blocked, still does not (blocks hold on the stage too).
    let ada_before = peers[0].received.len();
    let cid_before = peers[2].received.len();
    runtime.block_on(async {
        let boss = log_in(server, "boss", "boss password").await;
        let stage = format!(r#"{{"userIds":[{}]}}"#, account_id(&bob_access));
        let path = format!("/api/v1/space/{world}/stage");
        let (status, answer) = call(server, "PUT", &path, Some(&stage), Some(&ada_access)).await;
        assert_eq!(status, 403, "a player may not set the stage: {answer}");
        let (status, answer) = call(server, "PUT", &path, Some(&stage), Some(&boss)).await;
        assert_eq!(status, 200, "{answer}");
    });
    let deadline = Instant::now() + PATIENCE;
    let mut bob_next = 0;
    while peers[2].received.len() < cid_before + 25 && Instant::now() < deadline {
        bob_next = speak(1, &mut peers, bob_next, 10);
    }
    let cid_from_bob = peers[2].received.len() - cid_before;
    assert!(
        cid_from_bob >= 25,
        "cid received {cid_from_bob} of bob's {bob_next} from the stage"
    );
    assert_eq!(
        peers[0].received.len(),
        ada_before,
        "ada blocked by bob hears nothing of him"
    );
    let cid_lines: Vec<_> = peers[2].slots.iter().map(ToString::to_string).collect();
    let bob_avatar = bob.avatar().expect("bob is welcomed");
    assert!(
        cid_lines
            .iter()
            .any(|slot| cid.on_line(slot) == Some((bob_avatar, 0.0))),
        "one of cid's lines names bob at distance 0 (the stage): {:?}",
        cid.voice()
    );
    eprintln!("bob on the stage sent {bob_next}; cid received {cid_from_bob}, ada 0");

    // A moderator mutes bob: his line to cid is cleared, and his new offer
    // is refused MutedByModerator.
    let cid_bob_line = cid_lines
        .iter()
        .find(|slot| cid.on_line(slot) == Some((bob_avatar, 0.0)))
        .cloned()
        .expect("cid's line for bob");
    runtime.block_on(async {
        let boss = log_in(server, "boss", "boss password").await;
        let mute = format!(r#"{{"userId":{},"seconds":600}}"#, account_id(&bob_access));
        let (status, answer) = call(
            server,
            "POST",
            "/api/v1/admin/mute",
            Some(&mute),
            Some(&boss),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
    });
    let silenced = pump_until(&mut peers, |_| cid.on_line(&cid_bob_line).is_none());
    assert!(silenced, "cid's line for bob is cleared: {:?}", cid.voice());
    let (_bob_again, bob_offer) = VoicePeer::new(Instant::now(), 2);
    bob.send(ClientMessage::VoiceOffer(VoiceOffer { sdp: bob_offer }));
    let refused = pump_until(&mut peers, |_| {
        bob.voice().iter().any(|message| {
            matches!(message, ServerMessage::VoiceRefused(refused)
                if refused.reason == VoiceRefusalReason::MutedByModerator)
        })
    });
    assert!(refused, "bob's offer is refused: {:?}", bob.voice());

    // The server's figures (copied into /metrics once a tick: read until
    // they include what the peers received).
    let received_by_peers = (bob_before + cid_heard + cid_from_bob) as f64;
    let deadline = Instant::now() + PATIENCE;
    let metrics = loop {
        let metrics = runtime
            .block_on(loadbot::http::get(server, "/metrics"))
            .expect("/metrics answers");
        if metric(&metrics, "meridian_voice_packets_forwarded_total") >= received_by_peers
            || Instant::now() > deadline
        {
            break metrics;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let forwarded = metric(&metrics, "meridian_voice_packets_forwarded_total");
    eprintln!(
        "ada sent {next}; bob received {bob_before}, cid {cid_heard}; server: {} packets in, {forwarded} forwarded, {} sessions, {} bytes out",
        metric(&metrics, "meridian_voice_packets_in_total"),
        metric(&metrics, "meridian_voice_sessions"),
        metric(&metrics, "meridian_voice_bytes_out_total"),
    );
    assert!(forwarded >= received_by_peers, "{metrics}");
    assert_eq!(metric(&metrics, "meridian_voice_sessions"), 3.0);
    assert_eq!(metric(&metrics, "meridian_voice_members"), 3.0);
    assert_eq!(
        metric(
            &metrics,
            "meridian_voice_refused_total{reason=\"muted_by_moderator\"}"
        ),
        1.0
    );

    for player in [ada, bob, cid] {
        assert!(!player.has_ended(), "{} stayed", player.name);
        player.task.abort();
    }
    drop(runtime);
    remove_database(&database);
}
