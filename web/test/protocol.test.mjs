// Checks web/protocol.js against every vector in crates/protocol/tests/vectors/protocol.json
// (the same sections crates/protocol/tests/test_vectors.rs checks), then the parts the
// vectors do not reach: Inventory and Presence, FrameDecoder chunking, SnapshotRing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  ProtocolError, PROTOCOL_VERSION, MAX_DATAGRAM_PAYLOAD, MAX_STREAM_MESSAGE, INVENTORY_STATUSES,
  encodeClientMessage, decodeClientMessage, encodeServerMessage, decodeServerMessage,
  channelOfClientMessage, channelOfServerMessage, encodeFrame, FrameDecoder,
  decodeSnapshotBody, decodeSnapshotBodyDetailed, encodeSnapshotBody, SnapshotRing,
  dequantizePosition, dequantizeHeading, quantizePosition, quantizeHeading,
} from '../protocol.js';

const VECTORS_URL = new URL('../../crates/protocol/tests/vectors/protocol.json', import.meta.url);
const vectors = JSON.parse(readFileSync(VECTORS_URL, 'utf8'));

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** @param {string} hex */
const fromHex = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
/** @param {Uint8Array} bytes */
const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

const F32_FIELDS = new Set([
  'move_x', 'move_y', 'speed', 'heading', 'zone_width', 'zone_height',
  'max_speed', 'walk_speed', 'avatar_radius', 'interest_radius', 'interest_hysteresis', 'chat_hearing_radius',
  'distance',
]);

/** snake_case → camelCase. @param {string} name */
const camel = (name) => name.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());

/**
 * The one converter: serde's JSON form of a message ({"Ack": {"snapshot_tick": 5}})
 * to the JS shape ({type: 'Ack', snapshotTick: 5}). f32 fields become the exact f32
 * value, a snapshot body a Uint8Array.
 */
function fromRust(json) {
  if (typeof json === 'string') return { type: json }; // a variant without fields: "VoiceOff"
  const [[type, fields]] = Object.entries(json);
  return { type, ...convertFields(fields) };
}

function convertFields(fields) {
  const out = {};
  for (const [key, value] of Object.entries(fields)) {
    if (key === 'body') out.body = Uint8Array.from(value);
    else if (Array.isArray(value)) out[camel(key)] = value.map(convertFields);
    else if (F32_FIELDS.has(key)) out[camel(key)] = Math.fround(value);
    else if (value !== null && typeof value === 'object') out[camel(key)] = convertFields(value);
    else out[camel(key)] = value;
  }
  return out;
}

const decoders = { client: decodeClientMessage, server: decodeServerMessage };
const encoders = { client: encodeClientMessage, server: encodeServerMessage };
const channelOf = { client: channelOfClientMessage, server: channelOfServerMessage };

/** Asserts that `fn` throws a ProtocolError with `code`. */
function assertRefused(fn, code, label) {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof ProtocolError, `${label}: not a ProtocolError: ${error}`);
    assert.equal(error.code, code, `${label}: ${error.message}`);
    return true;
  });
}

/** Feeds `stream` in chunks of `size`; the frames, the error code if any, and what is held. */
function splitFrames(stream, size) {
  const decoder = new FrameDecoder();
  const frames = [];
  for (let at = 0; at < stream.length; at += size) {
    try {
      frames.push(...decoder.push(stream.subarray(at, at + size)));
    } catch (error) {
      frames.push(...error.frames);
      return { frames: frames.map(toHex), error: error.code, rest: '' };
    }
  }
  return { frames: frames.map(toHex), error: null, rest: toHex(decoder.buffered) };
}

// ---------------------------------------------------------------------------
// The vectors file
// ---------------------------------------------------------------------------

test('the vectors file is version 1 and has every section', () => {
  assert.equal(vectors.version, 1);
  for (const section of ['messages', 'invalid_messages', 'frames', 'snapshots', 'invalid_snapshots']) {
    assert.ok(vectors[section].length > 0, `${section} is empty`);
  }
});

