//! Control messages, encoded with `postcard`.
//!
//! A message is one postcard value: the enum's variant index as a varint, then the
//! variant's fields in declaration order (see `docs/PROTOCOL.md` for every byte).
//! Each message kind travels on one [`Channel`]; a decoder refuses it on the other.
//!
//! Decoding checks the size limit before it reads anything, refuses trailing bytes,
//! and validates every field (string lengths, finite floats) before it returns.

use serde::{Deserialize, Serialize};

use crate::limits::{
    MAX_AUTH_TOKEN_BYTES, MAX_CHAT_BYTES, MAX_DATAGRAM_PAYLOAD, MAX_DETAIL_BYTES,
    MAX_INVENTORY_DELTA, MAX_ITEM_BYTES, MAX_NAME_BYTES, MAX_STREAM_MESSAGE,
};
pub use crate::session_limits::SessionLimits;
pub use crate::voice::{
    VoiceAnswer, VoiceLine, VoiceLines, VoiceMute, VoiceOffer, VoiceRefusalReason, VoiceRefused,
};
use crate::{DecodeError, EncodeError, NetworkId};

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Unreliable, unordered datagrams of at most [`MAX_DATAGRAM_PAYLOAD`] bytes.
    Datagram,
    /// The one reliable, ordered stream, length-prefixed messages of at most
    /// [`MAX_STREAM_MESSAGE`] bytes (see [`crate::framing`]).
    Stream,
}

impl Channel {
    /// The largest message this channel carries.
    pub const fn max_message_bytes(self) -> usize {
        match self {
            Self::Datagram => MAX_DATAGRAM_PAYLOAD,
            Self::Stream => MAX_STREAM_MESSAGE,
        }
    }
}

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// First message on the stream: protocol version and credentials.
    Hello(Hello),
    /// One tick's worth of movement intent (datagram).
    Input(Input),
    /// The newest snapshot received (datagram).
    Ack(Ack),
    /// A chat line (stream).
    Chat(ChatSend),
    /// The client is leaving (stream).
    Disconnect(Disconnect),
    /// Add or take items from the player's inventory (stream).
    Inventory(InventoryChange),
    /// Turn voice on with an SDP offer, or renegotiate it (stream).
    VoiceOffer(VoiceOffer),
    /// Mute or unmute one's own voice (stream).
    VoiceMute(VoiceMute),
    /// Turn voice off: the server ends the client's voice session (stream).
    VoiceOff,
}

/// What a server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMessage {
    /// The hello was accepted (stream).
    Welcome(Welcome),
    /// The hello was refused; the server closes the connection after it (stream).
    Refusal(Refusal),
    /// The client's view of the zone (datagram).
    Snapshot(Snapshot),
    /// A chat line from someone the client can hear (stream).
    Chat(ChatRelay),
    /// The server is ending the connection (stream).
    Disconnect(Disconnect),
    /// The outcome of an inventory change, sent once it is durable (stream).
    Inventory(InventoryResult),
    /// The display name of an avatar that just entered the client's view (stream).
    Presence(Presence),
    /// The server's settings changed while the client is connected: the tick
    /// rate and the limits from a tick on (stream).
    SettingsChanged(SettingsChanged),
    /// The SDP answer to the client's voice offer (stream).
    VoiceAnswer(VoiceAnswer),
    /// Who the client now receives on some of its voice lines, and how far
    /// away they are (stream).
    VoiceLines(VoiceLines),
    /// A voice offer was refused, or voice was taken away (stream).
    VoiceRefused(VoiceRefused),
}

/// Asks the server to add `delta` of `item` to the player's inventory (a
/// negative delta takes items away). The Meridian server lets a client only
/// take away (use, drop) what it holds and answers a positive delta with
/// [`InventoryStatus::NotAllowed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryChange {
    /// Chosen by the client; the result carries it back.
    pub request: u32,
    /// The item: a catalogue element id, 1 to [`MAX_ITEM_BYTES`] bytes.
    pub item: String,
    /// Not zero, at most [`MAX_INVENTORY_DELTA`] either way.
    pub delta: i32,
}

