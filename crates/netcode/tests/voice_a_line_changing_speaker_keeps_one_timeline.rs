//! A listener's line that changes speaker keeps one RTP timeline: the new
//! speaker's packets continue the line's timestamps after the pause instead
//! of jumping to the new speaker's own clock (here hours ahead), which a
//! browser's jitter buffer would take as a gap of hours. In memory, on a
//! virtual clock.

#[path = "common/voice_memory.rs"]
mod voice_memory;

use std::time::Instant;

use meridian_netcode::voice::{Heard, ParticipantId, Routing, Sfu, VoiceConfig};
use voice_memory::{MemoryPeer, connect, sfu_address, step};

const FRAMES: u32 = 10;
/// Speaker 3's packet numbers start here: its RTP clock runs 960 million
/// ticks (about 5.6 hours at 48 kHz) ahead of speaker 2's.
const AHEAD: u32 = 1_000_000;

fn route(sfu: &mut Sfu, speaker: u64) {
    let mut routing = Routing::new();
    routing.set(
        ParticipantId(1),
        vec![Heard {
            speaker: ParticipantId(speaker),
            distance: 2.0,
        }],
    );
    sfu.set_routing(&routing);
}

#[test]
fn the_next_speaker_continues_the_line_after_the_pause() {
    let mut now = Instant::now();
    let mut sfu = Sfu::new(VoiceConfig::default(), sfu_address()).unwrap();
    let mut peers = vec![
        MemoryPeer::join(&mut sfu, now, 1, 1),
        MemoryPeer::join(&mut sfu, now, 2, 0),
        MemoryPeer::join(&mut sfu, now, 3, 0),
    ];
    connect(&mut sfu, &mut peers, &mut now);

    route(&mut sfu, 2);
    for sequence in 0..FRAMES {
        peers[1].speak(now, sequence, -20);
        for _ in 0..20 {
            step(&mut sfu, &mut peers, &mut now);
        }
    }
    // Speaker 3 takes the line; it starts 100 ms after speaker 2's last.
    route(&mut sfu, 3);
    for _ in 0..80 {
        step(&mut sfu, &mut peers, &mut now);
    }
    for sequence in AHEAD..AHEAD + FRAMES {
        peers[2].speak(now, sequence, -20);
        for _ in 0..20 {
            step(&mut sfu, &mut peers, &mut now);
        }
    }
    for _ in 0..100 {
        step(&mut sfu, &mut peers, &mut now);
    }

    let received = &peers[0].received;
    let speakers: Vec<u8> = received.iter().map(|packet| packet.speaker).collect();
    assert_eq!(
        speakers,
        [[2u8; FRAMES as usize], [3u8; FRAMES as usize]].concat(),
        "all of 2, then all of 3, in order"
    );
    assert!(
        received
            .iter()
            .all(|packet| packet.slot == received[0].slot)
    );
    let steps: Vec<i128> = received
        .windows(2)
        .map(|pair| i128::from(pair[1].timestamp) - i128::from(pair[0].timestamp))
        .collect();
    eprintln!("timestamp steps: {steps:?}");
    let switch = FRAMES as usize - 1;
    for (index, step) in steps.iter().enumerate() {
        if index == switch {
            // 80 steps of 1 ms plus a frame's 20 ms: about 100 ms, 4,800 ticks.
            assert!(
                (960..=48_000).contains(step),
                "the switch jumps {step} ticks"
            );
        } else {
            assert_eq!(*step, 960, "one 20 ms frame per packet at step {index}");
        }
    }
}
