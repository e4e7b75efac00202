//! Proptest strategies shared by the integration tests: valid messages of every kind,
//! valid entity states, and baseline / view pairs for snapshot bodies.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of these helpers, so `expect` would go unfulfilled in some"
)]

use std::collections::BTreeMap;

use meridian_protocol::limits::{
    MAX_AUTH_TOKEN_BYTES, MAX_CHAT_BYTES, MAX_DETAIL_BYTES, MAX_INVENTORY_DELTA, MAX_ITEM_BYTES,
    MAX_NAME_BYTES,
};
use meridian_protocol::messages::{
    InventoryChange, InventoryResult, InventoryStatus, Presence, SettingsChanged,
};
use meridian_protocol::snapshot::{EntityKind, EntityState, Footprint};
use meridian_protocol::{
    Ack, AnimationState, ChatChannel, ChatRelay, ChatSend, ClientMessage, Disconnect,
    DisconnectReason, Hello, Input, MovementIntent, NetworkId, Refusal, RefusalReason,
    ServerMessage, SessionLimits, Snapshot, Welcome,
};
use proptest::prelude::*;

/// The largest quantized position step (20 bits).
pub(crate) const MAX_POSITION_STEP: u32 = (1 << 20) - 1;

/// The largest quantized heading step (10 bits).
pub(crate) const MAX_HEADING_STEP: u16 = (1 << 10) - 1;

/// Keeps the characters a decoder accepts (no control characters but the line feed)
/// and cuts the text to at most `max` bytes on a character boundary.
fn clean_text(chars: Vec<char>, max: usize) -> String {
    let mut text = String::new();
    for c in chars {
        if c.is_control() && c != '\n' {
            continue;
        }
        if text.len() + c.len_utf8() > max {
            break;
        }
        text.push(c);
    }
    text
}

/// Characters biased towards the interesting ones: ASCII, whitespace, line feeds,
/// multi-byte scripts, emoji, and anything else Unicode has.
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range(' ', '~'),
        1 => Just('\n'),
        1 => Just(' '),
        1 => proptest::char::range('\u{e0}', '\u{17f}'),
        1 => proptest::char::range('\u{4e00}', '\u{4fff}'),
        1 => proptest::char::range('\u{1f600}', '\u{1f64f}'),
        1 => any::<char>(),
    ]
}

/// Text a decoder accepts in a field of at most `max` bytes, possibly empty.
pub(crate) fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec(text_char(), 0..64),
        1 => proptest::collection::vec(text_char(), 0..=max),
    ]
    .prop_map(move |chars| clean_text(chars, max))
}

/// Chat text a decoder accepts: 1 to [`MAX_CHAT_BYTES`] bytes, not only whitespace.
pub(crate) fn chat_text() -> impl Strategy<Value = String> {
    text(MAX_CHAT_BYTES - 1).prop_map(|mut text| {
        if text.trim().is_empty() {
            text.push('x');
        }
        text
    })
}

/// Text of 1 to `max` bytes that is not only whitespace (items, names).
fn label(max: usize) -> impl Strategy<Value = String> {
    text(max - 1).prop_map(|mut text| {
        if text.trim().is_empty() {
            text.push('x');
        }
        text
    })
}

fn inventory_status() -> impl Strategy<Value = InventoryStatus> {
    prop_oneof![
        Just(InventoryStatus::Applied),
        Just(InventoryStatus::UnknownItem),
        Just(InventoryStatus::NotEnough),
        Just(InventoryStatus::StackFull),
        Just(InventoryStatus::Busy),
        Just(InventoryStatus::Unavailable),
        Just(InventoryStatus::NotAllowed),
    ]
}

/// Any finite `f32`, including zeros of both signs, subnormals and extremes.
pub(crate) fn finite_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<f32>().prop_filter("finite", |value| value.is_finite()),
        Just(0.0f32),
        Just(-0.0f32),
        Just(f32::MAX),
        Just(f32::MIN),
        Just(f32::MIN_POSITIVE),
        -1.0f32..1.0,
    ]
}

