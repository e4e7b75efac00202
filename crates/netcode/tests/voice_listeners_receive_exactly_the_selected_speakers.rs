//! Selection and forwarding together, in memory: twelve str0m peers on a
//! seeded random map talk through the SFU with datagrams handed across
//! directly (no sockets) on a virtual clock. `select_heard` (radius 15 m,
//! loudest 3, one stage speaker, a block, a muted speaker) decides the
//! routing; every listener must receive packets from exactly the speakers
//! selected for it, each on the line the SFU announced for that speaker, and
//! every packet each of them spoke.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use meridian_netcode::voice::{
    Block, InstanceKey, ListenerState, ParticipantId, SelectionConfig, Sfu, SpeakerState,
    VoiceConfig, VoiceEvent, select_heard,
};
use meridian_sim::Vec2;
use meridian_sim::agents::SplitMix64;
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

const PEERS: u64 = 12;
const SLOTS: usize = 3;
const PACKETS: u32 = 20;
const STEP: Duration = Duration::from_millis(1);

struct Peer {
    id: ParticipantId,
    rtc: Rtc,
    address: SocketAddr,
    microphone: Mid,
    connected: bool,
    /// (line, speaker byte, sequence) of every packet received.
    received: Vec<(Mid, u8, u32)>,
}

/// Moves every datagram between the peers and the SFU until all is quiet,
/// then advances the virtual clock by one step.
fn step(sfu: &mut Sfu, peers: &mut [Peer], sfu_address: SocketAddr, now: &mut Instant) {
    for _ in 0..50 {
        let mut moved = false;
        for peer in peers.iter_mut() {
            peer.rtc.handle_input(Input::Timeout(*now)).unwrap();
            loop {
                match peer.rtc.poll_output().unwrap() {
                    Output::Timeout(_) => break,
                    Output::Transmit(transmit) => {
                        assert_eq!(transmit.destination, sfu_address);
                        sfu.handle_datagram(*now, peer.address, &transmit.contents);
                        moved = true;
                    }
                    Output::Event(Event::Connected) => peer.connected = true,
                    Output::Event(Event::MediaData(data)) => {
                        let payload = &data.data;
                        let sequence = u32::from_be_bytes(payload[2..6].try_into().unwrap());
                        peer.received.push((data.mid, payload[1], sequence));
                    }
                    Output::Event(_) => {}
                }
            }
        }
        if sfu.poll_timeout().is_some_and(|at| at <= *now) {
            sfu.handle_timeout(*now);
        }
        while let Some(transmit) = sfu.poll_transmit() {
            moved = true;
            let peer = peers
                .iter_mut()
                .find(|peer| peer.address == transmit.destination)
                .expect("the SFU sends only to peers");
            let receive =
                Receive::new(Protocol::Udp, sfu_address, peer.address, &transmit.contents).unwrap();
            peer.rtc
                .handle_input(Input::Receive(*now, receive))
                .unwrap();
        }
        if !moved {
            break;
        }
    }
    *now += STEP;
}

