//! Every codec round-trips: control messages of both directions, snapshot bodies
//! against any baseline, and stream framing under any chunking.

mod common;

use meridian_protocol::framing::{FrameDecoder, write_frame};
use meridian_protocol::limits::{MAX_DATAGRAM_PAYLOAD, MAX_STREAM_MESSAGE};
use meridian_protocol::messages::Channel;
use meridian_protocol::snapshot::{decode_body, encode_body};
use meridian_protocol::{ClientMessage, DecodeError, ServerMessage};
use proptest::prelude::*;

/// Feeds `stream` to a decoder in pieces of the given sizes (cycling through them),
/// draining every whole frame after each piece.
fn split_and_decode(stream: &[u8], chunk_sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    let mut offset = 0;
    let mut sizes = chunk_sizes.iter().cycle();
    while offset < stream.len() {
        let size = sizes.next().copied().unwrap_or(stream.len()).max(1);
        let end = (offset + size).min(stream.len());
        decoder
            .feed(&stream[offset..end])
            .expect("a drained decoder takes any chunk of at most one frame");
        offset = end;
        while let Some(frame) = decoder.next_frame().expect("frames written are valid") {
            frames.push(frame.to_vec());
        }
    }
    frames
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn client_messages_round_trip(message in common::client_message()) {
        let bytes = message.to_bytes().expect("valid messages encode");
        prop_assert!(bytes.len() <= message.channel().max_message_bytes());
        let decoded = ClientMessage::decode(&bytes, message.channel()).expect("and decode");
        prop_assert_eq!(&decoded, &message);
        prop_assert_eq!(decoded.to_bytes().expect("and encode again"), bytes);
    }

    #[test]
    fn server_messages_round_trip(message in common::server_message()) {
        let bytes = message.to_bytes().expect("valid messages encode");
        prop_assert!(bytes.len() <= message.channel().max_message_bytes());
        let decoded = ServerMessage::decode(&bytes, message.channel()).expect("and decode");
        prop_assert_eq!(&decoded, &message);
        prop_assert_eq!(decoded.to_bytes().expect("and encode again"), bytes);
    }

    #[test]
    fn encode_appends_to_what_the_buffer_held(
        first in common::client_message(),
        second in common::server_message(),
    ) {
        let mut out = vec![0xAB];
        first.encode(&mut out).expect("valid messages encode");
        second.encode(&mut out).expect("valid messages encode");
        let first_bytes = first.to_bytes().expect("valid messages encode");
        let second_bytes = second.to_bytes().expect("valid messages encode");
        prop_assert_eq!(out[0], 0xAB);
        prop_assert_eq!(&out[1..=first_bytes.len()], &first_bytes[..]);
        prop_assert_eq!(&out[1 + first_bytes.len()..], &second_bytes[..]);
    }

    #[test]
    fn snapshot_bodies_round_trip((baseline, view) in common::baseline_and_view(200)) {
        let mut body = Vec::new();
        let sent = encode_body(baseline.as_deref(), &view, &mut body)
            .expect("sorted, in-range views encode");
        prop_assert_eq!(sent.bytes, body.len());
        prop_assert_eq!(sent.bits.div_ceil(8), body.len());
        let mut decoded = Vec::new();
        let result = decode_body(baseline.as_deref(), &body, &mut decoded);
        if body.len() > MAX_DATAGRAM_PAYLOAD {
            // Too big for one datagram: the netcode layer must not send it, and a
            // decoder refuses it unread.
            prop_assert_eq!(
                result,
                Err(DecodeError::TooLarge { len: body.len(), max: MAX_DATAGRAM_PAYLOAD })
            );
        } else {
            let got = result.expect("an encoded body decodes");
            prop_assert_eq!(&decoded, &view);
            prop_assert_eq!(
                (got.entered, got.left, got.updated, got.unchanged, got.bits, got.bytes),
                (sent.entered, sent.left, sent.updated, sent.unchanged, sent.bits, sent.bytes)
            );
            let mut again = Vec::new();
            encode_body(baseline.as_deref(), &decoded, &mut again).expect("re-encodes");
            prop_assert_eq!(again, body);
        }
    }

    #[test]
    fn small_snapshot_bodies_always_fit_and_round_trip(
        (baseline, view) in common::baseline_and_view(12),
    ) {
        let mut body = Vec::new();
        encode_body(baseline.as_deref(), &view, &mut body).expect("encodes");
        prop_assert!(body.len() <= MAX_DATAGRAM_PAYLOAD);
        let mut decoded = Vec::new();
        decode_body(baseline.as_deref(), &body, &mut decoded).expect("decodes");
        prop_assert_eq!(decoded, view);
    }

    #[test]
    fn frames_round_trip_under_any_chunking(
        messages in proptest::collection::vec(
            prop_oneof![
                8 => proptest::collection::vec(any::<u8>(), 0..300),
                1 => proptest::collection::vec(any::<u8>(), 300..4_000),
                1 => Just(vec![0x5A; MAX_STREAM_MESSAGE]),
            ],
            0..12,
        ),
        chunk_sizes in proptest::collection::vec(
            prop_oneof![1usize..8, 8usize..600, 600usize..=MAX_STREAM_MESSAGE],
            1..8,
        ),
    ) {
        let mut stream = Vec::new();
        for message in &messages {
            write_frame(message, &mut stream).expect("messages within the limit frame");
        }
        prop_assert_eq!(split_and_decode(&stream, &chunk_sizes), messages);
    }

    #[test]
    fn stream_messages_survive_framing(
        messages in proptest::collection::vec(
            common::client_message()
                .prop_filter("stream only", |m| m.channel() == Channel::Stream)
                .prop_map(|m| m.to_bytes().expect("valid messages encode")),
            0..10,
        ),
        chunk_sizes in proptest::collection::vec(1usize..64, 1..6),
    ) {
        let mut stream = Vec::new();
        for message in &messages {
            write_frame(message, &mut stream).expect("messages within the limit frame");
        }
        let frames = split_and_decode(&stream, &chunk_sizes);
        prop_assert_eq!(&frames, &messages);
        for frame in &frames {
            let decoded = ClientMessage::decode(frame, Channel::Stream);
            prop_assert!(decoded.is_ok(), "{:?}", decoded);
        }
    }
}
