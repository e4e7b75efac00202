//! No bytes can make a decoder panic: arbitrary bytes, and valid encodings with a
//! byte flipped or cut short, give `Ok` or a typed error, and every `Ok` holds a value
//! that validates and encodes again.

mod common;

use meridian_protocol::framing::{FrameDecoder, write_frame};
use meridian_protocol::messages::Channel;
use meridian_protocol::snapshot::{EntityKind, EntityState, Footprint, decode_body, encode_body};
use meridian_protocol::{AnimationState, ClientMessage, NetworkId, ServerMessage};
use proptest::prelude::*;

const CHANNELS: [Channel; 2] = [Channel::Datagram, Channel::Stream];

/// A small baseline: three entities with ids 2, 3 and 40.
fn small_baseline() -> Vec<EntityState> {
    [
        (2, EntityKind::Avatar),
        (3, EntityKind::Npc),
        (40, EntityKind::Element),
    ]
    .into_iter()
    .map(|(id, kind)| EntityState {
        id: NetworkId(id),
        kind,
        appearance: id * 7,
        x: 100 * id,
        y: 1_000_000 - id,
        heading: 512,
        animation: AnimationState::Walk,
        footprint: (kind == EntityKind::Element).then_some(Footprint {
            width: 64 * id,
            height: 64,
            blocking: id % 2 == 0,
        }),
    })
    .collect()
}

/// Decodes `bytes` as every message kind on every channel; whatever decodes must be
/// valid, and encode to bytes that decode to the same value. (The encoding need not
/// be the same bytes: a decoder accepts over-long varints, an encoder never writes
/// them.)
fn check_messages(bytes: &[u8]) -> Result<(), TestCaseError> {
    for channel in CHANNELS {
        if let Ok(message) = ClientMessage::decode(bytes, channel) {
            prop_assert_eq!(message.channel(), channel);
            prop_assert_eq!(message.validate(), Ok(()));
            let again = message.to_bytes().expect("a decoded message encodes");
            prop_assert!(again.len() <= bytes.len());
            let back = ClientMessage::decode(&again, channel).expect("and decodes again");
            prop_assert_eq!(back, message);
        }
        if let Ok(message) = ServerMessage::decode(bytes, channel) {
            prop_assert_eq!(message.channel(), channel);
            prop_assert_eq!(message.validate(), Ok(()));
            let again = message.to_bytes().expect("a decoded message encodes");
            prop_assert!(again.len() <= bytes.len());
            let back = ServerMessage::decode(&again, channel).expect("and decodes again");
            prop_assert_eq!(back, message);
        }
    }
    Ok(())
}

/// Decodes `body` as a keyframe and as a delta against [`small_baseline`]; whatever
/// decodes must be a sorted view that encodes and decodes back to itself.
fn check_body(body: &[u8]) -> Result<(), TestCaseError> {
    let baseline = small_baseline();
    for baseline in [None, Some(&baseline[..])] {
        let mut view = Vec::new();
        if decode_body(baseline, body, &mut view).is_ok() {
            prop_assert!(view.windows(2).all(|pair| pair[0].id < pair[1].id));
            prop_assert!(view.iter().all(|e| e.x < 1 << 20 && e.y < 1 << 20));
            prop_assert!(view.iter().all(|e| e.heading < 1 << 10));
            let mut again = Vec::new();
            encode_body(baseline, &view, &mut again).expect("a decoded view encodes");
            let mut back = Vec::new();
            decode_body(baseline, &again, &mut back).expect("and decodes again");
            prop_assert_eq!(back, view);
        }
    }
    Ok(())
}

/// Feeds `bytes` to a frame decoder in chunks and drains it until it waits or fails.
fn check_frames(bytes: &[u8], chunk: usize) {
    let mut decoder = FrameDecoder::new();
    for piece in bytes.chunks(chunk.max(1)) {
        if decoder.feed(piece).is_err() {
            return;
        }
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    let _ = ClientMessage::decode(frame, Channel::Stream);
                    let _ = ServerMessage::decode(frame, Channel::Stream);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

/// Flips the byte at `index` (modulo the length) with `mask`, or cuts the bytes
/// short there.
fn mutate(mut bytes: Vec<u8>, index: usize, mask: u8, truncate: bool) -> Vec<u8> {
    if bytes.is_empty() {
        return bytes;
    }
    let index = index % bytes.len();
    if truncate {
        bytes.truncate(index);
    } else {
        bytes[index] ^= mask.max(1);
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2_000),
        chunk in 1usize..300,
    ) {
        check_messages(&bytes)?;
        check_body(&bytes)?;
        check_frames(&bytes, chunk);
    }

    #[test]
    fn bytes_that_look_like_messages_never_panic(
        tag in 0u8..6,
        rest in proptest::collection::vec(
            prop_oneof![Just(0u8), Just(1), Just(0x7f), Just(0x80), Just(0xff), any::<u8>()],
            0..40,
        ),
    ) {
        let mut bytes = vec![tag];
        bytes.extend(rest);
        check_messages(&bytes)?;
        check_body(&bytes)?;
    }

    #[test]
    fn mutated_client_messages_never_panic(
        message in common::client_message(),
        index in any::<usize>(),
        mask in any::<u8>(),
        truncate in any::<bool>(),
    ) {
        let bytes = message.to_bytes().expect("valid messages encode");
        check_messages(&mutate(bytes, index, mask, truncate))?;
    }

    #[test]
    fn mutated_server_messages_never_panic(
        message in common::server_message(),
        index in any::<usize>(),
        mask in any::<u8>(),
        truncate in any::<bool>(),
    ) {
        let bytes = message.to_bytes().expect("valid messages encode");
        check_messages(&mutate(bytes, index, mask, truncate))?;
    }

    #[test]
    fn mutated_snapshot_bodies_never_panic(
        (baseline, view) in common::baseline_and_view(40),
        index in any::<usize>(),
        mask in any::<u8>(),
        truncate in any::<bool>(),
    ) {
        let mut body = Vec::new();
        encode_body(baseline.as_deref(), &view, &mut body).expect("valid views encode");
        let body = mutate(body, index, mask, truncate);
        let mut decoded = Vec::new();
        if decode_body(baseline.as_deref(), &body, &mut decoded).is_ok() {
            prop_assert!(decoded.windows(2).all(|pair| pair[0].id < pair[1].id));
            let mut again = Vec::new();
            encode_body(baseline.as_deref(), &decoded, &mut again)
                .expect("a decoded view encodes");
        }
        check_body(&body)?;
    }

    #[test]
    fn mutated_frame_streams_never_panic(
        messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..8),
        index in any::<usize>(),
        mask in any::<u8>(),
        truncate in any::<bool>(),
        chunk in 1usize..64,
    ) {
        let mut stream = Vec::new();
        for message in &messages {
            write_frame(message, &mut stream).expect("small messages frame");
        }
        check_frames(&mutate(stream, index, mask, truncate), chunk);
    }
}