/// Any animation state.
pub(crate) fn animation() -> impl Strategy<Value = AnimationState> {
    prop_oneof![
        Just(AnimationState::Idle),
        Just(AnimationState::Walk),
        Just(AnimationState::Run),
        Just(AnimationState::Sit),
        Just(AnimationState::Wave),
        Just(AnimationState::Dance),
    ]
}

/// Any entity kind.
pub(crate) fn entity_kind() -> impl Strategy<Value = EntityKind> {
    prop_oneof![
        Just(EntityKind::Avatar),
        Just(EntityKind::Element),
        Just(EntityKind::Npc),
    ]
}

/// Any chat channel.
pub(crate) fn chat_channel() -> impl Strategy<Value = ChatChannel> {
    prop_oneof![Just(ChatChannel::Proximity), Just(ChatChannel::Zone)]
}

/// A finite distance or speed, not negative.
fn metres() -> impl Strategy<Value = f32> {
    finite_f32().prop_map(f32::abs)
}

/// Any valid limits.
/// Boxed: inlined into the message strategies, its array of six float
/// strategies made their value trees big enough to overflow a test thread's
/// stack in a debug build.
pub(crate) fn session_limits() -> BoxedStrategy<SessionLimits> {
    (
        [metres(), metres(), metres(), metres(), metres(), metres()],
        proptest::array::uniform8(any::<u32>()),
    )
        .prop_map(|(m, n)| SessionLimits {
            max_speed: m[0],
            walk_speed: m[1],
            avatar_radius: m[2],
            interest_radius: m[3],
            interest_hysteresis: m[4],
            chat_hearing_radius: m[5],
            input_burst: n[0],
            input_hold_ticks: n[1],
            datagrams_per_second: n[2],
            chat_lines_per_10s: n[3],
            inventory_in_flight: n[4],
            strikes_before_disconnect: n[5],
            idle_timeout_ms: n[6],
            heartbeat_interval_ms: n[7],
        })
        .boxed()
}

/// Any disconnect reason.
pub(crate) fn disconnect_reason() -> impl Strategy<Value = DisconnectReason> {
    prop_oneof![
        Just(DisconnectReason::ClientQuit),
        Just(DisconnectReason::ServerShutdown),
        Just(DisconnectReason::IdleTimeout),
        Just(DisconnectReason::Kicked),
        Just(DisconnectReason::ProtocolViolation),
        Just(DisconnectReason::RateLimited),
        Just(DisconnectReason::SessionReplaced),
        Just(DisconnectReason::Moved),
    ]
}

/// Any refusal reason.
pub(crate) fn refusal_reason() -> impl Strategy<Value = RefusalReason> {
    prop_oneof![
        Just(RefusalReason::VersionMismatch),
        Just(RefusalReason::BadToken),
        Just(RefusalReason::TokenExpired),
        Just(RefusalReason::WrongSpace),
        Just(RefusalReason::Banned),
        Just(RefusalReason::ServerFull),
        Just(RefusalReason::TooManyConnections),
        Just(RefusalReason::Draining),
    ]
}

/// A valid movement intent.
pub(crate) fn movement_intent() -> impl Strategy<Value = MovementIntent> {
    (
        finite_f32(),
        finite_f32(),
        finite_f32(),
        finite_f32(),
        animation(),
    )
        .prop_map(
            |(move_x, move_y, speed, heading, animation)| MovementIntent {
                move_x,
                move_y,
                speed,
                heading,
                animation,
            },
        )
}

