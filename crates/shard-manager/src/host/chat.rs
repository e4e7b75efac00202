//! Chat: what a member says, stored and relayed to those who can hear it
//! (the whole zone, or those within hearing), minus those who block the
//! speaker; muted speakers are neither stored nor heard.

use meridian_protocol::messages::{ChatChannel, ChatRelay, ServerMessage};

use super::ZoneHost;
use crate::host::borders::Borders;
use crate::host::members::SaidLine;
use meridian_netcode::server::ConnectionId;

impl<B: Borders> ZoneHost<B> {
    /// The chat lines said since the last call.
    pub fn take_said(&mut self) -> Vec<SaidLine> {
        std::mem::take(&mut self.said)
    }

    /// With `true`, chat lines are relayed only when the caller hands them back
    /// through [`ZoneHost::relay_said`] (after storing them), so no line anyone
    /// heard can be lost; with `false` (the default) they are relayed at once.
    pub fn store_chat_before_relay(&mut self, enabled: bool) {
        self.store_before_relay = enabled;
    }

    /// Relays a line taken from [`ZoneHost::take_said`] to those who can hear
    /// its speaker now.
    pub fn relay_said(&mut self, line: SaidLine) {
        // A speaker who left meanwhile has no avatar to name as the sender: the
        // line stays in the history only.
        let Some(member) = self.members.get(&line.connection).copied() else {
            return;
        };
        if self.cluster.linked {
            self.relay_across_shards(member, line);
            return;
        }
        let relay = ServerMessage::Chat(ChatRelay {
            from: member.avatar,
            channel: line.channel,
            text: line.text,
        });
        let listeners: Vec<ConnectionId> = match line.channel {
            ChatChannel::Zone => self
                .members
                .iter()
                .map(|(connection, _)| connection)
                .collect(),
            ChatChannel::Proximity => {
                // Ghosts are in the speaker's zone too: a line carries across
                // a border to those within hearing.
                let zone = &self.zones[member.zone];
                let Some(speaker) = zone.avatar(member.client) else {
                    return;
                };
                self.nearby.clear();
                let radius = self.server.config().chat_hearing_radius;
                zone.avatars_near(speaker.position, radius, &mut self.nearby);
                self.nearby
                    .iter()
                    .filter_map(|avatar| self.members.connection_of_avatar(*avatar))
                    .collect()
            }
        };
        for listener in listeners {
            let hears = self
                .members
                .get(&listener)
                .is_some_and(|heard| self.moderation.hears(heard.account, member.account));
            if !hears {
                continue;
            }
            // A zone-wide line may come from someone never in view: name them first.
            self.names.tell(&mut self.server, listener, member.avatar);
            // Listeners are admitted members.
            let _ = self.server.send_admitted(listener, &relay);
        }
    }

    pub(super) fn said(&mut self, connection: ConnectionId, channel: ChatChannel, text: String) {
        let Some(member) = self.members.get(&connection).copied() else {
            return;
        };
        if !self.moderation.may_speak(member.account) {
            // Muted: neither stored nor heard (counted).
            return;
        }
        let line = SaidLine {
            connection,
            account: member.account,
            channel,
            text,
        };
        if !self.store_before_relay {
            self.relay_said(line.clone());
        }
        self.said.push(line);
    }
}
