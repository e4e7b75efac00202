//! Who hears whom (`voice::select_heard`) against a brute-force model, over
//! many seeded random scenes: radius, loudest N, stage, self and moderator
//! mutes, blocks both ways, bans and instances. A failing seed is printed;
//! add it to `REGRESSION_SEEDS` to keep it.

use std::collections::HashSet;

use meridian_netcode::voice::{
    Block, InstanceKey, ListenerState, ParticipantId, SelectionConfig, SpeakerState, select_heard,
};
use meridian_sim::Vec2;
use meridian_sim::agents::SplitMix64;

const SCENES: u64 = 400;
const REGRESSION_SEEDS: &[u64] = &[];

struct Scene {
    config: SelectionConfig,
    listeners: Vec<ListenerState>,
    speakers: Vec<SpeakerState>,
    blocks: Vec<Block>,
    banned: HashSet<ParticipantId>,
}

fn chance(random: &mut SplitMix64, percent: u32) -> bool {
    random.range_u32(0, 100) < percent
}

fn position(random: &mut SplitMix64, width: f32, radius: f32) -> Vec2 {
    match random.range_u32(0, 100) {
        // Not a number: hears and is heard by the stage only.
        0 => Vec2 {
            x: f32::NAN,
            y: 3.0,
        },
        // On a grid line (a multiple of the radius), negative too.
        1..=10 => Vec2 {
            x: radius * (random.range_u32(0, 7) as f32 - 3.0),
            y: radius * (random.range_u32(0, 7) as f32 - 3.0),
        },
        _ => Vec2 {
            x: random.next_f32() * width - width / 2.0,
            y: random.next_f32() * width - width / 2.0,
        },
    }
}

fn scene(seed: u64) -> Scene {
    let mut random = SplitMix64::new(seed);
    let radius = [15.0, 5.0, 40.0, 15.0][random.range_u32(0, 4) as usize];
    let config = SelectionConfig {
        radius,
        loudest: random.range_u32(1, 11) as usize,
    };
    let participants = random.range_u32(2, 250);
    let width = [20.0, 60.0, 200.0][random.range_u32(0, 3) as usize];
    let instances = random.range_u32(1, 4);
    let mut listeners = Vec::new();
    let mut speakers = Vec::new();
    for id in 0..u64::from(participants) {
        let participant = ParticipantId(id);
        let instance = InstanceKey(u64::from(random.range_u32(0, instances)));
        let here = position(&mut random, width, radius);
        if chance(&mut random, 80) {
            listeners.push(ListenerState {
                participant,
                position: here,
                instance,
            });
        }
        if chance(&mut random, 70) {
            // Speakers exactly one radius east of someone, sometimes.
            let spoken_from = if chance(&mut random, 10) {
                Vec2 {
                    x: here.x + radius,
                    y: here.y,
                }
            } else {
                here
            };
            speakers.push(SpeakerState {
                participant,
                position: spoken_from,
                instance,
                audio_level: if chance(&mut random, 10) {
                    None
                } else {
                    // Few distinct levels, so ties on level are common.
                    Some(-(random.range_u32(0, 8) as i8) * 16)
                },
                self_muted: chance(&mut random, 8),
                moderator_muted: chance(&mut random, 5),
                on_stage: chance(&mut random, 3),
            });
        }
    }
    let blocks = (0..random.range_u32(0, participants))
        .map(|_| Block {
            blocker: ParticipantId(u64::from(random.range_u32(0, participants))),
            blocked: ParticipantId(u64::from(random.range_u32(0, participants))),
        })
        .collect();
    let banned = (0..participants / 30)
        .map(|_| ParticipantId(u64::from(random.range_u32(0, participants))))
        .collect();
    Scene {
        config,
        listeners,
        speakers,
        blocks,
        banned,
    }
}

/// The rules written out one pair at a time, with no grid and no sorting
/// shortcut: a speaker is heard when fewer than N other audible speakers
/// outrank it.
fn model(scene: &Scene, listener: &ListenerState) -> Vec<(ParticipantId, f32)> {
    if scene.banned.contains(&listener.participant) {
        return Vec::new();
    }
    let audible: Vec<(&SpeakerState, f32)> = scene
        .speakers
        .iter()
        .filter_map(|speaker| {
            let blocked = scene.blocks.iter().any(|block| {
                (block.blocker == listener.participant && block.blocked == speaker.participant)
                    || (block.blocker == speaker.participant
                        && block.blocked == listener.participant)
            });
            let dx = listener.position.x - speaker.position.x;
            let dy = listener.position.y - speaker.position.y;
            let distance = (dx * dx + dy * dy).sqrt();
            let heard = speaker.participant != listener.participant
                && speaker.instance == listener.instance
                && !speaker.self_muted
                && !speaker.moderator_muted
                && !scene.banned.contains(&speaker.participant)
                && !blocked
                && (speaker.on_stage || distance <= scene.config.radius);
            heard.then_some((speaker, if speaker.on_stage { 0.0 } else { distance }))
        })
        .collect();
    let level = |speaker: &SpeakerState| i32::from(speaker.audio_level.unwrap_or(-127));
    let outranks = |a: &(&SpeakerState, f32), b: &(&SpeakerState, f32)| {
        if a.0.on_stage != b.0.on_stage {
            return a.0.on_stage;
        }
        if level(a.0) != level(b.0) {
            return level(a.0) > level(b.0);
        }
        if a.1 != b.1 {
            return a.1 < b.1;
        }
        a.0.participant < b.0.participant
    };
    let mut heard: Vec<(usize, ParticipantId, f32)> = audible
        .iter()
        .map(|candidate| {
            let above = audible
                .iter()
                .filter(|other| outranks(other, candidate))
                .count();
            (above, candidate.0.participant, candidate.1)
        })
        .filter(|(above, _, _)| *above < scene.config.loudest)
        .collect();
    heard.sort_by_key(|(above, _, _)| *above);
    heard
        .into_iter()
        .map(|(_, speaker, distance)| (speaker, distance))
        .collect()
}

fn check(seed: u64) -> usize {
    let scene = scene(seed);
    let routing = select_heard(
        &scene.config,
        &scene.listeners,
        &scene.speakers,
        &scene.blocks,
        &scene.banned,
    );
    let mut pairs = 0;
    for listener in &scene.listeners {
        let got: Vec<(ParticipantId, f32)> = routing
            .heard_by(listener.participant)
            .iter()
            .map(|heard| (heard.speaker, heard.distance))
            .collect();
        let expected = model(&scene, listener);
        assert_eq!(
            got, expected,
            "seed {seed}: listener {:?} at {:?}",
            listener.participant, listener.position
        );
        pairs += got.len();
    }
    for (listener, _) in routing.iter() {
        assert!(
            !scene.banned.contains(&listener),
            "seed {seed}: banned {listener:?} has a routing entry"
        );
    }
    pairs
}

#[test]
fn selection_matches_the_brute_force_model_on_seeded_scenes() {
    let mut pairs = 0;
    for seed in REGRESSION_SEEDS.iter().copied().chain(0..SCENES) {
        pairs += check(seed);
    }
    eprintln!("{pairs} heard pairs in {SCENES} scenes matched the model");
    // The scenes must actually route people, or the comparison proves little.
    assert!(
        pairs > 10_000,
        "only {pairs} heard pairs in {SCENES} scenes"
    );
}
