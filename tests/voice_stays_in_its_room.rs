//! Voice in rooms (issue #17): a space created with a capacity of 2 runs its
//! rooms as instances on the simulation threads, and each room has voice of
//! its own through the one voice port. Ann and ben are seated in room 1,
//! cat in room 2; ann and ben stand 4 m apart, cat stands where ann stands
//! (in her own room). Cat speaks: nobody receives anything. Ann speaks: ben
//! receives her packets on the line VoiceLines names for her avatar, cat
//! none. Ben speaks: ann receives, cat none. Cat's VoiceLines never name
//! anyone. The space's owner puts ben on its stage (a player may not): ann,
//! walked 25 m away, hears him at distance 0, cat still nothing. Ann blocks
//! ben: her line is cleared and none of his packets reach her. Before voice
//! in instances, every offer here was refused `VoiceDisabled`. A moderator
//! mutes ben: his next offer is refused `MutedByModerator`, counted in
//! /metrics with room 1's labels.
//! Waits are bounded; nothing asserts on time.

mod common;
#[path = "../crates/netcode/tests/common/voice_peer.rs"]
mod voice_peer;
mod voice_players;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::Joined;
use common::api::{call, sign_up};
use meridian_protocol::messages::{ClientMessage, ServerMessage, VoiceOffer, VoiceRefusalReason};
use voice_peer::{OPUS_TOC, VoicePeer};
use voice_players::{LEVEL, PATIENCE, Player, account_id, metric, pump_until, speak};

/// Where ann and ben stand in room 1 (4 m apart), and cat in room 2: where
/// ann stands.
const ANN: (f32, f32) = (12.0, 20.0);
const BEN: (f32, f32) = (16.0, 20.0);
const CAT: (f32, f32) = ANN;
/// Where ann walks later: 25 m from ben.
const FAR: (f32, f32) = (36.0, 36.0);
const PASSWORD: &str = "a long enough password";

