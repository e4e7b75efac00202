// Meridian wire protocol: the control messages (sections 5 to 9 of
// docs/PROTOCOL.md), as tables of postcard fields, and their encoders and decoders.

import {
  MAX_AUTH_TOKEN_BYTES,
  MAX_CHAT_BYTES,
  MAX_DETAIL_BYTES,
  MAX_ITEM_BYTES,
  MAX_NAME_BYTES,
  MAX_INVENTORY_DELTA,
  ANIMATIONS,
  CHAT_CHANNELS,
  DISCONNECT_REASONS,
  REFUSAL_REASONS,
  INVENTORY_STATUSES,
  VOICE_REFUSAL_REASONS,
  MAX_SDP_BYTES,
  MAX_VOICE_LINES,
  MAX_VOICE_SLOT_BYTES,
  fail,
  asBytes,
  maxMessageBytes,
} from './errors-and-limits.js';
import {
  ByteWriter,
  ByteReader,
  checkText,
  checkFinite,
  u16,
  u32,
  i32,
  f32,
  bool,
  list,
  string,
  bytes,
  option,
  enumOf,
  struct,
  readFields,
  writeFields,
} from './postcard.js';

/** @typedef {import('./errors-and-limits.js').Channel} Channel */
/** @typedef {import('./postcard.js').FieldType} FieldType */

// ---------------------------------------------------------------------------
// Message tables (sections 5 and 6, plus Inventory, Presence and SettingsChanged)
// ---------------------------------------------------------------------------

/**
 * @typedef {object} Variant
 * @property {string} type the Rust variant name
 * @property {Channel} channel
 * @property {Record<string, FieldType>} fields
 * @property {(message: any) => void} check the field rules of section 9
 */

const NO_CHECK = () => {};

/** An SDP text (section 6.9): 1 to MAX_SDP_BYTES bytes, no control character but tab, CR, LF. */
function checkSdp(sdp) {
  if (new TextEncoder().encode(sdp).length > MAX_SDP_BYTES) fail('FieldTooLong', `sdp over ${MAX_SDP_BYTES} bytes`);
  // eslint-disable-next-line no-control-regex
  if (sdp.length === 0 || /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(sdp)) {
    fail('OutOfRange', 'sdp is empty or holds a control character');
  }
}

const voiceLine = struct({ slot: string, speaker: option(u32), distance: f32 });

/** VoiceLines (section 6.10): 1 to MAX_VOICE_LINES lines, each named once, distances finite and >= 0. */
function checkVoiceLines(m) {
  if (m.lines.length > MAX_VOICE_LINES) fail('FieldTooLong', `more than ${MAX_VOICE_LINES} lines`);
  if (m.lines.length === 0) fail('OutOfRange', 'no lines');
  const seen = new Set();
  for (const line of m.lines) {
    checkText('slot', line.slot, MAX_VOICE_SLOT_BYTES, { allowBlank: false });
    checkFinite('distance', line.distance);
    if (line.distance < 0) fail('OutOfRange', 'distance is negative');
    if (seen.has(line.slot)) fail('OutOfRange', `line ${line.slot} named twice`);
    seen.add(line.slot);
  }
}

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
  { type: 'VoiceOffer', channel: 'stream', fields: { sdp: string }, check: (m) => checkSdp(m.sdp) },
  { type: 'VoiceMute', channel: 'stream', fields: { muted: bool }, check: NO_CHECK },
  { type: 'VoiceOff', channel: 'stream', fields: {}, check: NO_CHECK },
];

/**
 * SessionLimits (PROTOCOL.md section 6.1): every limit the server holds the
 * client to. Distances in metres, speeds in metres per second.
 */
const LIMIT_METRES = [
  'maxSpeed', 'walkSpeed', 'avatarRadius', 'interestRadius', 'interestHysteresis', 'chatHearingRadius',
];
const limits = struct({
  maxSpeed: f32, walkSpeed: f32, avatarRadius: f32, interestRadius: f32, interestHysteresis: f32,
  chatHearingRadius: f32, inputBurst: u32, inputHoldTicks: u32, datagramsPerSecond: u32,
  chatLinesPer10s: u32, inventoryInFlight: u32, strikesBeforeDisconnect: u32, idleTimeoutMs: u32,
  heartbeatIntervalMs: u32,
});

