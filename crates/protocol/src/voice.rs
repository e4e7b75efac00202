//! Voice signaling on the reliable stream: the client's WebRTC offer, the
//! server's answer, which speaker is on each of the client's receiving lines,
//! and refusals. The audio itself travels on the voice UDP port (WebRTC,
//! DTLS-SRTP), never on the game connection; see `docs/VOICE.md`.

use serde::{Deserialize, Serialize};

use crate::limits::{MAX_SDP_BYTES, MAX_VOICE_LINES, MAX_VOICE_SLOT_BYTES};
use crate::messages::check_text;
use crate::{DecodeError, NetworkId};

/// Turns voice on (or renegotiates it): a WebRTC SDP offer with one sending
/// Opus line and the receiving Opus lines the client wants (its slots).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceOffer {
    /// The SDP text, 1 to [`MAX_SDP_BYTES`] bytes.
    pub sdp: String,
}

/// The server's SDP answer to a [`VoiceOffer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceAnswer {
    /// The SDP text, 1 to [`MAX_SDP_BYTES`] bytes.
    pub sdp: String,
}

/// Mutes or unmutes the client's own voice. A muted speaker is forwarded to
/// no one; it still hears others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceMute {
    /// Muted from now on.
    pub muted: bool,
}

/// What one receiving line of the client's offer carries now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceLine {
    /// The line, by the `a=mid:` value of its media section in the client's
    /// offer: 1 to [`MAX_VOICE_SLOT_BYTES`] bytes.
    pub slot: String,
    /// The avatar whose voice the line carries from now on, or none.
    pub speaker: Option<NetworkId>,
    /// How far that avatar is from the client's, in metres (0 for a stage
    /// speaker, and when the line carries no one); finite, at least 0.
    pub distance: f32,
}

/// Changes of the client's receiving lines: each entry replaces what the
/// client knew of that line. A line never named carries no one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceLines {
    /// 1 to [`MAX_VOICE_LINES`] changed lines, no line twice.
    pub lines: Vec<VoiceLine>,
}

/// Why voice was refused or taken away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VoiceRefusalReason {
    /// The client's avatar is in no instance the server runs voice for.
    NotInInstance,
    /// A moderator muted the player.
    MutedByModerator,
    /// The player is banned from the space.
    Banned,
    /// The offer is not SDP the server can read.
    MalformedSdp,
    /// Voice is turned off on this server.
    VoiceDisabled,
    /// The server holds as many voice sessions as it takes.
    TooManySessions,
    /// The offer is readable but not one the server takes: no Opus audio
    /// line, more receiving lines than allowed, or no usable transport.
    UnsupportedOffer,
}

/// A refused offer, or a session the server ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceRefused {
    /// Why.
    pub reason: VoiceRefusalReason,
    /// Human-readable detail, at most
    /// [`MAX_DETAIL_BYTES`](crate::limits::MAX_DETAIL_BYTES) bytes.
    pub detail: String,
}

/// An SDP text: not empty, at most [`MAX_SDP_BYTES`], no control characters
/// other than tab, carriage return and line feed.
fn check_sdp(field: &'static str, sdp: &str) -> Result<(), DecodeError> {
    if sdp.len() > MAX_SDP_BYTES {
        return Err(DecodeError::FieldTooLong {
            field,
            len: sdp.len(),
            max: MAX_SDP_BYTES,
        });
    }
    if sdp.is_empty()
        || sdp
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
    {
        return Err(DecodeError::OutOfRange { field });
    }
    Ok(())
}

impl VoiceOffer {
    pub(crate) fn validate(&self) -> Result<(), DecodeError> {
        check_sdp("voice.sdp", &self.sdp)
    }
}

impl VoiceAnswer {
    pub(crate) fn validate(&self) -> Result<(), DecodeError> {
        check_sdp("voice.sdp", &self.sdp)
    }
}

impl VoiceLines {
    pub(crate) fn validate(&self) -> Result<(), DecodeError> {
        if self.lines.len() > MAX_VOICE_LINES {
            return Err(DecodeError::FieldTooLong {
                field: "voice.lines",
                len: self.lines.len(),
                max: MAX_VOICE_LINES,
            });
        }
        if self.lines.is_empty() {
            return Err(DecodeError::OutOfRange {
                field: "voice.lines",
            });
        }
        for (index, line) in self.lines.iter().enumerate() {
            check_text("voice.slot", &line.slot, MAX_VOICE_SLOT_BYTES, false)?;
            if !line.distance.is_finite() || line.distance < 0.0 {
                return Err(DecodeError::OutOfRange {
                    field: "voice.distance",
                });
            }
            if self.lines[..index]
                .iter()
                .any(|earlier| earlier.slot == line.slot)
            {
                return Err(DecodeError::OutOfRange {
                    field: "voice.slot",
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Channel, ClientMessage, ServerMessage};

    #[test]
    fn offers_are_bounded_and_never_empty() {
        let offer = |sdp: String| ClientMessage::VoiceOffer(VoiceOffer { sdp });
        assert!(offer("v=0\r\n".into()).to_bytes().is_ok());
        assert!(offer(String::new()).to_bytes().is_err());
        assert!(offer("v=0\u{0}".into()).to_bytes().is_err());
        let longest = offer("a".repeat(MAX_SDP_BYTES)).to_bytes().unwrap();
        assert!(matches!(
            ClientMessage::decode(&longest, Channel::Stream),
            Ok(ClientMessage::VoiceOffer(_))
        ));
        assert!(matches!(
            offer("a".repeat(MAX_SDP_BYTES + 1)).to_bytes(),
            Err(crate::EncodeError::Invalid(
                DecodeError::FieldTooLong { .. }
            ))
        ));
    }

    #[test]
    fn lines_are_bounded_named_once_and_finite() {
        let line = |slot: &str, distance: f32| VoiceLine {
            slot: slot.into(),
            speaker: Some(NetworkId(3)),
            distance,
        };
        let lines = |lines: Vec<VoiceLine>| ServerMessage::VoiceLines(VoiceLines { lines });
        assert!(
            lines(vec![line("1", 2.5), line("2", 0.0)])
                .to_bytes()
                .is_ok()
        );
        assert!(lines(vec![]).to_bytes().is_err());
        assert!(
            lines(vec![line("1", 2.5), line("1", 3.0)])
                .to_bytes()
                .is_err()
        );
        assert!(lines(vec![line("1", f32::NAN)]).to_bytes().is_err());
        assert!(lines(vec![line("1", -1.0)]).to_bytes().is_err());
        assert!(
            lines(vec![line(&"m".repeat(MAX_VOICE_SLOT_BYTES + 1), 1.0)])
                .to_bytes()
                .is_err()
        );
        let many = (0..=MAX_VOICE_LINES)
            .map(|index| line(&index.to_string(), 1.0))
            .collect();
        assert!(lines(many).to_bytes().is_err());
    }
}
