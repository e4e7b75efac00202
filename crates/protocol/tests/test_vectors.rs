//! The language-neutral test vectors in `tests/vectors/protocol.json` hold: every
//! message decodes to its value and encodes back to its bytes, every invalid input
//! fails with its error, every frame stream splits as listed, and every snapshot body
//! decodes to its view and encodes back to its bytes.
//!
//! The vectors are built from the hand-chosen values in `test_vectors/messages.rs`
//! and `test_vectors/snapshots.rs`. Run with `MERIDIAN_BLESS_VECTORS=1` to rewrite the
//! file after changing them; without it the test checks the committed file.
//! `docs/PROTOCOL.md` documents the file's layout.

mod common;

use std::sync::OnceLock;

use meridian_protocol::framing::{FrameDecoder, write_frame};
use meridian_protocol::messages::Channel;
use meridian_protocol::snapshot::{EntityState, decode_body, encode_body};
use meridian_protocol::{ClientMessage, ServerMessage};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use common::variant_name;

const VECTORS_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/protocol.json");
const BLESS_VARIABLE: &str = "MERIDIAN_BLESS_VECTORS";

// ---------------------------------------------------------------------------------
// The file's layout.
// ---------------------------------------------------------------------------------

/// Who sends a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Direction {
    /// A [`ClientMessage`].
    Client,
    /// A [`ServerMessage`].
    Server,
}

/// The channel, as the file spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ChannelName {
    Datagram,
    Stream,
}

impl ChannelName {
    fn of(channel: Channel) -> Self {
        match channel {
            Channel::Datagram => Self::Datagram,
            Channel::Stream => Self::Stream,
        }
    }

    fn channel(self) -> Channel {
        match self {
            Self::Datagram => Channel::Datagram,
            Self::Stream => Channel::Stream,
        }
    }
}

/// A message of either direction, serialized as the message itself.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
enum AnyMessage {
    Client(ClientMessage),
    Server(ServerMessage),
}

#[derive(Debug, Serialize, Deserialize)]
struct VectorFile<M> {
    version: u32,
    description: String,
    messages: Vec<MessageVector<M>>,
    invalid_messages: Vec<InvalidMessageVector>,
    frames: Vec<FrameVector>,
    snapshots: Vec<SnapshotVector>,
    invalid_snapshots: Vec<InvalidSnapshotVector>,
}

#[derive(Debug, Serialize, Deserialize)]
struct MessageVector<M> {
    name: String,
    direction: Direction,
    channel: ChannelName,
    hex: String,
    value: M,
}

#[derive(Debug, Serialize, Deserialize)]
struct InvalidMessageVector {
    name: String,
    direction: Direction,
    channel: ChannelName,
    hex: String,
    error: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct FrameVector {
    name: String,
    /// The stream's bytes.
    hex: String,
    /// The message bytes of every whole frame, in order, up to the end or the error.
    frames: Vec<String>,
    /// Bytes of an incomplete frame that a decoder holds, waiting for more.
    rest: String,
    /// The error the next frame gives, if any.
    error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SnapshotVector {
    name: String,
    baseline: Option<Vec<EntityState>>,
    hex: String,
    /// Bits of the body before the zero padding.
    bits: usize,
    view: Vec<EntityState>,
}

#[derive(Debug, Serialize, Deserialize)]
struct InvalidSnapshotVector {
    name: String,
    baseline: Option<Vec<EntityState>>,
    hex: String,
    error: String,
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn from_hex(hex: &str) -> Vec<u8> {
    assert!(hex.len().is_multiple_of(2), "odd hex length in {hex:?}");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("vectors hold valid hex"))
        .collect()
}

/// The JSON value of `value` as the file writes it (floats in their shortest `f32`
/// form, so values compare exactly).
fn json_value(value: &impl Serialize) -> Value {
    let text = serde_json::to_string(value).expect("messages serialize");
    serde_json::from_str(&text).expect("and parse back")
}

#[path = "test_vectors/invalid_messages.rs"]
mod invalid_messages;
#[path = "test_vectors/messages.rs"]
mod messages;
#[path = "test_vectors/snapshots.rs"]
mod snapshots;

use invalid_messages::invalid_message_cases;
use messages::{frame_cases, message_cases};
use snapshots::{invalid_snapshot_cases, snapshot_cases};

// ---------------------------------------------------------------------------------
// Building the file.
// ---------------------------------------------------------------------------------

fn decode_error_name(direction: Direction, channel: Channel, bytes: &[u8]) -> String {
    match direction {
        Direction::Client => match ClientMessage::decode(bytes, channel) {
            Ok(message) => format!("Ok({message:?})"),
            Err(error) => variant_name(&error),
        },
        Direction::Server => match ServerMessage::decode(bytes, channel) {
            Ok(message) => format!("Ok({message:?})"),
            Err(error) => variant_name(&error),
        },
    }
}

fn snapshot_error_name(baseline: Option<&[EntityState]>, body: &[u8]) -> String {
    let mut view = Vec::new();
    match decode_body(baseline, body, &mut view) {
        Ok(_) => format!("Ok({view:?})"),
        Err(error) => variant_name(&error),
    }
}

/// Splits `stream` as a receiver would: the whole frames, and the error if one comes.
fn split_frames(stream: &[u8], chunk: usize) -> (Vec<Vec<u8>>, Option<String>) {
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    for piece in stream.chunks(chunk) {
        decoder.feed(piece).expect("vector streams are small");
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame.to_vec()),
                Ok(None) => break,
                Err(error) => return (frames, Some(variant_name(&error))),
            }
        }
    }
    (frames, None)
}

