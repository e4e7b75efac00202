//! The forwarding unit against real str0m clients in memory: offers,
//! answers, refusals and what is forwarded.

use super::*;
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind};

fn client_offer(now: Instant, slots: usize) -> (Rtc, String, SdpPendingOffer) {
    let mut rtc = Rtc::builder()
        .clear_codecs()
        .enable_opus(true, false)
        .build(now);
    let address: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    rtc.add_local_candidate(Candidate::host(address, "udp").unwrap());
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    for _ in 0..slots {
        api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    }
    let (offer, pending) = api.apply().unwrap();
    (rtc, offer.to_sdp_string(), pending)
}

fn sfu() -> Sfu {
    Sfu::new(VoiceConfig::default(), "127.0.0.1:3479".parse().unwrap()).unwrap()
}

#[test]
fn an_offer_is_answered_once_per_participant_and_closed_on_request() {
    let now = Instant::now();
    let mut sfu = sfu();
    let (mut client, offer, pending) = client_offer(now, 3);
    let answer = sfu.handle_offer(now, ParticipantId(1), &offer).unwrap();
    assert!(answer.contains("a=ice-lite"), "{answer}");
    let answer = SdpAnswer::from_sdp_string(&answer).unwrap();
    client.sdp_api().accept_answer(pending, answer).unwrap();
    assert_eq!(sfu.counters().sessions, 1);
    assert!(sfu.poll_timeout().is_some());
    assert!(matches!(
        sfu.handle_offer(now, ParticipantId(1), &offer),
        Err(OfferError::SessionExists(ParticipantId(1)))
    ));
    assert_eq!(sfu.counters().offers_refused, 1);
    sfu.close_session(ParticipantId(1));
    assert_eq!(
        sfu.poll_event(),
        Some(VoiceEvent::Closed {
            participant: ParticipantId(1),
            reason: CloseReason::Closed,
        })
    );
    assert_eq!(sfu.counters().sessions, 0);
    assert_eq!(sfu.counters().sessions_closed, 1);
}

#[test]
fn events_nobody_polls_are_capped_and_counted() {
    let now = Instant::now();
    let mut sfu = sfu();
    for id in 1..=5 {
        let (_client, offer, _pending) = client_offer(now, 2);
        sfu.handle_offer(now, ParticipantId(id), &offer).unwrap();
    }
    let pair = |a: u64, b: u64| {
        let heard = |speaker| Heard {
            speaker: ParticipantId(speaker),
            distance: 1.0,
        };
        [(ParticipantId(1), vec![heard(a), heard(b)])]
            .into_iter()
            .collect::<Routing>()
    };
    let (first, second) = (pair(2, 3), pair(4, 5));
    let switches = 20_000;
    for switch in 0..switches {
        sfu.set_routing(if switch % 2 == 0 { &first } else { &second });
    }
    // Two lines filled once, then two freed and two filled per switch.
    let made = 2 + 4 * (switches - 1);
    assert_eq!(sfu.events.len(), MAX_PENDING_EVENTS);
    assert_eq!(
        sfu.counters().events_dropped,
        (made - MAX_PENDING_EVENTS) as u64
    );
}

#[test]
fn an_unspecified_address_cannot_be_announced() {
    let refused = Sfu::new(VoiceConfig::default(), "0.0.0.0:3479".parse().unwrap());
    assert!(
        matches!(refused, Err(VoiceConfigError::Candidate(_))),
        "{refused:?}"
    );
}

#[test]
fn routing_fills_free_lines_keeps_placed_speakers_and_frees_the_rest() {
    let now = Instant::now();
    let mut sfu = sfu();
    for id in 1..=4 {
        let (_client, offer, _pending) = client_offer(now, 2);
        sfu.handle_offer(now, ParticipantId(id), &offer).unwrap();
    }
    let heard = |speaker: u64, distance: f32| Heard {
        speaker: ParticipantId(speaker),
        distance,
    };
    let mut routing = Routing::new();
    // Listener 1: itself and 9 (no session) are skipped, 2 and 3 take
    // the two lines, 4 has none left.
    routing.set(
        ParticipantId(1),
        vec![
            heard(1, 0.0),
            heard(9, 1.0),
            heard(2, 3.0),
            heard(3, 4.0),
            heard(4, 5.0),
        ],
    );
    sfu.set_routing(&routing);
    let events: Vec<VoiceEvent> = std::iter::from_fn(|| sfu.poll_event()).collect();
    let assigned: Vec<(String, u64)> = events
        .iter()
        .filter_map(|event| match event {
            VoiceEvent::Heard {
                listener: ParticipantId(1),
                slot,
                heard: Some(heard),
            } => Some((slot.clone(), heard.speaker.0)),
            _ => None,
        })
        .collect();
    assert_eq!(assigned.len(), 2, "{events:?}");
    assert_eq!(assigned[0].1, 2);
    assert_eq!(assigned[1].1, 3);
    // 3 leaves, 4 comes: 2 keeps its line, 4 takes 3's.
    routing.set(ParticipantId(1), vec![heard(4, 5.0), heard(2, 3.1)]);
    sfu.set_routing(&routing);
    let events: Vec<VoiceEvent> = std::iter::from_fn(|| sfu.poll_event()).collect();
    assert_eq!(
        events,
        vec![
            VoiceEvent::Heard {
                listener: ParticipantId(1),
                slot: assigned[1].0.clone(),
                heard: None,
            },
            VoiceEvent::Heard {
                listener: ParticipantId(1),
                slot: assigned[1].0.clone(),
                heard: Some(heard(4, 5.0)),
            },
        ],
        "a move of 0.1 m is below the distance step and not announced"
    );
}
