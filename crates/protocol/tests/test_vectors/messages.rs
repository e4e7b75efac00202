//! The hand-chosen messages, invalid messages and frame streams of the vectors.

use meridian_protocol::framing::write_frame;
use meridian_protocol::limits::{
    MAX_AUTH_TOKEN_BYTES, MAX_CHAT_BYTES, MAX_DATAGRAM_PAYLOAD, MAX_DETAIL_BYTES, MAX_ITEM_BYTES,
};
use meridian_protocol::messages::Channel;
use meridian_protocol::{
    Ack, AnimationState, ChatChannel, ChatRelay, ChatSend, ClientMessage, Disconnect,
    DisconnectReason, Hello, Input, InventoryChange, InventoryResult, InventoryStatus,
    MovementIntent, NetworkId, PROTOCOL_VERSION, Presence, Refusal, RefusalReason, ServerMessage,
    Snapshot, Welcome,
};

use super::snapshots::{avatar_seven, body, walked_seven};
use super::{AnyMessage, Direction};

fn hello(protocol_version: u16, auth_token: &str) -> ClientMessage {
    ClientMessage::Hello(Hello {
        protocol_version,
        auth_token: auth_token.into(),
    })
}

fn input(sequence: u32, intent: MovementIntent) -> ClientMessage {
    ClientMessage::Input(Input { sequence, intent })
}

fn intent(
    move_x: f32,
    move_y: f32,
    speed: f32,
    heading: f32,
    animation: AnimationState,
) -> MovementIntent {
    MovementIntent {
        move_x,
        move_y,
        speed,
        heading,
        animation,
    }
}

fn chat_send(channel: ChatChannel, text: &str) -> ClientMessage {
    ClientMessage::Chat(ChatSend {
        channel,
        text: text.into(),
    })
}

fn chat_relay(from: u32, channel: ChatChannel, text: &str) -> ServerMessage {
    ServerMessage::Chat(ChatRelay {
        from: NetworkId(from),
        channel,
        text: text.into(),
    })
}

fn inventory_change(request: u32, item: &str, delta: i32) -> ClientMessage {
    ClientMessage::Inventory(InventoryChange {
        request,
        item: item.into(),
        delta,
    })
}

fn inventory_result(
    request: u32,
    item: &str,
    quantity: u32,
    status: InventoryStatus,
) -> ServerMessage {
    ServerMessage::Inventory(InventoryResult {
        request,
        item: item.into(),
        quantity,
        status,
    })
}

fn refusal(reason: RefusalReason, detail: &str) -> ServerMessage {
    ServerMessage::Refusal(Refusal {
        reason,
        detail: detail.into(),
    })
}

fn snapshot_message(
    tick: u32,
    baseline_tick: Option<u32>,
    last_input_sequence: u32,
    body: Vec<u8>,
) -> ServerMessage {
    ServerMessage::Snapshot(Snapshot {
        tick,
        baseline_tick,
        last_input_sequence,
        body,
    })
}