fn build() -> VectorFile<AnyMessage> {
    let messages = message_cases()
        .into_iter()
        .map(|(name, message)| {
            let (direction, channel, bytes) = match &message {
                AnyMessage::Client(m) => (Direction::Client, m.channel(), m.to_bytes()),
                AnyMessage::Server(m) => (Direction::Server, m.channel(), m.to_bytes()),
            };
            MessageVector {
                name: name.into(),
                direction,
                channel: ChannelName::of(channel),
                hex: to_hex(&bytes.expect("vector messages encode")),
                value: message,
            }
        })
        .collect();
    let invalid_messages = invalid_message_cases()
        .into_iter()
        .map(|(name, direction, channel, bytes, error)| {
            let got = decode_error_name(direction, channel, &bytes);
            assert_eq!(got, error, "invalid message {name}");
            InvalidMessageVector {
                name: name.into(),
                direction,
                channel: ChannelName::of(channel),
                hex: to_hex(&bytes),
                error: error.into(),
            }
        })
        .collect();
    let frames = frame_cases()
        .into_iter()
        .map(|(name, stream, frames, rest, error)| {
            let got = split_frames(&stream, stream.len().max(1));
            assert_eq!(
                got,
                (frames.clone(), error.map(String::from)),
                "frames {name}"
            );
            FrameVector {
                name: name.into(),
                hex: to_hex(&stream),
                frames: frames.iter().map(|f| to_hex(f)).collect(),
                rest: to_hex(&rest),
                error: error.map(String::from),
            }
        })
        .collect();
    let snapshots = snapshot_cases()
        .into_iter()
        .map(|(name, baseline, view)| {
            let mut out = Vec::new();
            let stats =
                encode_body(baseline.as_deref(), &view, &mut out).expect("vector views encode");
            SnapshotVector {
                name: name.into(),
                baseline,
                hex: to_hex(&out),
                bits: stats.bits,
                view,
            }
        })
        .collect();
    let invalid_snapshots = invalid_snapshot_cases()
        .into_iter()
        .map(|(name, baseline, body, error)| {
            let got = snapshot_error_name(baseline.as_deref(), &body);
            assert_eq!(got, error, "invalid snapshot {name}");
            InvalidSnapshotVector {
                name: name.into(),
                baseline,
                hex: to_hex(&body),
                error: error.into(),
            }
        })
        .collect();
    VectorFile {
        version: 1,
        description: "Meridian protocol test vectors. Layout and meaning: docs/PROTOCOL.md, \
                      section \"Test vectors\". Generated by \
                      crates/protocol/tests/test_vectors.rs (MERIDIAN_BLESS_VECTORS=1); \
                      do not edit by hand."
            .into(),
        messages,
        invalid_messages,
        frames,
        snapshots,
        invalid_snapshots,
    }
}

/// One JSON line.
fn line(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("vectors serialize")
}

/// A JSON array with one item per line.
fn array_of_lines<T: Serialize>(items: &[T]) -> String {
    let lines: Vec<String> = items
        .iter()
        .map(|item| format!("    {}", line(item)))
        .collect();
    format!("[\n{}\n  ]", lines.join(",\n"))
}