/// What became of an inventory change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryResult {
    /// The request this answers.
    pub request: u32,
    /// The item.
    pub item: String,
    /// How many of the item the player holds now (unchanged if refused).
    pub quantity: u32,
    /// Applied, or why not.
    pub status: InventoryStatus,
}

/// The outcome of an inventory change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InventoryStatus {
    /// Written to the database; this is the acknowledgement.
    Applied,
    /// No catalogue element has that id.
    UnknownItem,
    /// Taking more than the player holds.
    NotEnough,
    /// The stack would exceed its limit.
    StackFull,
    /// Too many changes are waiting to be written, or they came faster than
    /// the rate limit; nothing changed, try again.
    Busy,
    /// The database could not be written; nothing changed.
    Unavailable,
    /// The game's rules do not let the player ask for this: a client may only
    /// give up (use, drop) what it holds; items are granted by the server's own
    /// rules or by an admin. Nothing changed.
    NotAllowed,
}

/// The display name of an avatar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The avatar.
    pub avatar: NetworkId,
    /// Its player's name, 1 to [`MAX_NAME_BYTES`] bytes.
    pub name: String,
}

/// First message of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version the client speaks ([`crate::PROTOCOL_VERSION`]).
    pub protocol_version: u16,
    /// The realtime token from the join endpoint, at most
    /// [`MAX_AUTH_TOKEN_BYTES`] bytes.
    pub auth_token: String,
}

/// One movement input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// Increases by one for every input the client sends; the server applies an
    /// input only if its sequence is newer than every one applied before.
    pub sequence: u32,
    /// What the player wants to do.
    pub intent: MovementIntent,
}

/// What a player asks its avatar to do. The server decides what happens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MovementIntent {
    /// Direction of travel, x component; the vector's length is at most 1.
    pub move_x: f32,
    /// Direction of travel, y component.
    pub move_y: f32,
    /// Requested speed in metres per second; the zone refuses more than its maximum.
    pub speed: f32,
    /// Facing in radians, used when the avatar stands still.
    pub heading: f32,
    /// Requested animation; locomotion states follow the speed.
    pub animation: AnimationState,
}

impl MovementIntent {
    /// An intent to stand still facing `heading`.
    pub const fn idle(heading: f32) -> Self {
        Self {
            move_x: 0.0,
            move_y: 0.0,
            speed: 0.0,
            heading,
            animation: AnimationState::Idle,
        }
    }
}

/// An avatar's animation. Three bits in a snapshot; 6 and 7 are reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[repr(u8)]
pub enum AnimationState {
    /// Standing.
    #[default]
    Idle = 0,
    /// Walking.
    Walk = 1,
    /// Running.
    Run = 2,
    /// Sitting.
    Sit = 3,
    /// Waving.
    Wave = 4,
    /// Dancing.
    Dance = 5,
}

impl AnimationState {
    /// The state with this wire number, if any.
    pub const fn from_bits(bits: u32) -> Option<Self> {
        Some(match bits {
            0 => Self::Idle,
            1 => Self::Walk,
            2 => Self::Run,
            3 => Self::Sit,
            4 => Self::Wave,
            5 => Self::Dance,
            _ => return None,
        })
    }

    /// Whether this state moves the avatar.
    pub const fn is_locomotion(self) -> bool {
        matches!(self, Self::Walk | Self::Run)
    }
}

/// Acknowledges the newest snapshot the client has received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The tick of that snapshot.
    pub snapshot_tick: u32,
}

/// Who hears a chat line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChatChannel {
    /// Those within hearing distance of the speaker.
    Proximity,
    /// Everyone in the zone.
    Zone,
}

/// A chat line from the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSend {
    /// Who should hear it.
    pub channel: ChatChannel,
    /// The text: 1 to [`MAX_CHAT_BYTES`] bytes of UTF-8.
    pub text: String,
}

