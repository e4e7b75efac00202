// Meridian wire protocol: the bit-packed snapshot body (section 11 of
// docs/PROTOCOL.md): a view of the entities near a client, as a delta against an
// earlier view or as a keyframe.

import {
  MAX_DATAGRAM_PAYLOAD,
  MAX_VISIBLE_ENTITIES,
  U32_MAX,
  ANIMATIONS,
  ENTITY_KINDS,
  fail,
  asBytes,
} from './errors-and-limits.js';
import { checkInteger } from './postcard.js';
import { POSITION_BITS, POSITION_MAX, HEADING_BITS, HEADING_STEPS } from './quantization.js';

/** @typedef {import('./messages.js').Animation} Animation */

// ---------------------------------------------------------------------------
// Snapshot body: bits and varuints (section 11.3)
// ---------------------------------------------------------------------------

const KIND_BITS = 2;
const ANIMATION_BITS = 3;
const TINY = { bits: 5, offset: 16 };
const SMALL = { bits: 8, offset: 128 };
const VARUINT_MAX_GROUPS = 8;
/** The smallest entering entity: gap 5 + kind 2 + appearance 5 + 20 + 20 + 10 + 3. */
const MIN_ENTERED_BITS = 65;

/** Reads bits least significant first (bit i is bit i % 8 of byte i / 8). */
class BitReader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.bytes = bytes;
    this.pos = 0;
  }

  get remaining() {
    return this.bytes.length * 8 - this.pos;
  }

  /** @param {number} count at most 32 */
  bits(count) {
    if (this.remaining < count) fail('UnexpectedEnd');
    let value = 0;
    for (let have = 0; have < count;) {
      const offset = this.pos % 8;
      const take = Math.min(8 - offset, count - have);
      const bits = (this.bytes[Math.floor(this.pos / 8)] >> offset) & ((1 << take) - 1);
      value += bits * 2 ** have;
      have += take;
      this.pos += take;
    }
    return value;
  }

  bit() {
    return this.bits(1) === 1;
  }

  /** 4-bit groups, each followed by a continuation bit; at most 8 groups. */
  varuint() {
    let value = 0;
    for (let group = 0; group < VARUINT_MAX_GROUPS; group++) {
      value += this.bits(4) * 16 ** group;
      if (!this.bit()) return value;
    }
    return fail('BadVarint', 'a varuint of more than 8 groups');
  }

  /** Only zero padding, fewer than 8 bits, may be left. */
  finish() {
    if (this.remaining >= 8) fail('TrailingBytes', `${Math.floor(this.remaining / 8)} bytes left`);
    if (this.bits(this.remaining) !== 0) fail('NonZeroPadding');
  }
}

class BitWriter {
  constructor() {
    /** @type {number[]} */
    this.bytes = [];
    this.count = 0;
  }

  /** @param {number} value @param {number} count */
  bits(value, count) {
    for (let k = 0; k < count; k++) {
      if (this.count % 8 === 0) this.bytes.push(0);
      if (Math.floor(value / 2 ** k) % 2 === 1) this.bytes[this.bytes.length - 1] |= 1 << (this.count % 8);
      this.count++;
    }
  }

  /** @param {boolean} flag */
  bit(flag) {
    this.bits(flag ? 1 : 0, 1);
  }

  /** @param {number} value */
  varuint(value) {
    for (;;) {
      this.bits(value % 16, 4);
      value = Math.floor(value / 16);
      this.bit(value !== 0);
      if (value === 0) return;
    }
  }

  finish() {
    return Uint8Array.from(this.bytes);
  }
}

// ---------------------------------------------------------------------------
// Snapshot body: decoding (section 11.6)
// ---------------------------------------------------------------------------

/**
 * One entity of a view, every field quantized: x and y in 1/64 m steps, heading in
 * 1/1024 turn. Views hold frozen entities, shared between consecutive views.
 * @typedef {object} Entity
 * @property {number} id
 * @property {'Avatar'|'Element'|'Npc'} kind
 * @property {number} appearance
 * @property {number} x
 * @property {number} y
 * @property {number} heading
 * @property {Animation} animation
 * @property {Footprint} [footprint] only on an `Element` (section 11.1)
 */

/**
 * A placed element's extent in 1/64 m steps (its x, y is the footprint's centre),
 * and whether it keeps avatars out.
 * @typedef {object} Footprint
 * @property {number} width
 * @property {number} height
 * @property {boolean} blocking
 */

/** @param {BitReader} reader */
function readAnimation(reader) {
  return ANIMATIONS[reader.bits(ANIMATION_BITS)] ?? fail('UnknownVariant', 'animation');
}