/// The file's text: an object with one vector per line, so that diffs stay readable.
fn render(file: &VectorFile<AnyMessage>) -> String {
    format!(
        "{{\n  \"version\": {},\n  \"description\": {},\n  \"messages\": {},\n  \
         \"invalid_messages\": {},\n  \"frames\": {},\n  \"snapshots\": {},\n  \
         \"invalid_snapshots\": {}\n}}\n",
        file.version,
        line(&file.description),
        array_of_lines(&file.messages),
        array_of_lines(&file.invalid_messages),
        array_of_lines(&file.frames),
        array_of_lines(&file.snapshots),
        array_of_lines(&file.invalid_snapshots),
    )
}

/// The committed file, parsed; rewritten first from [`build`] when blessing.
fn vectors() -> &'static VectorFile<Value> {
    static VECTORS: OnceLock<VectorFile<Value>> = OnceLock::new();
    VECTORS.get_or_init(|| {
        if std::env::var_os(BLESS_VARIABLE).is_some_and(|v| v == "1") {
            let path = std::path::Path::new(VECTORS_PATH);
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder).expect("the vectors folder can be made");
            }
            std::fs::write(path, render(&build())).expect("the vectors file can be written");
        }
        let text = std::fs::read_to_string(VECTORS_PATH)
            .unwrap_or_else(|error| panic!("cannot read {VECTORS_PATH}: {error}"));
        serde_json::from_str(&text).expect("the vectors file parses")
    })
}

// ---------------------------------------------------------------------------------
// Checking the file.
// ---------------------------------------------------------------------------------

#[test]
fn the_file_is_version_one_and_covers_every_case() {
    let file = vectors();
    assert_eq!(file.version, 1);
    assert_eq!(file.messages.len(), message_cases().len());
    assert_eq!(file.invalid_messages.len(), invalid_message_cases().len());
    assert_eq!(file.frames.len(), frame_cases().len());
    assert_eq!(file.snapshots.len(), snapshot_cases().len());
    assert_eq!(file.invalid_snapshots.len(), invalid_snapshot_cases().len());
}

#[test]
fn the_file_matches_the_values_in_this_source() {
    let text = std::fs::read_to_string(VECTORS_PATH).expect("the vectors file exists");
    vectors();
    assert!(
        text == render(&build()),
        "{VECTORS_PATH} is stale: run `{BLESS_VARIABLE}=1 cargo test -p meridian-protocol \
         --test test_vectors` and commit the result"
    );
}

#[test]
fn every_message_decodes_to_its_value_and_encodes_to_its_bytes() {
    for vector in &vectors().messages {
        let bytes = from_hex(&vector.hex);
        let channel = vector.channel.channel();
        let (value, again) = match vector.direction {
            Direction::Client => {
                let message = ClientMessage::decode(&bytes, channel)
                    .unwrap_or_else(|error| panic!("{}: {error:?}", vector.name));
                assert_eq!(message.channel(), channel, "{}", vector.name);
                (json_value(&message), message.to_bytes())
            }
            Direction::Server => {
                let message = ServerMessage::decode(&bytes, channel)
                    .unwrap_or_else(|error| panic!("{}: {error:?}", vector.name));
                assert_eq!(message.channel(), channel, "{}", vector.name);
                (json_value(&message), message.to_bytes())
            }
        };
        assert_eq!(value, vector.value, "{}: decoded value", vector.name);
        assert_eq!(
            again.map(|bytes| to_hex(&bytes)),
            Ok(vector.hex.clone()),
            "{}: re-encoded bytes",
            vector.name
        );
    }
}

#[test]
fn every_invalid_message_fails_with_its_error() {
    for vector in &vectors().invalid_messages {
        let bytes = from_hex(&vector.hex);
        let got = decode_error_name(vector.direction, vector.channel.channel(), &bytes);
        assert_eq!(got, vector.error, "{}", vector.name);
    }
}

