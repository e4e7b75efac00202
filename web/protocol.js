// Meridian wire protocol, version 1: the browser side of docs/PROTOCOL.md.
//
// Control messages (postcard, sections 4 to 9), stream framing (section 3), the
// bit-packed snapshot body (section 11) and the client's ring of decoded views
// (section 12). No dependencies, no build step. Every decoder throws a
// ProtocolError whose `code` is one of the error names of section 13.

// ---------------------------------------------------------------------------
// 1. Limits and enumerations
// ---------------------------------------------------------------------------

export const PROTOCOL_VERSION = 1;
export const MAX_DATAGRAM_PAYLOAD = 1150;
export const MAX_STREAM_MESSAGE = 16384;
export const MAX_AUTH_TOKEN_BYTES = 2048;
export const MAX_CHAT_BYTES = 512;
export const MAX_DETAIL_BYTES = 256;
export const MAX_ITEM_BYTES = 64;
export const MAX_NAME_BYTES = 64;
export const MAX_INVENTORY_DELTA = 1000;
export const MAX_VISIBLE_ENTITIES = 1024;
/** Views a client keeps, like the Rust client (`RING_SIZE`). */
export const SNAPSHOT_RING_SIZE = 32;

const U32_MAX = 0xffffffff;
/** A frame decoder never holds more than one partial frame: prefix + message. */
const MAX_FRAME_PREFIX = 5;

// Enums are their Rust variant names; the position in the list is the wire index.
export const ANIMATIONS = Object.freeze(['Idle', 'Walk', 'Run', 'Sit', 'Wave', 'Dance']);
export const CHAT_CHANNELS = Object.freeze(['Proximity', 'Zone']);
export const DISCONNECT_REASONS = Object.freeze([
  'ClientQuit', 'ServerShutdown', 'IdleTimeout', 'Kicked', 'ProtocolViolation', 'RateLimited',
]);
export const REFUSAL_REASONS = Object.freeze([
  'VersionMismatch', 'BadToken', 'TokenExpired', 'WrongSpace', 'Banned', 'ServerFull',
  'TooManyConnections', 'Draining',
]);
export const INVENTORY_STATUSES = Object.freeze([
  'Applied', 'UnknownItem', 'NotEnough', 'StackFull', 'Busy', 'Unavailable',
]);
export const ENTITY_KINDS = Object.freeze(['Avatar', 'Element', 'Npc']);

/** @typedef {'stream' | 'datagram'} Channel */

// ---------------------------------------------------------------------------
// 2. Errors
// ---------------------------------------------------------------------------

/** Bad bytes or an invalid message. `code` is a name from PROTOCOL.md section 13. */
export class ProtocolError extends Error {
  /**
   * @param {string} code e.g. 'UnexpectedEnd', 'WrongChannel', 'TooLarge'
   * @param {string} [detail]
   */
  constructor(code, detail) {
    super(detail ? `${code}: ${detail}` : code);
    this.name = 'ProtocolError';
    /** @type {string} */
    this.code = code;
  }
}

/** @param {string} code @param {string} [detail] */
function fail(code, detail) {
  throw new ProtocolError(code, detail);
}

/**
 * Any byte container as a Uint8Array (without copying when possible).
 * @param {Uint8Array | ArrayBuffer | ArrayBufferView | ArrayLike<number>} data
 * @returns {Uint8Array}
 */
function asBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const bytes = Array.from(data);
  if (!bytes.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) fail('OutOfRange', 'not bytes');
  return Uint8Array.from(bytes);
}

/** @param {Channel} channel */
function maxMessageBytes(channel) {
  if (channel === 'stream') return MAX_STREAM_MESSAGE;
  if (channel === 'datagram') return MAX_DATAGRAM_PAYLOAD;
  throw new TypeError(`unknown channel ${String(channel)}`);
}

// ---------------------------------------------------------------------------
// 3. Postcard writer
// ---------------------------------------------------------------------------

