// Meridian wire protocol, version 1: the browser side of docs/PROTOCOL.md.
//
// Control messages (postcard, sections 4 to 9), stream framing (section 3), the
// bit-packed snapshot body (section 11) and the client's ring of decoded views
// (section 12). No dependencies, no build step. Every decoder throws a
// ProtocolError whose `code` is one of the error names of section 13.
//
// This module gathers the public API; each part lives in web/protocol/:
// - errors-and-limits.js: limits, enumerations, ProtocolError
// - postcard.js: the byte reader and writer, text rules and field types
// - messages.js: the message tables, encoders and decoders
// - framing.js: stream framing
// - snapshot.js: the bit-packed snapshot body
// - snapshot-ring.js: the ring of decoded views
// - quantization.js: positions and headings on the wire

export {
  PROTOCOL_VERSION,
  MAX_DATAGRAM_PAYLOAD,
  MAX_STREAM_MESSAGE,
  MAX_AUTH_TOKEN_BYTES,
  MAX_CHAT_BYTES,
  MAX_DETAIL_BYTES,
  MAX_ITEM_BYTES,
  MAX_NAME_BYTES,
  MAX_INVENTORY_DELTA,
  MAX_VISIBLE_ENTITIES,
  SNAPSHOT_RING_SIZE,
  ANIMATIONS,
  CHAT_CHANNELS,
  DISCONNECT_REASONS,
  REFUSAL_REASONS,
  INVENTORY_STATUSES,
  ENTITY_KINDS,
  ProtocolError,
} from './protocol/errors-and-limits.js';
export {
  encodeClientMessage,
  decodeClientMessage,
  encodeServerMessage,
  decodeServerMessage,
  channelOfClientMessage,
  channelOfServerMessage,
} from './protocol/messages.js';
export { encodeFrame, FrameDecoder } from './protocol/framing.js';
export { decodeSnapshotBodyDetailed, decodeSnapshotBody, encodeSnapshotBody, sameSpawn } from './protocol/snapshot.js';
export { SnapshotRing } from './protocol/snapshot-ring.js';
export {
  dequantizePosition,
  dequantizeHeading,
  quantizePosition,
  quantizeHeading,
} from './protocol/quantization.js';

// Types (JSDoc, for TypeScript users of the package; nothing at run time).
/** @typedef {import('./protocol/errors-and-limits.js').Channel} Channel */
/** @typedef {import('./protocol/errors-and-limits.js').Animation} Animation */
/** @typedef {import('./protocol/errors-and-limits.js').ChatChannel} ChatChannel */
/** @typedef {import('./protocol/errors-and-limits.js').DisconnectReason} DisconnectReason */
/** @typedef {import('./protocol/errors-and-limits.js').RefusalReason} RefusalReason */
/** @typedef {import('./protocol/errors-and-limits.js').InventoryStatus} InventoryStatus */
/** @typedef {import('./protocol/errors-and-limits.js').EntityKind} EntityKind */
/** @typedef {import('./protocol/messages.js').MovementIntent} MovementIntent */
/** @typedef {import('./protocol/messages.js').ClientMessage} ClientMessage */
/** @typedef {import('./protocol/messages.js').ServerMessage} ServerMessage */
/** @typedef {import('./protocol/messages.js').SnapshotMessage} SnapshotMessage */
/** @typedef {import('./protocol/messages.js').SessionLimits} SessionLimits */
/** @typedef {import('./protocol/snapshot.js').Entity} Entity */
