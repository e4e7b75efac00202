//! The snapshot body: a client's view of a zone, bit-packed.
//!
//! A view is a list of [`EntityState`]s sorted by id, every field already quantized
//! (see [`crate::quantize::fields`]). A body encodes one view either as a keyframe
//! (no baseline) or as a delta against a baseline view the client acknowledged:
//!
//! ```text
//! body      := [baseline section, only for a delta] entered section, zero padding
//! baseline  := for each entity of the baseline, ascending id:
//!                changed:1
//!                if changed: present:1
//!                  if present (the entity is still visible, and changed):
//!                    position_changed:1  [tiny:1 (dx:5 dy:5 | small:1 (dx:8 dy:8 | x:20 y:20))]
//!                    heading_changed:1   [heading:10]
//!                    animation_changed:1 [animation:3]
//!                    appearance_changed:1 [appearance:varuint]
//!                  if not present: the entity left the view
//! entered   := count:varuint, then for each entering entity, ascending id:
//!                id_gap:varuint kind:2 appearance:varuint x:20 y:20 heading:10 animation:3
//!                [only for an Element: width:varuint height:varuint blocking:1]
//! ```
//!
//! An element's [`Footprint`] travels only when it enters a view: an element whose
//! footprint changed leaves and enters again, as an entity whose kind changed does.
//!
//! An unchanged entity costs one bit; a walking avatar (tiny move, new heading) costs
//! 1 + 1 + 1 + 1 + 10 + 1 + 10 + 1 + 1 = 27 bits. The first entered id is sent as its
//! value, each further one as `id - previous - 1`.

use crate::bits::{BitReader, BitSink, BitWriter, PackedBits};
use crate::limits::{MAX_DATAGRAM_PAYLOAD, MAX_VISIBLE_ENTITIES};
use crate::messages::AnimationState;
use crate::quantize::fields;
use crate::{DecodeError, EncodeError, NetworkId};
use serde::{Deserialize, Serialize};

/// What kind of thing an entity is. Two bits; 3 is reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntityKind {
    /// A player's avatar.
    Avatar = 0,
    /// A placed element (decorative or blocking); its entered record carries
    /// its [`Footprint`].
    Element = 1,
    /// A server-driven character.
    Npc = 2,
}

impl EntityKind {
    const fn from_bits(bits: u32) -> Option<Self> {
        Some(match bits {
            0 => Self::Avatar,
            1 => Self::Element,
            2 => Self::Npc,
            _ => return None,
        })
    }
}

/// A placed element's extent and whether it blocks movement: sent only in the
/// entered record of an [`EntityKind::Element`]. The element's position
/// ([`EntityState::x`], [`EntityState::y`]) is its footprint's centre.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Footprint {
    /// Extent along x, in [`fields::POSITION`] steps (1/64 m).
    pub width: u32,
    /// Extent along y, in [`fields::POSITION`] steps.
    pub height: u32,
    /// Whether avatars are kept out of it (false for decorations they walk over).
    pub blocking: bool,
}

impl Footprint {
    /// Quantizes a size in metres (each side clamped into the position range).
    pub fn quantize(width: f32, height: f32, blocking: bool) -> Self {
        Self {
            width: fields::POSITION.quantize(width),
            height: fields::POSITION.quantize(height),
            blocking,
        }
    }

    /// Width and height in metres.
    pub fn size(&self) -> [f32; 2] {
        [
            fields::POSITION.dequantize(self.width),
            fields::POSITION.dequantize(self.height),
        ]
    }
}

/// One entity as a client sees it, every field quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub struct EntityState {
    /// Stable network id.
    pub id: NetworkId,
    /// What it is.
    pub kind: EntityKind,
    /// Which catalogue appearance (avatar or element model) it shows.
    pub appearance: u32,
    /// Position x in [`fields::POSITION`] steps.
    pub x: u32,
    /// Position y in [`fields::POSITION`] steps.
    pub y: u32,
    /// Heading in [`fields::HEADING`] steps.
    pub heading: u16,
    /// Animation state.
    pub animation: AnimationState,
    /// An element's footprint: `Some` exactly when `kind` is
    /// [`EntityKind::Element`] (an encoder refuses anything else).
    #[serde(default)]
    pub footprint: Option<Footprint>,
}