#[test]
fn every_listener_receives_exactly_its_selected_speakers() {
    let start = Instant::now();
    let mut now = start;
    let sfu_address: SocketAddr = "10.0.0.1:3478".parse().unwrap();
    let mut sfu = Sfu::new(VoiceConfig::default(), sfu_address).unwrap();
    let mut random = SplitMix64::new(2026);
    let mut peers = Vec::new();
    let mut listeners = Vec::new();
    let mut speakers = Vec::new();
    for id in 1..=PEERS {
        let participant = ParticipantId(id);
        let address = SocketAddr::from(([10, 0, 1, id as u8], 5000));
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_opus(true, false)
            .build(now);
        rtc.add_local_candidate(Candidate::host(address, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let microphone = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        for _ in 0..SLOTS {
            api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        }
        let (offer, pending) = api.apply().unwrap();
        let answer = sfu
            .handle_offer(now, participant, &offer.to_sdp_string())
            .unwrap();
        rtc.sdp_api()
            .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
            .unwrap();
        let position = Vec2 {
            x: random.next_f32() * 40.0,
            y: random.next_f32() * 40.0,
        };
        listeners.push(ListenerState {
            participant,
            position,
            instance: InstanceKey(1),
        });
        speakers.push(SpeakerState {
            participant,
            position,
            instance: InstanceKey(1),
            audio_level: Some(-(random.range_u32(0, 60) as i8)),
            self_muted: id == 5,
            moderator_muted: false,
            on_stage: id == 1,
        });
        peers.push(Peer {
            id: participant,
            rtc,
            address,
            microphone,
            connected: false,
            received: Vec::new(),
        });
    }
    let blocks = [Block {
        blocker: ParticipantId(2),
        blocked: ParticipantId(3),
    }];
    let config = SelectionConfig {
        radius: 15.0,
        loudest: SLOTS,
    };
    let routing = select_heard(&config, &listeners, &speakers, &blocks, &HashSet::new());
    sfu.set_routing(&routing);
    // Which line of which listener carries which speaker, as announced.
    let mut lines: HashMap<(ParticipantId, String), ParticipantId> = HashMap::new();
    while let Some(event) = sfu.poll_event() {
        if let VoiceEvent::Heard {
            listener,
            slot,
            heard: Some(heard),
        } = event
        {
            lines.insert((listener, slot), heard.speaker);
        }
    }

    while !peers.iter().all(|peer| peer.connected) {
        assert!(
            now - start < Duration::from_secs(30),
            "peers did not connect"
        );
        step(&mut sfu, &mut peers, sfu_address, &mut now);
    }

    // Every unmuted participant speaks PACKETS packets, 20 ms apart.
    for sequence in 0..PACKETS {
        for peer in &mut peers {
            let mut payload = vec![0xF8, peer.id.0 as u8];
            payload.extend_from_slice(&sequence.to_be_bytes());
            let writer = peer.rtc.writer(peer.microphone).unwrap();
            let pt = writer
                .payload_params()
                .find(|params| params.spec().codec == Codec::Opus)
                .unwrap()
                .pt();
            writer
                .audio_level(-20, true)
                .write(
                    pt,
                    now,
                    MediaTime::new(u64::from(sequence) * 960, Frequency::FORTY_EIGHT_KHZ),
                    payload,
                )
                .unwrap();
        }
        for _ in 0..20 {
            step(&mut sfu, &mut peers, sfu_address, &mut now);
        }
    }
    for _ in 0..200 {
        step(&mut sfu, &mut peers, sfu_address, &mut now);
    }

    let mut pairs = 0;
    for peer in &peers {
        let selected: HashSet<u8> = routing
            .heard_by(peer.id)
            .iter()
            .map(|heard| heard.speaker.0 as u8)
            .collect();
        let heard: HashSet<u8> = peer
            .received
            .iter()
            .map(|(_, speaker, _)| *speaker)
            .collect();
        assert_eq!(heard, selected, "{:?} hears exactly its selection", peer.id);
        for speaker in &selected {
            let sequences: HashSet<u32> = peer
                .received
                .iter()
                .filter(|(_, from, _)| from == speaker)
                .map(|(_, _, sequence)| *sequence)
                .collect();
            assert_eq!(
                sequences.len(),
                PACKETS as usize,
                "{:?} received every packet of {speaker}",
                peer.id
            );
        }
        for (line, speaker, _) in &peer.received {
            assert_eq!(
                lines
                    .get(&(peer.id, line.to_string()))
                    .map(|who| who.0 as u8),
                Some(*speaker),
                "{:?}: speaker {speaker} arrived on the line announced for it",
                peer.id
            );
        }
        pairs += selected.len();
    }
    // The scene exercises the rules: someone hears the stage from afar, the
    // muted one is heard by no one, the blocked pair not by each other.
    assert!(pairs >= 12, "only {pairs} heard pairs");
    for peer in &peers {
        assert!(peer.received.iter().all(|(_, speaker, _)| *speaker != 5));
    }
    let heard_by = |listener: u64, speaker: u8| {
        peers[listener as usize - 1]
            .received
            .iter()
            .any(|(_, from, _)| *from == speaker)
    };
    assert!(!heard_by(2, 3) && !heard_by(3, 2));
    let counters = sfu.counters();
    eprintln!("{pairs} heard pairs; {counters:?}");
    assert_eq!(
        counters.packets_forwarded,
        pairs as u64 * u64::from(PACKETS)
    );
}
