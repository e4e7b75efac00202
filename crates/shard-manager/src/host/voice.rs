//! Voice at the host: the members' voice requests (offers, self-mutes, off)
//! checked against the instance and its moderation, the orders for the voice
//! port, who hears whom from the members' positions each tick, and the
//! answers and line changes sent back on each member's stream. The host
//! holds no socket: its caller (the binary's zone loop) carries orders to the
//! voice port and outcomes back, once per tick.
//!
//! A participant is its account ([`ParticipantId`]`(account)`), so a route
//! follows the avatar across zone borders within the host.

use std::collections::{HashMap, HashSet};

use meridian_protocol::messages::{VoiceLine, VoiceRefusalReason};

use super::{At, ZoneHost};
use crate::host::borders::Borders;
use meridian_netcode::server::{ConnectionId, VoiceRequest};
use meridian_netcode::voice::{
    Block, CloseReason, Heard, InstanceKey, ListenerState, ParticipantId, Routing, SelectionConfig,
    SpeakerState, select_heard,
};

/// What the host asks of the voice port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoiceOrder {
    /// Open (or, after a `Close`, reopen) a session from this offer.
    Offer {
        /// Whose.
        participant: ParticipantId,
        /// The SDP offer.
        sdp: String,
    },
    /// End a session.
    Close {
        /// Whose.
        participant: ParticipantId,
    },
}

/// Voice offers refused (and sessions ended) by reason, since the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VoiceRefusals {
    /// The connection has no avatar here.
    pub not_in_instance: u64,
    /// A moderator muted the player.
    pub muted_by_moderator: u64,
    /// The player is banned.
    pub banned: u64,
    /// Unreadable SDP.
    pub malformed_sdp: u64,
    /// Voice is off on this server.
    pub voice_disabled: u64,
    /// The voice port holds its most sessions.
    pub too_many_sessions: u64,
    /// No Opus line, too many lines, or no usable transport.
    pub unsupported_offer: u64,
}

impl VoiceRefusals {
    fn count(&mut self, reason: VoiceRefusalReason) {
        let counter = match reason {
            VoiceRefusalReason::NotInInstance => &mut self.not_in_instance,
            VoiceRefusalReason::MutedByModerator => &mut self.muted_by_moderator,
            VoiceRefusalReason::Banned => &mut self.banned,
            VoiceRefusalReason::MalformedSdp => &mut self.malformed_sdp,
            VoiceRefusalReason::VoiceDisabled => &mut self.voice_disabled,
            VoiceRefusalReason::TooManySessions => &mut self.too_many_sessions,
            VoiceRefusalReason::UnsupportedOffer => &mut self.unsupported_offer,
        };
        *counter += 1;
    }

    /// Each reason with its label (the protocol's name in snake case).
    pub fn by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("not_in_instance", self.not_in_instance),
            ("muted_by_moderator", self.muted_by_moderator),
            ("banned", self.banned),
            ("malformed_sdp", self.malformed_sdp),
            ("voice_disabled", self.voice_disabled),
            ("too_many_sessions", self.too_many_sessions),
            ("unsupported_offer", self.unsupported_offer),
        ]
        .into_iter()
    }
}

/// The host's voice state.
#[derive(Debug, Default)]
pub(crate) struct HostVoice {
    enabled: bool,
    orders: Vec<VoiceOrder>,
    /// Accounts whose offer went to the port (answered or not) and whose
    /// session has not ended.
    sessions: HashSet<u64>,
    self_muted: HashSet<u64>,
    stage: HashSet<u64>,
    /// Line changes waiting to be sent, by listener account.
    lines: HashMap<u64, Vec<VoiceLine>>,
    refused: VoiceRefusals,
}

impl<B: Borders> ZoneHost<B> {
    /// Turns voice on or off for this host's members (off by default: every
    /// offer is refused `VoiceDisabled`).
    pub fn set_voice_enabled(&mut self, enabled: bool) {
        self.voice.enabled = enabled;
    }

    /// The accounts on the stage: every member with voice hears them.
    pub fn set_voice_stage(&mut self, accounts: impl IntoIterator<Item = u64>) {
        self.voice.stage = accounts.into_iter().collect();
    }

    /// Voice offers refused so far, by reason.
    pub fn voice_refusals(&self) -> VoiceRefusals {
        self.voice.refused
    }

