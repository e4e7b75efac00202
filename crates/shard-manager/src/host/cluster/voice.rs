//! Voice across a cluster's shards: each client's voice session is at its
//! gateway's voice port, so a listener connected to one shard hears a
//! speaker connected to another only if the gateways tell each other.
//!
//! - **Who may be heard.** Every tick, each gateway tells every peer its
//!   speakers who may be heard (a session, not muted, not banned): account,
//!   avatar, position, audio level, stage ([`HostMessage::VoiceSpeakers`]).
//!   A listener's gateway adds them to its own selection
//!   ([`ZoneHost::voice_routing`]), with its own blocks, mutes and bans and
//!   the speaker's blocks both ways as its gateway knows them.
//! - **Whose audio crosses.** From that selection each gateway asks every
//!   peer for the speakers of its whom listeners here hear
//!   ([`HostMessage::VoiceWanted`], when the set changes and every second).
//!   The speaker's port copies those speakers' packets out; its gateway
//!   sends them to the peers that asked ([`HostMessage::VoiceAudio`], once a
//!   tick), and the listener's port writes them on the lines that carry
//!   those speakers, as if they had spoken there.
//! - **Bounds.** At most [`MAX_REMOTE_SPEAKERS`] speakers per peer are
//!   taken, [`MAX_AUDIO_PER_TICK`] packets wait for each peer and
//!   [`MAX_AUDIO_IN`] for the port; beyond, packets are dropped and counted
//!   ([`CrossShardVoiceCounters`]). A packet of a speaker not asked for is
//!   refused and counted. A peer's speakers are forgotten when its link
//!   drops or after [`SPEAKERS_STALE_TICKS`] without a list.
//!
//! Nothing is handed over when an avatar crosses to another shard's zone:
//! the session stays at the gateway, which keeps the avatar's position from
//! the frames its owner sends, so the audio follows the avatar's route.

use std::collections::{BTreeSet, HashMap, HashSet};

use meridian_protocol::NetworkId;

use crate::host::borders::Borders;
use crate::host::{At, ZoneHost};
use crate::link::{HostMessage, LinkTo, VoiceSpeaker};
use meridian_netcode::voice::{MAX_RELAYED_PAYLOAD, ParticipantId, RelayedPacket, Routing};

/// The most speakers taken from one peer's list.
pub(crate) const MAX_REMOTE_SPEAKERS: usize = 4_096;
/// The most packets waiting for one peer between two ticks.
pub(crate) const MAX_AUDIO_PER_TICK: usize = 4_096;
/// The most relayed packets waiting for the port between two ticks.
pub(crate) const MAX_AUDIO_IN: usize = 8_192;
/// Ticks after which a peer's list of speakers is forgotten.
pub(crate) const SPEAKERS_STALE_TICKS: u64 = 40;
/// The most accounts a speaker's `apart` list carries (its blocks both
/// ways); beyond, they are left out and counted as refused.
pub(crate) const MAX_APART: usize = 1_024;
/// Ticks between two askings of one peer when the set did not change.
const WANTED_EVERY_TICKS: u64 = 20;

/// What crossed between shards, since the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrossShardVoiceCounters {
    /// Packets sent to other shards (one per packet per shard).
    pub packets_out: u64,
    /// Packets from other shards handed to the port.
    pub packets_in: u64,
    /// Packets dropped because a queue was full.
    pub packets_dropped: u64,
    /// Packets refused (not asked for, or of a bad size) and list entries
    /// refused (beyond [`MAX_REMOTE_SPEAKERS`], or not at a finite position).
    pub refused: u64,
}

/// What the port is to do this tick for voice across shards.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct VoiceRelayPlan {
    /// Speakers at other shards' ports whom listeners here may hear.
    pub remote: Vec<ParticipantId>,
    /// Speakers here whom listeners at other shards hear.
    pub exported: Vec<ParticipantId>,
    /// Packets relayed from other shards, for the port.
    pub relayed: Vec<RelayedPacket>,
}

/// A host's voice across shards.
#[derive(Debug, Default)]
pub(crate) struct CrossShardVoice {
    /// Per peer: its speakers as last told, and the tick they were told.
    speakers: HashMap<u32, (u64, Vec<VoiceSpeaker>)>,
    /// Per peer: the speakers of its that we asked for, and when.
    asked: HashMap<u32, (BTreeSet<u64>, u64)>,
    /// Per peer: our speakers it asked for.
    exported: HashMap<u32, HashSet<u64>>,
    /// Packets for each peer since the last tick.
    audio_out: HashMap<u32, Vec<RelayedPacket>>,
    /// Packets from peers for the port since the last tick.
    audio_in: Vec<RelayedPacket>,
    /// Whether our last list was empty (an empty one goes out once).
    told_none: bool,
    counters: CrossShardVoiceCounters,
}