/** An entering entity's fields after its id gap. @param {BitReader} reader @param {number} id */
function readFull(reader, id) {
  const kind = ENTITY_KINDS[reader.bits(KIND_BITS)] ?? fail('UnknownVariant', 'entity kind');
  const appearance = reader.varuint();
  const x = reader.bits(POSITION_BITS);
  const y = reader.bits(POSITION_BITS);
  const heading = reader.bits(HEADING_BITS);
  const animation = readAnimation(reader);
  if (kind !== 'Element') {
    return /** @type {Entity} */ (Object.freeze({ id, kind, appearance, x, y, heading, animation }));
  }
  const width = reader.varuint();
  const height = reader.varuint();
  if (width > POSITION_MAX || height > POSITION_MAX) fail('OutOfRange', 'footprint');
  const footprint = Object.freeze({ width, height, blocking: reader.bit() });
  return /** @type {Entity} */ (Object.freeze({ id, kind, appearance, x, y, heading, animation, footprint }));
}

/** `old + value − offset`, which must stay a valid position. */
function applyDelta(old, value, offset) {
  const position = old + value - offset;
  if (position < 0 || position > POSITION_MAX) fail('OutOfRange', 'position');
  return position;
}

/** @param {BitReader} reader @param {Entity} old */
function readMove(reader, old) {
  const form = reader.bit() ? TINY : reader.bit() ? SMALL : null;
  if (!form) return { x: reader.bits(POSITION_BITS), y: reader.bits(POSITION_BITS) };
  const dx = reader.bits(form.bits);
  const dy = reader.bits(form.bits);
  return { x: applyDelta(old.x, dx, form.offset), y: applyDelta(old.y, dy, form.offset) };
}

/** A present-and-changed baseline entry, after its `1 1`. @param {BitReader} reader @param {Entity} old */
function readUpdate(reader, old) {
  const entity = { ...old };
  if (reader.bit()) Object.assign(entity, readMove(reader, old));
  if (reader.bit()) entity.heading = reader.bits(HEADING_BITS);
  if (reader.bit()) entity.animation = readAnimation(reader);
  if (reader.bit()) entity.appearance = reader.varuint();
  return /** @type {Entity} */ (Object.freeze(entity));
}

/** Merges two id-sorted lists. @param {Entity[]} a @param {Entity[]} b */
function mergeById(a, b) {
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) out.push(a[i].id < b[j].id ? a[i++] : b[j++]);
  return out.concat(a.slice(i), b.slice(j));
}

/**
 * Decodes a body and says what it held. `bits` is the body's length before padding.
 * @param {Uint8Array | ArrayLike<number>} body
 * @param {Entity[] | null} baseline the id-sorted view the delta is against, or null for a keyframe
 * @returns {{entities: Entity[], bits: number, entered: number, left: number, updated: number, unchanged: number}}
 */
export function decodeSnapshotBodyDetailed(body, baseline) {
  const data = asBytes(body);
  if (data.length > MAX_DATAGRAM_PAYLOAD) fail('TooLarge', `body of ${data.length} bytes`);
  const reader = new BitReader(data);
  const kept = [];
  let updated = 0;
  let unchanged = 0;
  for (const old of baseline ?? []) {
    if (!reader.bit()) {
      kept.push(old);
      unchanged++;
    } else if (reader.bit()) {
      kept.push(readUpdate(reader, old));
      updated++;
    }
  }
  const left = (baseline?.length ?? 0) - kept.length;
  const entered = readEntered(reader, kept);
  const bits = reader.pos;
  reader.finish();
  return { entities: mergeById(kept, entered), bits, entered: entered.length, left, updated, unchanged };
}

/** The entered section: a count, then entities by ascending id. @param {BitReader} reader @param {Entity[]} kept */
function readEntered(reader, kept) {
  const count = reader.varuint();
  if (kept.length + count > MAX_VISIBLE_ENTITIES) fail('TooManyEntities', `${kept.length + count} entities`);
  if (count * MIN_ENTERED_BITS > reader.remaining) fail('UnexpectedEnd', `${count} entering entities cannot fit`);
  const keptIds = new Set(kept.map((e) => e.id));
  const entered = [];
  let next = 0;
  for (let i = 0; i < count; i++) {
    const id = next + reader.varuint();
    if (id > U32_MAX) fail('IdOverflow');
    const entity = readFull(reader, id);
    if (keptIds.has(id)) fail('DuplicateEntity', `entity ${id} entered twice`);
    entered.push(entity);
    next = id + 1;
  }
  return entered;
}

/**
 * The view a snapshot body describes.
 * @param {Uint8Array | ArrayLike<number>} body
 * @param {Entity[] | null} baseline the id-sorted view the delta is against, or null for a keyframe
 * @returns {Entity[]} sorted by id
 */
export function decodeSnapshotBody(body, baseline) {
  return decodeSnapshotBodyDetailed(body, baseline).entities;
}

// ---------------------------------------------------------------------------
// Snapshot body: encoding (section 11.5; the server's job, here for tests)
// ---------------------------------------------------------------------------