const utf8Encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF: by default TextDecoder silently drops it.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const LONE_SURROGATE = /\p{Surrogate}/u;

class ByteWriter {
  constructor() {
    /** @type {number[]} */
    this.bytes = [];
    this.scratch = new DataView(new ArrayBuffer(4));
  }

  /** Unsigned LEB128, shortest form. @param {number} value a non-negative integer */
  varint(value) {
    while (value >= 0x80) {
      this.bytes.push((value % 0x80) + 0x80);
      value = Math.floor(value / 0x80);
    }
    this.bytes.push(value);
  }

  /** @param {number} value */
  f32(value) {
    this.scratch.setFloat32(0, value, true);
    for (let i = 0; i < 4; i++) this.bytes.push(this.scratch.getUint8(i));
  }

  /** @param {Uint8Array} bytes length-prefixed */
  lengthPrefixed(bytes) {
    this.varint(bytes.length);
    for (const b of bytes) this.bytes.push(b);
  }

  finish() {
    return Uint8Array.from(this.bytes);
  }
}

// ---------------------------------------------------------------------------
// 4. Postcard reader
// ---------------------------------------------------------------------------

class ByteReader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.bytes = bytes;
    this.pos = 0;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining() {
    return this.bytes.length - this.pos;
  }

  byte() {
    if (this.pos >= this.bytes.length) fail('UnexpectedEnd');
    return this.bytes[this.pos++];
  }

  /**
   * Unsigned LEB128 of at most `maxBytes` bytes, the last of which may be at most
   * `lastMax` (section 4.2). Over-long forms within the byte count are accepted.
   * @param {number} maxBytes @param {number} lastMax
   */
  varint(maxBytes, lastMax) {
    let value = 0;
    for (let i = 0; i < maxBytes; i++) {
      const byte = this.byte();
      value += (byte & 0x7f) * 2 ** (7 * i);
      if (byte < 0x80) {
        if (i === maxBytes - 1 && byte > lastMax) fail('BadVarint');
        return value;
      }
    }
    return fail('BadVarint');
  }

  /** @param {number} count */
  take(count) {
    if (count > this.remaining) fail('UnexpectedEnd');
    const bytes = this.bytes.slice(this.pos, this.pos + count);
    this.pos += count;
    return bytes;
  }

  f32() {
    if (this.remaining < 4) fail('UnexpectedEnd');
    const value = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return value;
  }

  /** A `usize` length (up to 10 bytes on the 64-bit server), then that many bytes. */
  lengthPrefixed() {
    return this.take(this.varint(10, 0x01));
  }
}

// ---------------------------------------------------------------------------
// 5. Text rules (section 9)
// ---------------------------------------------------------------------------

// Unicode Cc except line feed. Cf (U+200B, U+FEFF) is allowed.
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
// The White_Space property, exactly. Not \s: that one adds U+FEFF and drops U+0085.
const ONLY_WHITESPACE =
  /^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/;