impl CrossShardVoice {
    /// The peers' speakers told within [`SPEAKERS_STALE_TICKS`] of `now`.
    pub(crate) fn fresh(&self, now: u64) -> impl Iterator<Item = (u32, &VoiceSpeaker)> {
        self.speakers
            .iter()
            .filter(move |(_, (told, _))| now.saturating_sub(*told) <= SPEAKERS_STALE_TICKS)
            .flat_map(|(shard, (_, speakers))| {
                speakers.iter().map(move |speaker| (*shard, speaker))
            })
    }

    /// The avatar of a peer's speaker, to name it on a listener's line.
    pub(crate) fn avatar_of(&self, account: u64) -> Option<NetworkId> {
        self.speakers
            .values()
            .flat_map(|(_, speakers)| speakers)
            .find(|speaker| speaker.account == account)
            .map(|speaker| speaker.avatar)
    }
}

impl<B: Borders> ZoneHost<B> {
    /// What crossed between shards for voice, since the start.
    pub fn cross_shard_voice_counters(&self) -> CrossShardVoiceCounters {
        self.cluster.voice.counters
    }

    /// Peer `from`'s speakers who may be heard now.
    pub(crate) fn voice_speakers_from(&mut self, from: u32, mut speakers: Vec<VoiceSpeaker>) {
        let voice = &mut self.cluster.voice;
        if speakers.len() > MAX_REMOTE_SPEAKERS {
            voice.counters.refused += (speakers.len() - MAX_REMOTE_SPEAKERS) as u64;
            speakers.truncate(MAX_REMOTE_SPEAKERS);
        }
        let before = speakers.len();
        speakers.retain(|speaker| speaker.position.iter().all(|c| c.is_finite()));
        voice.counters.refused += (before - speakers.len()) as u64;
        for speaker in &mut speakers {
            if speaker.apart.len() > MAX_APART {
                voice.counters.refused += (speaker.apart.len() - MAX_APART) as u64;
                speaker.apart.truncate(MAX_APART);
            }
        }
        if speakers.is_empty() {
            voice.speakers.remove(&from);
        } else {
            voice.speakers.insert(from, (self.cluster.ticks, speakers));
        }
    }

    /// Peer `from`'s listeners hear these speakers of ours now.
    pub(crate) fn voice_wanted_by(&mut self, from: u32, mut wanted: Vec<u64>) {
        let voice = &mut self.cluster.voice;
        if wanted.len() > MAX_REMOTE_SPEAKERS {
            voice.counters.refused += (wanted.len() - MAX_REMOTE_SPEAKERS) as u64;
            wanted.truncate(MAX_REMOTE_SPEAKERS);
        }
        if wanted.is_empty() {
            voice.exported.remove(&from);
        } else {
            voice.exported.insert(from, wanted.into_iter().collect());
        }
    }

    /// Packets of peer `from`'s speakers, for our listeners.
    pub(crate) fn voice_audio_from(&mut self, from: u32, packets: Vec<RelayedPacket>) {
        let voice = &mut self.cluster.voice;
        let asked = voice.asked.get(&from).map(|(asked, _)| asked);
        for packet in packets {
            let wanted = asked.is_some_and(|asked| asked.contains(&packet.speaker));
            if !wanted || packet.payload.is_empty() || packet.payload.len() > MAX_RELAYED_PAYLOAD {
                voice.counters.refused += 1;
            } else if voice.audio_in.len() >= MAX_AUDIO_IN {
                voice.counters.packets_dropped += 1;
            } else {
                voice.audio_in.push(packet);
            }
        }
    }

    /// The link to `shard` dropped: its speakers, askings and audio go.
    pub(crate) fn voice_shard_lost(&mut self, shard: u32) {
        let voice = &mut self.cluster.voice;
        voice.speakers.remove(&shard);
        voice.asked.remove(&shard);
        voice.exported.remove(&shard);
        voice.audio_out.remove(&shard);
    }

    /// The packets peers relayed since the last call, for the port (the
    /// zone thread hands them over as they come, not only once a tick).
    pub fn take_voice_relayed(&mut self) -> Vec<RelayedPacket> {
        let voice = &mut self.cluster.voice;
        voice.counters.packets_in += voice.audio_in.len() as u64;
        std::mem::take(&mut voice.audio_in)
    }