/** @param {Entity} e */
function checkEntity(e) {
  checkInteger('id', e.id, 0, U32_MAX);
  checkInteger('appearance', e.appearance, 0, U32_MAX);
  checkInteger('x', e.x, 0, POSITION_MAX);
  checkInteger('y', e.y, 0, POSITION_MAX);
  checkInteger('heading', e.heading, 0, HEADING_STEPS - 1);
  if (!ENTITY_KINDS.includes(e.kind)) fail('UnknownVariant', `kind ${e.kind}`);
  if (!ANIMATIONS.includes(e.animation)) fail('UnknownVariant', `animation ${e.animation}`);
  if ((e.kind === 'Element') !== (e.footprint !== undefined)) fail('BadFootprint', `entity ${e.id}`);
  if (e.footprint) {
    checkInteger('footprint width', e.footprint.width, 0, POSITION_MAX);
    checkInteger('footprint height', e.footprint.height, 0, POSITION_MAX);
  }
}

/** @param {Entity[]} view */
function checkView(view) {
  if (view.length > MAX_VISIBLE_ENTITIES) fail('TooManyEntities', `${view.length} entities`);
  view.forEach(checkEntity);
  for (let i = 1; i < view.length; i++) {
    if (view[i - 1].id >= view[i].id) fail('UnsortedEntities', 'views must be sorted by id without repeats');
  }
}

/** @param {BitWriter} writer @param {Entity} e */
function writeFull(writer, e) {
  writer.bits(ENTITY_KINDS.indexOf(e.kind), KIND_BITS);
  writer.varuint(e.appearance);
  writer.bits(e.x, POSITION_BITS);
  writer.bits(e.y, POSITION_BITS);
  writer.bits(e.heading, HEADING_BITS);
  writer.bits(ANIMATIONS.indexOf(e.animation), ANIMATION_BITS);
  if (e.footprint) {
    writer.varuint(e.footprint.width);
    writer.varuint(e.footprint.height);
    writer.bit(e.footprint.blocking);
  }
}

/** The smallest delta form both axes fit, or null. */
function moveForm(old, now) {
  const fits = (form) => [now.x - old.x, now.y - old.y].every((d) => d >= -form.offset && d < form.offset);
  return fits(TINY) ? TINY : fits(SMALL) ? SMALL : null;
}

/** @param {BitWriter} writer @param {Entity} old @param {Entity} now */
function writeMove(writer, old, now) {
  const form = moveForm(old, now);
  writer.bit(form === TINY);
  if (form !== TINY) writer.bit(form === SMALL);
  if (!form) {
    writer.bits(now.x, POSITION_BITS);
    writer.bits(now.y, POSITION_BITS);
    return;
  }
  writer.bits(now.x - old.x + form.offset, form.bits);
  writer.bits(now.y - old.y + form.offset, form.bits);
}

/** The flags and new values of a changed entity, after its `1 1`. */
function writeUpdate(writer, old, now) {
  const moved = old.x !== now.x || old.y !== now.y;
  writer.bit(moved);
  if (moved) writeMove(writer, old, now);
  writer.bit(old.heading !== now.heading);
  if (old.heading !== now.heading) writer.bits(now.heading, HEADING_BITS);
  writer.bit(old.animation !== now.animation);
  if (old.animation !== now.animation) writer.bits(ANIMATIONS.indexOf(now.animation), ANIMATION_BITS);
  writer.bit(old.appearance !== now.appearance);
  if (old.appearance !== now.appearance) writer.varuint(now.appearance);
}

/**
 * Whether `b` is the same spawn as `a`: same kind and footprint (anything else
 * leaves and enters again). @param {Entity | undefined} a @param {Entity} b
 */
export function sameSpawn(a, b) {
  if (!a || a.kind !== b.kind) return false;
  const [f, g] = [a.footprint, b.footprint];
  return f === g || (!!f && !!g && f.width === g.width && f.height === g.height && f.blocking === g.blocking);
}

/** @param {Entity} a @param {Entity} b */
function sameState(a, b) {
  return a.appearance === b.appearance && a.x === b.x && a.y === b.y
    && a.heading === b.heading && a.animation === b.animation;
}

/**
 * Encodes `view` as a delta against `baseline`, or as a keyframe when it is null,
 * making the same choices as the Rust encoder (so the bytes match the vectors).
 * @param {Entity[]} view sorted by id
 * @param {Entity[] | null} baseline sorted by id
 * @returns {Uint8Array}
 */
export function encodeSnapshotBody(view, baseline) {
  checkView(view);
  if (baseline) checkView(baseline);
  const writer = new BitWriter();
  const now = new Map(view.map((e) => [e.id, e]));
  for (const old of baseline ?? []) {
    const current = now.get(old.id);
    if (!current || !sameSpawn(old, current)) {
      writer.bit(true);
      writer.bit(false);
    } else if (sameState(old, current)) {
      writer.bit(false);
    } else {
      writer.bit(true);
      writer.bit(true);
      writeUpdate(writer, old, current);
    }
  }
  const before = new Map((baseline ?? []).map((e) => [e.id, e]));
  const entering = view.filter((e) => !sameSpawn(before.get(e.id), e));
  writer.varuint(entering.length);
  let next = 0;
  for (const entity of entering) {
    writer.varuint(entity.id - next);
    writeFull(writer, entity);
    next = entity.id + 1;
  }
  return writer.finish();
}
