//! A speaker at one forwarding unit is heard by a listener at another (the
//! voice ports of two shards): the speaker's unit copies its packets out as
//! `VoiceEvent::Relayed` while it is exported, they cross (here through
//! serde, as the shard link carries them), and the listener's unit writes
//! them on the line its routing gave that remote speaker: every packet, in
//! order, payload unchanged, one RTP timeline. Packets of speakers that are
//! not remote there, or of a bad size, are refused and counted; a speaker no
//! longer exported is copied out no more. In memory, on a virtual clock.

#[path = "common/voice_memory.rs"]
mod voice_memory;

use std::time::Instant;

use meridian_netcode::voice::{
    Heard, MAX_RELAYED_PAYLOAD, ParticipantId, RelayedPacket, Routing, Sfu, VoiceConfig, VoiceEvent,
};
use voice_memory::{MemoryPeer, connect, sfu_address, step};

const FRAMES: u32 = 20;
const SPEAKER: ParticipantId = ParticipantId(1);
const LISTENER: ParticipantId = ParticipantId(2);
/// A speaker with a session at the listener's unit.
const NEIGHBOUR: ParticipantId = ParticipantId(3);

/// The packets the unit copied out since the last call.
fn relayed(sfu: &mut Sfu) -> Vec<RelayedPacket> {
    let mut packets = Vec::new();
    while let Some(event) = sfu.poll_event() {
        if let VoiceEvent::Relayed(packet) = event {
            packets.push(packet);
        }
    }
    packets
}

#[test]
fn a_remote_speaker_is_heard_through_the_listeners_port() {
    let mut now = Instant::now();
    let mut speaker_port = Sfu::new(VoiceConfig::default(), sfu_address()).unwrap();
    let mut listener_port = Sfu::new(VoiceConfig::default(), sfu_address()).unwrap();
    let mut speakers = vec![MemoryPeer::join(&mut speaker_port, now, SPEAKER.0, 0)];
    let mut listeners = vec![
        MemoryPeer::join(&mut listener_port, now, LISTENER.0, 1),
        MemoryPeer::join(&mut listener_port, now, NEIGHBOUR.0, 0),
    ];
    connect(&mut speaker_port, &mut speakers, &mut now);
    connect(&mut listener_port, &mut listeners, &mut now);

    // The speaker's port exports it; the listener's takes it as remote and
    // routes it to the listener, who has no one else.
    speaker_port.set_relay([], [SPEAKER]);
    listener_port.set_relay([SPEAKER], []);
    let mut routing = Routing::new();
    routing.set(
        LISTENER,
        vec![Heard {
            speaker: SPEAKER,
            distance: 7.5,
        }],
    );
    listener_port.set_routing(&routing);
    let mut lines = Vec::new();
    while let Some(event) = listener_port.poll_event() {
        if let VoiceEvent::Heard {
            listener,
            slot,
            heard: Some(heard),
        } = event
        {
            lines.push((listener, slot, heard.speaker));
        }
    }
    assert_eq!(lines.len(), 1, "one line carries the remote speaker");
    assert_eq!((lines[0].0, lines[0].2), (LISTENER, SPEAKER));

    let mut crossed = 0;
    for sequence in 0..FRAMES {
        speakers[0].speak(now, sequence, -25);
        for _ in 0..5 {
            step(&mut speaker_port, &mut speakers, &mut now);
        }
        for packet in relayed(&mut speaker_port) {
            // Through serde and back, as the shard link carries it.
            let bytes = serde_json::to_vec(&packet).unwrap();
            let packet: RelayedPacket = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(packet.speaker, SPEAKER.0);
            assert_eq!(packet.audio_level, Some(-25));
            listener_port.handle_relayed(now, &packet);
            crossed += 1;
        }
        for _ in 0..15 {
            step(&mut listener_port, &mut listeners, &mut now);
        }
    }
    assert_eq!(crossed, FRAMES, "every packet was copied out once");
    let received = &listeners[0].received;
    let sequences: Vec<u32> = received.iter().map(|packet| packet.sequence).collect();
    assert_eq!(sequences, (0..FRAMES).collect::<Vec<_>>(), "all, in order");
    assert!(
        received
            .iter()
            .all(|packet| packet.speaker == SPEAKER.0 as u8)
    );
    assert!(
        received
            .iter()
            .all(|packet| packet.slot.to_string() == lines[0].1)
    );
    assert!(
        received
            .windows(2)
            .all(|pair| pair[1].timestamp.wrapping_sub(pair[0].timestamp) == 960),
        "one timeline, 960 ticks a packet"
    );
    assert!(
        listeners[1].received.is_empty(),
        "the neighbour hears no one"
    );
    assert_eq!(speaker_port.counters().relayed_out, u64::from(FRAMES));
    assert_eq!(listener_port.counters().relayed_in, u64::from(FRAMES));
    assert_eq!(
        listener_port.counters().packets_forwarded,
        u64::from(FRAMES)
    );

    // Refused and counted: a speaker the listener's port was not told of, a
    // speaker with a session there, an empty and an oversized payload.
    let good = RelayedPacket {
        speaker: SPEAKER.0,
        rtp_time: 0,
        seq: 0,
        audio_level: None,
        voice_activity: false,
        talk_spurt: false,
        payload: vec![0xF8, 1, 0, 0, 0, 99],
    };
    let refused = [
        RelayedPacket {
            speaker: 77,
            ..good.clone()
        },
        RelayedPacket {
            speaker: NEIGHBOUR.0,
            ..good.clone()
        },
        RelayedPacket {
            payload: Vec::new(),
            ..good.clone()
        },
        RelayedPacket {
            payload: vec![0xF8; MAX_RELAYED_PAYLOAD + 1],
            ..good.clone()
        },
    ];
    for packet in &refused {
        listener_port.handle_relayed(now, packet);
    }
    assert_eq!(listener_port.counters().relayed_refused, 4);
    assert_eq!(listener_port.counters().relayed_in, u64::from(FRAMES));

    // No longer exported: nothing is copied out.
    speaker_port.set_relay([], []);
    speakers[0].speak(now, FRAMES, -25);
    for _ in 0..5 {
        step(&mut speaker_port, &mut speakers, &mut now);
    }
    assert!(relayed(&mut speaker_port).is_empty());
    assert_eq!(speaker_port.counters().relayed_out, u64::from(FRAMES));
}