pub(super) fn message_cases() -> Vec<(&'static str, AnyMessage)> {
    use AnyMessage::{Client, Server};
    use ChatChannel::{Proximity, Zone};
    let keyframe_body = body(None, &[avatar_seven()]);
    let delta_body = body(Some(&[avatar_seven()]), &[walked_seven()]);
    vec![
        (
            "client_hello_empty_token",
            Client(hello(PROTOCOL_VERSION, "")),
        ),
        (
            "client_hello_token",
            Client(hello(
                PROTOCOL_VERSION,
                "eyJzcGFjZSI6ImRlbW8ifQ.c2lnbmF0dXJl",
            )),
        ),
        ("client_hello_version_300", Client(hello(300, "t"))),
        (
            "client_hello_version_max",
            Client(hello(u16::MAX, "tok\nen")),
        ),
        (
            "client_input_idle",
            Client(input(0, MovementIntent::idle(0.0))),
        ),
        (
            "client_input_walk",
            Client(input(1, intent(0.75, -0.5, 1.5, 3.0, AnimationState::Walk))),
        ),
        (
            "client_input_run_non_dyadic_heading",
            Client(input(
                300,
                intent(
                    1.0,
                    0.0,
                    6.25,
                    std::f32::consts::FRAC_PI_2,
                    AnimationState::Run,
                ),
            )),
        ),
        (
            "client_input_sit_negative_zero",
            Client(input(
                u32::MAX,
                intent(-0.0, -0.0, 0.0, -1.0, AnimationState::Sit),
            )),
        ),
        (
            "client_input_wave",
            Client(input(
                16_384,
                MovementIntent {
                    animation: AnimationState::Wave,
                    ..MovementIntent::idle(-2.5)
                },
            )),
        ),
        (
            "client_input_dance_extremes",
            Client(input(
                2_097_152,
                intent(
                    f32::MAX,
                    f32::MIN,
                    f32::MIN_POSITIVE,
                    1e-45,
                    AnimationState::Dance,
                ),
            )),
        ),
        (
            "client_ack_5",
            Client(ClientMessage::Ack(Ack { snapshot_tick: 5 })),
        ),
        (
            "client_ack_127",
            Client(ClientMessage::Ack(Ack { snapshot_tick: 127 })),
        ),
        (
            "client_ack_128",
            Client(ClientMessage::Ack(Ack { snapshot_tick: 128 })),
        ),
        (
            "client_ack_max",
            Client(ClientMessage::Ack(Ack {
                snapshot_tick: u32::MAX,
            })),
        ),
        (
            "client_chat_proximity_ascii",
            Client(chat_send(Proximity, "hello")),
        ),
        (
            "client_chat_zone_non_ascii",
            Client(chat_send(Zone, "héllo wörld — 你好 👋")),
        ),
        (
            "client_chat_with_line_feed",
            Client(chat_send(Zone, "line one\nline two")),
        ),
        (
            "client_chat_byte_order_mark_is_not_whitespace",
            Client(chat_send(Zone, "\u{feff}")),
        ),
        (
            "client_chat_longest",
            Client(chat_send(Proximity, &"é".repeat(MAX_CHAT_BYTES / 2))),
        ),
        (
            "client_disconnect_client_quit",
            Client(ClientMessage::Disconnect(Disconnect {
                reason: DisconnectReason::ClientQuit,
            })),
        ),
        (
            "client_disconnect_protocol_violation",
            Client(ClientMessage::Disconnect(Disconnect {
                reason: DisconnectReason::ProtocolViolation,
            })),
        ),
        (
            "server_welcome",
            Server(ServerMessage::Welcome(Welcome {
                protocol_version: PROTOCOL_VERSION,
                avatar_id: NetworkId(42),
                zone_id: 7,
                tick_rate_hz: 30,
                tick: 123_456,
                zone_width: 1024.0,
                zone_height: 512.5,
            })),
        ),
        (
            "server_welcome_extremes",
            Server(ServerMessage::Welcome(Welcome {
                protocol_version: PROTOCOL_VERSION,
                avatar_id: NetworkId(u32::MAX),
                zone_id: 0,
                tick_rate_hz: u16::MAX,
                tick: u32::MAX,
                zone_width: 16_383.984,
                zone_height: 0.1,
            })),
        ),
        (
            "server_refusal_version_mismatch",
            Server(refusal(
                RefusalReason::VersionMismatch,
                "this server speaks protocol 1",
            )),
        ),
        (
            "server_refusal_bad_token",
            Server(refusal(RefusalReason::BadToken, "")),
        ),
        (
            "server_refusal_token_expired",
            Server(refusal(RefusalReason::TokenExpired, "expired")),
        ),
        (
            "server_refusal_wrong_space",
            Server(refusal(RefusalReason::WrongSpace, "")),
        ),
        (
            "server_refusal_banned_non_ascii",
            Server(refusal(RefusalReason::Banned, "banni jusqu’au 1ᵉʳ mai")),
        ),
        (
            "server_refusal_server_full",
            Server(refusal(RefusalReason::ServerFull, "")),
        ),
        (
            "server_refusal_too_many_connections",
            Server(refusal(RefusalReason::TooManyConnections, "")),
        ),
        (
            "server_refusal_draining",
            Server(refusal(
                RefusalReason::Draining,
                &"d".repeat(MAX_DETAIL_BYTES),
            )),
        ),
        (
            "server_snapshot_keyframe",
            Server(snapshot_message(100, None, 0, keyframe_body)),
        ),
        (
            "server_snapshot_delta",
            Server(snapshot_message(102, Some(100), 17, delta_body)),
        ),
        (
            "server_snapshot_empty_body",
            Server(snapshot_message(0, Some(0), 0, Vec::new())),
        ),
        (
            "server_snapshot_long_body",
            Server(snapshot_message(
                200_000,
                Some(u32::MAX),
                u32::MAX,
                (0..200u8).collect(),
            )),
        ),
        (
            "server_chat_proximity",
            Server(chat_relay(42, Proximity, "hi")),
        ),
        (
            "server_chat_zone_emoji",
            Server(chat_relay(1_000, Zone, "👋🏽")),
        ),
        (
            "server_disconnect_server_shutdown",
            Server(ServerMessage::Disconnect(Disconnect {
                reason: DisconnectReason::ServerShutdown,
            })),
        ),
        (
            "server_disconnect_idle_timeout",
            Server(ServerMessage::Disconnect(Disconnect {
                reason: DisconnectReason::IdleTimeout,
            })),
        ),
        (
            "server_disconnect_kicked",
            Server(ServerMessage::Disconnect(Disconnect {
                reason: DisconnectReason::Kicked,
            })),
        ),
        (
            "server_disconnect_rate_limited",
            Server(ServerMessage::Disconnect(Disconnect {
                reason: DisconnectReason::RateLimited,
            })),
        ),
        (
            "client_inventory_take_two",
            Client(inventory_change(7, "chair", -2)),
        ),
        (
            "client_inventory_add_most",
            Client(inventory_change(300, "lamp-02", 1_000)),
        ),
        (
            "server_inventory_applied",
            Server(inventory_result(7, "chair", 3, InventoryStatus::Applied)),
        ),
        (
            "server_inventory_not_enough",
            Server(inventory_result(
                300,
                "lamp-02",
                0,
                InventoryStatus::NotEnough,
            )),
        ),
        (
            "server_inventory_unavailable",
            Server(inventory_result(
                1,
                "x",
                70_000,
                InventoryStatus::Unavailable,
            )),
        ),
        (
            "server_presence",
            Server(ServerMessage::Presence(Presence {
                avatar: NetworkId(300),
                name: "Ada Lovelace".into(),
            })),
        ),
    ]
}

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

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
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
            "client_variant_6",
            Client,
            Stream,
            vec![6],
            "UnknownVariant",
        ),
        (
            "server_variant_7",
            Server,
            Stream,
            vec![7],
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
            "inventory_status_6",
            Server,
            Stream,
            vec![5, 1, 1, b'x', 0, 6],
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
            "disconnect_reason_6",
            Client,
            Stream,
            vec![4, 6],
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
            concat(&[&[0, 1, 1, 1, 30, 0], &infinity, &zero]),
            "OutOfRange",
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
            concat(&[&[0, 1, 1, 1, 30, 0], &zero, &zero]),
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

pub(super) type FrameCase = (
    &'static str,
    Vec<u8>,
    Vec<Vec<u8>>,
    Vec<u8>,
    Option<&'static str>,
);

pub(super) fn frame_cases() -> Vec<FrameCase> {
    let encode = |message: ClientMessage| message.to_bytes().expect("vector messages encode");
    let hello = encode(hello(PROTOCOL_VERSION, "token"));
    let chat = encode(chat_send(ChatChannel::Zone, "hi"));
    let quit = encode(ClientMessage::Disconnect(Disconnect {
        reason: DisconnectReason::ClientQuit,
    }));
    let long_chat = encode(chat_send(ChatChannel::Zone, &"y".repeat(196)));
    let framed = |messages: &[&[u8]]| {
        let mut out = Vec::new();
        for message in messages {
            write_frame(message, &mut out).expect("small messages frame");
        }
        out
    };
    vec![
        (
            "three_messages",
            framed(&[&hello, &chat, &quit]),
            vec![hello.clone(), chat, quit],
            vec![],
            None,
        ),
        ("empty_frame", vec![0], vec![vec![]], vec![], None),
        (
            "two_byte_length_prefix",
            framed(&[&long_chat]),
            vec![long_chat],
            vec![],
            None,
        ),
        (
            "a_partial_frame_waits",
            framed(&[&hello])[..4].to_vec(),
            vec![],
            framed(&[&hello])[..4].to_vec(),
            None,
        ),
        (
            "a_partial_prefix_waits",
            concat(&[&framed(&[&hello]), &[0x80]]),
            vec![hello.clone()],
            vec![0x80],
            None,
        ),
        (
            "length_16385_is_refused_from_the_prefix",
            vec![0x81, 0x80, 0x01],
            vec![],
            vec![],
            Some("TooLarge"),
        ),
        (
            "length_prefix_of_six_bytes",
            vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
            vec![],
            vec![],
            Some("BadVarint"),
        ),
        (
            "a_good_frame_then_a_huge_length",
            concat(&[&framed(&[&hello]), &[0xff, 0xff, 0xff, 0xff, 0x0f]]),
            vec![hello],
            vec![],
            Some("TooLarge"),
        ),
    ]
}