/// A chat line relayed by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRelay {
    /// The speaker's avatar.
    pub from: NetworkId,
    /// Where it was said.
    pub channel: ChatChannel,
    /// The text: 1 to [`MAX_CHAT_BYTES`] bytes of UTF-8.
    pub text: String,
}

/// Why a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DisconnectReason {
    /// The player left.
    ClientQuit,
    /// The server is shutting down or draining.
    ServerShutdown,
    /// Nothing was heard for too long.
    IdleTimeout,
    /// A moderator removed the player.
    Kicked,
    /// The peer sent bytes that break the protocol, repeatedly.
    ProtocolViolation,
    /// The peer sent faster than its rate limit, repeatedly.
    RateLimited,
    /// The same account began a newer session (another tab or device): the
    /// older one ends. Not a moderator's decision, unlike [`Self::Kicked`].
    SessionReplaced,
    /// The room's instance moved to another shard (this one is draining): the
    /// player's place is saved; join again at once, without a backoff. Since
    /// version 6.
    Moved,
}

/// Ends a connection with a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disconnect {
    /// Why.
    pub reason: DisconnectReason,
}

/// The hello was accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The server's protocol version (equal to the client's).
    pub protocol_version: u16,
    /// The client's own avatar.
    pub avatar_id: NetworkId,
    /// The zone the avatar is in.
    pub zone_id: u32,
    /// Simulation ticks per second.
    pub tick_rate_hz: u16,
    /// The server's current tick.
    pub tick: u32,
    /// The zone's extent in metres, x.
    pub zone_width: f32,
    /// The zone's extent in metres, y.
    pub zone_height: f32,
    /// The rules the server holds this client to.
    pub limits: SessionLimits,
}

/// An operator changed the server's settings while the client is connected:
/// from `tick` on, the zone ticks at `tick_rate_hz` and holds the client to
/// `limits` (each field as in the [`Welcome`]; those that did not change are
/// sent as they were).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsChanged {
    /// The first tick simulated with the new settings.
    pub tick: u32,
    /// Simulation ticks per second from then on.
    pub tick_rate_hz: u16,
    /// The rules the server holds this client to from then on.
    pub limits: SessionLimits,
}

/// Why a hello was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RefusalReason {
    /// The client speaks another protocol version.
    VersionMismatch,
    /// The token is malformed or its signature is wrong.
    BadToken,
    /// The token has expired.
    TokenExpired,
    /// The token is for another space.
    WrongSpace,
    /// The account is banned.
    Banned,
    /// The server or zone is full.
    ServerFull,
    /// Too many connections from this address.
    TooManyConnections,
    /// The server is draining and takes no one new.
    Draining,
}

/// A refused hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Why.
    pub reason: RefusalReason,
    /// Human-readable detail, at most [`MAX_DETAIL_BYTES`] bytes.
    pub detail: String,
}

/// One snapshot of the client's view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The tick it shows.
    pub tick: u32,
    /// The tick of the snapshot it is a delta against, or none for a keyframe.
    pub baseline_tick: Option<u32>,
    /// The newest input sequence the server has applied for this client.
    pub last_input_sequence: u32,
    /// The bit-packed body ([`crate::snapshot`]).
    pub body: Vec<u8>,
}

/// The postcard variant index of [`ServerMessage::Snapshot`].
const SNAPSHOT_VARIANT: u8 = 2;
/// The most bytes a snapshot's header takes before its body: the variant,
/// the tick (a varint of up to 5 bytes), the baseline's flag and tick, the
/// last input's sequence and the body's length.
const SNAPSHOT_HEADER_MAX_BYTES: usize = 1 + 5 + 1 + 5 + 5 + 5;

/// Appends `value` as a postcard (LEB128) varint.
fn push_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        // The low seven bits, with the continuation bit set.
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    // Below 0x80 here.
    out.push(value as u8);
}

