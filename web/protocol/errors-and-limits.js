// Meridian wire protocol: the limits and enumerations of docs/PROTOCOL.md, and the
// ProtocolError every decoder throws (its `code` is one of the error names of
// section 13), with the small helpers every part of the codec shares.

// ---------------------------------------------------------------------------
// Limits and enumerations
// ---------------------------------------------------------------------------

export const PROTOCOL_VERSION = 6;
export const MAX_DATAGRAM_PAYLOAD = 1150;
export const MAX_STREAM_MESSAGE = 16384;
export const MAX_AUTH_TOKEN_BYTES = 2048;
export const MAX_CHAT_BYTES = 512;
export const MAX_DETAIL_BYTES = 256;
export const MAX_ITEM_BYTES = 64;
export const MAX_NAME_BYTES = 64;
export const MAX_INVENTORY_DELTA = 1000;
export const MAX_VISIBLE_ENTITIES = 1024;
export const MAX_SDP_BYTES = 12288;
export const MAX_VOICE_LINES = 16;
export const MAX_VOICE_SLOT_BYTES = 32;
/** Views a client keeps, like the Rust client (`RING_SIZE`). */
export const SNAPSHOT_RING_SIZE = 32;

export const U32_MAX = 0xffffffff;
/** A frame decoder never holds more than one partial frame: prefix + message. */
export const MAX_FRAME_PREFIX = 5;

// Enums are their Rust variant names; the position in the list is the wire index.
// (`@type {const}` only gives TypeScript the names as literal types.)
export const ANIMATIONS = Object.freeze(/** @type {const} */ (['Idle', 'Walk', 'Run', 'Sit', 'Wave', 'Dance']));
export const CHAT_CHANNELS = Object.freeze(/** @type {const} */ (['Proximity', 'Zone']));
export const DISCONNECT_REASONS = Object.freeze(/** @type {const} */ ([
  'ClientQuit', 'ServerShutdown', 'IdleTimeout', 'Kicked', 'ProtocolViolation', 'RateLimited',
  'SessionReplaced', 'Moved',
]));
export const REFUSAL_REASONS = Object.freeze(/** @type {const} */ ([
  'VersionMismatch', 'BadToken', 'TokenExpired', 'WrongSpace', 'Banned', 'ServerFull',
  'TooManyConnections', 'Draining',
]));
export const INVENTORY_STATUSES = Object.freeze(/** @type {const} */ ([
  'Applied', 'UnknownItem', 'NotEnough', 'StackFull', 'Busy', 'Unavailable', 'NotAllowed',
]));
export const VOICE_REFUSAL_REASONS = Object.freeze(/** @type {const} */ ([
  'NotInInstance', 'MutedByModerator', 'Banned', 'MalformedSdp', 'VoiceDisabled', 'TooManySessions',
  'UnsupportedOffer',
]));
export const ENTITY_KINDS = Object.freeze(/** @type {const} */ (['Avatar', 'Element', 'Npc']));

/** @typedef {typeof ANIMATIONS[number]} Animation */
/** @typedef {typeof CHAT_CHANNELS[number]} ChatChannel */
/** @typedef {typeof DISCONNECT_REASONS[number]} DisconnectReason */
/** @typedef {typeof REFUSAL_REASONS[number]} RefusalReason */
/** @typedef {typeof INVENTORY_STATUSES[number]} InventoryStatus */
/** @typedef {typeof ENTITY_KINDS[number]} EntityKind */
/** @typedef {'stream' | 'datagram'} Channel */

// ---------------------------------------------------------------------------
// Errors
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
    /**
     * From FrameDecoder.push: the frames completed before the bad prefix.
     * (A declaration for TypeScript only: reading it does nothing.)
     * @type {Uint8Array[] | undefined}
     */
    this.frames;
  }
}

/** @param {string} code @param {string} [detail] @returns {never} */
export function fail(code, detail) {
  throw new ProtocolError(code, detail);
}

/**
 * Any byte container as a Uint8Array (without copying when possible).
 * @param {Uint8Array | ArrayBuffer | ArrayBufferView | ArrayLike<number>} data
 * @returns {Uint8Array}
 */
export function asBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const bytes = Array.from(data);
  if (!bytes.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) fail('OutOfRange', 'not bytes');
  return Uint8Array.from(bytes);
}

/** @param {Channel} channel */
export function maxMessageBytes(channel) {
  if (channel === 'stream') return MAX_STREAM_MESSAGE;
  if (channel === 'datagram') return MAX_DATAGRAM_PAYLOAD;
  throw new TypeError(`unknown channel ${String(channel)}`);
}