/// Joins `space` as `token`'s account and says which room it was seated in
/// (the same account joining again keeps its seat).
async fn seat(http: SocketAddr, name: &'static str, token: &str, space: i64) -> (Player, u64) {
    let joined = Joined::with_access(http, token, space).await;
    let player = Player::start(name, &joined, None).await;
    let (status, again) = call(
        http,
        "POST",
        &format!("/api/v1/space/{space}/join"),
        None,
        Some(token),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    (player, again["room"].as_u64().expect("a room"))
}

/// Whether any of `player`'s VoiceLines ever named a speaker.
fn ever_named(player: &Player) -> bool {
    player.voice().iter().any(|message| {
        matches!(message, ServerMessage::VoiceLines(lines)
            if lines.lines.iter().any(|line| line.speaker.is_some()))
    })
}

#[test]
fn each_room_hears_only_itself() {
    let database = common::temporary_database();
    common::create_admin(&database, "boss", "boss password");
    let (_server, http) = common::start_server_with(&database, &[]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (ann, ben, cat, bar, tokens) = runtime.block_on(async {
        let owner = sign_up(http, "owner", PASSWORD).await;
        let (status, created) = call(
            http,
            "POST",
            "/api/v1/space",
            Some(r#"{"name":"bar","dimensions":"40x40","capacity":2}"#),
            Some(&owner),
        )
        .await;
        assert_eq!(status, 200, "{created}");
        let bar = created["spaceId"].as_i64().expect("space id");
        let ann_token = sign_up(http, "ann", PASSWORD).await;
        let ben_token = sign_up(http, "ben", PASSWORD).await;
        let cat_token = sign_up(http, "cat", PASSWORD).await;
        let (ann, ann_room) = seat(http, "ann", &ann_token, bar).await;
        let (ben, ben_room) = seat(http, "ben", &ben_token, bar).await;
        let (cat, cat_room) = seat(http, "cat", &cat_token, bar).await;
        assert_eq!(
            (ann_room, ben_room, cat_room),
            (1, 1, 2),
            "two seats a room"
        );
        (ann, ben, cat, bar, (owner, ann_token, ben_token))
    });
    let (owner, ann_token, ben_token) = tokens;
    let players = [&ann, &ben, &cat];

    ann.walk_to(ANN.0, ANN.1);
    ben.walk_to(BEN.0, BEN.1);
    cat.walk_to(CAT.0, CAT.1);
    let placed = voice_peer::pump_peers_until(&mut [], PATIENCE, |_| {
        ann.is_near(ANN.0, ANN.1) && ben.is_near(BEN.0, BEN.1) && cat.is_near(CAT.0, CAT.1)
    });
    assert!(
        placed,
        "players reach their places: {:?}",
        players.map(|player| (player.name, player.position()))
    );

    // Voice on in both rooms: an offer each, an answer each (not VoiceDisabled).
    let now = Instant::now();
    let (mut ann_peer, ann_offer) = VoicePeer::new(now, 2);
    let (mut ben_peer, ben_offer) = VoicePeer::new(now, 2);
    let (mut cat_peer, cat_offer) = VoicePeer::new(now, 2);
    for (player, sdp) in [(&ann, ann_offer), (&ben, ben_offer), (&cat, cat_offer)] {
        player.send(ClientMessage::VoiceOffer(VoiceOffer { sdp }));
    }
    for (player, peer) in [
        (&ann, &mut ann_peer),
        (&ben, &mut ben_peer),
        (&cat, &mut cat_peer),
    ] {
        let deadline = Instant::now() + PATIENCE;
        let answer = loop {
            let voice = player.voice();
            if let Some(refused) = voice.iter().find_map(|message| match message {
                ServerMessage::VoiceRefused(refused) => Some(refused.clone()),
                _ => None,
            }) {
                panic!("{}'s offer is refused: {refused:?}", player.name);
            }
            if let Some(answer) = voice.into_iter().find_map(|message| match message {
                ServerMessage::VoiceAnswer(answer) => Some(answer.sdp),
                _ => None,
            }) {
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
    let mut peers = [&mut ann_peer, &mut ben_peer, &mut cat_peer];
    assert!(
        pump_until(&mut peers, |peers| peers.iter().all(|peer| peer.connected)),
        "every peer connects to the voice port"
    );

    // Cat speaks in room 2, at ann's coordinates: nobody hears her. (The
    // routing is recomputed every tick; she speaks for a second.)
    let cat_sent = speak(2, &mut peers, 0, 50);
    assert_eq!(peers[0].received.len(), 0, "ann received cat's packets");
    assert_eq!(peers[1].received.len(), 0, "ben received cat's packets");

    // Ann speaks: ben, 4 m away in her room, hears her; cat does not.
    let ann_avatar = ann.avatar().expect("ann is welcomed");
    let mut ann_sent = speak(0, &mut peers, 0, 50);
    let deadline = Instant::now() + PATIENCE;
    while peers[1].received.len() < 25 && Instant::now() < deadline {
        ann_sent = speak(0, &mut peers, ann_sent, 10);
    }
    let ben_heard = peers[1].received.len();
    assert!(
        ben_heard >= 25,
        "ben received {ben_heard} of ann's {ann_sent}"
    );
    for packet in &peers[1].received {
        assert_eq!(packet.payload[0], OPUS_TOC);
        assert_eq!(packet.audio_level, Some(LEVEL));
    }
    let ben_line = peers[1].received[0].slot.to_string();
    let named = ben.on_line(&ben_line);
    assert!(
        named.is_some_and(
            |(speaker, distance)| speaker == ann_avatar && (2.0..6.0).contains(&distance)
        ),
        "ben's line {ben_line} names ann ({ann_avatar}) about 4 m away: {named:?}"
    );
    assert_eq!(peers[2].received.len(), 0, "cat received ann's packets");

    // Ben speaks: ann hears him; cat does not.
    let ben_avatar = ben.avatar().expect("ben is welcomed");
    let mut ben_sent = speak(1, &mut peers, 0, 50);
    let deadline = Instant::now() + PATIENCE;
    while peers[0].received.len() < 25 && Instant::now() < deadline {
        ben_sent = speak(1, &mut peers, ben_sent, 10);
    }
    let ann_heard = peers[0].received.len();
    assert!(
        ann_heard >= 25,
        "ann received {ann_heard} of ben's {ben_sent}"
    );
    let ann_line = peers[0].received[0].slot.to_string();
    assert!(
        ann.on_line(&ann_line)
            .is_some_and(|(speaker, _)| speaker == ben_avatar),
        "ann's line names ben: {:?}",
        ann.voice()
    );
    assert_eq!(peers[2].received.len(), 0, "cat received ben's packets");
    assert!(
        !ever_named(&cat),
        "cat's lines named someone: {:?}",
        cat.voice()
    );

    // The stage of the space: the owner puts ben on it (a player may not).
    // Ann walks 25 m away from him and still hears him, at distance 0; cat,
    // in room 2, still hears nothing.
    runtime.block_on(async {
        let stage = format!(r#"{{"userIds":[{}]}}"#, account_id(&ben_token));
        let path = format!("/api/v1/space/{bar}/stage");
        let (status, answer) = call(http, "PUT", &path, Some(&stage), Some(&ann_token)).await;
        assert_eq!(status, 403, "a player may not set the stage: {answer}");
        let (status, answer) = call(http, "PUT", &path, Some(&stage), Some(&owner)).await;
        assert_eq!(status, 200, "{answer}");
    });
    ann.walk_to(FAR.0, FAR.1);
    let walked = pump_until(&mut peers, |_| ann.is_near(FAR.0, FAR.1));
    assert!(walked, "ann walks away: {:?}", ann.position());
    let ann_before = peers[0].received.len();
    let deadline = Instant::now() + PATIENCE;
    while peers[0].received.len() < ann_before + 25 && Instant::now() < deadline {
        ben_sent = speak(1, &mut peers, ben_sent, 10);
    }
    let ann_from_stage = peers[0].received.len() - ann_before;
    assert!(
        ann_from_stage >= 25,
        "ann, 25 m away, received {ann_from_stage} of ben's packets from the stage"
    );
    let ann_lines: Vec<String> = peers[0].slots.iter().map(ToString::to_string).collect();
    let stage_line = ann_lines
        .iter()
        .find(|slot| ann.on_line(slot) == Some((ben_avatar, 0.0)))
        .cloned()
        .unwrap_or_else(|| panic!("a line of ann's names ben at distance 0: {:?}", ann.voice()));
    assert_eq!(
        peers[2].received.len(),
        0,
        "cat received ben's stage packets"
    );

    // Ann blocks ben: her line is cleared, and none of his packets reach her.
    runtime.block_on(async {
        let block = format!(r#"{{"userId":{}}}"#, account_id(&ben_token));
        let (status, answer) = call(
            http,
            "POST",
            "/api/v1/user/block",
            Some(&block),
            Some(&ann_token),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
    });
    let cleared = pump_until(&mut peers, |_| ann.on_line(&stage_line).is_none());
    assert!(cleared, "ann's line is cleared: {:?}", ann.voice());
    ben_sent = speak(1, &mut peers, ben_sent, 10);
    let ann_blocked = peers[0].received.len();
    ben_sent = speak(1, &mut peers, ben_sent, 50);
    assert_eq!(
        peers[0].received.len(),
        ann_blocked,
        "ann received ben's packets after blocking him"
    );
    assert_eq!(peers[2].received.len(), 0, "cat received ben's packets");
    eprintln!("stage: ann 25 m away received {ann_from_stage}; after her block 0 of 50");
    let ann_heard = ann_blocked;

    // The server counts three sessions and what it forwarded.
    let received = (ben_heard + ann_heard) as f64;
    let deadline = Instant::now() + PATIENCE;
    let metrics = loop {
        let metrics = runtime
            .block_on(loadbot::http::get(http, "/metrics"))
            .expect("/metrics answers");
        if metric(&metrics, "meridian_voice_packets_forwarded_total") >= received
            || Instant::now() > deadline
        {
            break metrics;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let forwarded = metric(&metrics, "meridian_voice_packets_forwarded_total");
    eprintln!(
        "cat sent {cat_sent}, heard by 0; ann sent {ann_sent}, ben received {ben_heard}; ben sent {ben_sent}, ann received {ann_heard}; cat received 0; server: {} packets in, {forwarded} forwarded, {} sessions",
        metric(&metrics, "meridian_voice_packets_in_total"),
        metric(&metrics, "meridian_voice_sessions"),
    );
    assert!(forwarded >= received, "{metrics}");
    assert_eq!(metric(&metrics, "meridian_voice_sessions"), 3.0);
    // Each room's own figures carry its labels.
    for (room, members) in [(1, 2.0), (2, 1.0)] {
        let labels = format!("{{space=\"{bar}\",room=\"{room}\",");
        let line = metrics
            .lines()
            .find(|line| line.starts_with(&format!("meridian_instance_voice_members{labels}")))
            .unwrap_or_else(|| panic!("room {room}'s voice members: {metrics}"));
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|value| value.parse().ok())
            .expect("a value");
        assert_eq!(value, members, "{line}");
    }
    // And its traffic: every copy went to room 1's listeners (cat heard no
    // one), room 2's packets in are cat's, and room 1's are ann's and ben's.
    // (The rooms' figures are sampled apart from the port's: waited for.)
    fn room_value(metrics: &str, bar: i64, name: &str, room: u32) -> Option<f64> {
        let labels = format!("meridian_instance_{name}{{space=\"{bar}\",room=\"{room}\",");
        metrics
            .lines()
            .find(|line| line.starts_with(&labels))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
    }
    let deadline = Instant::now() + PATIENCE;
    let metrics = loop {
        let metrics = runtime
            .block_on(loadbot::http::get(http, "/metrics"))
            .expect("/metrics answers");
        let rooms = |name: &str| {
            room_value(&metrics, bar, name, 1).unwrap_or(0.0)
                + room_value(&metrics, bar, name, 2).unwrap_or(0.0)
        };
        let settled = rooms("voice_packets_forwarded_total")
            == metric(&metrics, "meridian_voice_packets_forwarded_total")
            && rooms("voice_packets_in_total")
                == metric(&metrics, "meridian_voice_packets_in_total");
        if settled || Instant::now() > deadline {
            break metrics;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let forwarded = metric(&metrics, "meridian_voice_packets_forwarded_total");
    let room_value = |name: &str, room: u32| {
        room_value(&metrics, bar, name, room)
            .unwrap_or_else(|| panic!("room {room}'s {name}: {metrics}"))
    };
    assert_eq!(room_value("voice_packets_forwarded_total", 2), 0.0);
    assert_eq!(room_value("voice_packets_forwarded_total", 1), forwarded);
    let room_1_in = room_value("voice_packets_in_total", 1);
    let room_2_in = room_value("voice_packets_in_total", 2);
    assert!(
        room_2_in > 0.0 && room_2_in <= cat_sent as f64,
        "cat's: {room_2_in}"
    );
    assert_eq!(
        room_1_in + room_2_in,
        metric(&metrics, "meridian_voice_packets_in_total"),
        "every packet in is counted in its speaker's room"
    );
    assert!(
        room_value("voice_datagram_bytes_out_total", 1)
            > room_value("voice_bytes_forwarded_total", 1)
    );
    eprintln!(
        "room 1: {room_1_in} packets in, {forwarded} copies out; room 2: {room_2_in} in, 0 out"
    );
    assert!(
        !metrics.lines().any(
            |line| line.starts_with("meridian_instance_voice_refused_total")
                && line.contains(&format!("space=\"{bar}\""))
                && !line.ends_with(" 0")
        ),
        "no offer refused in the rooms: {metrics}"
    );

    // A moderator mutes ben: his new offer in room 1 is refused
    // MutedByModerator, counted with room 1's labels.
    runtime.block_on(async {
        let boss = common::api::log_in(http, "boss", "boss password").await;
        let mute = format!(r#"{{"userId":{},"seconds":600}}"#, account_id(&ben_token));
        let (status, answer) =
            call(http, "POST", "/api/v1/admin/mute", Some(&mute), Some(&boss)).await;
        assert_eq!(status, 200, "{answer}");
    });
    let muted = pump_until(&mut peers, |_| {
        let (_, offer) = VoicePeer::new(Instant::now(), 2);
        ben.send(ClientMessage::VoiceOffer(VoiceOffer { sdp: offer }));
        std::thread::sleep(Duration::from_millis(200));
        ben.voice().iter().any(|message| {
            matches!(message, ServerMessage::VoiceRefused(refused)
                if refused.reason == VoiceRefusalReason::MutedByModerator)
        })
    });
    assert!(muted, "ben's offer is refused: {:?}", ben.voice());
    let refused_line =
        format!("meridian_instance_voice_refused_total{{space=\"{bar}\",room=\"1\",");
    let deadline = Instant::now() + PATIENCE;
    let counted = loop {
        let metrics = runtime
            .block_on(loadbot::http::get(http, "/metrics"))
            .expect("/metrics answers");
        let counted = metrics.lines().any(|line| {
            line.starts_with(&refused_line)
                && line.contains("reason=\"muted_by_moderator\"")
                && !line.ends_with(" 0")
        });
        if counted || Instant::now() > deadline {
            break counted;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(counted, "room 1 counts ben's refused offer");

    for player in [ann, ben, cat] {
        assert!(!player.has_ended(), "{} stayed", player.name);
        player.task.abort();
    }
    drop(runtime);
    common::remove_database(&database);
}
