//! Who hears whom: the pure function the caller runs each tick before
//! [`Sfu::set_routing`](super::Sfu::set_routing).
//!
//! A listener hears a speaker when both are in the same instance, neither
//! blocked the other, neither is banned, the speaker is not muted (by itself
//! or by a moderator), and the speaker is either on the instance's stage or
//! within [`SelectionConfig::radius`] of the listener. Of those, stage
//! speakers come first (distance 0: heard at full volume), then the others
//! loudest first (by the RTP audio level; a speaker who sent none counts as
//! silent), nearer first among equals, then by id; the listener receives the
//! first [`SelectionConfig::loudest`] of that order. A position that is not a
//! finite number hears and is heard by the stage only.
//!
//! Speakers are bucketed in a grid of cells one radius wide per instance, so
//! each listener looks at nine cells instead of every speaker.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use meridian_sim::Vec2;

use super::routing::{Heard, ParticipantId, Routing};

/// An instance, by the caller's id for it; voice never crosses instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceKey(pub u64);

/// The silence level of the audio-level extension (dBov).
const SILENT: i8 = -127;

/// The selection's knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SelectionConfig {
    /// How far a speaker is heard, in metres (default 15).
    pub radius: f32,
    /// How many speakers a listener receives at most (default 8, the
    /// [`VoiceConfig::max_slots`](super::VoiceConfig::max_slots)).
    pub loudest: usize,
}

impl Default for SelectionConfig {
    fn default() -> Self {
        Self {
            radius: 15.0,
            loudest: 8,
        }
    }
}

/// Why a [`SelectionConfig`] is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectionConfigError {
    /// The radius is not a finite number above zero.
    #[error("voice radius must be a finite number of metres above 0, not {0}")]
    Radius(f32),
}

impl SelectionConfig {
    /// Checks every setting.
    pub fn validate(&self) -> Result<(), SelectionConfigError> {
        if !self.radius.is_finite() || self.radius <= 0.0 {
            return Err(SelectionConfigError::Radius(self.radius));
        }
        Ok(())
    }
}

/// One participant who listens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ListenerState {
    /// Who.
    pub participant: ParticipantId,
    /// Where its avatar is.
    pub position: Vec2,
    /// Which instance it is in.
    pub instance: InstanceKey,
}

/// One participant who may speak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeakerState {
    /// Who.
    pub participant: ParticipantId,
    /// Where its avatar is.
    pub position: Vec2,
    /// Which instance it is in.
    pub instance: InstanceKey,
    /// Its last audio level (dBov: 0 loudest, -127 silent), if any.
    pub audio_level: Option<i8>,
    /// It muted itself.
    pub self_muted: bool,
    /// A moderator muted it.
    pub moderator_muted: bool,
    /// An admin put it on its instance's stage: everyone there hears it.
    pub on_stage: bool,
}

/// `blocker` blocked `blocked`; neither hears the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Block {
    /// Who blocked.
    pub blocker: ParticipantId,
    /// Who was blocked.
    pub blocked: ParticipantId,
}

/// Who hears whom this tick; see the [module docs](self).
pub fn select_heard(
    config: &SelectionConfig,
    listeners: &[ListenerState],
    speakers: &[SpeakerState],
    blocks: &[Block],
    banned: &HashSet<ParticipantId>,
) -> Routing {
    let blocked: HashSet<(ParticipantId, ParticipantId)> = blocks
        .iter()
        .map(|block| ordered_pair(block.blocker, block.blocked))
        .collect();
    let audible = |speaker: &SpeakerState| {
        !speaker.self_muted && !speaker.moderator_muted && !banned.contains(&speaker.participant)
    };
    let mut stage: HashMap<InstanceKey, Vec<usize>> = HashMap::new();
    let mut grid: HashMap<(InstanceKey, i64, i64), Vec<usize>> = HashMap::new();
    for (index, speaker) in speakers.iter().enumerate() {
        if !audible(speaker) {
            continue;
        }
        if speaker.on_stage {
            stage.entry(speaker.instance).or_default().push(index);
        } else if let Some((x, y)) = cell(speaker.position, config.radius) {
            grid.entry((speaker.instance, x, y))
                .or_default()
                .push(index);
        }
    }
    let mut routing = Routing::new();
    let mut candidates: Vec<(Rank, Heard)> = Vec::new();
    for listener in listeners {
        if banned.contains(&listener.participant) {
            continue;
        }
        candidates.clear();
        let hears = |speaker: &SpeakerState| {
            speaker.participant != listener.participant
                && !blocked.contains(&ordered_pair(listener.participant, speaker.participant))
        };
        for &index in stage.get(&listener.instance).into_iter().flatten() {
            let speaker = &speakers[index];
            if hears(speaker) {
                candidates.push((
                    Rank::of(speaker, 0.0),
                    Heard {
                        speaker: speaker.participant,
                        distance: 0.0,
                    },
                ));
            }
        }
        if let Some((x, y)) = cell(listener.position, config.radius) {
            for cell_x in x - 1..=x + 1 {
                for cell_y in y - 1..=y + 1 {
                    let key = (listener.instance, cell_x, cell_y);
                    for &index in grid.get(&key).into_iter().flatten() {
                        let speaker = &speakers[index];
                        let distance = distance(listener.position, speaker.position);
                        if distance <= config.radius && hears(speaker) {
                            candidates.push((
                                Rank::of(speaker, distance),
                                Heard {
                                    speaker: speaker.participant,
                                    distance,
                                },
                            ));
                        }
                    }
                }
            }
        }
        if candidates.len() > config.loudest {
            candidates.select_nth_unstable_by(config.loudest, |a, b| a.0.cmp(&b.0));
            candidates.truncate(config.loudest);
        }
        candidates.sort_by(|a, b| a.0.cmp(&b.0));
        routing.set(
            listener.participant,
            candidates.iter().map(|(_, heard)| *heard).collect(),
        );
    }
    routing
}