for (const v of vectors.messages) {
  test(`message ${v.name}`, () => {
    const expected = fromRust(v.value);
    const decoded = decoders[v.direction](fromHex(v.hex), v.channel);
    assert.deepEqual(decoded, expected);
    assert.equal(channelOf[v.direction](expected), v.channel);
    assert.equal(toHex(encoders[v.direction](expected)), v.hex);
  });
}

for (const v of vectors.invalid_messages) {
  test(`invalid message ${v.name} → ${v.error}`, () => {
    assertRefused(() => decoders[v.direction](fromHex(v.hex), v.channel), v.error, v.name);
  });
}

for (const v of vectors.frames) {
  test(`frames ${v.name}`, () => {
    const stream = fromHex(v.hex);
    for (const size of [Math.max(stream.length, 1), 1, 2, 3]) {
      const got = splitFrames(stream, size);
      assert.deepEqual(got.frames, v.frames, `chunks of ${size}`);
      assert.equal(got.error, v.error, `chunks of ${size}`);
      if (v.error === null) assert.equal(got.rest, v.rest, `chunks of ${size}`);
    }
    if (v.error === null) {
      const written = v.frames.map((f) => toHex(encodeFrame(fromHex(f)))).join('') + v.rest;
      assert.equal(written, v.hex, 're-framed');
    }
  });
}

for (const v of vectors.snapshots) {
  test(`snapshot ${v.name}`, () => {
    const decoded = decodeSnapshotBodyDetailed(fromHex(v.hex), v.baseline);
    assert.deepEqual(decoded.entities, v.view);
    assert.equal(decoded.bits, v.bits, 'bits before padding');
    assert.equal(toHex(encodeSnapshotBody(v.view, v.baseline)), v.hex, 're-encoded body');
  });
}

for (const v of vectors.invalid_snapshots) {
  test(`invalid snapshot ${v.name} → ${v.error}`, () => {
    assertRefused(() => decodeSnapshotBody(fromHex(v.hex), v.baseline), v.error, v.name);
  });
}

// ---------------------------------------------------------------------------
// Inventory and Presence (not in the vectors file yet)
// ---------------------------------------------------------------------------

/** Encodes, checks the bytes, decodes back. */
function roundTrip(direction, message, hex) {
  const bytes = encoders[direction](message);
  assert.equal(toHex(bytes), hex);
  assert.deepEqual(decoders[direction](bytes, 'stream'), message);
}

test('client Inventory is variant 5 on the stream, delta zigzag-encoded', () => {
  const apple = '056170706c65'; // "apple" with its length
  roundTrip('client', { type: 'Inventory', request: 7, item: 'apple', delta: -3 }, `0507${apple}05`);
  roundTrip('client', { type: 'Inventory', request: 7, item: 'apple', delta: 2 }, `0507${apple}04`);
  roundTrip('client', { type: 'Inventory', request: 300, item: 'apple', delta: 1000 }, `05ac02${apple}d00f`);
  roundTrip('client', { type: 'Inventory', request: 0, item: 'x'.repeat(64), delta: -1000 },
    `050040${'78'.repeat(64)}cf0f`);
  assert.equal(channelOfClientMessage({ type: 'Inventory', request: 1, item: 'a', delta: 1 }), 'stream');
});

test('client Inventory is refused like the Rust validate()', () => {
  const refused = (hex, code, channel = 'stream') =>
    assertRefused(() => decodeClientMessage(fromHex(hex), channel), code, hex);
  refused('050101610a', 'WrongChannel', 'datagram');
  refused('0501016100', 'OutOfRange'); // delta 0
  refused('05010161d20f', 'OutOfRange'); // delta 1001
  refused('05010161cf0f00', 'TrailingBytes');
  refused('05010161ffffffff0f', 'OutOfRange'); // delta i32::MIN
  refused('05010161ffffffff1f', 'BadVarint'); // past 32 bits
  refused('05010161', 'UnexpectedEnd');
  refused('05', 'UnexpectedEnd');
  refused('05010002', 'OutOfRange'); // empty item
  refused('0501012002', 'OutOfRange'); // blank item
  refused('0501026109' + '02', 'OutOfRange'); // a tab: control character
  assert.equal(decodeClientMessage(fromHex('050102610a02'), 'stream').item, 'a\n'); // line feed is allowed
  refused(`050141${'78'.repeat(65)}02`, 'FieldTooLong');
  refused('09', 'UnknownVariant');
  assertRefused(() => encodeClientMessage({ type: 'Inventory', request: 1, item: 'a', delta: 0 }),
    'OutOfRange', 'encode delta 0');
  assertRefused(() => encodeClientMessage({ type: 'Inventory', request: 1, item: '', delta: 1 }),
    'OutOfRange', 'encode empty item');
  assertRefused(() => encodeClientMessage({ type: 'Inventory', request: 1, item: 'a', delta: 1.5 }),
    'OutOfRange', 'encode fractional delta');
});

