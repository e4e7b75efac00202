//! The hand-chosen snapshot bodies and invalid bodies of the vectors.

use meridian_protocol::bits::BitWriter;
use meridian_protocol::limits::{MAX_DATAGRAM_PAYLOAD, MAX_VISIBLE_ENTITIES};
use meridian_protocol::snapshot::{EntityKind, EntityState, Footprint, encode_body};
use meridian_protocol::{AnimationState, NetworkId};

fn entity(
    id: u32,
    kind: EntityKind,
    appearance: u32,
    position: (u32, u32),
    heading: u16,
    animation: AnimationState,
) -> EntityState {
    EntityState {
        id: NetworkId(id),
        kind,
        appearance,
        x: position.0,
        y: position.1,
        heading,
        animation,
        footprint: (kind == EntityKind::Element).then_some(Footprint {
            width: 128,
            height: 64,
            blocking: true,
        }),
    }
}

/// The avatar of the worked example in `docs/PROTOCOL.md`.
pub(super) fn avatar_seven() -> EntityState {
    entity(
        7,
        EntityKind::Avatar,
        3,
        (1_000, 1_000),
        100,
        AnimationState::Walk,
    )
}

/// The same avatar one tick later: 12 steps east, 3 south, turned.
pub(super) fn walked_seven() -> EntityState {
    EntityState {
        x: 1_012,
        y: 997,
        heading: 200,
        ..avatar_seven()
    }
}

fn element_twelve() -> EntityState {
    entity(
        12,
        EntityKind::Element,
        300,
        (65_536, 2_048),
        0,
        AnimationState::Idle,
    )
}

fn npc_thirteen() -> EntityState {
    entity(
        13,
        EntityKind::Npc,
        15,
        ((1 << 20) - 1, 0),
        1_023,
        AnimationState::Dance,
    )
}

fn avatar_five_hundred() -> EntityState {
    entity(
        500,
        EntityKind::Avatar,
        16,
        (123_456, 654_321),
        768,
        AnimationState::Run,
    )
}

pub(super) fn body(baseline: Option<&[EntityState]>, view: &[EntityState]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_body(baseline, view, &mut out).expect("vector views are valid");
    out
}