impl Snapshot {
    /// Appends the same bytes as `ServerMessage::Snapshot(..).encode(out)` for a
    /// snapshot of these parts, without building the message or serializing the
    /// body a byte at a time: the server's per-client hot path.
    pub fn encode_parts(
        tick: u32,
        baseline_tick: Option<u32>,
        last_input_sequence: u32,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let max = Channel::Datagram.max_message_bytes();
        // A body whose length does not fit u32 could never fit a datagram.
        let body_len = u32::try_from(body.len()).map_err(|_| EncodeError::TooLarge {
            len: body.len(),
            max,
        })?;
        let start = out.len();
        // One allocation for the whole message, not one per field.
        out.reserve(body.len() + SNAPSHOT_HEADER_MAX_BYTES);
        out.push(SNAPSHOT_VARIANT);
        push_varint(out, tick);
        match baseline_tick {
            Some(baseline) => {
                out.push(1);
                push_varint(out, baseline);
            }
            None => out.push(0),
        }
        push_varint(out, last_input_sequence);
        push_varint(out, body_len);
        out.extend_from_slice(body);
        let len = out.len() - start;
        if len > max {
            out.truncate(start);
            return Err(EncodeError::TooLarge { len, max });
        }
        Ok(())
    }
}

pub(crate) fn check_text(
    field: &'static str,
    text: &str,
    max: usize,
    allow_empty: bool,
) -> Result<(), DecodeError> {
    if text.len() > max {
        return Err(DecodeError::FieldTooLong {
            field,
            len: text.len(),
            max,
        });
    }
    if !allow_empty && text.trim().is_empty() {
        return Err(DecodeError::OutOfRange { field });
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(DecodeError::OutOfRange { field });
    }
    Ok(())
}

fn check_finite(field: &'static str, value: f32) -> Result<(), DecodeError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(DecodeError::OutOfRange { field })
    }
}

impl MovementIntent {
    fn validate(&self) -> Result<(), DecodeError> {
        check_finite("intent.move_x", self.move_x)?;
        check_finite("intent.move_y", self.move_y)?;
        check_finite("intent.speed", self.speed)?;
        check_finite("intent.heading", self.heading)
    }
}

fn decode_exact<'a, T: Deserialize<'a>>(bytes: &'a [u8], max: usize) -> Result<T, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    let (value, rest) = postcard::take_from_bytes(bytes)?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes { count: rest.len() });
    }
    Ok(value)
}

fn encode_into<T: Serialize>(value: &T, max: usize, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    let buffer = std::mem::take(out);
    // Serializing into a Vec cannot fail: every type here is plain data.
    *out = postcard::to_extend(value, buffer)
        .map_err(|_| EncodeError::Invalid(DecodeError::Malformed))?;
    let len = out.len() - start;
    if len > max {
        out.truncate(start);
        return Err(EncodeError::TooLarge { len, max });
    }
    Ok(())
}

/// Decodes one message of type `T` received on `channel`: size limit, postcard,
/// no trailing bytes, the right channel, every field valid.
fn decode_message<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    channel: Channel,
    channel_of: fn(&T) -> Channel,
    validate: fn(&T) -> Result<(), DecodeError>,
) -> Result<T, DecodeError> {
    let message: T = decode_exact(bytes, channel.max_message_bytes())?;
    if channel_of(&message) != channel {
        return Err(DecodeError::WrongChannel);
    }
    validate(&message)?;
    Ok(message)
}

/// Validates and appends one message of type `T` to `out`.
fn encode_message<T: Serialize>(
    message: &T,
    channel: Channel,
    validate: fn(&T) -> Result<(), DecodeError>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    validate(message).map_err(EncodeError::Invalid)?;
    encode_into(message, channel.max_message_bytes(), out)
}

impl ClientMessage {
    /// The channel this message travels on.
    pub const fn channel(&self) -> Channel {
        match self {
            Self::Input(_) | Self::Ack(_) => Channel::Datagram,
            Self::Hello(_)
            | Self::Chat(_)
            | Self::Disconnect(_)
            | Self::Inventory(_)
            | Self::VoiceOffer(_)
            | Self::VoiceMute(_)
            | Self::VoiceOff => Channel::Stream,
        }
    }