#[test]
fn every_frame_stream_splits_as_listed() {
    for vector in &vectors().frames {
        let stream = from_hex(&vector.hex);
        let frames: Vec<Vec<u8>> = vector.frames.iter().map(|f| from_hex(f)).collect();
        for chunk in [stream.len().max(1), 1, 2, 3] {
            let got = split_frames(&stream, chunk);
            assert_eq!(
                got,
                (frames.clone(), vector.error.clone()),
                "{} in chunks of {chunk}",
                vector.name
            );
        }
        if vector.error.is_none() {
            let mut written = Vec::new();
            for frame in &frames {
                write_frame(frame, &mut written).expect("listed frames are small");
            }
            written.extend(from_hex(&vector.rest));
            assert_eq!(to_hex(&written), vector.hex, "{}: re-framed", vector.name);
        }
    }
}

#[test]
fn every_snapshot_decodes_to_its_view_and_encodes_to_its_bytes() {
    for vector in &vectors().snapshots {
        let body = from_hex(&vector.hex);
        let baseline = vector.baseline.as_deref();
        let mut view = Vec::new();
        let stats = decode_body(baseline, &body, &mut view)
            .unwrap_or_else(|error| panic!("{}: {error:?}", vector.name));
        assert_eq!(view, vector.view, "{}: decoded view", vector.name);
        assert_eq!(stats.bits, vector.bits, "{}: bits", vector.name);
        assert_eq!(stats.bytes, body.len(), "{}: bytes", vector.name);
        let mut again = Vec::new();
        let sent = encode_body(baseline, &vector.view, &mut again)
            .unwrap_or_else(|error| panic!("{}: {error:?}", vector.name));
        assert_eq!(
            to_hex(&again),
            vector.hex,
            "{}: re-encoded body",
            vector.name
        );
        assert_eq!(sent.bits, vector.bits, "{}: bits written", vector.name);
    }
}

#[test]
fn every_invalid_snapshot_fails_with_its_error() {
    for vector in &vectors().invalid_snapshots {
        let body = from_hex(&vector.hex);
        let got = snapshot_error_name(vector.baseline.as_deref(), &body);
        assert_eq!(got, vector.error, "{}", vector.name);
    }
}

#[test]
fn the_vectors_cover_every_variant_and_error() {
    let file = vectors();
    let mut client_variants = std::collections::BTreeSet::new();
    let mut server_variants = std::collections::BTreeSet::new();
    for vector in &file.messages {
        // Externally tagged: {"Variant": fields}, or "Variant" for one without.
        let variant = vector
            .value
            .as_object()
            .and_then(|object| object.keys().next().cloned())
            .or_else(|| vector.value.as_str().map(str::to_owned))
            .expect("messages are externally tagged");
        match vector.direction {
            Direction::Client => client_variants.insert(variant),
            Direction::Server => server_variants.insert(variant),
        };
    }
    assert_eq!(
        client_variants.into_iter().collect::<Vec<_>>(),
        [
            "Ack",
            "Chat",
            "Disconnect",
            "Hello",
            "Input",
            "Inventory",
            "VoiceMute",
            "VoiceOff",
            "VoiceOffer"
        ]
    );
    assert_eq!(
        server_variants.into_iter().collect::<Vec<_>>(),
        [
            "Chat",
            "Disconnect",
            "Inventory",
            "Presence",
            "Refusal",
            "SettingsChanged",
            "Snapshot",
            "VoiceAnswer",
            "VoiceLines",
            "VoiceRefused",
            "Welcome"
        ]
    );
    let message_errors: std::collections::BTreeSet<_> = file
        .invalid_messages
        .iter()
        .map(|v| v.error.as_str())
        .collect();
    for error in [
        "TooLarge",
        "UnexpectedEnd",
        "BadVarint",
        "UnknownVariant",
        "BadTag",
        "BadUtf8",
        "TrailingBytes",
        "FieldTooLong",
        "OutOfRange",
        "WrongChannel",
    ] {
        assert!(
            message_errors.contains(error),
            "no invalid message gives {error}"
        );
    }
    let snapshot_errors: std::collections::BTreeSet<_> = file
        .invalid_snapshots
        .iter()
        .map(|v| v.error.as_str())
        .collect();
    for error in [
        "UnexpectedEnd",
        "UnknownVariant",
        "IdOverflow",
        "DuplicateEntity",
        "NonZeroPadding",
        "TrailingBytes",
        "TooManyEntities",
        "OutOfRange",
        "BadVarint",
        "TooLarge",
    ] {
        assert!(
            snapshot_errors.contains(error),
            "no invalid snapshot gives {error}"
        );
    }
}
