//! The hand-chosen messages, invalid messages and frame streams of the vectors.

use meridian_protocol::framing::write_frame;
use meridian_protocol::limits::{MAX_CHAT_BYTES, MAX_DETAIL_BYTES};
use meridian_protocol::{
    Ack, AnimationState, ChatChannel, ChatRelay, ChatSend, ClientMessage, Disconnect,
    DisconnectReason, Hello, Input, InventoryChange, InventoryResult, InventoryStatus,
    MovementIntent, NetworkId, PROTOCOL_VERSION, Presence, Refusal, RefusalReason, ServerMessage,
    SessionLimits, SettingsChanged, Snapshot, VoiceAnswer, VoiceLine, VoiceLines, VoiceMute,
    VoiceOffer, VoiceRefusalReason, VoiceRefused, Welcome,
};

use super::AnyMessage;
use super::invalid_messages::concat;
use super::snapshots::{avatar_seven, body, walked_seven};

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

/// The limits of a server on its default settings.
fn default_limits() -> SessionLimits {
    SessionLimits {
        max_speed: 6.0,
        walk_speed: 2.0,
        avatar_radius: 0.3,
        interest_radius: 30.0,
        interest_hysteresis: 5.0,
        chat_hearing_radius: 20.0,
        input_burst: 4,
        input_hold_ticks: 5,
        datagrams_per_second: 120,
        chat_lines_per_10s: 10,
        inventory_in_flight: 8,
        strikes_before_disconnect: 60,
        idle_timeout_ms: 10_000,
        heartbeat_interval_ms: 1_000,
    }
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
                limits: default_limits(),
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
                limits: SessionLimits {
                    max_speed: 100.0,
                    walk_speed: 0.0,
                    avatar_radius: 1.5,
                    interest_radius: 1_000.0,
                    interest_hysteresis: 0.0,
                    chat_hearing_radius: 0.5,
                    input_burst: 0,
                    input_hold_ticks: u32::MAX,
                    datagrams_per_second: 10_000,
                    chat_lines_per_10s: 1,
                    inventory_in_flight: 128,
                    strikes_before_disconnect: 100_000,
                    idle_timeout_ms: 600_000,
                    heartbeat_interval_ms: 50,
                },
            })),
        ),
        (
            "server_settings_changed",
            Server(ServerMessage::SettingsChanged(SettingsChanged {
                tick: 5_000,
                tick_rate_hz: 10,
                limits: SessionLimits {
                    interest_radius: 12.5,
                    interest_hysteresis: 2.0,
                    ..default_limits()
                },
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
            "server_disconnect_session_replaced",
            Server(ServerMessage::Disconnect(Disconnect {
                reason: DisconnectReason::SessionReplaced,
            })),
        ),
        (
            "server_disconnect_moved",
            Server(ServerMessage::Disconnect(Disconnect {
                reason: DisconnectReason::Moved,
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
            "server_inventory_not_allowed",
            Server(inventory_result(8, "chair", 3, InventoryStatus::NotAllowed)),
        ),
        (
            "server_presence",
            Server(ServerMessage::Presence(Presence {
                avatar: NetworkId(300),
                name: "Ada Lovelace".into(),
            })),
        ),
        (
            "client_voice_offer",
            Client(ClientMessage::VoiceOffer(VoiceOffer {
                sdp: "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\n".into(),
            })),
        ),
        (
            "client_voice_mute",
            Client(ClientMessage::VoiceMute(VoiceMute { muted: true })),
        ),
        (
            "client_voice_unmute",
            Client(ClientMessage::VoiceMute(VoiceMute { muted: false })),
        ),
        ("client_voice_off", Client(ClientMessage::VoiceOff)),
        (
            "server_voice_answer",
            Server(ServerMessage::VoiceAnswer(VoiceAnswer {
                sdp: "v=0\r\na=ice-lite\r\n".into(),
            })),
        ),
        (
            "server_voice_lines",
            Server(ServerMessage::VoiceLines(VoiceLines {
                lines: vec![
                    VoiceLine {
                        slot: "1".into(),
                        speaker: Some(NetworkId(42)),
                        distance: 7.5,
                    },
                    VoiceLine {
                        slot: "2".into(),
                        speaker: None,
                        distance: 0.0,
                    },
                    VoiceLine {
                        slot: "audio-3".into(),
                        speaker: Some(NetworkId(300)),
                        distance: 0.0,
                    },
                ],
            })),
        ),
        (
            "server_voice_refused_not_in_instance",
            Server(voice_refused(VoiceRefusalReason::NotInInstance, "")),
        ),
        (
            "server_voice_refused_muted_by_moderator",
            Server(voice_refused(VoiceRefusalReason::MutedByModerator, "muted")),
        ),
        (
            "server_voice_refused_banned",
            Server(voice_refused(VoiceRefusalReason::Banned, "")),
        ),
        (
            "server_voice_refused_malformed_sdp",
            Server(voice_refused(VoiceRefusalReason::MalformedSdp, "")),
        ),
        (
            "server_voice_refused_voice_disabled",
            Server(voice_refused(VoiceRefusalReason::VoiceDisabled, "")),
        ),
        (
            "server_voice_refused_too_many_sessions",
            Server(voice_refused(VoiceRefusalReason::TooManySessions, "")),
        ),
        (
            "server_voice_refused_unsupported_offer",
            Server(voice_refused(
                VoiceRefusalReason::UnsupportedOffer,
                "no Opus",
            )),
        ),
    ]
}

fn voice_refused(reason: VoiceRefusalReason, detail: &str) -> ServerMessage {
    ServerMessage::VoiceRefused(VoiceRefused {
        reason,
        detail: detail.into(),
    })
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
