//! Voice requests on the game stream (PROTOCOL.md 5.7 to 5.9 and 6.9 to
//! 6.11): an admitted client's offers, mutes and hang-ups become
//! [`ServerEvent::Voice`] for the host, and the host's answers, refusals and
//! line changes go back on the stream.

use std::time::Instant;

use meridian_protocol::limits::MAX_VOICE_LINES;
use meridian_protocol::messages::{
    ServerMessage, VoiceAnswer, VoiceLine, VoiceLines, VoiceRefusalReason, VoiceRefused,
};

use super::{ConnectionId, Server, ServerEvent};

/// What a client asks of voice (PROTOCOL.md 5.7 to 5.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoiceRequest {
    /// Turn voice on, or renegotiate, with this SDP offer.
    Offer(String),
    /// Mute (`true`) or unmute its own voice.
    Mute(bool),
    /// Turn voice off.
    Off,
}

impl Server {
    /// An admitted client's voice request: offers and mutes are rate limited
    /// with chat; turning voice off never is (ending a session must always
    /// work).
    pub(super) fn on_voice(
        &mut self,
        now: Instant,
        connection: ConnectionId,
        request: VoiceRequest,
    ) {
        let event = ServerEvent::Voice {
            connection,
            request,
        };
        if matches!(
            event,
            ServerEvent::Voice {
                request: VoiceRequest::Off,
                ..
            }
        ) {
            self.events.push_back(event);
        } else {
            self.requested(now, connection, event);
        }
    }

    /// Sends the SDP answer to `connection`'s voice offer.
    pub fn send_voice_answer(&mut self, connection: ConnectionId, sdp: String) {
        self.send_stream(connection, &ServerMessage::VoiceAnswer(VoiceAnswer { sdp }));
    }

    /// Tells `connection` its voice offer was refused, or its session ended.
    /// The detail is cut to the protocol's limit.
    pub fn send_voice_refused(
        &mut self,
        connection: ConnectionId,
        reason: VoiceRefusalReason,
        detail: &str,
    ) {
        let mut detail = detail.to_owned();
        while detail.len() > meridian_protocol::limits::MAX_DETAIL_BYTES {
            detail.pop();
        }
        let message = ServerMessage::VoiceRefused(VoiceRefused { reason, detail });
        self.send_stream(connection, &message);
    }

    /// Tells `connection` who is on its voice lines now, in messages of at
    /// most [`MAX_VOICE_LINES`] lines.
    pub fn send_voice_lines(&mut self, connection: ConnectionId, lines: &[VoiceLine]) {
        for chunk in lines.chunks(MAX_VOICE_LINES) {
            let message = ServerMessage::VoiceLines(VoiceLines {
                lines: chunk.to_vec(),
            });
            self.send_stream(connection, &message);
        }
    }
}
