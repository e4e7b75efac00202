//! Selection and forwarding together, in memory: twelve str0m peers on a
//! seeded random map talk through the SFU with datagrams handed across
//! directly (no sockets) on a virtual clock. `select_heard` (radius 15 m,
//! loudest 3, one stage speaker, a block, a muted speaker) decides the
//! routing; every listener must receive packets from exactly the speakers
//! selected for it, each on the line the SFU announced for that speaker, and
//! every packet each of them spoke.

#[path = "common/voice_memory.rs"]
mod voice_memory;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use meridian_netcode::voice::{
    Block, InstanceKey, ListenerState, ParticipantId, SelectionConfig, Sfu, SpeakerState,
    VoiceConfig, VoiceEvent, select_heard,
};
use meridian_sim::Vec2;
use meridian_sim::agents::SplitMix64;
use voice_memory::{MemoryPeer, connect, sfu_address, step};

const PEERS: u64 = 12;
const SLOTS: usize = 3;
const PACKETS: u32 = 20;

#[test]
fn every_listener_receives_exactly_its_selected_speakers() {
    let mut now = Instant::now();
    let mut sfu = Sfu::new(VoiceConfig::default(), sfu_address()).unwrap();
    let mut random = SplitMix64::new(2026);
    let mut peers = Vec::new();
    let mut listeners = Vec::new();
    let mut speakers = Vec::new();
    for id in 1..=PEERS {
        let participant = ParticipantId(id);
        peers.push(MemoryPeer::join(&mut sfu, now, id, SLOTS));
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

    connect(&mut sfu, &mut peers, &mut now);

    // Every unmuted participant speaks PACKETS packets, 20 ms apart.
    for sequence in 0..PACKETS {
        for peer in &mut peers {
            peer.speak(now, sequence, -20);
        }
        for _ in 0..20 {
            step(&mut sfu, &mut peers, &mut now);
        }
    }
    for _ in 0..200 {
        step(&mut sfu, &mut peers, &mut now);
    }

    let mut pairs = 0;
    for peer in &peers {
        let selected: HashSet<u8> = routing
            .heard_by(peer.id)
            .iter()
            .map(|heard| heard.speaker.0 as u8)
            .collect();
        let heard: HashSet<u8> = peer.received.iter().map(|packet| packet.speaker).collect();
        assert_eq!(heard, selected, "{:?} hears exactly its selection", peer.id);
        for speaker in &selected {
            let sequences: HashSet<u32> = peer
                .received
                .iter()
                .filter(|packet| packet.speaker == *speaker)
                .map(|packet| packet.sequence)
                .collect();
            assert_eq!(
                sequences.len(),
                PACKETS as usize,
                "{:?} received every packet of {speaker}",
                peer.id
            );
        }
        for packet in &peer.received {
            let speaker = packet.speaker;
            assert_eq!(
                lines
                    .get(&(peer.id, packet.slot.to_string()))
                    .map(|who| who.0 as u8),
                Some(speaker),
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
        assert!(peer.received.iter().all(|packet| packet.speaker != 5));
    }
    let heard_by = |listener: u64, speaker: u8| {
        peers[listener as usize - 1]
            .received
            .iter()
            .any(|packet| packet.speaker == speaker)
    };
    assert!(!heard_by(2, 3) && !heard_by(3, 2));
    let counters = sfu.counters();
    eprintln!("{pairs} heard pairs; {counters:?}");
    assert_eq!(
        counters.packets_forwarded,
        pairs as u64 * u64::from(PACKETS)
    );
}
