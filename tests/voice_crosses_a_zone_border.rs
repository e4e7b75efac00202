//! Voice across a zone border in one process (issue #17, item 2): the real
//! binary with a 60 m world cut into 2 × 2 zones (`--zones 2x2`, the border
//! between the west and east ones at x = 30). Ada stands in a west zone 6 m
//! from the border, bob in the east zone beside it, 11.7 m from her. Ada speaks: bob hears her across the border, on
//! the line his `VoiceLines` names for her; bob speaks and ada hears him.
//! Then ada walks east across the border (she is handed to the east zone)
//! and past bob while she goes on speaking: bob keeps receiving her packets
//! on the same line the whole way, and the line is never cleared or given
//! to anyone else. The metrics count the handoff.
//! Waits are bounded; nothing asserts on time.

mod common;
#[path = "../crates/netcode/tests/common/voice_peer.rs"]
mod voice_peer;
#[allow(
    dead_code,
    reason = "shared by the voice tests; not every helper is used by each"
)]
mod voice_players;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{account_join, remove_database, start_server_with, temporary_database};
use meridian_protocol::messages::{ClientMessage, ServerMessage, VoiceOffer};
use voice_peer::VoicePeer;
use voice_players::{LEVEL, PATIENCE, Player, metric, pump_until, speak};

/// The lane players walk along (the plaza's elements stand south of it).
const LANE: f32 = 46.0;
/// Ada first: the west zone, 6 m from the border.
const ADA: (f32, f32) = (24.0, LANE);
/// Bob: the east zone, 6 m north of the lane, 11.7 m from ada.
const BOB: (f32, f32) = (34.0, 52.0);
/// Where ada walks to: deep in the east zone, 11.7 m from bob again.
const ADA_LATER: (f32, f32) = (44.0, LANE);
/// The border between the two zones.
const BORDER_X: f32 = 30.0;

/// The packet number a received payload carries (after the TOC byte).
fn index_of(payload: &[u8]) -> u32 {
    u32::from_be_bytes(payload[1..5].try_into().expect("four bytes"))
}