impl Serialize for EntityState {
    /// Every field in a binary format (postcard, between shards: it has no
    /// field names, so a field left out shifts the rest); in text (the JSON
    /// test vectors) a missing footprint is left out.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let with_footprint = !serializer.is_human_readable() || self.footprint.is_some();
        let mut state =
            serializer.serialize_struct("EntityState", 7 + usize::from(with_footprint))?;
        state.serialize_field("id", &self.id)?;
        state.serialize_field("kind", &self.kind)?;
        state.serialize_field("appearance", &self.appearance)?;
        state.serialize_field("x", &self.x)?;
        state.serialize_field("y", &self.y)?;
        state.serialize_field("heading", &self.heading)?;
        state.serialize_field("animation", &self.animation)?;
        if with_footprint {
            state.serialize_field("footprint", &self.footprint)?;
        } else {
            state.skip_field("footprint")?;
        }
        state.end()
    }
}

impl EntityState {
    /// Quantizes real values into an entity state.
    pub fn quantize(
        id: NetworkId,
        kind: EntityKind,
        appearance: u32,
        position: [f32; 2],
        heading: f32,
        animation: AnimationState,
    ) -> Self {
        Self {
            id,
            kind,
            appearance,
            x: fields::POSITION.quantize(position[0]),
            y: fields::POSITION.quantize(position[1]),
            // HEADING has 10 bits, so the step fits in u16.
            heading: fields::HEADING.quantize(heading) as u16,
            animation,
            footprint: None,
        }
    }

    /// The same state with an element's footprint.
    pub const fn with_footprint(mut self, footprint: Footprint) -> Self {
        self.footprint = Some(footprint);
        self
    }

    /// Whether `other` is the same spawn of this entity: same id, kind and
    /// footprint. Anything else is sent as a leave and an enter.
    pub fn same_spawn(&self, other: &Self) -> bool {
        self.id == other.id && self.kind == other.kind && self.footprint == other.footprint
    }

    /// Position in metres.
    pub fn position(&self) -> [f32; 2] {
        [
            fields::POSITION.dequantize(self.x),
            fields::POSITION.dequantize(self.y),
        ]
    }

    /// Heading in radians.
    pub fn heading_radians(&self) -> f32 {
        fields::HEADING.dequantize(u32::from(self.heading))
    }
}

/// What one body held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BodyStats {
    /// Bytes of the body, padding included.
    pub bytes: usize,
    /// Bits of the body, padding excluded.
    pub bits: usize,
    /// Entities that entered the view.
    pub entered: usize,
    /// Entities that left it.
    pub left: usize,
    /// Baseline entities that changed.
    pub updated: usize,
    /// Baseline entities that did not.
    pub unchanged: usize,
}

fn check_sorted(view: &[EntityState]) -> Result<(), EncodeError> {
    if view.len() > MAX_VISIBLE_ENTITIES {
        return Err(EncodeError::TooManyEntities {
            count: view.len(),
            max: MAX_VISIBLE_ENTITIES,
        });
    }
    if view.windows(2).any(|pair| pair[0].id >= pair[1].id) {
        return Err(EncodeError::UnsortedEntities);
    }
    let max = fields::POSITION.max_step();
    if let Some(entity) = view.iter().find(|entity| match entity.footprint {
        None => entity.kind == EntityKind::Element,
        Some(footprint) => {
            entity.kind != EntityKind::Element || footprint.width > max || footprint.height > max
        }
    }) {
        return Err(EncodeError::BadFootprint { id: entity.id });
    }
    Ok(())
}

fn write_full(writer: &mut impl BitSink, entity: &EntityState) {
    writer.write_bits(entity.kind as u32, fields::KIND_BITS);
    writer.write_varuint(entity.appearance);
    writer.write_bits(entity.x, fields::POSITION.bits);
    writer.write_bits(entity.y, fields::POSITION.bits);
    writer.write_bits(u32::from(entity.heading), fields::HEADING.bits);
    writer.write_bits(entity.animation as u32, fields::ANIMATION_BITS);
    if let Some(footprint) = entity.footprint {
        writer.write_varuint(footprint.width);
        writer.write_varuint(footprint.height);
        writer.write_bit(footprint.blocking);
    }
}

/// `to − from + offset` if it fits `bits` (offset binary).
fn offset_delta(from: u32, to: u32, bits: u32, offset: i64) -> Option<u32> {
    let delta = i64::from(to) - i64::from(from) + offset;
    (0..1i64 << bits).contains(&delta).then_some(delta as u32)
}

