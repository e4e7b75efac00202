// Meridian wire protocol: stream framing (section 3 of docs/PROTOCOL.md). Each
// message on the reliable stream is preceded by its length as a varint.

import { MAX_STREAM_MESSAGE, MAX_FRAME_PREFIX, fail, asBytes } from './errors-and-limits.js';
import { ByteWriter } from './postcard.js';

/** @typedef {import('./errors-and-limits.js').ProtocolError} ProtocolError */

// ---------------------------------------------------------------------------
// Stream framing (section 3)
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
      Object.assign(this.#error, { frames });
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