pub(super) type SnapshotCase = (&'static str, Option<Vec<EntityState>>, Vec<EntityState>);

pub(super) fn snapshot_cases() -> Vec<SnapshotCase> {
    let seven = avatar_seven();
    let twelve = element_twelve();
    let thirteen = npc_thirteen();
    let five_hundred = avatar_five_hundred();
    let three = vec![seven, twelve, thirteen];
    let with = |changed: EntityState| -> Vec<EntityState> {
        three
            .iter()
            .map(|e| if e.id == changed.id { changed } else { *e })
            .collect()
    };
    let mut entering_eight = seven;
    entering_eight.id = NetworkId(8);
    entering_eight.kind = EntityKind::Npc;
    let mut thirteen_as_element = thirteen;
    thirteen_as_element.kind = EntityKind::Element;
    thirteen_as_element.footprint = twelve.footprint;
    let mut twelve_resized = twelve;
    twelve_resized.footprint = Some(Footprint {
        width: 192,
        height: 64,
        blocking: true,
    });
    let mut twelve_walkable = twelve;
    twelve_walkable.footprint = Some(Footprint {
        blocking: false,
        ..twelve.footprint.unwrap_or_default()
    });
    let decoration = EntityState {
        id: NetworkId(40),
        appearance: 9,
        x: 64 * 300 + 32,
        y: 64 * 200 + 32,
        footprint: Some(Footprint {
            width: 64,
            height: 64,
            blocking: false,
        }),
        ..twelve
    };
    let mut everything_seven = walked_seven();
    everything_seven.animation = AnimationState::Run;
    let mut everything_twelve = twelve;
    everything_twelve.x += 300;
    everything_twelve.appearance = 70_000;
    vec![
        ("keyframe_empty", None, vec![]),
        ("keyframe_one_avatar", None, vec![seven]),
        (
            "keyframe_several",
            None,
            vec![seven, twelve, thirteen, five_hundred],
        ),
        (
            "keyframe_extreme_ids_and_appearance",
            None,
            vec![
                entity(0, EntityKind::Element, 0, (0, 0), 0, AnimationState::Idle),
                entity(
                    u32::MAX,
                    EntityKind::Npc,
                    u32::MAX,
                    ((1 << 20) - 1, (1 << 20) - 1),
                    1_023,
                    AnimationState::Wave,
                ),
            ],
        ),
        ("keyframe_one_element", None, vec![twelve]),
        (
            "keyframe_elements_blocking_and_decorative",
            None,
            vec![seven, twelve, decoration],
        ),
        (
            "delta_element_moved",
            Some(three.clone()),
            with(EntityState {
                x: twelve.x + 64,
                ..twelve
            }),
        ),
        (
            "delta_element_resized_is_leave_and_enter",
            Some(three.clone()),
            with(twelve_resized),
        ),
        (
            "delta_element_blocking_changed_is_leave_and_enter",
            Some(three.clone()),
            with(twelve_walkable),
        ),
        ("delta_from_empty_baseline", Some(vec![]), vec![seven]),
        ("delta_empty_to_empty", Some(vec![]), vec![]),
        ("delta_unchanged", Some(three.clone()), three.clone()),
        (
            "delta_walking_avatar",
            Some(vec![seven]),
            vec![walked_seven()],
        ),
        (
            "delta_small_move",
            Some(three.clone()),
            with(EntityState { x: 1_001, ..seven }),
        ),
        (
            "delta_tiny_move_limits",
            Some(three.clone()),
            with(EntityState {
                x: 1_000 + 15,
                y: 1_000 - 16,
                ..seven
            }),
        ),
        (
            "delta_small_move_just_past_tiny",
            Some(three.clone()),
            with(EntityState {
                x: 1_000 + 16,
                ..seven
            }),
        ),
        (
            "delta_small_move_limits",
            Some(three.clone()),
            with(EntityState {
                x: 1_000 + 127,
                y: 1_000 - 128,
                ..seven
            }),
        ),
        (
            "delta_large_move_just_past_small",
            Some(three.clone()),
            with(EntityState {
                x: 1_000 + 128,
                ..seven
            }),
        ),
        (
            "delta_large_move_across_the_zone",
            Some(three.clone()),
            with(EntityState {
                x: 0,
                y: (1 << 20) - 1,
                ..seven
            }),
        ),
        (
            "delta_heading",
            Some(three.clone()),
            with(EntityState {
                heading: 512,
                ..twelve
            }),
        ),
        (
            "delta_animation",
            Some(three.clone()),
            with(EntityState {
                animation: AnimationState::Sit,
                ..thirteen
            }),
        ),
        (
            "delta_appearance",
            Some(three.clone()),
            with(EntityState {
                appearance: 301,
                ..twelve
            }),
        ),
        ("delta_leave", Some(three.clone()), vec![seven, thirteen]),
        ("delta_leave_all", Some(three.clone()), vec![]),
        (
            "delta_enter",
            Some(three.clone()),
            vec![seven, entering_eight, twelve, thirteen, five_hundred],
        ),
        (
            "delta_kind_change_is_leave_and_enter",
            Some(three.clone()),
            vec![seven, twelve, thirteen_as_element],
        ),
        (
            "delta_everything",
            Some(three),
            vec![
                everything_seven,
                entering_eight,
                everything_twelve,
                five_hundred,
            ],
        ),
    ]
}

/// Bits written by `write`, padded with zeros to a whole byte.
fn bits(write: impl FnOnce(&mut BitWriter<'_>)) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = BitWriter::new(&mut out);
    write(&mut writer);
    writer.finish();
    out
}

/// An entering entity's fields after its id gap, with raw kind and animation numbers.
fn write_entered(writer: &mut BitWriter<'_>, gap: u32, kind: u32, appearance: u32, animation: u32) {
    writer.write_varuint(gap);
    writer.write_bits(kind, 2);
    writer.write_varuint(appearance);
    writer.write_bits(1_000, 20);
    writer.write_bits(2_000, 20);
    writer.write_bits(5, 10);
    writer.write_bits(animation, 3);
}

pub(super) type InvalidSnapshotCase = (
    &'static str,
    Option<Vec<EntityState>>,
    Vec<u8>,
    &'static str,
);

pub(super) fn invalid_snapshot_cases() -> Vec<InvalidSnapshotCase> {
    let three = vec![avatar_seven(), element_twelve(), npc_thirteen()];
    let near_origin = vec![entity(
        1,
        EntityKind::Avatar,
        0,
        (5, 5),
        0,
        AnimationState::Idle,
    )];
    vec![
        ("keyframe_empty_body", None, vec![], "UnexpectedEnd"),
        (
            "delta_ends_before_the_entered_count",
            Some(three.clone()),
            bits(|w| {
                // Seven unchanged, twelve changed and present, then nothing.
                w.write_bit(false);
                w.write_bit(true);
                w.write_bit(true);
            }),
            "UnexpectedEnd",
        ),
        (
            "entered_count_larger_than_the_bits_left",
            None,
            bits(|w| {
                w.write_varuint(2);
                write_entered(w, 3, 0, 0, 0);
            }),
            "UnexpectedEnd",
        ),
        (
            "entered_entity_cut_short",
            None,
            {
                let mut body = bits(|w| {
                    w.write_varuint(1);
                    write_entered(w, 3, 0, 70_000, 0);
                });
                body.pop();
                body
            },
            "UnexpectedEnd",
        ),
        (
            "entered_count_of_nine_varuint_groups",
            None,
            bits(|w| {
                for _ in 0..9 {
                    w.write_bits(0, 4);
                    w.write_bit(true);
                }
            }),
            "BadVarint",
        ),
        (
            "entered_kind_3",
            None,
            bits(|w| {
                w.write_varuint(1);
                write_entered(w, 3, 3, 0, 0);
            }),
            "UnknownVariant",
        ),
        (
            "entered_element_footprint_past_the_position_range",
            None,
            bits(|w| {
                w.write_varuint(1);
                write_entered(w, 3, 1, 0, 0);
                w.write_varuint(1 << 20);
                w.write_varuint(64);
                w.write_bit(true);
            }),
            "OutOfRange",
        ),
        (
            "entered_element_without_its_footprint",
            None,
            bits(|w| {
                w.write_varuint(1);
                write_entered(w, 3, 1, 0, 0);
            }),
            "UnexpectedEnd",
        ),
        (
            "entered_animation_6",
            None,
            bits(|w| {
                w.write_varuint(1);
                write_entered(w, 3, 0, 0, 6);
            }),
            "UnknownVariant",
        ),
        (
            "updated_animation_7",
            Some(three.clone()),
            bits(|w| {
                // Seven: changed, present, not moved, not turned, animation 7.
                for bit in [true, true, false, false, true] {
                    w.write_bit(bit);
                }
                w.write_bits(7, 3);
                w.write_bit(false);
                w.write_bit(false);
                w.write_bit(false);
                w.write_varuint(0);
            }),
            "UnknownVariant",
        ),
        (
            "entered_id_past_u32_max",
            None,
            bits(|w| {
                w.write_varuint(2);
                write_entered(w, u32::MAX, 0, 0, 0);
                write_entered(w, 0, 0, 0, 0);
            }),
            "IdOverflow",
        ),
        (
            "entered_id_already_in_the_view",
            Some(vec![avatar_seven()]),
            bits(|w| {
                w.write_bit(false);
                w.write_varuint(1);
                write_entered(w, 7, 0, 3, 1);
            }),
            "DuplicateEntity",
        ),
        ("padding_bit_set", None, vec![0b0010_0000], "NonZeroPadding"),
        (
            "keyframe_empty_plus_a_zero_byte",
            None,
            vec![0, 0],
            "TrailingBytes",
        ),
        (
            "entered_count_1025",
            None,
            bits(|w| w.write_varuint(1_025)),
            "TooManyEntities",
        ),
        (
            "kept_plus_entered_over_the_limit",
            Some(three.clone()),
            bits(|w| {
                for _ in 0..3 {
                    w.write_bit(false);
                }
                // 3 kept + 1,022 entering = 1,025.
                w.write_varuint(MAX_VISIBLE_ENTITIES as u32 - 2);
            }),
            "TooManyEntities",
        ),
        (
            "tiny_delta_below_zero",
            Some(near_origin.clone()),
            bits(|w| {
                // changed, present, moved, tiny; dx = 0 − 16 = −16 steps from x = 5.
                for bit in [true, true, true, true] {
                    w.write_bit(bit);
                }
                w.write_bits(0, 5);
                w.write_bits(16, 5);
                w.write_bit(false);
                w.write_bit(false);
                w.write_bit(false);
                w.write_varuint(0);
            }),
            "OutOfRange",
        ),
        (
            "small_delta_below_zero",
            Some(near_origin),
            bits(|w| {
                // changed, present, moved, not tiny, small.
                for bit in [true, true, true, false, true] {
                    w.write_bit(bit);
                }
                // dx = 0 − 128 = −128 steps from x = 5; dy = 0.
                w.write_bits(0, 8);
                w.write_bits(128, 8);
                w.write_bit(false);
                w.write_bit(false);
                w.write_bit(false);
                w.write_varuint(0);
            }),
            "OutOfRange",
        ),
        (
            "small_delta_past_the_zone_edge",
            Some(three),
            bits(|w| {
                // Seven and twelve unchanged; thirteen (x = 2^20 − 1) moves +1.
                w.write_bit(false);
                w.write_bit(false);
                for bit in [true, true, true, false, true] {
                    w.write_bit(bit);
                }
                w.write_bits(129, 8);
                w.write_bits(128, 8);
                w.write_bit(false);
                w.write_bit(false);
                w.write_bit(false);
                w.write_varuint(0);
            }),
            "OutOfRange",
        ),
        (
            "body_of_1151_bytes",
            None,
            vec![0; MAX_DATAGRAM_PAYLOAD + 1],
            "TooLarge",
        ),
    ]
}