/// Every client message variant, with valid fields.
pub(crate) fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (any::<u16>(), text(MAX_AUTH_TOKEN_BYTES)).prop_map(|(protocol_version, auth_token)| {
            ClientMessage::Hello(Hello {
                protocol_version,
                auth_token,
            })
        }),
        (any::<u32>(), movement_intent())
            .prop_map(|(sequence, intent)| ClientMessage::Input(Input { sequence, intent })),
        any::<u32>().prop_map(|snapshot_tick| ClientMessage::Ack(Ack { snapshot_tick })),
        (chat_channel(), chat_text())
            .prop_map(|(channel, text)| ClientMessage::Chat(ChatSend { channel, text })),
        disconnect_reason().prop_map(|reason| ClientMessage::Disconnect(Disconnect { reason })),
        (
            any::<u32>(),
            label(MAX_ITEM_BYTES),
            (-MAX_INVENTORY_DELTA..=MAX_INVENTORY_DELTA).prop_filter("not zero", |d| *d != 0),
        )
            .prop_map(|(request, item, delta)| {
                ClientMessage::Inventory(InventoryChange {
                    request,
                    item,
                    delta,
                })
            }),
    ]
}

/// Every server message variant, with valid fields. Snapshot bodies are arbitrary
/// bytes: the message layer does not look inside them.
pub(crate) fn server_message() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        (
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            any::<u32>(),
            finite_f32(),
            finite_f32(),
            session_limits(),
        )
            .prop_map(
                |(protocol_version, avatar, zone_id, tick_rate_hz, tick, width, height, limits)| {
                    ServerMessage::Welcome(Welcome {
                        protocol_version,
                        avatar_id: NetworkId(avatar),
                        zone_id,
                        tick_rate_hz,
                        tick,
                        zone_width: width,
                        zone_height: height,
                        limits,
                    })
                }
            ),
        (refusal_reason(), text(MAX_DETAIL_BYTES))
            .prop_map(|(reason, detail)| ServerMessage::Refusal(Refusal { reason, detail })),
        (
            any::<u32>(),
            proptest::option::of(any::<u32>()),
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..1_100),
        )
            .prop_map(|(tick, baseline_tick, last_input_sequence, body)| {
                ServerMessage::Snapshot(Snapshot {
                    tick,
                    baseline_tick,
                    last_input_sequence,
                    body,
                })
            }),
        (any::<u32>(), chat_channel(), chat_text()).prop_map(|(from, channel, text)| {
            ServerMessage::Chat(ChatRelay {
                from: NetworkId(from),
                channel,
                text,
            })
        }),
        disconnect_reason().prop_map(|reason| ServerMessage::Disconnect(Disconnect { reason })),
        (
            any::<u32>(),
            label(MAX_ITEM_BYTES),
            any::<u32>(),
            inventory_status()
        )
            .prop_map(|(request, item, quantity, status)| {
                ServerMessage::Inventory(InventoryResult {
                    request,
                    item,
                    quantity,
                    status,
                })
            }),
        (any::<u32>(), label(MAX_NAME_BYTES)).prop_map(|(avatar, name)| {
            ServerMessage::Presence(Presence {
                avatar: NetworkId(avatar),
                name,
            })
        }),
        (any::<u32>(), 1..=u16::MAX, session_limits()).prop_map(|(tick, tick_rate_hz, limits)| {
            ServerMessage::SettingsChanged(SettingsChanged {
                tick,
                tick_rate_hz,
                limits,
            })
        }),
    ]
}

/// An appearance number, biased towards the varuint group boundaries.
fn appearance() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..16, 16u32..256, 256u32..70_000, any::<u32>()]
}

/// A position step within 20 bits, biased towards the edges.
fn position() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 0..=MAX_POSITION_STEP,
        1 => 0u32..300,
        1 => (MAX_POSITION_STEP - 300)..=MAX_POSITION_STEP,
    ]
}

/// Any element footprint.
fn footprint() -> impl Strategy<Value = Footprint> {
    (position(), position(), any::<bool>()).prop_map(|(width, height, blocking)| Footprint {
        width,
        height,
        blocking,
    })
}