/** @param {string} text */
function utf8Length(text) {
  let length = 0;
  for (const char of text) {
    const cp = /** @type {number} */ (char.codePointAt(0));
    length += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return length;
}

/**
 * @param {string} field @param {string} text @param {number} maxBytes
 * @param {{allowBlank: boolean}} rule allowBlank: empty or all-whitespace is fine
 */
function checkText(field, text, maxBytes, { allowBlank }) {
  if (utf8Length(text) > maxBytes) fail('FieldTooLong', `${field} over ${maxBytes} bytes`);
  if (!allowBlank && ONLY_WHITESPACE.test(text)) fail('OutOfRange', `${field} is blank`);
  if (CONTROL.test(text)) fail('OutOfRange', `${field} holds a control character`);
}

/** @param {string} field @param {number} value */
function checkFinite(field, value) {
  if (!Number.isFinite(value)) fail('OutOfRange', `${field} is not finite`);
}

/** @param {string} field @param {unknown} value @param {number} min @param {number} max */
function checkInteger(field, value, min, max) {
  if (!Number.isInteger(value) || /** @type {number} */ (value) < min || /** @type {number} */ (value) > max) {
    fail('OutOfRange', `${field} must be an integer in ${min}..=${max}`);
  }
}

// ---------------------------------------------------------------------------
// 6. Field types: one reader and one writer per postcard type
// ---------------------------------------------------------------------------

/**
 * @typedef {object} FieldType
 * @property {(reader: ByteReader) => any} read
 * @property {(writer: ByteWriter, value: any, field: string) => void} write
 */

/** @returns {FieldType} */
function unsigned(maxBytes, lastMax, max) {
  return {
    read: (reader) => reader.varint(maxBytes, lastMax),
    write: (writer, value, field) => {
      checkInteger(field, value, 0, max);
      writer.varint(value);
    },
  };
}

const u16 = unsigned(3, 0x03, 0xffff);
const u32 = unsigned(5, 0x0f, U32_MAX);

/** postcard's i32: zigzag, then a u32 varint. @type {FieldType} */
const i32 = {
  read: (reader) => {
    const zigzag = reader.varint(5, 0x0f);
    return zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
  },
  write: (writer, value, field) => {
    checkInteger(field, value, -(2 ** 31), 2 ** 31 - 1);
    writer.varint(value >= 0 ? value * 2 : -value * 2 - 1);
  },
};

/** @type {FieldType} */
const f32 = {
  read: (reader) => reader.f32(),
  write: (writer, value, field) => {
    if (typeof value !== 'number') fail('OutOfRange', `${field} must be a number`);
    writer.f32(value);
  },
};

/** @type {FieldType} */
const string = {
  read: (reader) => {
    try {
      return utf8Decoder.decode(reader.lengthPrefixed());
    } catch (error) {
      if (error instanceof ProtocolError) throw error;
      return fail('BadUtf8');
    }
  },
  write: (writer, value, field) => {
    if (typeof value !== 'string') fail('OutOfRange', `${field} must be a string`);
    if (LONE_SURROGATE.test(value)) fail('BadUtf8', `${field} holds a lone surrogate`);
    writer.lengthPrefixed(utf8Encoder.encode(value));
  },
};

/** `Vec<u8>`, as a Uint8Array. @type {FieldType} */
const bytes = {
  read: (reader) => reader.lengthPrefixed(),
  write: (writer, value) => writer.lengthPrefixed(asBytes(value)),
};

/** `Option<T>`: null or the value. @param {FieldType} inner @returns {FieldType} */
function option(inner) {
  return {
    read: (reader) => {
      const tag = reader.byte();
      if (tag > 1) fail('BadTag');
      return tag === 1 ? inner.read(reader) : null;
    },
    write: (writer, value, field) => {
      if (value === null || value === undefined) return writer.varint(0);
      writer.varint(1);
      inner.write(writer, value, field);
    },
  };
}

/** A unit enum: the variant index as a u32 varint. @param {readonly string[]} names */
function enumOf(names) {
  return /** @type {FieldType} */ ({
    read: (reader) => {
      const index = reader.varint(5, 0x0f);
      if (index >= names.length) fail('UnknownVariant');
      return names[index];
    },
    write: (writer, value, field) => {
      const index = names.indexOf(value);
      if (index < 0) fail('UnknownVariant', `${field} is not one of ${names.join(', ')}`);
      writer.varint(index);
    },
  });
}

/** A struct: its fields in declaration order. @param {Record<string, FieldType>} fields */
function struct(fields) {
  return /** @type {FieldType} */ ({
    read: (reader) => readFields(reader, fields, {}),
    write: (writer, value, field) => {
      if (typeof value !== 'object' || value === null) fail('OutOfRange', `${field} must be an object`);
      writeFields(writer, fields, value);
    },
  });
}

/** @param {ByteReader} reader @param {Record<string, FieldType>} fields @param {any} into */
function readFields(reader, fields, into) {
  for (const [name, type] of Object.entries(fields)) into[name] = type.read(reader);
  return into;
}

/** @param {ByteWriter} writer @param {Record<string, FieldType>} fields @param {any} value */
function writeFields(writer, fields, value) {
  for (const [name, type] of Object.entries(fields)) type.write(writer, value[name], name);
}

// ---------------------------------------------------------------------------
// 7. Message tables (sections 5 and 6, plus Inventory and Presence)
// ---------------------------------------------------------------------------

/**
 * @typedef {object} Variant
 * @property {string} type the Rust variant name
 * @property {Channel} channel
 * @property {Record<string, FieldType>} fields
 * @property {(message: any) => void} check the field rules of section 9
 */

const NO_CHECK = () => {};

const intent = struct({
  moveX: f32, moveY: f32, speed: f32, heading: f32, animation: enumOf(ANIMATIONS),
});

/** @type {Variant[]} In wire order: the position is the variant index. */
const CLIENT_VARIANTS = [
  {
    type: 'Hello', channel: 'stream',
    fields: { protocolVersion: u16, authToken: string },
    check: (m) => checkText('authToken', m.authToken, MAX_AUTH_TOKEN_BYTES, { allowBlank: true }),
  },
  {
    type: 'Input', channel: 'datagram',
    fields: { sequence: u32, intent },
    check: (m) => ['moveX', 'moveY', 'speed', 'heading'].forEach((f) => checkFinite(`intent.${f}`, m.intent[f])),
  },
  { type: 'Ack', channel: 'datagram', fields: { snapshotTick: u32 }, check: NO_CHECK },
  {
    type: 'Chat', channel: 'stream',
    fields: { channel: enumOf(CHAT_CHANNELS), text: string },
    check: (m) => checkText('text', m.text, MAX_CHAT_BYTES, { allowBlank: false }),
  },
  { type: 'Disconnect', channel: 'stream', fields: { reason: enumOf(DISCONNECT_REASONS) }, check: NO_CHECK },
  {
    type: 'Inventory', channel: 'stream',
    fields: { request: u32, item: string, delta: i32 },
    check: (m) => {
      checkText('item', m.item, MAX_ITEM_BYTES, { allowBlank: false });
      if (m.delta === 0 || Math.abs(m.delta) > MAX_INVENTORY_DELTA) {
        fail('OutOfRange', `delta must be non-zero and within ±${MAX_INVENTORY_DELTA}`);
      }
    },
  },
];

/** @type {Variant[]} In wire order: the position is the variant index. */
const SERVER_VARIANTS = [
  {
    type: 'Welcome', channel: 'stream',
    fields: {
      protocolVersion: u16, avatarId: u32, zoneId: u32, tickRateHz: u16, tick: u32,
      zoneWidth: f32, zoneHeight: f32,
    },
    check: (m) => {
      checkFinite('zoneWidth', m.zoneWidth);
      checkFinite('zoneHeight', m.zoneHeight);
    },
  },
  {
    type: 'Refusal', channel: 'stream',
    fields: { reason: enumOf(REFUSAL_REASONS), detail: string },
    check: (m) => checkText('detail', m.detail, MAX_DETAIL_BYTES, { allowBlank: true }),
  },
  {
    type: 'Snapshot', channel: 'datagram',
    fields: { tick: u32, baselineTick: option(u32), lastInputSequence: u32, body: bytes },
    check: NO_CHECK,
  },
  {
    type: 'Chat', channel: 'stream',
    fields: { from: u32, channel: enumOf(CHAT_CHANNELS), text: string },
    check: (m) => checkText('text', m.text, MAX_CHAT_BYTES, { allowBlank: false }),
  },
  { type: 'Disconnect', channel: 'stream', fields: { reason: enumOf(DISCONNECT_REASONS) }, check: NO_CHECK },
  {
    type: 'Inventory', channel: 'stream',
    fields: { request: u32, item: string, quantity: u32, status: enumOf(INVENTORY_STATUSES) },
    // As the Rust validate(): 1..=64 bytes, not blank, no control character.
    check: (m) => checkText('item', m.item, MAX_ITEM_BYTES, { allowBlank: false }),
  },
  {
    type: 'Presence', channel: 'stream',
    fields: { avatar: u32, name: string },
    check: (m) => checkText('name', m.name, MAX_NAME_BYTES, { allowBlank: false }),
  },
];

// ---------------------------------------------------------------------------
// 8. Encoding and decoding messages
// ---------------------------------------------------------------------------

/**
 * @typedef {'Idle'|'Walk'|'Run'|'Sit'|'Wave'|'Dance'} Animation
 * @typedef {{moveX: number, moveY: number, speed: number, heading: number, animation: Animation}} MovementIntent
 * @typedef {{type: 'Hello', protocolVersion: number, authToken: string}
 *   | {type: 'Input', sequence: number, intent: MovementIntent}
 *   | {type: 'Ack', snapshotTick: number}
 *   | {type: 'Chat', channel: 'Proximity'|'Zone', text: string}
 *   | {type: 'Disconnect', reason: string}
 *   | {type: 'Inventory', request: number, item: string, delta: number}} ClientMessage
 * @typedef {{type: 'Snapshot', tick: number, baselineTick: number|null, lastInputSequence: number, body: Uint8Array}} SnapshotMessage
 * @typedef {{type: 'Welcome', protocolVersion: number, avatarId: number, zoneId: number, tickRateHz: number,
 *     tick: number, zoneWidth: number, zoneHeight: number}
 *   | {type: 'Refusal', reason: string, detail: string}
 *   | SnapshotMessage
 *   | {type: 'Chat', from: number, channel: 'Proximity'|'Zone', text: string}
 *   | {type: 'Disconnect', reason: string}
 *   | {type: 'Inventory', request: number, item: string, quantity: number, status: string}
 *   | {type: 'Presence', avatar: number, name: string}} ServerMessage
 */

/** @param {Variant[]} table @param {{type: string}} message */
function variantOf(table, message) {
  const index = table.findIndex((v) => v.type === message?.type);
  if (index < 0) fail('UnknownVariant', `no message type ${String(message?.type)}`);
  return { index, variant: table[index] };
}

/** Section 9 in order: size, structure, nothing left over, channel, fields. */
function decodeMessage(table, data, channel) {
  const input = asBytes(data);
  const max = maxMessageBytes(channel);
  if (input.length > max) fail('TooLarge', `${input.length} bytes, the limit is ${max}`);
  const reader = new ByteReader(input);
  const index = reader.varint(5, 0x0f);
  const variant = table[index] ?? fail('UnknownVariant', `variant index ${index}`);
  const message = readFields(reader, variant.fields, { type: variant.type });
  if (reader.remaining > 0) fail('TrailingBytes', `${reader.remaining} bytes left`);
  if (variant.channel !== channel) fail('WrongChannel', `${variant.type} travels on the ${variant.channel}`);
  variant.check(message);
  return message;
}

/** Writes, checks the fields as a decoder would, then the channel's size limit. */
function encodeMessage(table, message) {
  const { index, variant } = variantOf(table, message);
  const writer = new ByteWriter();
  writer.varint(index);
  writeFields(writer, variant.fields, message);
  variant.check(message);
  const max = maxMessageBytes(variant.channel);
  if (writer.bytes.length > max) fail('TooLarge', `${writer.bytes.length} bytes, the limit is ${max}`);
  return writer.finish();
}

/** @param {ClientMessage} message @returns {Uint8Array} */
export function encodeClientMessage(message) {
  return encodeMessage(CLIENT_VARIANTS, message);
}

/** @param {Uint8Array | ArrayBuffer} data @param {Channel} channel @returns {ClientMessage} */
export function decodeClientMessage(data, channel) {
  return decodeMessage(CLIENT_VARIANTS, data, channel);
}

/** @param {ServerMessage} message @returns {Uint8Array} */
export function encodeServerMessage(message) {
  return encodeMessage(SERVER_VARIANTS, message);
}

/** @param {Uint8Array | ArrayBuffer} data @param {Channel} channel @returns {ServerMessage} */
export function decodeServerMessage(data, channel) {
  return decodeMessage(SERVER_VARIANTS, data, channel);
}

/** @param {ClientMessage} message @returns {Channel} */
export function channelOfClientMessage(message) {
  return variantOf(CLIENT_VARIANTS, message).variant.channel;
}

/** @param {ServerMessage} message @returns {Channel} */
export function channelOfServerMessage(message) {
  return variantOf(SERVER_VARIANTS, message).variant.channel;
}

// ---------------------------------------------------------------------------
// 9. Stream framing (section 3)
// ---------------------------------------------------------------------------

/** One frame: the message's length as a varint, then the message. @param {Uint8Array} message */
export function encodeFrame(message) {
  const bytes = asBytes(message);
  if (bytes.length > MAX_STREAM_MESSAGE) fail('TooLarge', `${bytes.length} bytes, the limit is ${MAX_STREAM_MESSAGE}`);
  const writer = new ByteWriter();
  writer.varint(bytes.length);
  const frame = new Uint8Array(writer.bytes.length + bytes.length);
  frame.set(writer.bytes);
  frame.set(bytes, writer.bytes.length);
  return frame;
}

/**
 * Where the frame starting at `start` lies, or null if it has not fully arrived.
 * Refuses a length over the limit as soon as the prefix shows it.
 * @param {Uint8Array} data @param {number} start
 * @returns {{begin: number, end: number} | null}
 */
function findFrame(data, start) {
  let length = 0;
  for (let i = 0; start + i < data.length; i++) {
    if (i === MAX_FRAME_PREFIX) fail('BadVarint', 'length prefix of six bytes');
    const byte = data[start + i];
    length += (byte & 0x7f) * 2 ** (7 * i);
    if (length > MAX_STREAM_MESSAGE) fail('TooLarge', `frame length over ${MAX_STREAM_MESSAGE}`);
    if (byte < 0x80) {
      const begin = start + i + 1;
      return data.length - begin >= length ? { begin, end: begin + length } : null;
    }
  }
  return null;
}

/**
 * Splits the reliable stream into messages, whatever the chunking. It holds at
 * most one incomplete frame (5 + 16,384 bytes): every complete frame is returned
 * at once. A framing error is final: the connection must be closed.
 */
export class FrameDecoder {
  /** @type {Uint8Array} */
  #pending = new Uint8Array(0);
  /** @type {ProtocolError | null} */
  #error = null;

  /**
   * Adds bytes read from the stream; returns the messages of the frames they
   * completed. On a framing error it throws a ProtocolError whose `frames` holds
   * the messages completed before the bad prefix.
   * @param {Uint8Array | ArrayBuffer} chunk
   * @returns {Uint8Array[]}
   */
  push(chunk) {
    if (this.#error) fail(this.#error.code, 'the stream already failed');
    const data = concat(this.#pending, asBytes(chunk));
    /** @type {Uint8Array[]} */
    const frames = [];
    let start = 0;
    try {
      for (let frame = findFrame(data, 0); frame; frame = findFrame(data, start)) {
        frames.push(data.slice(frame.begin, frame.end));
        start = frame.end;
      }
    } catch (error) {
      this.#error = /** @type {ProtocolError} */ (error);
      this.#pending = new Uint8Array(0);
      Object.assign(error, { frames });
      throw error;
    }
    this.#pending = data.slice(start);
    return frames;
  }

  /** A copy of the bytes of the incomplete frame held, waiting for more. */
  get buffered() {
    return this.#pending.slice();
  }
}

/** @param {Uint8Array} a @param {Uint8Array} b */
function concat(a, b) {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// ---------------------------------------------------------------------------
// 10. Snapshot body: bits and varuints (section 11.3)
// ---------------------------------------------------------------------------

const KIND_BITS = 2;
const POSITION_BITS = 20;
const POSITION_MAX = 2 ** POSITION_BITS - 1;
const HEADING_BITS = 10;
const HEADING_STEPS = 2 ** HEADING_BITS;
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
// 11. Snapshot body: decoding (section 11.6)
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
  return /** @type {Entity} */ (Object.freeze({ id, kind, appearance, x, y, heading, animation }));
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
// 12. Snapshot body: encoding (section 11.5; the server's job, here for tests)
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
    if (!current || current.kind !== old.kind) {
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
  const entering = view.filter((e) => before.get(e.id)?.kind !== e.kind);
  writer.varuint(entering.length);
  let next = 0;
  for (const entity of entering) {
    writer.varuint(entity.id - next);
    writeFull(writer, entity);
    next = entity.id + 1;
  }
  return writer.finish();
}

// ---------------------------------------------------------------------------
// 13. The client's ring of decoded views (section 12)
// ---------------------------------------------------------------------------

/**
 * The views decoded for the last ticks, one slot per `tick % 32` like the Rust
 * client, so a view is held until a tick 32k later replaces it.
 */
export class SnapshotRing {
  /** @type {({tick: number, entities: Entity[]} | null)[]} */
  #slots = new Array(SNAPSHOT_RING_SIZE).fill(null);
  /** @type {number | null} */
  #newestTick = null;

  /** The newest tick decoded, or null. */
  get newestTick() {
    return this.#newestTick;
  }

  /** The view decoded for `tick`, if still held. @param {number} tick @returns {Entity[] | null} */
  get(tick) {
    const slot = this.#slots[tick % SNAPSHOT_RING_SIZE];
    return slot && slot.tick === tick ? slot.entities : null;
  }

  /**
   * Decodes a Snapshot message against the view it names and stores the result.
   * Returns null for a snapshot not newer than the newest decoded (reordered or
   * duplicated datagrams). Throws ProtocolError('UnknownBaseline') when the
   * baseline is not held, or the body's error; either way nothing changes.
   * @param {SnapshotMessage} snapshot
   * @returns {{tick: number, entities: Entity[]} | null}
   */
  receive(snapshot) {
    const { tick, baselineTick, body } = snapshot;
    if (this.#newestTick !== null && tick <= this.#newestTick) return null;
    let baseline = null;
    if (baselineTick !== null && baselineTick !== undefined) {
      baseline = this.get(baselineTick) ?? fail('UnknownBaseline', `no view held for tick ${baselineTick}`);
    }
    const entities = decodeSnapshotBody(body, baseline);
    const view = { tick, entities };
    this.#slots[tick % SNAPSHOT_RING_SIZE] = view;
    this.#newestTick = tick;
    return view;
  }

  /** Forgets every view (a reconnect starts from a keyframe). */
  clear() {
    this.#slots.fill(null);
    this.#newestTick = null;
  }
}

// ---------------------------------------------------------------------------
// 14. Quantization (section 11.2)
// ---------------------------------------------------------------------------

/** Position steps (1/64 m) to metres. @param {number} steps */
export function dequantizePosition(steps) {
  return steps / 64;
}

/** Heading step (1/1024 turn) to radians in [0, 2π). @param {number} step */
export function dequantizeHeading(step) {
  return ((step % HEADING_STEPS) / HEADING_STEPS) * 2 * Math.PI;
}

/** Metres to position steps, rounded and clamped; NaN gives 0. @param {number} metres */
export function quantizePosition(metres) {
  const steps = Math.round(metres * 64);
  return Number.isNaN(steps) || steps <= 0 ? 0 : Math.min(steps, POSITION_MAX);
}

/** Radians to a heading step in 0..1023; NaN or infinity gives 0. @param {number} radians */
export function quantizeHeading(radians) {
  if (!Number.isFinite(radians)) return 0;
  const turn = 2 * Math.PI;
  const wrapped = ((radians % turn) + turn) % turn;
  return Math.round((wrapped / turn) * HEADING_STEPS) % HEADING_STEPS;
}
