//! The invalid messages of the vectors: each with the error a decoder must give.

use meridian_protocol::limits::{
    MAX_AUTH_TOKEN_BYTES, MAX_CHAT_BYTES, MAX_DATAGRAM_PAYLOAD, MAX_DETAIL_BYTES, MAX_ITEM_BYTES,
};
use meridian_protocol::messages::Channel;

use super::Direction;

/// `count` as a postcard varint.
fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        // The low seven bits; the cast keeps them.
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// A postcard string: its length as a varint, then its bytes.
fn string_bytes(text: &[u8]) -> Vec<u8> {
    let mut out = varint(text.len() as u64);
    out.extend_from_slice(text);
    out
}

pub(super) fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A welcome's `SessionLimits`: these six distances and speeds, then the
/// eight counts, all 0.
fn limits_bytes(metres: [f32; 6]) -> Vec<u8> {
    let mut out: Vec<u8> = metres
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect();
    out.extend_from_slice(&[0; 8]);
    out
}

pub(super) fn invalid_message_cases()
-> Vec<(&'static str, Direction, Channel, Vec<u8>, &'static str)> {
    use Channel::{Datagram, Stream};
    use Direction::{Client, Server};
    let nan = f32::NAN.to_le_bytes();
    let infinity = f32::INFINITY.to_le_bytes();
    let zero = 0f32.to_le_bytes();
    let long_chat = concat(&[
        &[3, 1],
        &string_bytes("x".repeat(MAX_CHAT_BYTES + 1).as_bytes()),
    ]);
    let long_detail = concat(&[
        &[1, 0],
        &string_bytes("d".repeat(MAX_DETAIL_BYTES + 1).as_bytes()),
    ]);
    let long_token = concat(&[
        &[0, 1],
        &string_bytes("t".repeat(MAX_AUTH_TOKEN_BYTES + 1).as_bytes()),
    ]);
    let limits = limits_bytes([6.0, 2.0, 0.3, 30.0, 5.0, 20.0]);
    let negative_speed = limits_bytes([-6.0, 2.0, 0.3, 30.0, 5.0, 20.0]);
    let nan_radius = limits_bytes([6.0, 2.0, 0.3, f32::NAN, 5.0, 20.0]);
    let mut bell_text = "x".repeat(MAX_CHAT_BYTES + 1).into_bytes();
    bell_text.push(7);
    let long_chat_with_bell = concat(&[&[3, 1], &string_bytes(&bell_text)]);
    let oversized_snapshot = concat(&[&[2, 1, 0, 0], &string_bytes(&[0; 1_145])]);
    vec![
        ("client_empty", Client, Stream, vec![], "UnexpectedEnd"),
        ("server_empty", Server, Datagram, vec![], "UnexpectedEnd"),
        (
            "hello_token_cut_short",
            Client,
            Stream,
            vec![0, 1, 5, b'a', b'b'],
            "UnexpectedEnd",
        ),
        (
            "input_float_cut_short",
            Client,
            Datagram,
            concat(&[&[1, 1], &zero, &zero, &zero, &[0, 0, 0]]),
            "UnexpectedEnd",
        ),
        (
            "ack_varint_cut_short",
            Client,
            Datagram,
            vec![2, 0x80],
            "UnexpectedEnd",
        ),
        (
            "snapshot_body_shorter_than_its_length",
            Server,
            Datagram,
            vec![2, 1, 0, 0, 4, 0xaa, 0xbb],
            "UnexpectedEnd",
        ),
        (
            "variant_index_of_five_continued_bytes",
            Client,
            Stream,
            vec![0xff, 0xff, 0xff, 0xff, 0xff, 0x00],
            "BadVarint",
        ),
        (
            "variant_index_overflows_u32",
            Server,
            Stream,
            vec![0x80, 0x80, 0x80, 0x80, 0x10],
            "BadVarint",
        ),
        (
            "hello_version_overflows_u16",
            Client,
            Stream,
            vec![0, 0xff, 0xff, 0x04, 0],
            "BadVarint",
        ),
        (
            "ack_tick_overflows_u32",
            Client,
            Datagram,
            vec![2, 0xff, 0xff, 0xff, 0xff, 0x10],
            "BadVarint",
        ),
        (
            "client_variant_9",
            Client,
            Stream,
            vec![9],
            "UnknownVariant",
        ),
        (
            "server_variant_11",
            Server,
            Stream,
            vec![11],
            "UnknownVariant",
        ),
        (
            "inventory_delta_zero",
            Client,
            Stream,
            vec![5, 1, 1, b'x', 0],
            "OutOfRange",
        ),
        (
            "inventory_delta_1001",
            Client,
            Stream,
            concat(&[&[5, 1, 1, b'x'], &varint(2_002)]),
            "OutOfRange",
        ),
        (
            "inventory_delta_i32_min",
            Client,
            Stream,
            vec![5, 1, 1, b'x', 0xff, 0xff, 0xff, 0xff, 0x0f],
            "OutOfRange",
        ),
        (
            "inventory_item_too_long",
            Client,
            Stream,
            concat(&[
                &[5, 1],
                &string_bytes("i".repeat(MAX_ITEM_BYTES + 1).as_bytes()),
                &[2],
            ]),
            "FieldTooLong",
        ),
        (
            "inventory_status_7",
            Server,
            Stream,
            vec![5, 1, 1, b'x', 0, 7],
            "UnknownVariant",
        ),
        (
            "presence_name_blank",
            Server,
            Stream,
            vec![6, 1, 1, b' '],
            "OutOfRange",
        ),
        (
            "inventory_on_datagram",
            Client,
            Datagram,
            vec![5, 1, 1, b'x', 2],
            "WrongChannel",
        ),
        (
            "voice_offer_empty_sdp",
            Client,
            Stream,
            vec![6, 0],
            "OutOfRange",
        ),
        (
            "voice_offer_on_a_datagram",
            Client,
            Datagram,
            vec![6, 1, b'v'],
            "WrongChannel",
        ),
        ("voice_mute_bool_2", Client, Stream, vec![7, 2], "BadTag"),
        (
            "voice_off_with_a_trailing_byte",
            Client,
            Stream,
            vec![8, 0],
            "TrailingBytes",
        ),
        (
            "voice_lines_empty",
            Server,
            Stream,
            vec![9, 0],
            "OutOfRange",
        ),
        (
            "voice_lines_seventeen",
            Server,
            Stream,
            concat(&[
                &[9, 17],
                &(0..17u8)
                    .flat_map(|index| [1, b'a' + index, 0, 0, 0, 0, 0])
                    .collect::<Vec<u8>>(),
            ]),
            "FieldTooLong",
        ),
        (
            "voice_line_negative_distance",
            Server,
            Stream,
            concat(&[&[9, 1, 1, b'0', 1, 7], &(-1f32).to_le_bytes()]),
            "OutOfRange",
        ),
        (
            "voice_line_named_twice",
            Server,
            Stream,
            concat(&[&[9, 2, 1, b'0', 0], &zero, &[1, b'0', 0], &zero]),
            "OutOfRange",
        ),
        (
            "voice_line_speaker_tag_2",
            Server,
            Stream,
            concat(&[&[9, 1, 1, b'0', 2, 7], &zero]),
            "BadTag",
        ),
        (
            "voice_refusal_reason_7",
            Server,
            Stream,
            vec![10, 7, 0],
            "UnknownVariant",
        ),
        (
            "client_variant_128",
            Client,
            Stream,
            vec![0x80, 0x01],
            "UnknownVariant",
        ),
        (
            "chat_channel_2",
            Client,
            Stream,
            vec![3, 2, 1, b'x'],
            "UnknownVariant",
        ),
        (
            "disconnect_reason_8",
            Client,
            Stream,
            vec![4, 8],
            "UnknownVariant",
        ),
        (
            "refusal_reason_8",
            Server,
            Stream,
            vec![1, 8, 0],
            "UnknownVariant",
        ),
        (
            "input_animation_6",
            Client,
            Datagram,
            concat(&[&[1, 0], &zero, &zero, &zero, &zero, &[6]]),
            "UnknownVariant",
        ),
        (
            "snapshot_option_tag_2",
            Server,
            Datagram,
            vec![2, 1, 2, 0, 0],
            "BadTag",
        ),
        (
            "chat_text_invalid_utf8",
            Client,
            Stream,
            vec![3, 0, 2, 0xc3, 0x28],
            "BadUtf8",
        ),
        (
            "chat_text_utf16_surrogate",
            Server,
            Stream,
            vec![3, 1, 0, 3, 0xed, 0xa0, 0x80],
            "BadUtf8",
        ),
        (
            "hello_token_overlong_utf8",
            Client,
            Stream,
            vec![0, 1, 2, 0xc0, 0xaf],
            "BadUtf8",
        ),
        (
            "ack_trailing_byte",
            Client,
            Datagram,
            vec![2, 5, 0],
            "TrailingBytes",
        ),
        (
            "disconnect_trailing_bytes",
            Server,
            Stream,
            vec![4, 1, 0xde, 0xad],
            "TrailingBytes",
        ),
        (
            "chat_text_513_bytes",
            Client,
            Stream,
            long_chat,
            "FieldTooLong",
        ),
        (
            "refusal_detail_257_bytes",
            Server,
            Stream,
            long_detail,
            "FieldTooLong",
        ),
        (
            "hello_token_2049_bytes",
            Client,
            Stream,
            long_token,
            "FieldTooLong",
        ),
        (
            "chat_text_empty",
            Client,
            Stream,
            vec![3, 0, 0],
            "OutOfRange",
        ),
        (
            "chat_text_only_whitespace",
            Server,
            Stream,
            concat(&[&[3, 9, 0], &string_bytes(b" \n ")]),
            "OutOfRange",
        ),
        (
            "chat_text_only_unicode_whitespace",
            Client,
            Stream,
            concat(&[&[3, 0], &string_bytes("\u{3000}\u{2028}\u{a0}".as_bytes())]),
            "OutOfRange",
        ),
        (
            "chat_text_bell",
            Client,
            Stream,
            concat(&[&[3, 0], &string_bytes(b"hi\x07")]),
            "OutOfRange",
        ),
        (
            "chat_text_c1_control",
            Client,
            Stream,
            concat(&[&[3, 0], &string_bytes("a\u{85}b".as_bytes())]),
            "OutOfRange",
        ),
        (
            "hello_token_tab",
            Client,
            Stream,
            concat(&[&[0, 1], &string_bytes(b"a\tb")]),
            "OutOfRange",
        ),
        (
            "refusal_detail_nul",
            Server,
            Stream,
            concat(&[&[1, 1], &string_bytes(b"a\0")]),
            "OutOfRange",
        ),
        (
            "input_speed_nan",
            Client,
            Datagram,
            concat(&[&[1, 1], &zero, &zero, &nan, &zero, &[0]]),
            "OutOfRange",
        ),
        (
            "input_heading_infinite",
            Client,
            Datagram,
            concat(&[&[1, 1], &zero, &zero, &zero, &infinity, &[0]]),
            "OutOfRange",
        ),
        (
            "welcome_zone_width_infinite",
            Server,
            Stream,
            concat(&[&[0, 1, 1, 1, 30, 0], &infinity, &zero, &limits]),
            "OutOfRange",
        ),
        (
            "welcome_limits_max_speed_negative",
            Server,
            Stream,
            concat(&[&[0, 2, 1, 1, 30, 0], &zero, &zero, &negative_speed]),
            "OutOfRange",
        ),
        (
            "welcome_limits_interest_radius_nan",
            Server,
            Stream,
            concat(&[&[0, 2, 1, 1, 30, 0], &zero, &zero, &nan_radius]),
            "OutOfRange",
        ),
        (
            "settings_changed_tick_rate_zero",
            Server,
            Stream,
            concat(&[&[7, 1, 0], &limits]),
            "OutOfRange",
        ),
        (
            "settings_changed_limits_max_speed_negative",
            Server,
            Stream,
            concat(&[&[7, 1, 10], &negative_speed]),
            "OutOfRange",
        ),
        (
            "settings_changed_in_a_datagram",
            Server,
            Datagram,
            concat(&[&[7, 1, 10], &limits]),
            "WrongChannel",
        ),
        (
            "welcome_without_limits",
            Server,
            Stream,
            concat(&[&[0, 1, 1, 1, 30, 0], &zero, &zero]),
            "UnexpectedEnd",
        ),
        (
            "order_trailing_bytes_before_wrong_channel",
            Client,
            Stream,
            vec![2, 5, 0],
            "TrailingBytes",
        ),
        (
            "order_wrong_channel_before_fields",
            Server,
            Datagram,
            concat(&[&[0, 2, 1, 1, 30, 0], &infinity, &zero, &limits]),
            "WrongChannel",
        ),
        (
            "order_length_before_characters",
            Client,
            Stream,
            long_chat_with_bell,
            "FieldTooLong",
        ),
        (
            "order_structure_before_trailing_bytes",
            Client,
            Stream,
            vec![4, 9, 0],
            "UnknownVariant",
        ),
        (
            "hello_on_datagram",
            Client,
            Datagram,
            vec![0, 1, 0],
            "WrongChannel",
        ),
        (
            "chat_on_datagram",
            Client,
            Datagram,
            vec![3, 0, 1, b'x'],
            "WrongChannel",
        ),
        ("ack_on_stream", Client, Stream, vec![2, 5], "WrongChannel"),
        (
            "input_on_stream",
            Client,
            Stream,
            concat(&[&[1, 1], &zero, &zero, &zero, &zero, &[0]]),
            "WrongChannel",
        ),
        (
            "snapshot_on_stream",
            Server,
            Stream,
            vec![2, 1, 0, 0, 0],
            "WrongChannel",
        ),
        (
            "welcome_on_datagram",
            Server,
            Datagram,
            concat(&[&[0, 1, 1, 1, 30, 0], &zero, &zero, &limits]),
            "WrongChannel",
        ),
        (
            "disconnect_on_datagram",
            Server,
            Datagram,
            vec![4, 1],
            "WrongChannel",
        ),
        (
            "client_datagram_of_1151_bytes",
            Client,
            Datagram,
            vec![0; MAX_DATAGRAM_PAYLOAD + 1],
            "TooLarge",
        ),
        (
            "snapshot_message_of_1151_bytes",
            Server,
            Datagram,
            oversized_snapshot,
            "TooLarge",
        ),
    ]
}