fn write_update(writer: &mut impl BitSink, old: &EntityState, new: &EntityState) {
    let moved = old.x != new.x || old.y != new.y;
    writer.write_bit(moved);
    if moved {
        let tiny = |from, to| {
            offset_delta(
                from,
                to,
                fields::POSITION_TINY_DELTA_BITS,
                fields::POSITION_TINY_DELTA_OFFSET,
            )
        };
        let small = |from, to| {
            offset_delta(
                from,
                to,
                fields::POSITION_DELTA_BITS,
                fields::POSITION_DELTA_OFFSET,
            )
        };
        if let (Some(dx), Some(dy)) = (tiny(old.x, new.x), tiny(old.y, new.y)) {
            writer.write_bit(true);
            writer.write_bits(dx, fields::POSITION_TINY_DELTA_BITS);
            writer.write_bits(dy, fields::POSITION_TINY_DELTA_BITS);
        } else {
            writer.write_bit(false);
            if let (Some(dx), Some(dy)) = (small(old.x, new.x), small(old.y, new.y)) {
                writer.write_bit(true);
                writer.write_bits(dx, fields::POSITION_DELTA_BITS);
                writer.write_bits(dy, fields::POSITION_DELTA_BITS);
            } else {
                writer.write_bit(false);
                writer.write_bits(new.x, fields::POSITION.bits);
                writer.write_bits(new.y, fields::POSITION.bits);
            }
        }
    }
    let turned = old.heading != new.heading;
    writer.write_bit(turned);
    if turned {
        writer.write_bits(u32::from(new.heading), fields::HEADING.bits);
    }
    let animated = old.animation != new.animation;
    writer.write_bit(animated);
    if animated {
        writer.write_bits(new.animation as u32, fields::ANIMATION_BITS);
    }
    let restyled = old.appearance != new.appearance;
    writer.write_bit(restyled);
    if restyled {
        writer.write_varuint(new.appearance);
    }
}

/// The baseline-section record of an entity that is still visible and changed
/// from `old` to `new` (both with the same id and kind): `1 1` and the changed
/// fields. Encoded once, appended to every client's body that needs it.
pub fn pack_update(old: &EntityState, new: &EntityState) -> PackedBits {
    let mut packed = PackedBits::default();
    packed.write_bit(true);
    packed.write_bit(true);
    write_update(&mut packed, old, new);
    packed
}

/// The entered-section record of an entity, without its id gap: kind, appearance
/// and every field in full.
pub fn pack_entered(entity: &EntityState) -> PackedBits {
    let mut packed = PackedBits::default();
    write_full(&mut packed, entity);
    packed
}

/// Encodes `view` as a delta against `baseline` (or as a keyframe if there is none),
/// appending the body to `out`. Both views must be sorted by id.
///
/// An entity whose kind or footprint changed is sent as leaving and entering
/// again.
pub fn encode_body(
    baseline: Option<&[EntityState]>,
    view: &[EntityState],
    out: &mut Vec<u8>,
) -> Result<BodyStats, EncodeError> {
    check_sorted(view)?;
    let mut stats = BodyStats::default();
    let mut writer = BitWriter::new(out);
    let mut current = 0usize;
    if let Some(baseline) = baseline {
        check_sorted(baseline)?;
        for old in baseline {
            while current < view.len() && view[current].id < old.id {
                current += 1;
            }
            match view.get(current) {
                Some(new) if new.same_spawn(old) => {
                    current += 1;
                    if new == old {
                        writer.write_bit(false);
                        stats.unchanged += 1;
                    } else {
                        writer.write_bit(true);
                        writer.write_bit(true);
                        write_update(&mut writer, old, new);
                        stats.updated += 1;
                    }
                }
                _ => {
                    writer.write_bit(true);
                    writer.write_bit(false);
                    stats.left += 1;
                }
            }
        }
    }
    let is_entering = |entity: &EntityState| match baseline {
        None => true,
        Some(baseline) => match baseline.binary_search_by_key(&entity.id, |e| e.id) {
            Ok(index) => !baseline[index].same_spawn(entity),
            Err(_) => true,
        },
    };
    let entering = view.iter().filter(|e| is_entering(e)).count();
    // `check_sorted` bounds the count by MAX_VISIBLE_ENTITIES.
    writer.write_varuint(entering as u32);
    let mut next_id = 0u32;
    for entity in view.iter().filter(|e| is_entering(e)) {
        writer.write_varuint(entity.id.0 - next_id);
        write_full(&mut writer, entity);
        next_id = entity.id.0.saturating_add(1);
        stats.entered += 1;
    }
    stats.bits = writer.bits_written();
    stats.bytes = writer.finish();
    Ok(stats)
}