/// The order in which a listener's speakers are chosen: smaller first.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rank {
    off_stage: bool,
    level: i8,
    distance: f32,
    participant: ParticipantId,
}

impl Rank {
    fn of(speaker: &SpeakerState, distance: f32) -> Self {
        Self {
            off_stage: !speaker.on_stage,
            level: speaker.audio_level.unwrap_or(SILENT).max(SILENT),
            distance,
            participant: speaker.participant,
        }
    }

    fn cmp(&self, other: &Self) -> Ordering {
        self.off_stage
            .cmp(&other.off_stage)
            // Louder (nearer to 0 dBov) first.
            .then(other.level.cmp(&self.level))
            .then(self.distance.total_cmp(&other.distance))
            .then(self.participant.cmp(&other.participant))
    }
}

/// The speaker-listener distance, the one formula both the grid and any
/// check of it use.
pub(crate) fn distance(a: Vec2, b: Vec2) -> f32 {
    let (dx, dy) = (a.x - b.x, a.y - b.y);
    (dx * dx + dy * dy).sqrt()
}

fn cell(position: Vec2, radius: f32) -> Option<(i64, i64)> {
    if !position.x.is_finite() || !position.y.is_finite() {
        return None;
    }
    // Saturating casts: a position far outside any world still lands in a
    // cell, and neighbours of the last cell are simply empty.
    Some((
        (position.x / radius).floor() as i64,
        (position.y / radius).floor() as i64,
    ))
}

fn ordered_pair(a: ParticipantId, b: ParticipantId) -> (ParticipantId, ParticipantId) {
    if a <= b { (a, b) } else { (b, a) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speaker(id: u64, x: f32, level: i8) -> SpeakerState {
        SpeakerState {
            participant: ParticipantId(id),
            position: Vec2 { x, y: 0.0 },
            instance: InstanceKey(1),
            audio_level: Some(level),
            self_muted: false,
            moderator_muted: false,
            on_stage: false,
        }
    }

    fn listener(id: u64, x: f32) -> ListenerState {
        ListenerState {
            participant: ParticipantId(id),
            position: Vec2 { x, y: 0.0 },
            instance: InstanceKey(1),
        }
    }

    fn heard_ids(routing: &Routing, id: u64) -> Vec<u64> {
        routing
            .heard_by(ParticipantId(id))
            .iter()
            .map(|heard| heard.speaker.0)
            .collect()
    }

    #[test]
    fn radius_mutes_blocks_bans_and_stage_each_apply() {
        let config = SelectionConfig::default();
        let mut far_stage = speaker(5, 500.0, -60);
        far_stage.on_stage = true;
        let mut muted = speaker(6, 2.0, -10);
        muted.moderator_muted = true;
        let mut self_muted = speaker(7, 2.0, -10);
        self_muted.self_muted = true;
        let mut other_instance = speaker(8, 1.0, -10);
        other_instance.instance = InstanceKey(2);
        let speakers = [
            speaker(2, 14.9, -40),
            speaker(3, 15.1, -20),
            speaker(4, 3.0, -30),
            far_stage,
            muted,
            self_muted,
            other_instance,
            speaker(9, 1.0, -30),
            speaker(10, 1.0, -30),
        ];
        let blocks = [Block {
            blocker: ParticipantId(9),
            blocked: ParticipantId(1),
        }];
        let banned = HashSet::from([ParticipantId(10)]);
        let routing = select_heard(&config, &[listener(1, 0.0)], &speakers, &blocks, &banned);
        // Stage first at distance 0, then loudest: 4 (-30) before 2 (-40).
        assert_eq!(heard_ids(&routing, 1), vec![5, 4, 2]);
        assert_eq!(routing.heard_by(ParticipantId(1))[0].distance, 0.0);
        assert!((routing.heard_by(ParticipantId(1))[1].distance - 3.0).abs() < 1e-6);
    }

    #[test]
    fn only_the_loudest_n_are_heard_and_a_banned_listener_hears_no_one() {
        let config = SelectionConfig {
            radius: 15.0,
            loudest: 2,
        };
        let speakers = [
            speaker(2, 1.0, -50),
            speaker(3, 2.0, -10),
            speaker(4, 3.0, -30),
            speaker(5, 4.0, -127),
        ];
        let banned = HashSet::from([ParticipantId(9)]);
        let routing = select_heard(
            &config,
            &[listener(1, 0.0), listener(9, 0.0)],
            &speakers,
            &[],
            &banned,
        );
        assert_eq!(heard_ids(&routing, 1), vec![3, 4]);
        assert!(heard_ids(&routing, 9).is_empty());
    }

    #[test]
    fn a_radius_of_zero_is_refused() {
        let config = SelectionConfig {
            radius: 0.0,
            loudest: 8,
        };
        assert_eq!(config.validate(), Err(SelectionConfigError::Radius(0.0)));
        assert_eq!(SelectionConfig::default().validate(), Ok(()));
    }
}