/** @param {Record<string, number>} l finite and not negative, in field order */
function checkLimits(l) {
  for (const name of LIMIT_METRES) {
    checkFinite(`limits.${name}`, l[name]);
    if (l[name] < 0) fail('OutOfRange', `limits.${name} is negative`);
  }
}

/** @type {Variant[]} In wire order: the position is the variant index. */
const SERVER_VARIANTS = [
  {
    type: 'Welcome', channel: 'stream',
    fields: {
      protocolVersion: u16, avatarId: u32, zoneId: u32, tickRateHz: u16, tick: u32,
      zoneWidth: f32, zoneHeight: f32, limits,
    },
    check: (m) => {
      checkFinite('zoneWidth', m.zoneWidth);
      checkFinite('zoneHeight', m.zoneHeight);
      checkLimits(m.limits);
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
  {
    type: 'SettingsChanged', channel: 'stream',
    fields: { tick: u32, tickRateHz: u16, limits },
    check: (m) => {
      if (m.tickRateHz === 0) fail('OutOfRange', 'tickRateHz must be at least 1');
      checkLimits(m.limits);
    },
  },
  { type: 'VoiceAnswer', channel: 'stream', fields: { sdp: string }, check: (m) => checkSdp(m.sdp) },
  { type: 'VoiceLines', channel: 'stream', fields: { lines: list(voiceLine) }, check: checkVoiceLines },
  {
    type: 'VoiceRefused', channel: 'stream',
    fields: { reason: enumOf(VOICE_REFUSAL_REASONS), detail: string },
    check: (m) => checkText('detail', m.detail, MAX_DETAIL_BYTES, { allowBlank: true }),
  },
];

// ---------------------------------------------------------------------------
// Encoding and decoding messages
// ---------------------------------------------------------------------------

/**
 * @typedef {import('./errors-and-limits.js').Animation} Animation
 * @typedef {import('./errors-and-limits.js').ChatChannel} ChatChannel
 * @typedef {import('./errors-and-limits.js').DisconnectReason} DisconnectReason
 * @typedef {import('./errors-and-limits.js').RefusalReason} RefusalReason
 * @typedef {import('./errors-and-limits.js').InventoryStatus} InventoryStatus
 * @typedef {{moveX: number, moveY: number, speed: number, heading: number, animation: Animation}} MovementIntent
 * @typedef {{type: 'Hello', protocolVersion: number, authToken: string}
 *   | {type: 'Input', sequence: number, intent: MovementIntent}
 *   | {type: 'Ack', snapshotTick: number}
 *   | {type: 'Chat', channel: ChatChannel, text: string}
 *   | {type: 'Disconnect', reason: DisconnectReason}
 *   | {type: 'Inventory', request: number, item: string, delta: number}
 *   | {type: 'VoiceOffer', sdp: string}
 *   | {type: 'VoiceMute', muted: boolean}
 *   | {type: 'VoiceOff'}} ClientMessage
 * @typedef {{type: 'Snapshot', tick: number, baselineTick: number|null, lastInputSequence: number, body: Uint8Array}} SnapshotMessage
 * @typedef {{maxSpeed: number, walkSpeed: number, avatarRadius: number, interestRadius: number,
 *     interestHysteresis: number, chatHearingRadius: number, inputBurst: number, inputHoldTicks: number,
 *     datagramsPerSecond: number, chatLinesPer10s: number, inventoryInFlight: number,
 *     strikesBeforeDisconnect: number, idleTimeoutMs: number, heartbeatIntervalMs: number}} SessionLimits
 * @typedef {{type: 'Welcome', protocolVersion: number, avatarId: number, zoneId: number, tickRateHz: number,
 *     tick: number, zoneWidth: number, zoneHeight: number, limits: SessionLimits}
 *   | {type: 'Refusal', reason: RefusalReason, detail: string}
 *   | SnapshotMessage
 *   | {type: 'Chat', from: number, channel: ChatChannel, text: string}
 *   | {type: 'Disconnect', reason: DisconnectReason}
 *   | {type: 'Inventory', request: number, item: string, quantity: number, status: InventoryStatus}
 *   | {type: 'Presence', avatar: number, name: string}
 *   | {type: 'SettingsChanged', tick: number, tickRateHz: number, limits: SessionLimits}
 *   | {type: 'VoiceAnswer', sdp: string}
 *   | {type: 'VoiceLines', lines: {slot: string, speaker: number|null, distance: number}[]}
 *   | {type: 'VoiceRefused', reason: string, detail: string}} ServerMessage
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
