// Meridian wire protocol: postcard, the encoding of control messages (sections 4
// and 9 of docs/PROTOCOL.md): a byte writer and reader, the text rules, and one
// reader and one writer per postcard type, which the message tables are made of.

import { U32_MAX, ProtocolError, fail, asBytes } from './errors-and-limits.js';

// ---------------------------------------------------------------------------
// Postcard writer
// ---------------------------------------------------------------------------

const utf8Encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF: by default TextDecoder silently drops it.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const LONE_SURROGATE = /\p{Surrogate}/u;

export class ByteWriter {
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
// Postcard reader
// ---------------------------------------------------------------------------

export class ByteReader {
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
// Text rules (section 9)
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
export function checkText(field, text, maxBytes, { allowBlank }) {
  if (utf8Length(text) > maxBytes) fail('FieldTooLong', `${field} over ${maxBytes} bytes`);
  if (!allowBlank && ONLY_WHITESPACE.test(text)) fail('OutOfRange', `${field} is blank`);
  if (CONTROL.test(text)) fail('OutOfRange', `${field} holds a control character`);
}

/** @param {string} field @param {number} value */
export function checkFinite(field, value) {
  if (!Number.isFinite(value)) fail('OutOfRange', `${field} is not finite`);
}

/** @param {string} field @param {unknown} value @param {number} min @param {number} max */
export function checkInteger(field, value, min, max) {
  if (!Number.isInteger(value) || /** @type {number} */ (value) < min || /** @type {number} */ (value) > max) {
    fail('OutOfRange', `${field} must be an integer in ${min}..=${max}`);
  }
}

// ---------------------------------------------------------------------------
// Field types: one reader and one writer per postcard type
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

export const u16 = unsigned(3, 0x03, 0xffff);
export const u32 = unsigned(5, 0x0f, U32_MAX);

/** postcard's i32: zigzag, then a u32 varint. @type {FieldType} */
export const i32 = {
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
export const f32 = {
  read: (reader) => reader.f32(),
  write: (writer, value, field) => {
    if (typeof value !== 'number') fail('OutOfRange', `${field} must be a number`);
    writer.f32(value);
  },
};

/** @type {FieldType} */
export const string = {
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

/** postcard's bool: one byte, 0 or 1. @type {FieldType} */
export const bool = {
  read: (reader) => {
    const tag = reader.byte();
    if (tag > 1) fail('BadTag');
    return tag === 1;
  },
  write: (writer, value, field) => {
    if (typeof value !== 'boolean') fail('OutOfRange', `${field} must be a boolean`);
    writer.varint(value ? 1 : 0);
  },
};

/** `Vec<T>`: a u32 varint count, then the items. @param {FieldType} inner @returns {FieldType} */
export function list(inner) {
  return {
    read: (reader) => {
      const count = reader.varint(5, 0x0f);
      const items = [];
      // Each item takes at least one byte, so a count past what is left fails as a short read.
      for (let i = 0; i < count; i += 1) items.push(inner.read(reader));
      return items;
    },
    write: (writer, value, field) => {
      if (!Array.isArray(value)) fail('OutOfRange', `${field} must be an array`);
      writer.varint(value.length);
      for (const item of value) inner.write(writer, item, field);
    },
  };
}

/** `Vec<u8>`, as a Uint8Array. @type {FieldType} */
export const bytes = {
  read: (reader) => reader.lengthPrefixed(),
  write: (writer, value) => writer.lengthPrefixed(asBytes(value)),
};

/** `Option<T>`: null or the value. @param {FieldType} inner @returns {FieldType} */
export function option(inner) {
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
export function enumOf(names) {
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
export function struct(fields) {
  return /** @type {FieldType} */ ({
    read: (reader) => readFields(reader, fields, {}),
    write: (writer, value, field) => {
      if (typeof value !== 'object' || value === null) fail('OutOfRange', `${field} must be an object`);
      writeFields(writer, fields, value);
    },
  });
}

/** @param {ByteReader} reader @param {Record<string, FieldType>} fields @param {any} into */
export function readFields(reader, fields, into) {
  for (const [name, type] of Object.entries(fields)) into[name] = type.read(reader);
  return into;
}

/** @param {ByteWriter} writer @param {Record<string, FieldType>} fields @param {any} value */
export function writeFields(writer, fields, value) {
  for (const [name, type] of Object.entries(fields)) type.write(writer, value[name], name);
}