test('server Inventory is variant 5 with every status', () => {
  INVENTORY_STATUSES.forEach((status, index) => {
    const hex = `0507056170706c65ac020${index}`;
    roundTrip('server', { type: 'Inventory', request: 7, item: 'apple', quantity: 300, status }, hex);
  });
  assertRefused(() => decodeServerMessage(fromHex('0507056170706c65ac0207'), 'stream'),
    'UnknownVariant', 'status 7');
  assertRefused(() => decodeServerMessage(fromHex('0507056170706c650000'), 'datagram'),
    'WrongChannel', 'on a datagram');
  assertRefused(() => decodeServerMessage(fromHex('050700000'), 'stream'), 'UnexpectedEnd', 'cut short');
});

test('server Presence is variant 6: avatar and a name of 1 to 64 bytes', () => {
  roundTrip('server', { type: 'Presence', avatar: 42, name: 'Zoë' }, '062a045a6fc3ab');
  roundTrip('server', { type: 'Presence', avatar: 4294967295, name: 'n'.repeat(64) },
    `06ffffffff0f40${'6e'.repeat(64)}`);
  assert.equal(channelOfServerMessage({ type: 'Presence', avatar: 1, name: 'a' }), 'stream');
  const refused = (hex, code, channel = 'stream') =>
    assertRefused(() => decodeServerMessage(fromHex(hex), channel), code, hex);
  refused('062a00', 'OutOfRange');
  refused('062a022020', 'OutOfRange');
  refused('062a026107', 'OutOfRange');
  refused(`062a41${'6e'.repeat(65)}`, 'FieldTooLong');
  refused('062a0161', 'WrongChannel', 'datagram');
  refused('062a0161ff', 'TrailingBytes');
  refused('0b', 'UnknownVariant');
});

test('server SettingsChanged is variant 7: tick, tick rate, then the limits', () => {
  const limits = {
    maxSpeed: 6, walkSpeed: 2, avatarRadius: Math.fround(0.3), interestRadius: 12.5, interestHysteresis: 2,
    chatHearingRadius: 20, inputBurst: 4, inputHoldTicks: 5, datagramsPerSecond: 120, chatLinesPer10s: 10,
    inventoryInFlight: 8, strikesBeforeDisconnect: 60, idleTimeoutMs: 10000, heartbeatIntervalMs: 1000,
  };
  const hex = '0788270a0000c040000000409a99993e00004841000000400000a0410405780a083c904ee807';
  roundTrip('server', { type: 'SettingsChanged', tick: 5000, tickRateHz: 10, limits }, hex);
  assert.equal(channelOfServerMessage({ type: 'SettingsChanged', tick: 1, tickRateHz: 1, limits }), 'stream');
  const refused = (bytes, code, channel = 'stream') =>
    assertRefused(() => decodeServerMessage(fromHex(bytes), channel), code, bytes);
  refused(hex, 'WrongChannel', 'datagram');
  refused(`078827${'00'}${hex.slice(8)}`, 'OutOfRange');
  refused(hex.slice(0, -2), 'UnexpectedEnd');
});

// ---------------------------------------------------------------------------
// Messages: what the vectors do not pin down
// ---------------------------------------------------------------------------