    /// A packet of one of our speakers, copied out by the port: queued for
    /// every peer that asked for that speaker.
    pub fn voice_relay_out(&mut self, packet: RelayedPacket) {
        let voice = &mut self.cluster.voice;
        for (shard, wanted) in &voice.exported {
            if !wanted.contains(&packet.speaker) {
                continue;
            }
            let queue = voice.audio_out.entry(*shard).or_default();
            if queue.len() >= MAX_AUDIO_PER_TICK {
                voice.counters.packets_dropped += 1;
            } else {
                queue.push(packet.clone());
            }
        }
    }

    /// Once a tick, after [`ZoneHost::voice_routing`] gave `routing`: tells
    /// the peers our speakers, asks them for theirs that our listeners hear,
    /// sends them the packets they asked for, and says what the port is to
    /// relay. `None` when this host is not a shard of a cluster.
    pub fn voice_across_shards(
        &mut self,
        routing: &Routing,
        levels: &[(ParticipantId, i8)],
    ) -> Option<VoiceRelayPlan> {
        if !self.cluster.linked {
            return None;
        }
        let now = self.cluster.ticks;
        // Our speakers who may be heard, for every peer.
        let ours: Vec<VoiceSpeaker> = self
            .members
            .values()
            .filter(|member| !matches!(member.at, At::ForGateway(_)))
            .filter(|member| self.voice_audible(member.account))
            .filter_map(|member| {
                let state = self.state_of(member)?;
                let participant = ParticipantId(member.account);
                Some(VoiceSpeaker {
                    account: member.account,
                    avatar: member.avatar,
                    position: [state.position.x, state.position.y],
                    audio_level: levels
                        .iter()
                        .find(|(who, _)| *who == participant)
                        .map(|(_, level)| *level),
                    on_stage: self.voice_on_stage(member.account),
                    apart: self
                        .moderation
                        .blocks_of(member.account)
                        .chain(self.moderation.blocked_by_of(member.account))
                        .take(MAX_APART)
                        .collect(),
                })
            })
            .collect();
        let voice = &mut self.cluster.voice;
        if !ours.is_empty() || !voice.told_none {
            voice.told_none = ours.is_empty();
            self.cluster
                .out
                .push((LinkTo::Everyone, HostMessage::VoiceSpeakers(ours)));
        }
        // Whom our listeners hear of each peer's speakers.
        let remote: HashMap<u64, u32> = voice
            .fresh(now)
            .map(|(shard, speaker)| (speaker.account, shard))
            .collect();
        let mut wanted: HashMap<u32, BTreeSet<u64>> = HashMap::new();
        for (_, heard) in routing.iter() {
            for heard in heard {
                if let Some(shard) = remote.get(&heard.speaker.0) {
                    wanted.entry(*shard).or_default().insert(heard.speaker.0);
                }
            }
        }
        let peers: BTreeSet<u32> = wanted.keys().chain(voice.asked.keys()).copied().collect();
        for shard in peers {
            let now_wanted = wanted.remove(&shard).unwrap_or_default();
            let (asked, when) = voice.asked.get(&shard).cloned().unwrap_or_default();
            let due = now.saturating_sub(when) >= WANTED_EVERY_TICKS;
            if now_wanted != asked || (due && !now_wanted.is_empty()) {
                self.cluster.out.push((
                    LinkTo::Shard(shard),
                    HostMessage::VoiceWanted(now_wanted.iter().copied().collect()),
                ));
            }
            if now_wanted.is_empty() {
                voice.asked.remove(&shard);
            } else if now_wanted != asked || due {
                voice.asked.insert(shard, (now_wanted, now));
            }
        }
        // The packets peers asked for.
        for (shard, packets) in voice.audio_out.drain() {
            if packets.is_empty() {
                continue;
            }
            voice.counters.packets_out += packets.len() as u64;
            self.cluster
                .out
                .push((LinkTo::Shard(shard), HostMessage::VoiceAudio(packets)));
        }
        let mut exported: Vec<ParticipantId> = voice
            .exported
            .values()
            .flatten()
            .copied()
            .collect::<BTreeSet<u64>>()
            .into_iter()
            .map(ParticipantId)
            .collect();
        exported.retain(|participant| self.voice_has_session(participant.0));
        Some(VoiceRelayPlan {
            remote: remote.keys().copied().map(ParticipantId).collect(),
            exported,
            relayed: self.take_voice_relayed(),
        })
    }
}