/// A valid entity state with the given id (a footprint exactly on elements).
pub(crate) fn entity_state(id: u32) -> impl Strategy<Value = EntityState> {
    (
        entity_kind(),
        appearance(),
        position(),
        position(),
        0..=MAX_HEADING_STEP,
        animation(),
        footprint(),
    )
        .prop_map(
            move |(kind, appearance, x, y, heading, animation, footprint)| EntityState {
                id: NetworkId(id),
                kind,
                appearance,
                x,
                y,
                heading,
                animation,
                footprint: (kind == EntityKind::Element).then_some(footprint),
            },
        )
}

/// How an entity that is in both the baseline and the view changed.
#[derive(Debug, Clone)]
struct Change {
    /// Whether each of kind, appearance, heading and animation is replaced.
    replace: [bool; 4],
    /// Move: 0 none, 1 small (within the 8-bit delta), 2 anywhere.
    movement: u8,
    delta: (i64, i64),
}

fn change() -> impl Strategy<Value = Change> {
    (
        proptest::array::uniform4(proptest::bool::weighted(0.2)),
        0u8..3,
        (-200i64..200, -200i64..200),
    )
        .prop_map(|(replace, movement, delta)| Change {
            replace,
            movement,
            delta,
        })
}

fn apply_change(old: &EntityState, other: &EntityState, change: &Change) -> EntityState {
    let mut new = *old;
    let [kind, appearance, heading, animation] = change.replace;
    if kind {
        // A new kind or footprint: a new spawn of the same id.
        new.kind = other.kind;
        new.footprint = other.footprint;
    }
    if appearance {
        new.appearance = other.appearance;
    }
    if heading {
        new.heading = other.heading;
    }
    if animation {
        new.animation = other.animation;
    }
    let max = i64::from(MAX_POSITION_STEP);
    match change.movement {
        1 => {
            // Clamped into range, so the cast cannot truncate.
            new.x = (i64::from(old.x) + change.delta.0).clamp(0, max) as u32;
            new.y = (i64::from(old.y) + change.delta.1).clamp(0, max) as u32;
        }
        2 => {
            new.x = other.x;
            new.y = other.y;
        }
        _ => {}
    }
    new
}

/// One id's fate: 0 only in the baseline (it leaves), 1 only in the view (it
/// enters), 2 or more in both (it stays, changed or not).
fn slot(id: u32) -> impl Strategy<Value = (u8, EntityState, EntityState, Change)> {
    (0u8..5, entity_state(id), entity_state(id), change())
}

/// Ids: dense small ones (gaps of a few), and anywhere in `u32`.
fn entity_id() -> impl Strategy<Value = u32> {
    prop_oneof![3 => 0u32..400, 1 => any::<u32>(), 1 => Just(u32::MAX)]
}

/// A baseline (none for a keyframe) and a view, both sorted by id without repeats,
/// up to `max` ids between them.
pub(crate) fn baseline_and_view(
    max: usize,
) -> impl Strategy<Value = (Option<Vec<EntityState>>, Vec<EntityState>)> {
    (
        proptest::collection::btree_set(entity_id(), 0..=max),
        proptest::bool::weighted(0.8),
    )
        .prop_flat_map(|(ids, is_delta)| {
            let slots: Vec<_> = ids.into_iter().map(slot).collect();
            (slots, Just(is_delta))
        })
        .prop_map(|(slots, is_delta)| {
            let mut by_id = BTreeMap::new();
            for (fate, old, other, change) in slots {
                by_id.insert(old.id, (fate, old, other, change));
            }
            let mut baseline = Vec::new();
            let mut view = Vec::new();
            for (fate, old, other, change) in by_id.values() {
                match fate {
                    0 => baseline.push(*old),
                    1 => view.push(*old),
                    _ => {
                        baseline.push(*old);
                        view.push(apply_change(old, other, change));
                    }
                }
            }
            (is_delta.then_some(baseline), view)
        })
}

/// The `Debug` name of an error's variant (`TooLarge { .. }` gives `TooLarge`).
pub(crate) fn variant_name(error: &impl std::fmt::Debug) -> String {
    format!("{error:?}")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect()
}