test('constants match PROTOCOL.md', () => {
  assert.equal(PROTOCOL_VERSION, 6);
  assert.equal(MAX_DATAGRAM_PAYLOAD, 1150);
  assert.equal(MAX_STREAM_MESSAGE, 16384);
});

test('encoders refuse what a decoder would refuse', () => {
  const intent = { moveX: 0, moveY: 0, speed: NaN, heading: 0, animation: 'Idle' };
  assertRefused(() => encodeClientMessage({ type: 'Input', sequence: 1, intent }), 'OutOfRange', 'NaN');
  assertRefused(() => encodeClientMessage({ type: 'Chat', channel: 'Zone', text: ' \u3000' }), 'OutOfRange', 'blank');
  assertRefused(() => encodeClientMessage({ type: 'Chat', channel: 'Zone', text: 'x'.repeat(513) }),
    'FieldTooLong', 'long chat');
  assertRefused(() => encodeClientMessage({ type: 'Chat', channel: 'Zone', text: 'a\ud800' }), 'BadUtf8', 'surrogate');
  assertRefused(() => encodeClientMessage({ type: 'Chat', channel: 'Town', text: 'hi' }), 'UnknownVariant', 'channel');
  assertRefused(() => encodeClientMessage({ type: 'Ack', snapshotTick: -1 }), 'OutOfRange', 'negative');
  assertRefused(() => encodeClientMessage({ type: 'Ack', snapshotTick: 2 ** 32 }), 'OutOfRange', 'past u32');
  assertRefused(() => encodeClientMessage({ type: 'Hello', protocolVersion: 65536, authToken: '' }),
    'OutOfRange', 'past u16');
  assertRefused(() => encodeClientMessage({ type: 'Teleport' }), 'UnknownVariant', 'unknown type');
  const body = new Uint8Array(MAX_DATAGRAM_PAYLOAD);
  assertRefused(() => encodeServerMessage({ type: 'Snapshot', tick: 1, baselineTick: null, lastInputSequence: 0, body }),
    'TooLarge', 'snapshot over a datagram');
});

test('decoders accept ArrayBuffer input and over-long varints', () => {
  assert.deepEqual(decodeClientMessage(fromHex('0205').buffer, 'datagram'), { type: 'Ack', snapshotTick: 5 });
  assert.deepEqual(decodeClientMessage(fromHex('028000'), 'datagram'), { type: 'Ack', snapshotTick: 0 });
  assert.throws(() => decodeClientMessage(fromHex('0205'), 'carrier-pigeon'), TypeError);
});

// ---------------------------------------------------------------------------
// FrameDecoder
// ---------------------------------------------------------------------------

test('FrameDecoder gives the same frames for every split of a stream', () => {
  const messages = [
    new Uint8Array(0),
    encodeClientMessage({ type: 'Hello', protocolVersion: 1, authToken: 'token' }),
    new Uint8Array(200).fill(9),
    new Uint8Array(MAX_STREAM_MESSAGE).fill(1),
    encodeServerMessage({ type: 'Presence', avatar: 3, name: 'Ann' }),
  ];
  const stream = Uint8Array.from(messages.flatMap((m) => [...encodeFrame(m)]));
  const expected = messages.map(toHex);
  for (const size of [1, 2, 7, 128, 4096, stream.length]) {
    const got = splitFrames(stream, size);
    assert.deepEqual(got, { frames: expected, error: null, rest: '' }, `chunks of ${size}`);
  }
  // Random cut points.
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let round = 0; round < 20; round++) {
    const decoder = new FrameDecoder();
    const frames = [];
    for (let at = 0; at < stream.length;) {
      const size = 1 + Math.floor(random() * 300);
      frames.push(...decoder.push(stream.slice(at, at + size)));
      at += size;
    }
    assert.deepEqual(frames.map(toHex), expected, `round ${round}`);
  }
});