    /// Checks every field against its limit.
    pub fn validate(&self) -> Result<(), DecodeError> {
        match self {
            Self::Hello(hello) => check_text(
                "hello.auth_token",
                &hello.auth_token,
                MAX_AUTH_TOKEN_BYTES,
                true,
            ),
            Self::Input(input) => input.intent.validate(),
            Self::Chat(chat) => check_text("chat.text", &chat.text, MAX_CHAT_BYTES, false),
            Self::Inventory(change) => {
                check_text("inventory.item", &change.item, MAX_ITEM_BYTES, false)?;
                if change.delta == 0
                    || !(-MAX_INVENTORY_DELTA..=MAX_INVENTORY_DELTA).contains(&change.delta)
                {
                    return Err(DecodeError::OutOfRange {
                        field: "inventory.delta",
                    });
                }
                Ok(())
            }
            Self::VoiceOffer(offer) => offer.validate(),
            Self::Ack(_) | Self::Disconnect(_) | Self::VoiceMute(_) | Self::VoiceOff => Ok(()),
        }
    }

    /// Decodes one message received on `channel`.
    pub fn decode(bytes: &[u8], channel: Channel) -> Result<Self, DecodeError> {
        decode_message(bytes, channel, Self::channel, Self::validate)
    }

    /// Appends the encoded message to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_message(self, self.channel(), Self::validate, out)
    }

    /// The encoded message in a new vector.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(out)
    }
}

impl ServerMessage {
    /// The channel this message travels on.
    pub const fn channel(&self) -> Channel {
        match self {
            Self::Snapshot(_) => Channel::Datagram,
            Self::Welcome(_)
            | Self::Refusal(_)
            | Self::Chat(_)
            | Self::Disconnect(_)
            | Self::Inventory(_)
            | Self::Presence(_)
            | Self::SettingsChanged(_)
            | Self::VoiceAnswer(_)
            | Self::VoiceLines(_)
            | Self::VoiceRefused(_) => Channel::Stream,
        }
    }

    /// Checks every field against its limit.
    pub fn validate(&self) -> Result<(), DecodeError> {
        match self {
            Self::Welcome(welcome) => {
                check_finite("welcome.zone_width", welcome.zone_width)?;
                check_finite("welcome.zone_height", welcome.zone_height)?;
                welcome.limits.validate()
            }
            Self::Refusal(refusal) => {
                check_text("refusal.detail", &refusal.detail, MAX_DETAIL_BYTES, true)
            }
            Self::Chat(chat) => check_text("chat.text", &chat.text, MAX_CHAT_BYTES, false),
            Self::Inventory(result) => {
                check_text("inventory.item", &result.item, MAX_ITEM_BYTES, false)
            }
            Self::Presence(presence) => {
                check_text("presence.name", &presence.name, MAX_NAME_BYTES, false)
            }
            Self::SettingsChanged(changed) => {
                if changed.tick_rate_hz == 0 {
                    return Err(DecodeError::OutOfRange {
                        field: "settings.tick_rate_hz",
                    });
                }
                changed.limits.validate()
            }
            Self::VoiceAnswer(answer) => answer.validate(),
            Self::VoiceLines(lines) => lines.validate(),
            Self::VoiceRefused(refused) => {
                check_text("voice.detail", &refused.detail, MAX_DETAIL_BYTES, true)
            }
            Self::Snapshot(_) | Self::Disconnect(_) => Ok(()),
        }
    }

    /// Decodes one message received on `channel`.
    pub fn decode(bytes: &[u8], channel: Channel) -> Result<Self, DecodeError> {
        decode_message(bytes, channel, Self::channel, Self::validate)
    }