fn read_full(reader: &mut BitReader<'_>, id: NetworkId) -> Result<EntityState, DecodeError> {
    let kind = EntityKind::from_bits(reader.read_bits(fields::KIND_BITS)?)
        .ok_or(DecodeError::UnknownVariant)?;
    let appearance = reader.read_varuint()?;
    let x = reader.read_bits(fields::POSITION.bits)?;
    let y = reader.read_bits(fields::POSITION.bits)?;
    let heading = reader.read_bits(fields::HEADING.bits)?;
    let animation = AnimationState::from_bits(reader.read_bits(fields::ANIMATION_BITS)?)
        .ok_or(DecodeError::UnknownVariant)?;
    let footprint = if kind == EntityKind::Element {
        let max = fields::POSITION.max_step();
        let width = reader.read_varuint()?;
        let height = reader.read_varuint()?;
        if width > max || height > max {
            return Err(DecodeError::OutOfRange { field: "footprint" });
        }
        Some(Footprint {
            width,
            height,
            blocking: reader.read_bit()?,
        })
    } else {
        None
    };
    Ok(EntityState {
        id,
        kind,
        appearance,
        x,
        y,
        // 10 bits fit in u16.
        heading: heading as u16,
        animation,
        footprint,
    })
}

fn apply_delta(from: u32, delta: u32, offset: i64) -> Result<u32, DecodeError> {
    let value = i64::from(from) + i64::from(delta) - offset;
    if (0..=i64::from(fields::POSITION.max_step())).contains(&value) {
        // Within the 20-bit range by the check above.
        Ok(value as u32)
    } else {
        Err(DecodeError::OutOfRange { field: "position" })
    }
}

fn read_update(reader: &mut BitReader<'_>, old: &EntityState) -> Result<EntityState, DecodeError> {
    let mut new = *old;
    if reader.read_bit()? {
        if reader.read_bit()? {
            let bits = fields::POSITION_TINY_DELTA_BITS;
            let offset = fields::POSITION_TINY_DELTA_OFFSET;
            let dx = reader.read_bits(bits)?;
            let dy = reader.read_bits(bits)?;
            new.x = apply_delta(old.x, dx, offset)?;
            new.y = apply_delta(old.y, dy, offset)?;
        } else if reader.read_bit()? {
            let bits = fields::POSITION_DELTA_BITS;
            let offset = fields::POSITION_DELTA_OFFSET;
            let dx = reader.read_bits(bits)?;
            let dy = reader.read_bits(bits)?;
            new.x = apply_delta(old.x, dx, offset)?;
            new.y = apply_delta(old.y, dy, offset)?;
        } else {
            new.x = reader.read_bits(fields::POSITION.bits)?;
            new.y = reader.read_bits(fields::POSITION.bits)?;
        }
    }
    if reader.read_bit()? {
        // 10 bits fit in u16.
        new.heading = reader.read_bits(fields::HEADING.bits)? as u16;
    }
    if reader.read_bit()? {
        new.animation = AnimationState::from_bits(reader.read_bits(fields::ANIMATION_BITS)?)
            .ok_or(DecodeError::UnknownVariant)?;
    }
    if reader.read_bit()? {
        new.appearance = reader.read_varuint()?;
    }
    Ok(new)
}

/// The fewest bits an entering entity can take: a 5-bit gap, the kind, a 5-bit
/// appearance and the fixed fields. Used to refuse absurd counts before reading.
const MIN_ENTERED_BITS: usize = 5
    + fields::KIND_BITS as usize
    + 5
    + 2 * fields::POSITION.bits as usize
    + fields::HEADING.bits as usize
    + fields::ANIMATION_BITS as usize;