test('FrameDecoder holds at most one partial frame and stays failed after an error', () => {
  const decoder = new FrameDecoder();
  assert.deepEqual(decoder.push(fromHex('03aa')), []);
  assert.equal(toHex(decoder.buffered), '03aa');
  assert.deepEqual(decoder.push(fromHex('bbcc02')).map(toHex), ['aabbcc']);
  assert.equal(toHex(decoder.buffered), '02');
  assert.deepEqual(decoder.push(fromHex('ddee')).map(toHex), ['ddee']);
  assertRefused(() => decoder.push(fromHex('ffff01')), 'TooLarge', 'huge prefix');
  assertRefused(() => decoder.push(fromHex('00')), 'TooLarge', 'after the error');
  assertRefused(() => encodeFrame(new Uint8Array(MAX_STREAM_MESSAGE + 1)), 'TooLarge', 'encodeFrame');
  assert.equal(toHex(encodeFrame(new Uint8Array(MAX_STREAM_MESSAGE)).subarray(0, 3)), '808001');
});

// ---------------------------------------------------------------------------
// Snapshot bodies and the ring
// ---------------------------------------------------------------------------

const avatar = (id, x, y, extra = {}) =>
  ({ id, kind: 'Avatar', appearance: 3, x, y, heading: 100, animation: 'Walk', ...extra });

const snapshot = (tick, baselineTick, view, baseline) => ({
  type: 'Snapshot', tick, baselineTick, lastInputSequence: tick, body: encodeSnapshotBody(view, baseline),
});

test('snapshot bodies round-trip enter, update, leave and kind change', () => {
  const baseline = [avatar(1, 0, 0), avatar(5, 10, 10), avatar(9, 20, 20)];
  const view = [avatar(2, 5, 5), avatar(5, 900000, 10, { heading: 7 }), avatar(9, 20, 20, { kind: 'Npc' }), avatar(40, 1, 1)];
  const body = encodeSnapshotBody(view, baseline);
  const decoded = decodeSnapshotBodyDetailed(body, baseline);
  assert.deepEqual(decoded.entities, view);
  assert.deepEqual([decoded.left, decoded.updated, decoded.entered, decoded.unchanged], [2, 1, 3, 0]);
  assertRefused(() => encodeSnapshotBody([avatar(5, 0, 0), avatar(2, 0, 0)], null), 'UnsortedEntities', 'unsorted');
  assertRefused(() => decodeSnapshotBody(new Uint8Array(MAX_DATAGRAM_PAYLOAD + 1), null), 'TooLarge', 'long body');
});

test('an element enters with its footprint, moves by deltas and enters again when resized', () => {
  const element = (x, width) => ({
    id: 9, kind: 'Element', appearance: 40, x, y: 500, heading: 0, animation: 'Idle',
    footprint: { width, height: 64, blocking: true },
  });
  const placed = [avatar(1, 0, 0), element(1000, 128)];
  assert.deepEqual(decodeSnapshotBody(encodeSnapshotBody(placed, null), null), placed);
  const moved = [placed[0], element(1010, 128)];
  const delta = decodeSnapshotBodyDetailed(encodeSnapshotBody(moved, placed), placed);
  assert.deepEqual(delta.entities, moved);
  assert.deepEqual([delta.updated, delta.entered, delta.left], [1, 0, 0]);
  const resized = [placed[0], element(1000, 192)];
  const again = decodeSnapshotBodyDetailed(encodeSnapshotBody(resized, placed), placed);
  assert.deepEqual(again.entities, resized);
  assert.deepEqual([again.updated, again.entered, again.left], [0, 1, 1]);
  const { footprint: _, ...bare } = element(0, 64);
  assertRefused(() => encodeSnapshotBody([bare], null), 'BadFootprint', 'an element without a footprint');
});

test('SnapshotRing decodes keyframes and deltas and ignores stale ticks', () => {
  const ring = new SnapshotRing();
  const first = [avatar(7, 1000, 1000)];
  const second = [avatar(7, 1012, 997, { heading: 200 })];
  assert.deepEqual(ring.receive(snapshot(100, null, first, null)), { tick: 100, entities: first });
  assert.deepEqual(ring.receive(snapshot(102, 100, second, first)), { tick: 102, entities: second });
  assert.equal(ring.newestTick, 102);
  assert.equal(ring.receive(snapshot(102, 100, second, first)), null, 'duplicate');
  assert.equal(ring.receive(snapshot(101, 100, second, first)), null, 'older');
  assert.deepEqual(ring.get(100), first);
});