    /// Appends the encoded message to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_message(self, self.channel(), Self::validate, out)
    }

    /// The encoded message in a new vector.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn snapshot_parts_encode_as_the_message(
            tick in proptest::prelude::any::<u32>(),
            baseline_tick in proptest::prelude::any::<Option<u32>>(),
            last_input_sequence in proptest::prelude::any::<u32>(),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1_200),
        ) {
            let message = ServerMessage::Snapshot(Snapshot {
                tick,
                baseline_tick,
                last_input_sequence,
                body: body.clone(),
            });
            let mut by_message = vec![9];
            let expected = message.encode(&mut by_message);
            let mut by_parts = vec![9];
            let got =
                Snapshot::encode_parts(tick, baseline_tick, last_input_sequence, &body, &mut by_parts);
            proptest::prop_assert_eq!(got, expected);
            proptest::prop_assert_eq!(by_parts, by_message);
        }
    }

    #[test]
    fn a_hello_is_variant_zero_then_version_then_token() {
        let hello = ClientMessage::Hello(Hello {
            protocol_version: 1,
            auth_token: "ab".into(),
        });
        assert_eq!(hello.to_bytes(), Ok(vec![0, 1, 2, b'a', b'b']));
    }

    #[test]
    fn unknown_variant_indices_are_refused_as_such() {
        assert_eq!(
            ClientMessage::decode(&[9], Channel::Stream),
            Err(DecodeError::UnknownVariant)
        );
        assert_eq!(
            ServerMessage::decode(&[11], Channel::Stream),
            Err(DecodeError::UnknownVariant)
        );
        assert_eq!(
            ServerMessage::decode(&[4, 8], Channel::Stream),
            Err(DecodeError::UnknownVariant)
        );
    }

    #[test]
    fn trailing_bytes_are_refused() {
        assert_eq!(
            ClientMessage::decode(&[2, 5, 0], Channel::Datagram),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn a_message_on_the_wrong_channel_is_refused() {
        let bytes = ClientMessage::Ack(Ack { snapshot_tick: 5 })
            .to_bytes()
            .unwrap();
        assert_eq!(
            ClientMessage::decode(&bytes, Channel::Stream),
            Err(DecodeError::WrongChannel)
        );
    }

    #[test]
    fn oversized_datagrams_are_refused_before_decoding() {
        let bytes = vec![0u8; MAX_DATAGRAM_PAYLOAD + 1];
        assert_eq!(
            ClientMessage::decode(&bytes, Channel::Datagram),
            Err(DecodeError::TooLarge {
                len: MAX_DATAGRAM_PAYLOAD + 1,
                max: MAX_DATAGRAM_PAYLOAD
            })
        );
    }

    #[test]
    fn non_finite_intents_are_refused_on_both_sides() {
        let mut intent = MovementIntent::idle(0.0);
        intent.speed = f32::NAN;
        let message = ClientMessage::Input(Input {
            sequence: 1,
            intent,
        });
        assert!(matches!(message.to_bytes(), Err(EncodeError::Invalid(_))));
        let mut bytes = Vec::new();
        encode_into(&message, MAX_DATAGRAM_PAYLOAD, &mut bytes).unwrap();
        assert_eq!(
            ClientMessage::decode(&bytes, Channel::Datagram),
            Err(DecodeError::OutOfRange {
                field: "intent.speed"
            })
        );
    }

    #[test]
    fn chat_text_limits_hold() {
        let long = ClientMessage::Chat(ChatSend {
            channel: ChatChannel::Zone,
            text: "x".repeat(MAX_CHAT_BYTES + 1),
        });
        assert!(long.to_bytes().is_err());
        let blank = ClientMessage::Chat(ChatSend {
            channel: ChatChannel::Zone,
            text: "  ".into(),
        });
        assert!(blank.to_bytes().is_err());
        let bell = ClientMessage::Chat(ChatSend {
            channel: ChatChannel::Zone,
            text: "hi\u{7}".into(),
        });
        assert!(bell.to_bytes().is_err());
    }
}