    /// Members with a voice session (opened or being opened).
    pub fn voice_sessions(&self) -> usize {
        self.voice.sessions.len()
    }

    /// The orders for the voice port since the last call, in order.
    pub fn take_voice_orders(&mut self) -> Vec<VoiceOrder> {
        std::mem::take(&mut self.voice.orders)
    }

    pub(crate) fn on_voice(&mut self, connection: ConnectionId, request: VoiceRequest) {
        let Some(member) = self.members.get(&connection) else {
            self.refuse_voice(connection, VoiceRefusalReason::NotInInstance, "");
            return;
        };
        let account = member.account;
        let here = !matches!(member.at, At::ForGateway(_));
        match request {
            VoiceRequest::Offer(sdp) => {
                let refusal = if !self.voice.enabled {
                    Some(VoiceRefusalReason::VoiceDisabled)
                } else if !here {
                    Some(VoiceRefusalReason::NotInInstance)
                } else if self.moderation.is_banned(account) {
                    Some(VoiceRefusalReason::Banned)
                } else if self.moderation.is_muted(account) {
                    Some(VoiceRefusalReason::MutedByModerator)
                } else {
                    None
                };
                if let Some(reason) = refusal {
                    self.refuse_voice(connection, reason, "");
                    return;
                }
                let participant = ParticipantId(account);
                if !self.voice.sessions.insert(account) {
                    // A new offer replaces the session (PROTOCOL.md 5.7).
                    self.voice.orders.push(VoiceOrder::Close { participant });
                }
                self.voice.lines.remove(&account);
                self.voice
                    .orders
                    .push(VoiceOrder::Offer { participant, sdp });
            }
            VoiceRequest::Mute(true) => {
                self.voice.self_muted.insert(account);
            }
            VoiceRequest::Mute(false) => {
                self.voice.self_muted.remove(&account);
            }
            VoiceRequest::Off => self.end_voice(account),
        }
    }

    /// `account` left or turned voice off: its session ends.
    pub(crate) fn end_voice(&mut self, account: u64) {
        self.voice.lines.remove(&account);
        if self.voice.sessions.remove(&account) {
            let participant = ParticipantId(account);
            self.voice.orders.push(VoiceOrder::Close { participant });
        }
    }

    /// A member left: its voice session and self-mute end with it.
    pub(crate) fn voice_left(&mut self, account: u64) {
        self.end_voice(account);
        self.voice.self_muted.remove(&account);
    }

    fn refuse_voice(&mut self, connection: ConnectionId, reason: VoiceRefusalReason, detail: &str) {
        self.voice.refused.count(reason);
        self.server.send_voice_refused(connection, reason, detail);
    }

    /// The voice port answered `participant`'s offer: the SDP answer, or why
    /// not. Sent on the member's stream.
    pub fn voice_answered(
        &mut self,
        participant: ParticipantId,
        answer: Result<String, (VoiceRefusalReason, String)>,
    ) {
        let account = participant.0;
        let Some(connection) = self.members.connection_of(account) else {
            // Gone before the answer; `leave` already closed the session.
            return;
        };
        match answer {
            Ok(sdp) => self.server.send_voice_answer(connection, sdp),
            Err((reason, detail)) => {
                self.voice.sessions.remove(&account);
                self.refuse_voice(connection, reason, &detail);
            }
        }
    }

    /// `participant`'s session ended at the voice port (its peer vanished,
    /// or it never connected); it must offer again to have voice. A session
    /// the host closed itself ([`CloseReason::Closed`], before a new offer)
    /// changes nothing.
    pub fn voice_closed(&mut self, participant: ParticipantId, reason: CloseReason) {
        if reason == CloseReason::Closed {
            return;
        }
        self.voice.sessions.remove(&participant.0);
        self.voice.lines.remove(&participant.0);
    }

    /// What `listener` receives on its line `slot` changed; told to its
    /// client at the next [`ZoneHost::send_voice_lines`].
    pub fn voice_heard(&mut self, listener: ParticipantId, slot: String, heard: Option<Heard>) {
        if !self.voice.sessions.contains(&listener.0) {
            return;
        }
        let speaker = heard.and_then(|heard| {
            let account = heard.speaker.0;
            let avatar = match self.members.by_account(account) {
                Some((_, member)) => member.avatar,
                // A speaker connected to another shard.
                None => self.cluster.voice.avatar_of(account)?,
            };
            Some((avatar, heard.distance))
        });
        let line = VoiceLine {
            slot,
            speaker: speaker.map(|(avatar, _)| avatar),
            distance: speaker.map_or(0.0, |(_, distance)| {
                if distance.is_finite() {
                    distance.max(0.0)
                } else {
                    0.0
                }
            }),
        };
        let lines = self.voice.lines.entry(listener.0).or_default();
        // A later change of the same line replaces the earlier one.
        lines.retain(|earlier| earlier.slot != line.slot);
        lines.push(line);
    }