#[test]
fn a_speaker_is_heard_across_a_zone_border_and_while_it_walks_across() {
    let database = temporary_database();
    let (_server, server) = start_server_with(&database, &["--zones", "2x2"]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (ada, bob) = runtime.block_on(async {
        let ada_join = account_join(server, "ada").await;
        let bob_join = account_join(server, "bob").await;
        let ada = Player::start("ada", &ada_join, Some(LANE)).await;
        let bob = Player::start("bob", &bob_join, Some(LANE)).await;
        (ada, bob)
    });

    ada.walk_to(ADA.0, ADA.1);
    bob.walk_to(BOB.0, BOB.1);
    let placed = voice_peer::pump_peers_until(&mut [], PATIENCE, |_| {
        ada.is_near(ADA.0, ADA.1) && bob.is_near(BOB.0, BOB.1)
    });
    assert!(
        placed,
        "players reach their places: ada {:?}, bob {:?}",
        ada.position(),
        bob.position()
    );
    let handoffs_before = runtime.block_on(async {
        let metrics = loadbot::http::get(server, "/metrics")
            .await
            .expect("/metrics answers");
        metric(&metrics, "meridian_handoffs_total").max(0.0)
    });

    // Voice on: an offer each, an answer each.
    let now = Instant::now();
    let (mut ada_peer, ada_offer) = VoicePeer::new(now, 2);
    let (mut bob_peer, bob_offer) = VoicePeer::new(now, 2);
    for (player, sdp) in [(&ada, ada_offer), (&bob, bob_offer)] {
        player.send(ClientMessage::VoiceOffer(VoiceOffer { sdp }));
    }
    for (player, peer) in [(&ada, &mut ada_peer), (&bob, &mut bob_peer)] {
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
        peer.accept_answer(&answer);
    }
    let mut peers = [&mut ada_peer, &mut bob_peer];
    assert!(
        pump_until(&mut peers, |peers| peers.iter().all(|peer| peer.connected)),
        "both peers connect to the voice port"
    );

    // Across the border: ada (west) is heard by bob (east), and bob by ada.
    let ada_avatar = ada.avatar().expect("ada is welcomed");
    let bob_avatar = bob.avatar().expect("bob is welcomed");
    let mut ada_next = 0;
    let deadline = Instant::now() + PATIENCE;
    while peers[1].received.len() < 25 && Instant::now() < deadline {
        ada_next = speak(0, &mut peers, ada_next, 10);
    }
    let bob_heard = peers[1].received.len();
    assert!(
        bob_heard >= 25,
        "bob (east zone) received {bob_heard} of ada's {ada_next} packets from the west zone"
    );
    assert!(
        peers[1]
            .received
            .iter()
            .all(|packet| packet.audio_level == Some(LEVEL))
    );
    let bob_line = peers[1].received[0].slot.to_string();
    let named = bob.on_line(&bob_line);
    assert!(
        named.is_some_and(
            |(speaker, distance)| speaker == ada_avatar && (9.0..14.0).contains(&distance)
        ),
        "bob's line {bob_line} names ada ({ada_avatar}) about 11.7 m away: {named:?}"
    );
    let ada_x = ada.position().expect("ada's position").0;
    let bob_x = bob.position().expect("bob's position").0;
    assert!(
        ada_x < BORDER_X && bob_x > BORDER_X,
        "ada ({ada_x}) and bob ({bob_x}) stand on either side of the border"
    );
    let mut bob_next = 0;
    let deadline = Instant::now() + PATIENCE;
    while peers[0].received.len() < 25 && Instant::now() < deadline {
        bob_next = speak(1, &mut peers, bob_next, 10);
    }
    let ada_heard = peers[0].received.len();
    assert!(
        ada_heard >= 25,
        "ada (west zone) received {ada_heard} of bob's {bob_next} packets from the east zone"
    );
    let ada_line = peers[0].received[0].slot.to_string();
    assert!(
        ada.on_line(&ada_line)
            .is_some_and(|(speaker, _)| speaker == bob_avatar),
        "ada's line names bob: {:?}",
        ada.voice()
    );
    eprintln!(
        "across the border: bob received {bob_heard} of ada's {ada_next}, ada {ada_heard} of bob's {bob_next}"
    );

    // Ada walks across the border while she speaks: bob keeps hearing her.
    let walk_from = ada_next;
    ada.walk_to(ADA_LATER.0, ADA_LATER.1);
    let deadline = Instant::now() + PATIENCE;
    while !ada.is_near(ADA_LATER.0, ADA_LATER.1) && Instant::now() < deadline {
        ada_next = speak(0, &mut peers, ada_next, 5);
    }
    assert!(
        ada.is_near(ADA_LATER.0, ADA_LATER.1),
        "ada walks to the east zone: {:?}",
        ada.position()
    );
    ada_next = speak(0, &mut peers, ada_next, 10);
    // What is still on its way arrives.
    let walked: Vec<u32> = (walk_from..ada_next).collect();
    pump_until(&mut peers, |peers| {
        peers[1]
            .received
            .iter()
            .filter(|packet| index_of(&packet.payload) >= walk_from)
            .count()
            >= walked.len()
    });
    let heard_while_walking: BTreeSet<u32> = peers[1]
        .received
        .iter()
        .map(|packet| index_of(&packet.payload))
        .filter(|index| *index >= walk_from)
        .collect();
    eprintln!(
        "ada walked across the border speaking {} packets ({walk_from}..{ada_next}); bob received {}",
        walked.len(),
        heard_while_walking.len()
    );
    assert!(
        walked.len() >= 20,
        "the walk lasted {} packets",
        walked.len()
    );
    // Loopback loses nothing here, but a datagram may be dropped by a full
    // socket buffer: allow one in ten, no more.
    assert!(
        heard_while_walking.len() * 10 >= walked.len() * 9,
        "bob received {} of the {} packets ada sent while she walked across; missing {:?}",
        heard_while_walking.len(),
        walked.len(),
        walked
            .iter()
            .filter(|index| !heard_while_walking.contains(index))
            .collect::<Vec<_>>()
    );
    // One line carried her the whole way, and it never named anyone else or no one.
    assert!(
        peers[1]
            .received
            .iter()
            .all(|packet| packet.slot.to_string() == bob_line),
        "every packet of ada's came on bob's line {bob_line}"
    );
    let changes: Vec<_> = bob
        .voice()
        .into_iter()
        .filter_map(|message| match message {
            ServerMessage::VoiceLines(lines) => Some(lines.lines),
            _ => None,
        })
        .flatten()
        .filter(|line| line.slot == bob_line)
        .collect();
    assert!(
        !changes.is_empty() && changes.iter().all(|line| line.speaker == Some(ada_avatar)),
        "bob's line {bob_line} named ada and only ada: {changes:?}"
    );
    let ada_x = ada.position().expect("ada's position").0;
    assert!(ada_x > BORDER_X + 5.0, "ada is in the east zone: {ada_x}");

    // The walk was a handoff from the west zone to the east one.
    let deadline = Instant::now() + PATIENCE;
    let handoffs = loop {
        let metrics = runtime
            .block_on(loadbot::http::get(server, "/metrics"))
            .expect("/metrics answers");
        let handoffs = metric(&metrics, "meridian_handoffs_total");
        if handoffs > handoffs_before || Instant::now() > deadline {
            break handoffs;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        handoffs > handoffs_before,
        "ada's walk was counted as a handoff: {handoffs_before} -> {handoffs}"
    );

    for player in [ada, bob] {
        assert!(!player.has_ended(), "{} stayed", player.name);
        player.task.abort();
    }
    drop(runtime);
    remove_database(&database);
}