test('SnapshotRing refuses an unknown baseline and a bad body without changing', () => {
  const ring = new SnapshotRing();
  const view = [avatar(7, 1000, 1000)];
  assertRefused(() => ring.receive(snapshot(5, 4, view, [])), 'UnknownBaseline', 'nothing held');
  ring.receive(snapshot(5, null, view, null));
  assertRefused(() => ring.receive(snapshot(6, 3, view, view)), 'UnknownBaseline', 'never held');
  const bad = { type: 'Snapshot', tick: 6, baselineTick: 5, lastInputSequence: 0, body: fromHex('0000') };
  assertRefused(() => ring.receive(bad), 'TrailingBytes', 'bad body');
  assert.equal(ring.newestTick, 5);
  assert.equal(ring.get(6), null);
  assert.deepEqual(ring.receive(snapshot(6, 5, view, view)).entities, view);
  ring.clear();
  assert.equal(ring.newestTick, null);
  assertRefused(() => ring.receive(snapshot(7, 6, view, view)), 'UnknownBaseline', 'after clear');
});

test('SnapshotRing holds the last 32 ticks', () => {
  const ring = new SnapshotRing();
  const view = (tick) => [avatar(1, tick, 0)];
  for (let tick = 1; tick <= 33; tick++) ring.receive(snapshot(tick, null, view(tick), null));
  assert.equal(ring.get(1), null, 'tick 1 was replaced by tick 33');
  for (let tick = 2; tick <= 33; tick++) assert.deepEqual(ring.get(tick), view(tick), `tick ${tick}`);
  assertRefused(() => ring.receive(snapshot(34, 1, view(34), view(1))), 'UnknownBaseline', 'evicted');
  assert.deepEqual(ring.receive(snapshot(34, 2, view(34), view(2))).entities, view(34));
});

// ---------------------------------------------------------------------------
// Quantization
// ---------------------------------------------------------------------------

test('quantizers match section 11.2', () => {
  assert.equal(dequantizePosition(1000), 15.625);
  assert.equal(dequantizeHeading(256), Math.PI / 2);
  assert.equal(dequantizeHeading(1024), 0);
  assert.equal(quantizePosition(1.5), 96);
  assert.equal(quantizePosition(-5), 0);
  assert.equal(quantizePosition(NaN), 0);
  assert.equal(quantizePosition(1e9), 2 ** 20 - 1);
  assert.equal(quantizeHeading(-Math.PI / 2), 768);
  assert.equal(quantizeHeading(2 * Math.PI - 0.0001), 0);
  assert.equal(quantizeHeading(Infinity), 0);
});

test('a Welcome carries the session limits, in order, metres as f32', () => {
  const vector = vectors.messages.find((m) => m.name === 'server_welcome');
  const welcome = decodeServerMessage(fromHex(vector.hex), 'stream');
  assert.deepEqual(welcome.limits, {
    maxSpeed: 6, walkSpeed: 2, avatarRadius: Math.fround(0.3), interestRadius: 30, interestHysteresis: 5,
    chatHearingRadius: 20, inputBurst: 4, inputHoldTicks: 5, datagramsPerSecond: 120, chatLinesPer10s: 10,
    inventoryInFlight: 8, strikesBeforeDisconnect: 60, idleTimeoutMs: 10000, heartbeatIntervalMs: 1000,
  });
  // Version 1's Welcome (no limits) is cut short for a version 2 decoder.
  assertRefused(() => decodeServerMessage(fromHex('00012a071ec0c4070000804400200044'), 'stream'),
    'UnexpectedEnd', 'a version 1 welcome');
  const negative = { ...welcome, limits: { ...welcome.limits, chatHearingRadius: -1 } };
  assertRefused(() => encodeServerMessage(negative), 'OutOfRange', 'a negative radius');
  assert.equal(decodeServerMessage(fromHex('0406'), 'stream').reason, 'SessionReplaced');
  assert.equal(decodeServerMessage(fromHex('0407'), 'stream').reason, 'Moved');
});