    /// Sends each member the line changes gathered since the last call.
    pub fn send_voice_lines(&mut self) {
        for (account, lines) in std::mem::take(&mut self.voice.lines) {
            if let Some(connection) = self.members.connection_of(account) {
                self.server.send_voice_lines(connection, &lines);
            }
        }
    }

    /// Whether `account` has a voice session here (opened or being opened).
    pub(crate) fn voice_has_session(&self, account: u64) -> bool {
        self.voice.sessions.contains(&account)
    }

    /// Whether `account`, a member here, may be heard: a session, not muted
    /// by itself or a moderator, not banned.
    pub(crate) fn voice_audible(&self, account: u64) -> bool {
        self.voice.sessions.contains(&account)
            && !self.voice.self_muted.contains(&account)
            && !self.moderation.is_muted(account)
            && !self.moderation.is_banned(account)
    }

    /// Whether `account` is on this host's stage.
    pub(crate) fn voice_on_stage(&self, account: u64) -> bool {
        self.voice.stage.contains(&account)
    }

    /// Who hears whom now among the members with voice: their positions
    /// (wherever their avatar is simulated), `levels` from the voice port,
    /// self-mutes, moderators' mutes, blocks both ways, bans and the stage.
    /// Every member here is in `instance`. In a cluster, the speakers other
    /// gateways told us of are heard too (`cluster/voice.rs`), under this
    /// host's blocks, mutes, bans and stage as well as their own.
    pub fn voice_routing(
        &self,
        config: &SelectionConfig,
        instance: InstanceKey,
        levels: &[(ParticipantId, i8)],
    ) -> Routing {
        let levels: HashMap<ParticipantId, i8> = levels.iter().copied().collect();
        let mut listeners = Vec::new();
        let mut speakers = Vec::new();
        let mut blocks = Vec::new();
        let mut banned = HashSet::new();
        for member in self.members.values() {
            let account = member.account;
            if !self.voice.sessions.contains(&account) || matches!(member.at, At::ForGateway(_)) {
                continue;
            }
            let Some(state) = self.state_of(member) else {
                continue;
            };
            let participant = ParticipantId(account);
            listeners.push(ListenerState {
                participant,
                position: state.position,
                instance,
            });
            speakers.push(SpeakerState {
                participant,
                position: state.position,
                instance,
                audio_level: levels.get(&participant).copied(),
                self_muted: self.voice.self_muted.contains(&account),
                moderator_muted: self.moderation.is_muted(account),
                on_stage: self.voice.stage.contains(&account),
            });
            blocks.extend(self.moderation.blocks_of(account).map(|blocked| Block {
                blocker: participant,
                blocked: ParticipantId(blocked),
            }));
            blocks.extend(self.moderation.blocked_by_of(account).map(|blocker| Block {
                blocker: ParticipantId(blocker),
                blocked: participant,
            }));
            if self.moderation.is_banned(account) {
                banned.insert(participant);
            }
        }
        if self.cluster.linked {
            let now = self.cluster.ticks;
            for (_, remote) in self.cluster.voice.fresh(now) {
                let account = remote.account;
                if self.voice.sessions.contains(&account) || self.moderation.is_banned(account) {
                    continue;
                }
                let participant = ParticipantId(account);
                blocks.extend(remote.apart.iter().map(|other| Block {
                    blocker: participant,
                    blocked: ParticipantId(*other),
                }));
                speakers.push(SpeakerState {
                    participant,
                    position: meridian_sim::Vec2::new(remote.position[0], remote.position[1]),
                    instance,
                    audio_level: remote.audio_level,
                    self_muted: false,
                    moderator_muted: self.moderation.is_muted(account),
                    on_stage: remote.on_stage || self.voice.stage.contains(&account),
                });
            }
        }
        select_heard(config, &listeners, &speakers, &blocks, &banned)
    }
}