/// Decodes a body against `baseline` (`None` for a keyframe), writing the resulting
/// view, sorted by id, into `view` (which is cleared first).
///
/// `baseline` must be a view this decoder produced before (sorted by id).
pub fn decode_body(
    baseline: Option<&[EntityState]>,
    body: &[u8],
    view: &mut Vec<EntityState>,
) -> Result<BodyStats, DecodeError> {
    if body.len() > MAX_DATAGRAM_PAYLOAD {
        return Err(DecodeError::TooLarge {
            len: body.len(),
            max: MAX_DATAGRAM_PAYLOAD,
        });
    }
    view.clear();
    let mut stats = BodyStats {
        bytes: body.len(),
        ..BodyStats::default()
    };
    let mut reader = BitReader::new(body);
    for old in baseline.unwrap_or_default() {
        if !reader.read_bit()? {
            view.push(*old);
            stats.unchanged += 1;
        } else if reader.read_bit()? {
            view.push(read_update(&mut reader, old)?);
            stats.updated += 1;
        } else {
            stats.left += 1;
        }
    }
    let kept = view.len();
    let count = reader.read_varuint()? as usize;
    if kept + count > MAX_VISIBLE_ENTITIES {
        return Err(DecodeError::TooManyEntities {
            count: kept + count,
            max: MAX_VISIBLE_ENTITIES,
        });
    }
    if count * MIN_ENTERED_BITS > reader.remaining_bits() {
        return Err(DecodeError::UnexpectedEnd);
    }
    let mut next_id = 0u64;
    for _ in 0..count {
        let id = next_id + u64::from(reader.read_varuint()?);
        let id = u32::try_from(id).map_err(|_| DecodeError::IdOverflow)?;
        let entity = read_full(&mut reader, NetworkId(id))?;
        if view[..kept]
            .binary_search_by_key(&entity.id, |e| e.id)
            .is_ok()
        {
            return Err(DecodeError::DuplicateEntity { id });
        }
        view.push(entity);
        next_id = u64::from(id) + 1;
    }
    stats.entered = count;
    stats.bits = body.len() * 8 - reader.remaining_bits();
    reader.finish()?;
    if count > 0 && kept > 0 {
        view.sort_unstable_by_key(|e| e.id);
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avatar(id: u32, x: u32, y: u32) -> EntityState {
        EntityState {
            id: NetworkId(id),
            kind: EntityKind::Avatar,
            appearance: 3,
            x,
            y,
            heading: 100,
            animation: AnimationState::Walk,
            footprint: None,
        }
    }

    fn element(id: u32, x: u32, width: u32) -> EntityState {
        EntityState {
            kind: EntityKind::Element,
            appearance: 40,
            heading: 0,
            animation: AnimationState::Idle,
            footprint: Some(Footprint {
                width,
                height: 64,
                blocking: true,
            }),
            ..avatar(id, x, 500)
        }
    }

    #[test]
    fn an_element_enters_with_its_footprint_moves_by_deltas_and_reenters_when_resized() {
        let placed = [avatar(1, 0, 0), element(9, 1_000, 128)];
        let mut out = Vec::new();
        let mut view = Vec::new();
        encode_body(None, &placed, &mut out).unwrap();
        decode_body(None, &out, &mut view).unwrap();
        assert_eq!(view, placed);
        // Standing still, it costs a bit.
        out.clear();
        let stats = encode_body(Some(&placed), &placed, &mut out).unwrap();
        assert_eq!(stats.bits, 2 + 5);
        // Moved: an update, not a new spawn.
        let moved = [placed[0], element(9, 1_010, 128)];
        out.clear();
        let stats = encode_body(Some(&placed), &moved, &mut out).unwrap();
        assert_eq!((stats.updated, stats.entered, stats.left), (1, 0, 0));
        decode_body(Some(&placed), &out, &mut view).unwrap();
        assert_eq!(view, moved);
        // Resized: it leaves and enters again with the new footprint.
        let resized = [placed[0], element(9, 1_000, 192)];
        out.clear();
        let stats = encode_body(Some(&placed), &resized, &mut out).unwrap();
        assert_eq!((stats.updated, stats.entered, stats.left), (0, 1, 1));
        decode_body(Some(&placed), &out, &mut view).unwrap();
        assert_eq!(view, resized);
    }

    #[test]
    fn a_footprint_must_come_with_an_element_and_only_with_one() {
        let mut bare = element(9, 0, 64);
        bare.footprint = None;
        let mut dressed = avatar(3, 0, 0);
        dressed.footprint = element(9, 0, 64).footprint;
        let mut huge = element(9, 0, 64);
        huge.footprint = Some(Footprint {
            width: 1 << 20,
            height: 1,
            blocking: false,
        });
        for entity in [bare, dressed, huge] {
            assert_eq!(
                encode_body(None, &[entity], &mut Vec::new()),
                Err(EncodeError::BadFootprint { id: entity.id })
            );
        }
    }

    #[test]
    fn an_unchanged_entity_costs_one_bit() {
        let view: Vec<_> = (0..64).map(|i| avatar(i * 3, 1000 + i, 2000)).collect();
        let mut out = Vec::new();
        let stats = encode_body(Some(&view), &view, &mut out).unwrap();
        // 64 one-bit flags and a 5-bit "no one entered".
        assert_eq!(stats.bits, 64 + 5);
        assert_eq!(stats.unchanged, 64);
    }

    #[test]
    fn a_walking_avatar_costs_twenty_seven_bits_and_a_runner_thirty_four() {
        let old = [avatar(7, 1000, 1000)];
        let mut walked = old;
        walked[0].x += 12;
        walked[0].y -= 3;
        walked[0].heading = 200;
        let mut out = Vec::new();
        let stats = encode_body(Some(&old), &walked, &mut out).unwrap();
        assert_eq!(stats.bits, 27 + 5);
        let mut view = Vec::new();
        decode_body(Some(&old), &out, &mut view).unwrap();
        assert_eq!(view, walked);
        // 20 steps is beyond the tiny form: the small one, one flag bit more.
        let mut ran = old;
        ran[0].x += 20;
        ran[0].heading = 200;
        out.clear();
        let stats = encode_body(Some(&old), &ran, &mut out).unwrap();
        assert_eq!(stats.bits, 34 + 5);
        decode_body(Some(&old), &out, &mut view).unwrap();
        assert_eq!(view, ran);
    }

    #[test]
    fn enter_leave_and_kind_change_round_trip() {
        let baseline = [avatar(1, 0, 0), avatar(5, 10, 10), avatar(9, 20, 20)];
        let mut changed_kind = avatar(9, 20, 20);
        changed_kind.kind = EntityKind::Npc;
        let view = [
            avatar(2, 5, 5),
            avatar(5, 900_000, 10),
            changed_kind,
            avatar(40, 1, 1),
        ];
        let mut out = Vec::new();
        let sent = encode_body(Some(&baseline), &view, &mut out).unwrap();
        assert_eq!((sent.left, sent.updated, sent.entered), (2, 1, 3));
        let mut decoded = Vec::new();
        let got = decode_body(Some(&baseline), &out, &mut decoded).unwrap();
        assert_eq!(decoded, view);
        assert_eq!((got.left, got.updated, got.entered), (2, 1, 3));
    }

    #[test]
    fn unsorted_views_are_refused() {
        let view = [avatar(5, 0, 0), avatar(2, 0, 0)];
        assert_eq!(
            encode_body(None, &view, &mut Vec::new()),
            Err(EncodeError::UnsortedEntities)
        );
    }

    #[test]
    fn a_delta_past_the_edge_is_refused() {
        let old = [avatar(1, 0, 0)];
        // changed, present, moved, not tiny, small, dx = 0 (-128 steps) ...
        let mut out = Vec::new();
        let mut writer = BitWriter::new(&mut out);
        for bit in [true, true, true, false, true] {
            writer.write_bit(bit);
        }
        writer.write_bits(0, 8);
        writer.write_bits(128, 8);
        writer.finish();
        assert_eq!(
            decode_body(Some(&old), &out, &mut Vec::new()),
            Err(DecodeError::OutOfRange { field: "position" })
        );
    }

    #[test]
    fn a_huge_entered_count_is_refused_before_reading() {
        let mut out = Vec::new();
        let mut writer = BitWriter::new(&mut out);
        writer.write_varuint(2_000);
        writer.finish();
        assert!(matches!(
            decode_body(None, &out, &mut Vec::new()),
            Err(DecodeError::TooManyEntities { .. })
        ));
        let mut out = Vec::new();
        let mut writer = BitWriter::new(&mut out);
        writer.write_varuint(900);
        writer.finish();
        assert_eq!(
            decode_body(None, &out, &mut Vec::new()),
            Err(DecodeError::UnexpectedEnd)
        );
    }
}
