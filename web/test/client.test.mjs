// Tests for web/meridian.js: the session logic of MeridianClient over an
// in-memory transport, with a fake clock and fake timers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { MeridianClient, PROTOCOL_VERSION } from '../meridian.js';
import {
  channelOfServerMessage,
  decodeClientMessage,
  encodeClientMessage,
  encodeFrame,
  encodeServerMessage,
  FrameDecoder,
  encodeSnapshotBody,
  dequantizeHeading,
  dequantizePosition,
} from '../protocol.js';

const VECTORS = JSON.parse(
  readFileSync(new URL('../../crates/protocol/tests/vectors/protocol.json', import.meta.url), 'utf8'),
);

// ---------------------------------------------------------------------------
// Test doubles

/** setTimeout / setInterval on a clock that only moves when told to. */
class FakeTimers {
  constructor() {
    this.now = 1000;
    this.nextId = 1;
    /** @type {Map<number, {fn: Function, at: number, every: number|null}>} */
    this.pending = new Map();
    this.setTimeout = (fn, ms) => this.#add(fn, ms, null);
    this.setInterval = (fn, ms) => this.#add(fn, ms, ms);
    this.clearTimeout = (id) => this.pending.delete(id);
    this.clearInterval = (id) => this.pending.delete(id);
  }

  #add(fn, ms, every) {
    const id = this.nextId++;
    this.pending.set(id, { fn, at: this.now + Math.max(0, ms || 0), every: every === null ? null : Math.max(1, every) });
    return id;
  }

  /** Moves the clock forward, running every timer that falls due, in order. */
  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      let nextId = null;
      let next = null;
      for (const [id, t] of this.pending) {
        if (t.at <= end && (next === null || t.at < next.at)) {
          nextId = id;
          next = t;
        }
      }
      if (next === null) break;
      this.now = next.at;
      if (next.every === null) this.pending.delete(nextId);
      else next.at += next.every;
      next.fn();
    }
    this.now = end;
  }

  /** Delays of the one-shot timers now pending. */
  oneShots() {
    return [...this.pending.values()].filter((t) => t.every === null).map((t) => t.at - this.now);
  }
}

/** A transport whose other end is the test: it decodes what the client sends. */
class FakeTransport {
  constructor(kind, join) {
    this.kind = kind;
    this.join = join;
    this.onStream = null;
    this.onDatagram = null;
    this.onClose = null;
    this.stream = [];
    this.datagrams = [];
    this.closed = false;
  }

  sendStream(bytes) {
    assert.ok(!this.closed, 'sendStream after close');
    this.stream.push(decodeClientMessage(bytes, 'stream'));
  }

  sendDatagram(bytes) {
    assert.ok(!this.closed, 'sendDatagram after close');
    this.datagrams.push(decodeClientMessage(bytes, 'datagram'));
  }

  close() {
    this.closed = true;
  }

  /** The server sends `msg` on its channel. */
  deliver(msg) {
    const bytes = encodeServerMessage(msg);
    if (channelOfServerMessage(msg) === 'stream') this.onStream(bytes);
    else this.onDatagram(bytes);
  }

  /** The connection drops. */
  lose() {
    this.onClose({ reason: 'TransportClosed', detail: 'test' });
  }

  acks() {
    return this.datagrams.filter((m) => m.type === 'Ack').map((m) => m.snapshotTick);
  }

  inputs() {
    return this.datagrams.filter((m) => m.type === 'Input');
  }
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

const EVENT_TYPES = ['connected', 'entered', 'left', 'moved', 'presence', 'chat', 'inventory', 'settings', 'refused', 'disconnected'];

function setup({ failKinds = [], webTransportAvailable = true, client: extra = {} } = {}) {
  const timers = new FakeTimers();
  /** @type {FakeTransport[]} */
  const transports = [];
  const attempts = [];
  let joins = 0;
  const client = new MeridianClient({
    join: async () => {
      joins++;
      return {
        token: `token-${joins}`,
        webtransport_url: 'https://game.test:4433/meridian',
        websocket_url: 'wss://game.test/ws',
        certificate_sha256: 'ab'.repeat(32),
        space_id: 1,
      };
    },
    openTransport: async (kind, join, options) => {
      attempts.push({ kind, timeoutMs: options.timeoutMs });
      if (failKinds.includes(kind)) throw new Error(`${kind} unavailable`);
      const t = new FakeTransport(kind, join);
      transports.push(t);
      return t;
    },
    webTransportAvailable,
    now: () => timers.now,
    random: () => 0.5,
    timers,
    ...extra,
  });
  const events = [];
  for (const type of EVENT_TYPES) client.addEventListener(type, (e) => events.push({ type, ...e.detail }));
  const of = (type) => events.filter((e) => e.type === type);
  return { client, timers, transports, attempts, events, of, joins: () => joins, last: () => transports[transports.length - 1] };
}

const LIMITS = {
  maxSpeed: 6, walkSpeed: 2, avatarRadius: 0.25, interestRadius: 30, interestHysteresis: 5,
  chatHearingRadius: 20, inputBurst: 4, inputHoldTicks: 5, datagramsPerSecond: 120,
  chatLinesPer10s: 10, inventoryInFlight: 8, strikesBeforeDisconnect: 60, idleTimeoutMs: 10000,
  heartbeatIntervalMs: 1000,
};

const WELCOME = {
  type: 'Welcome', protocolVersion: PROTOCOL_VERSION, avatarId: 7, zoneId: 3, tickRateHz: 20, tick: 100,
  zoneWidth: 256, zoneHeight: 128, limits: LIMITS,
};

/** Connects and welcomes; returns the harness with the open transport as `t`. */
async function connected(options) {
  const h = setup(options);
  const done = h.client.connect();
  await flush();
  h.t = h.last();
  h.t.deliver(WELCOME);
  await done;
  return h;
}

const entity = (id, x, y, extra = {}) => ({
  id, kind: 'Avatar', appearance: 1, x, y, heading: 0, animation: 'Idle', ...extra,
});

/** A Snapshot message for `view`, as a delta against `baseline` (or a keyframe). */
function snapshot(tick, view, baseline = null, lastInputSequence = 0) {
  return {
    type: 'Snapshot',
    tick,
    baselineTick: baseline ? baseline.tick : null,
    lastInputSequence,
    body: encodeSnapshotBody(view, baseline ? baseline.view : null),
  };
}

const hexBytes = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));

// ---------------------------------------------------------------------------
// Handshake and transports

test('handshake: Hello first, nothing else until Welcome, then connected', async () => {
  const h = setup();
  let resolved = null;
  const done = h.client.connect().then((d) => (resolved = d));
  assert.equal(h.client.state, 'connecting');
  await flush();
  assert.equal(h.joins(), 1);
  assert.equal(h.transports.length, 1);
  const t = h.transports[0];
  assert.equal(t.kind, 'webtransport');
  assert.deepEqual(t.stream, [{ type: 'Hello', protocolVersion: PROTOCOL_VERSION, authToken: 'token-1' }]);
  // Before the Welcome, no datagrams and no more stream messages.
  h.timers.advance(500);
  assert.equal(t.datagrams.length, 0);
  assert.equal(t.stream.length, 1);
  assert.equal(resolved, null);

  t.deliver(WELCOME);
  await done;
  const expected = {
    transport: 'webtransport', avatarId: 7, zoneId: 3, zoneWidth: 256, zoneHeight: 128, tickRateHz: 20, limits: LIMITS,
  };
  assert.deepEqual(resolved, expected);
  assert.deepEqual(h.of('connected').map(({ type, ...d }) => d), [expected]);
  assert.equal(h.client.connected, true);
  assert.equal(h.client.avatarId, 7);
  assert.equal(h.client.interpolationDelayMs, 100); // two ticks at 20 Hz
  const stats = h.client.stats();
  assert.equal(stats.connected, true);
  assert.equal(stats.transport, 'webtransport');
  assert.equal(stats.avatarId, 7);
  // connect() once connected resolves at once.
  assert.deepEqual(await h.client.connect(), expected);
});

test('auto transport falls back to WebSocket when WebTransport fails, and stays there', async () => {
  const h = setup({ failKinds: ['webtransport'] });
  const done = h.client.connect();
  await flush();
  assert.deepEqual(h.attempts.map((a) => a.kind), ['webtransport', 'websocket']);
  assert.equal(h.attempts[0].timeoutMs, 3000);
  h.last().deliver(WELCOME);
  assert.equal((await done).transport, 'websocket');
  assert.equal(h.client.stats().transport, 'websocket');
  // A reconnect goes straight to WebSocket.
  h.last().lose();
  h.timers.advance(10000);
  await flush();
  assert.deepEqual(h.attempts.map((a) => a.kind), ['webtransport', 'websocket', 'websocket']);
});

test('auto transport uses WebSocket when there is no WebTransport; explicit modes are obeyed', async () => {
  const a = setup({ webTransportAvailable: false });
  a.client.connect();
  await flush();
  assert.deepEqual(a.attempts.map((x) => x.kind), ['websocket']);

  const b = setup({ client: { transport: 'webtransport' }, failKinds: ['webtransport'] });
  b.client.connect().catch(() => {});
  await flush();
  // No fallback in explicit mode: the attempt fails and a retry is scheduled.
  assert.deepEqual(b.attempts.map((x) => x.kind), ['webtransport']);
  assert.equal(b.client.state, 'waiting');
  assert.equal(b.of('disconnected')[0].reason, 'ConnectFailed');
  b.client.close();

  const c = setup({ client: { transport: 'websocket' } });
  c.client.connect();
  await flush();
  assert.deepEqual(c.attempts.map((x) => x.kind), ['websocket']);
  assert.throws(() => new MeridianClient({ join: async () => ({}), transport: 'carrier-pigeon' }), TypeError);
});

// ---------------------------------------------------------------------------
// Snapshots

test('entered, moved and left come from consecutive snapshots, in metres and radians', async () => {
  const h = await connected();
  const a1 = { tick: 200, view: [entity(7, 640, 1280, { heading: 256, animation: 'Walk' }), entity(9, 64, 64, { kind: 'Npc', appearance: 5 })] };
  h.t.deliver(snapshot(a1.tick, a1.view));
  assert.deepEqual(
    h.of('entered').map(({ type, ...d }) => d),
    [
      { id: 7, kind: 'Avatar', appearance: 1, x: 10, y: 20, heading: Math.PI / 2, animation: 'Walk', name: null, self: true },
      { id: 9, kind: 'Npc', appearance: 5, x: 1, y: 1, heading: 0, animation: 'Idle', name: null, self: false },
    ],
  );
  assert.deepEqual(h.t.acks(), [200]);

  // The avatar moves, the NPC stays, a new element enters.
  const a2 = {
    tick: 201,
    view: [
      entity(7, 656, 1280, { heading: 512, animation: 'Walk' }), a1.view[1],
      entity(12, 96, 64, { kind: 'Element', appearance: 300, footprint: { width: 192, height: 128, blocking: false } }),
    ],
  };
  h.t.deliver(snapshot(a2.tick, a2.view, a1));
  assert.deepEqual(h.of('moved').map(({ type, ...d }) => d), [{ id: 7, x: 10.25, y: 20, heading: Math.PI, animation: 'Walk', appearance: 1 }]);
  assert.deepEqual(h.of('entered').map((e) => e.id), [7, 9, 12]);
  // An element comes with its footprint in metres, centred on its position.
  assert.deepEqual(h.of('entered').at(-1).footprint, { width: 3, height: 2, blocking: false });
  assert.deepEqual(h.client.entity(12)?.footprint, { width: 3, height: 2, blocking: false });
  assert.deepEqual(h.t.acks(), [200, 201]);

  // The NPC leaves; nothing else changes, so nothing moves.
  const a3 = { tick: 202, view: [a2.view[0], a2.view[2]] };
  h.t.deliver(snapshot(a3.tick, a3.view, a2));
  assert.deepEqual(h.of('left').map((e) => e.id), [9]);
  assert.equal(h.of('moved').length, 1);
  assert.deepEqual(h.t.acks(), [200, 201, 202]);
  assert.deepEqual(h.client.sample(h.timers.now).map((e) => e.id).sort((a, b) => a - b), [7, 12]);

  // A kind change is a leave then an enter.
  const a4 = { tick: 203, view: [a3.view[0], entity(12, 96, 64, { kind: 'Npc', appearance: 300 })] };
  h.t.deliver(snapshot(a4.tick, a4.view, a3));
  assert.deepEqual(h.of('left').map((e) => e.id), [9, 12]);
  assert.equal(h.of('entered').at(-1).kind, 'Npc');
  assert.equal(h.client.stats().snapshots, 4);
});

test('stale, duplicate and undecodable snapshots change nothing; the newest tick is acked again', async () => {
  const h = await connected();
  const k = { tick: 300, view: [entity(7, 100, 100)] };
  h.t.deliver(snapshot(300, k.view));
  const moved = { tick: 302, view: [entity(7, 110, 100)] };
  h.t.deliver(snapshot(302, moved.view, k));
  assert.equal(h.of('moved').length, 1);
  // An older one arriving late, and a duplicate.
  h.t.deliver(snapshot(301, [entity(7, 999, 999)], k));
  h.t.deliver(snapshot(302, moved.view, k));
  // A delta against a view this client never held.
  h.t.deliver({ type: 'Snapshot', tick: 310, baselineTick: 250, lastInputSequence: 0, body: encodeSnapshotBody([], []) });
  // A body that does not decode (trailing bytes).
  h.t.deliver({ type: 'Snapshot', tick: 311, baselineTick: null, lastInputSequence: 0, body: Uint8Array.of(0, 0, 0) });
  assert.equal(h.of('moved').length, 1);
  assert.equal(h.of('left').length, 0);
  assert.equal(h.client.entity(7).x, 110 / 64);
  assert.deepEqual(h.t.acks(), [300, 302, 302, 302, 302, 302]);
  const stats = h.client.stats();
  assert.equal(stats.snapshots, 2);
  assert.equal(stats.staleSnapshots, 2);
  assert.equal(stats.decodeErrors, 2);
  // A datagram that is not a valid message at all is dropped too.
  h.t.onDatagram(Uint8Array.of(0x7f));
  assert.equal(h.client.stats().decodeErrors, 3);
  assert.equal(h.client.connected, true);
});

test('every snapshot vector: events match the difference between baseline and view', async () => {
  assert.ok(VECTORS.snapshots.length > 0);
  for (const v of VECTORS.snapshots) {
    const h = await connected();
    let baseline = null;
    if (v.baseline !== null) {
      baseline = { tick: 10, view: v.baseline };
      h.t.deliver(snapshot(10, v.baseline));
    }
    const before = new Map((v.baseline ?? []).map((e) => [e.id, e]));
    const after = new Map(v.view.map((e) => [e.id, e]));
    const start = h.events.length;
    h.t.deliver({
      type: 'Snapshot', tick: 11, baselineTick: baseline ? 10 : null, lastInputSequence: 0, body: hexBytes(v.hex),
    });
    const events = h.events.slice(start);
    const ids = (type) => events.filter((e) => e.type === type).map((e) => e.id);

    // Same spawn: same kind and footprint (a new footprint leaves and enters again).
    const same = (a, b) => !!a && a.kind === b.kind && JSON.stringify(a.footprint) === JSON.stringify(b.footprint);
    const expectLeft = [...before.values()].filter((e) => !same(after.get(e.id), e)).map((e) => e.id);
    const expectEntered = v.view.filter((e) => !same(before.get(e.id), e)).map((e) => e.id);
    const expectMoved = v.view
      .filter((e) => {
        const o = before.get(e.id);
        return same(o, e)
          && (o.x !== e.x || o.y !== e.y || o.heading !== e.heading || o.animation !== e.animation || o.appearance !== e.appearance);
      })
      .map((e) => e.id);
    assert.deepEqual(ids('left'), expectLeft, `${v.name}: left`);
    assert.deepEqual(ids('entered'), expectEntered, `${v.name}: entered`);
    assert.deepEqual(ids('moved'), expectMoved, `${v.name}: moved`);
    for (const e of events.filter((x) => x.type === 'moved' || x.type === 'entered')) {
      const q = after.get(e.id);
      assert.equal(e.x, dequantizePosition(q.x), v.name);
      assert.equal(e.y, dequantizePosition(q.y), v.name);
      assert.equal(e.heading, dequantizeHeading(q.heading), v.name);
      assert.equal(e.animation, q.animation, v.name);
    }
    // The client's newest states are exactly the view.
    for (const q of v.view) {
      const e = h.client.entity(q.id);
      assert.equal(e.kind, q.kind, v.name);
      assert.equal(e.appearance, q.appearance, v.name);
      assert.equal(e.x, q.x / 64, v.name);
      assert.equal(e.y, q.y / 64, v.name);
    }
    assert.equal(h.client.sample(h.timers.now).length, v.view.length, v.name);
    assert.deepEqual(h.t.acks(), baseline ? [10, 11] : [11], v.name);
    h.client.close();
  }
});

test('sample() interpolates others at now - delay and shows the own avatar as newest', async () => {
  const h = await connected();
  let prev = null;
  // Ten snapshots at 20 Hz: avatar 9 walks 1 m (64 steps) per tick along x, the
  // own avatar 7 along y.
  for (let i = 0; i <= 10; i++) {
    const cur = { tick: 1000 + i, view: [entity(7, 0, 64 * i), entity(9, 64 * i, 0, { heading: (1020 + i) % 1024 })] };
    // Deliver every 50 ms, with a little jitter.
    h.timers.advance(i === 0 ? 0 : 50 + (i % 2 ? 7 : -7));
    h.t.deliver(snapshot(cur.tick, cur.view, prev));
    prev = cur;
  }
  const now = h.timers.now;
  const byId = new Map(h.client.sample(now).map((e) => [e.id, e]));
  // Own avatar: the newest state (10 m), not delayed.
  assert.equal(byId.get(7).y, 10);
  assert.equal(byId.get(7).self, true);
  // Avatar 9 at now - 100 ms: about two ticks behind the newest (8 m).
  const x = byId.get(9).x;
  assert.ok(x > 7.5 && x < 8.5, `x = ${x}`);
  assert.equal(byId.get(9).self, false);
  // Its heading crosses the wrap (1020 -> 1030 = 6 mod 1024) and stays in [0, 2π).
  const h9 = byId.get(9).heading;
  assert.ok(h9 >= 0 && h9 < 2 * Math.PI);
  // Moves smoothly: 10 ms later it is 0.2 m further.
  const later = h.client.sample(now + 10).find((e) => e.id === 9).x;
  assert.ok(Math.abs(later - x - 0.2) < 0.01, `${later} vs ${x}`);
  // A custom delay.
  h.client.interpolationDelayMs = 0;
  assert.equal(h.client.interpolationDelayMs, 0);
  const newest = h.client.sample(now).find((e) => e.id === 9).x;
  assert.ok(newest >= 9.9, `newest ${newest}`);
  // Samples stay bounded however long the session runs.
  for (let i = 11; i < 500; i++) {
    const cur = { tick: 1000 + i, view: [entity(7, 0, 0), entity(9, i, 0)] };
    h.timers.advance(50);
    h.t.deliver(snapshot(cur.tick, cur.view, prev));
    prev = cur;
  }
  const size = h.client._entities.get(9).buffer.size;
  assert.ok(size <= 32, `buffer size ${size}`);
});

// ---------------------------------------------------------------------------
// Presence, chat, inventory

test('presence names reach entered, chat and sample()', async () => {
  const h = await connected();
  h.t.deliver({ type: 'Presence', avatar: 7, name: 'Me' });
  h.t.deliver({ type: 'Presence', avatar: 9, name: 'Zoë' });
  assert.deepEqual(h.of('presence').map(({ type, ...d }) => d), [{ id: 7, name: 'Me' }, { id: 9, name: 'Zoë' }]);
  assert.equal(h.client.names.get(9), 'Zoë');
  h.t.deliver(snapshot(50, [entity(7, 0, 0), entity(9, 64, 64), entity(11, 0, 64)]));
  assert.deepEqual(h.of('entered').map((e) => [e.id, e.name]), [[7, 'Me'], [9, 'Zoë'], [11, null]]);
  // A name that arrives after the entity: in sample() from then on.
  h.t.deliver({ type: 'Presence', avatar: 11, name: 'Late' });
  assert.equal(h.client.sample(h.timers.now).find((e) => e.id === 11).name, 'Late');

  h.t.deliver({ type: 'Chat', from: 9, channel: 'Zone', text: 'héllo' });
  h.t.deliver({ type: 'Chat', from: 44, channel: 'Proximity', text: 'who?' });
  assert.deepEqual(h.of('chat').map(({ type, ...d }) => d), [
    { from: 9, name: 'Zoë', channel: 'Zone', text: 'héllo' },
    { from: 44, name: null, channel: 'Proximity', text: 'who?' },
  ]);

  h.client.say('hi all');
  h.client.say('psst', 'Proximity');
  assert.deepEqual(h.t.stream.slice(1), [
    { type: 'Chat', channel: 'Zone', text: 'hi all' },
    { type: 'Chat', channel: 'Proximity', text: 'psst' },
  ]);
  assert.throws(() => h.client.say('   '), (e) => e.name === 'ProtocolError');
  assert.throws(() => h.client.say('x', 'Shout'), TypeError);
  h.client.close();
  assert.throws(() => h.client.say('anyone?'), (e) => e.code === 'NotConnected');
});

test('changeInventory resolves with the server answer for its request id', async () => {
  const h = await connected({ client: { idleTimeoutMs: 60000 } });
  const first = h.client.changeInventory('apple', 3);
  const second = h.client.changeInventory('pear', -2);
  const sent = h.t.stream.filter((m) => m.type === 'Inventory');
  assert.deepEqual(sent, [
    { type: 'Inventory', request: 1, item: 'apple', delta: 3 },
    { type: 'Inventory', request: 2, item: 'pear', delta: -2 },
  ]);
  // Answers may come in any order.
  h.t.deliver({ type: 'Inventory', request: 2, item: 'pear', quantity: 0, status: 'NotEnough' });
  h.t.deliver({ type: 'Inventory', request: 1, item: 'apple', quantity: 5, status: 'Applied' });
  assert.deepEqual(await first, { request: 1, item: 'apple', quantity: 5, status: 'Applied' });
  assert.deepEqual(await second, { request: 2, item: 'pear', quantity: 0, status: 'NotEnough' });
  assert.deepEqual(h.of('inventory').map((e) => e.request), [2, 1]);

  // Invalid requests are refused locally, nothing is sent.
  await assert.rejects(h.client.changeInventory('apple', 0), RangeError);
  await assert.rejects(h.client.changeInventory('apple', 1001), RangeError);
  await assert.rejects(h.client.changeInventory('', 1), RangeError);
  await assert.rejects(h.client.changeInventory('x'.repeat(65), 1), RangeError);
  await assert.rejects(h.client.changeInventory('   ', 1), (e) => e.name === 'ProtocolError');
  assert.equal(h.t.stream.filter((m) => m.type === 'Inventory').length, 2);

  // No answer in time.
  const slow = h.client.changeInventory('apple', 1);
  h.timers.advance(15000);
  await assert.rejects(slow, (e) => e.code === 'Timeout' && e.request === 3);

  // The connection is lost before the answer: the outcome is unknown.
  const lost = h.client.changeInventory('apple', 1);
  h.t.lose();
  await assert.rejects(lost, (e) => e.code === 'Disconnected');
  await assert.rejects(h.client.changeInventory('apple', 1), (e) => e.code === 'NotConnected');
});

// ---------------------------------------------------------------------------
// Inputs and stats

test('inputs go out every tick with sequence + 1; RTT comes from lastInputSequence', async () => {
  const h = await connected();
  // No own avatar seen and no intent: only heartbeats (none yet: nothing decoded).
  h.timers.advance(200);
  assert.equal(h.t.inputs().length, 0);

  // Once the own avatar is known, the default intent holds it still as it is.
  h.t.deliver(snapshot(10, [entity(7, 64, 64, { heading: 256, animation: 'Sit' })]));
  h.timers.advance(50);
  assert.deepEqual(h.t.inputs(), [
    { type: 'Input', sequence: 1, intent: { moveX: 0, moveY: 0, speed: 0, heading: Math.fround(Math.PI / 2), animation: 'Sit' } },
  ]);

  h.client.setIntent({ moveX: 3, moveY: 4, speed: 2, heading: 1, animation: 'Walk' });
  assert.deepEqual(h.client.intent, { moveX: 0.6, moveY: 0.8, speed: 2, heading: 1, animation: 'Walk' });
  h.timers.advance(200);
  const inputs = h.t.inputs();
  assert.deepEqual(inputs.map((m) => m.sequence), [1, 2, 3, 4, 5]);
  assert.equal(inputs[4].intent.animation, 'Walk');
  assert.equal(inputs[4].intent.moveX, Math.fround(0.6));
  // Partial updates keep the other fields.
  h.client.setIntent({ speed: 0 });
  assert.deepEqual(h.client.intent, { moveX: 0.6, moveY: 0.8, speed: 0, heading: 1, animation: 'Walk' });
  assert.throws(() => h.client.setIntent({ heading: NaN }), TypeError);
  assert.throws(() => h.client.setIntent({ animation: 'Fly' }), TypeError);

  // Input 3 was sent at 1350; a snapshot at 1450 says it was applied.
  const sentAt3 = 1350;
  assert.equal(h.timers.now, 1450);
  h.t.deliver(snapshot(11, [entity(7, 64, 64)], { tick: 10, view: [entity(7, 64, 64, { heading: 256, animation: 'Sit' })] }, 3));
  assert.equal(h.client.stats().rttMs, h.timers.now - sentAt3);
  // A later snapshot naming the same input does not measure again.
  h.timers.advance(10);
  h.t.deliver(snapshot(12, [entity(7, 64, 64)], { tick: 11, view: [entity(7, 64, 64)] }, 3));
  assert.equal(h.client.stats().rttMs, 100);
});

test('without inputs, the newest ack is resent as a heartbeat', async () => {
  const h = await connected();
  h.t.deliver(snapshot(10, [entity(8, 0, 0)])); // the own avatar (7) is not in view
  assert.deepEqual(h.t.acks(), [10]);
  h.timers.advance(900);
  assert.deepEqual(h.t.acks(), [10]);
  h.timers.advance(200);
  assert.deepEqual(h.t.acks(), [10, 10]);
  assert.equal(h.t.inputs().length, 0);
});

test('stats count snapshots and bytes over a sliding window', async () => {
  const h = await connected();
  let prev = null;
  for (let i = 0; i < 60; i++) {
    const cur = { tick: 500 + i, view: [entity(7, i, 0)] };
    h.t.deliver(snapshot(cur.tick, cur.view, prev));
    prev = cur;
    h.timers.advance(50);
  }
  const s = h.client.stats();
  assert.ok(Math.abs(s.snapshotsPerSecond - 20) <= 1, `snapshots/s ${s.snapshotsPerSecond}`);
  assert.ok(s.bytesInPerSecond > 0);
  assert.ok(s.bytesOutPerSecond > 0);
  // Silence empties the window; after 10 s of it the connection counts as lost.
  h.timers.advance(2500);
  assert.equal(h.client.stats().snapshotsPerSecond, 0);
  h.timers.advance(8000);
  assert.equal(h.of('disconnected')[0].reason, 'Timeout');
  assert.equal(h.of('disconnected')[0].willReconnect, true);
});

// ---------------------------------------------------------------------------
// Refusals, loss and reconnection

test('a refusal such as BadToken ends the client: no reconnect', async () => {
  const h = setup();
  const done = h.client.connect();
  await flush();
  h.last().deliver({ type: 'Refusal', reason: 'BadToken', detail: 'signature' });
  await assert.rejects(done, (e) => e.code === 'Refused' && e.reason === 'BadToken' && e.detail === 'signature');
  assert.deepEqual(h.of('refused').map(({ type, ...d }) => d), [{ reason: 'BadToken', detail: 'signature' }]);
  assert.deepEqual(h.of('disconnected').map(({ type, ...d }) => d), [
    { reason: 'BadToken', detail: 'signature', willReconnect: false, retryInMs: null },
  ]);
  assert.equal(h.last().closed, true);
  assert.equal(h.client.state, 'closed');
  h.timers.advance(60000);
  await flush();
  assert.equal(h.joins(), 1);
  assert.equal(h.transports.length, 1);

  for (const reason of ['Banned', 'WrongSpace', 'VersionMismatch']) {
    const r = setup();
    r.client.connect().catch(() => {});
    await flush();
    r.last().deliver({ type: 'Refusal', reason, detail: '' });
    r.timers.advance(60000);
    await flush();
    assert.equal(r.joins(), 1, reason);
  }
});

test('a transient refusal (ServerFull) is retried with a fresh join', async () => {
  const h = setup();
  const done = h.client.connect();
  await flush();
  h.last().deliver({ type: 'Refusal', reason: 'ServerFull', detail: '' });
  assert.equal(h.of('disconnected')[0].willReconnect, true);
  h.timers.advance(h.of('disconnected')[0].retryInMs);
  await flush();
  assert.equal(h.joins(), 2);
  assert.equal(h.last().stream[0].authToken, 'token-2');
  h.last().deliver(WELCOME);
  await done;
});

test('after a lost connection: exponential backoff with jitter, a fresh join each attempt', async () => {
  const h = await connected({ client: { reconnect: { initialDelayMs: 500, maxDelayMs: 4000 } } });
  h.t.deliver(snapshot(10, [entity(7, 0, 0), entity(9, 64, 0)]));
  h.t.lose();
  const d = h.of('disconnected');
  // random() = 0.5: half of the base delay fixed plus a quarter.
  assert.deepEqual(d.map(({ type, ...x }) => x), [{ reason: 'TransportClosed', detail: 'test', willReconnect: true, retryInMs: 375 }]);
  assert.equal(h.client.state, 'waiting');
  assert.equal(h.client.connected, false);
  // The world is kept while reconnecting: no 'left' events.
  assert.equal(h.of('left').length, 0);

  // Every attempt fails at the transport: delays double up to the maximum.
  const openFails = (t) => t.lose();
  h.timers.advance(374);
  await flush();
  assert.equal(h.joins(), 1);
  h.timers.advance(1);
  await flush();
  assert.equal(h.joins(), 2);
  assert.equal(h.last().stream[0].authToken, 'token-2');
  openFails(h.last());
  const delays = [];
  for (let i = 0; i < 4; i++) {
    const delay = h.of('disconnected').at(-1).retryInMs;
    delays.push(delay);
    h.timers.advance(delay);
    await flush();
    openFails(h.last());
  }
  assert.deepEqual(delays, [750, 1500, 3000, 3000]);
  assert.equal(h.joins(), 6);

  // Success resets the backoff; the old world is diffed against the new keyframe.
  h.timers.advance(h.of('disconnected').at(-1).retryInMs);
  await flush();
  h.last().deliver(WELCOME);
  assert.equal(h.client.connected, true);
  assert.equal(h.client.stats().reconnects, 6);
  h.last().deliver(snapshot(500, [entity(7, 0, 0), entity(10, 0, 0)]));
  assert.deepEqual(h.of('left').map((e) => e.id), [9]);
  assert.deepEqual(h.of('entered').map((e) => e.id), [7, 9, 10]);
  h.last().lose();
  assert.equal(h.of('disconnected').at(-1).retryInMs, 375);
});

test('reconnects after ServerShutdown, not after Kicked', async () => {
  const h = await connected();
  h.t.deliver({ type: 'Disconnect', reason: 'ServerShutdown' });
  assert.equal(h.t.closed, true);
  assert.equal(h.of('disconnected')[0].reason, 'ServerShutdown');
  assert.equal(h.of('disconnected')[0].willReconnect, true);
  h.timers.advance(1000);
  await flush();
  assert.equal(h.joins(), 2);
  h.last().deliver(WELCOME);
  h.last().deliver(snapshot(5, [entity(7, 0, 0)]));
  h.last().deliver({ type: 'Disconnect', reason: 'Kicked' });
  assert.deepEqual(h.of('disconnected').at(-1), { type: 'disconnected', reason: 'Kicked', detail: '', willReconnect: false, retryInMs: null });
  assert.deepEqual(h.of('left').map((e) => e.id), [7]);
  h.timers.advance(60000);
  await flush();
  assert.equal(h.joins(), 2);
});

test('a room that moved (a drained shard) is joined again at once, with no backoff', async () => {
  const h = await connected();
  h.t.deliver({ type: 'Disconnect', reason: 'Moved' });
  const ended = h.of('disconnected').at(-1);
  assert.equal(ended.reason, 'Moved');
  assert.equal(ended.willReconnect, true);
  assert.equal(ended.retryInMs, 0);
  assert.match(ended.detail, /moved to another server/);
  h.timers.advance(0);
  await flush();
  assert.equal(h.joins(), 2);
});

test('a replaced session is reported with its own reason and not retried', async () => {
  const h = await connected();
  h.t.deliver({ type: 'Disconnect', reason: 'SessionReplaced' });
  const ended = h.of('disconnected').at(-1);
  assert.equal(ended.reason, 'SessionReplaced');
  assert.equal(ended.willReconnect, false);
  assert.match(ended.detail, /connected again elsewhere/);
  assert.equal(h.client.state, 'closed');
  h.timers.advance(60000);
  await flush();
  assert.equal(h.joins(), 1, 'coming back would end the newer session');
});

test('the Welcome\'s limits are exposed, and the speed sent is at most maxSpeed', async () => {
  const h = setup();
  assert.equal(h.client.limits, null);
  const done = h.client.connect();
  await flush();
  h.t = h.last();
  h.t.deliver(WELCOME);
  const detail = await done;
  assert.deepEqual(detail.limits, LIMITS);
  assert.deepEqual(h.client.limits, LIMITS);
  h.client.limits.maxSpeed = 99; // a copy: the client's own stays
  assert.equal(h.client.limits.maxSpeed, 6);
  h.client.setIntent({ moveX: 1, moveY: 0, speed: 9, heading: 0, animation: 'Run' });
  h.timers.advance(50);
  const inputs = h.t.datagrams.filter((m) => m.type === 'Input');
  assert.ok(inputs.length > 0, 'an input was sent');
  assert.equal(inputs.at(-1).intent.speed, 6);
  assert.equal(h.client.intent.speed, 9, 'the intent itself is kept');
});

test('SettingsChanged: new limits and tick rate, inputs follow the new rate, a settings event', async () => {
  const h = await connected();
  assert.equal(h.client.tickRateHz, 20);
  assert.equal(h.client.interpolationDelayMs, 100);
  h.client.setIntent({ moveX: 1, moveY: 0, speed: 9, heading: 0, animation: 'Run' });
  const inputsOver = (ms) => {
    const before = h.t.datagrams.filter((m) => m.type === 'Input').length;
    h.timers.advance(ms);
    return h.t.datagrams.filter((m) => m.type === 'Input').length - before;
  };
  assert.equal(inputsOver(1000), 20);
  const limits = { ...LIMITS, maxSpeed: 4, interestRadius: 12.5 };
  h.t.deliver({ type: 'SettingsChanged', tick: 500, tickRateHz: 10, limits });
  assert.deepEqual(h.of('settings'), [{ type: 'settings', tick: 500, tickRateHz: 10, limits }]);
  assert.deepEqual(h.client.limits, limits);
  assert.equal(h.client.tickRateHz, 10);
  assert.equal(h.client.interpolationDelayMs, 200);
  assert.equal(inputsOver(1000), 10, 'one input per tick at the new rate');
  assert.equal(h.t.datagrams.filter((m) => m.type === 'Input').at(-1).intent.speed, 4);
  assert.equal(h.client.state, 'connected');
  // Snapshots go on at the new rate without a hitch.
  h.t.deliver(snapshot(501, [entity(7, 10, 10)]));
  assert.equal(h.client.stats().snapshots, 1);
});

test('a SettingsChanged before the Welcome breaks the handshake', async () => {
  const h = setup();
  h.client.connect().catch(() => {});
  await flush();
  h.t = h.last();
  h.t.deliver({ type: 'SettingsChanged', tick: 1, tickRateHz: 10, limits: LIMITS });
  assert.equal(h.of('disconnected')[0].reason, 'ProtocolError');
});

test('a silent handshake times out and is retried; maxAttempts gives up', async () => {
  const h = setup({ client: { reconnect: { maxAttempts: 2 }, handshakeTimeoutMs: 5000 } });
  const done = h.client.connect();
  await flush();
  h.timers.advance(5000);
  assert.equal(h.of('disconnected')[0].reason, 'HandshakeTimeout');
  assert.equal(h.transports[0].closed, true);
  for (let i = 0; i < 2; i++) {
    h.timers.advance(h.of('disconnected').at(-1).retryInMs);
    await flush();
    h.timers.advance(5000);
  }
  assert.equal(h.joins(), 3);
  const last = h.of('disconnected').at(-1);
  assert.equal(last.willReconnect, false);
  await assert.rejects(done, (e) => e.code === 'Disconnected');
  assert.equal(h.client.state, 'closed');
});

test('a join that fails is retried, unless it says retry: false', async () => {
  let calls = 0;
  const h = setup({
    client: {
      join: async () => {
        calls++;
        if (calls === 1) throw new Error('network down');
        const err = new Error('logged out');
        err.retry = false;
        throw err;
      },
    },
  });
  const done = assert.rejects(h.client.connect(), (e) => e.code === 'Disconnected' && e.reason === 'JoinFailed');
  await flush();
  assert.equal(h.of('disconnected')[0].reason, 'JoinFailed');
  assert.equal(h.of('disconnected')[0].willReconnect, true);
  h.timers.advance(1000);
  await flush();
  assert.equal(calls, 2);
  assert.equal(h.of('disconnected')[1].willReconnect, false);
  await done;
});

test('close() sends Disconnect(ClientQuit), ends everything and never reconnects', async () => {
  const h = await connected();
  h.t.deliver(snapshot(10, [entity(7, 0, 0), entity(9, 0, 0)]));
  const pending = h.client.changeInventory('apple', 1);
  h.client.close();
  assert.deepEqual(h.t.stream.at(-1), { type: 'Disconnect', reason: 'ClientQuit' });
  assert.equal(h.t.closed, true);
  await assert.rejects(pending, (e) => e.code === 'Closed');
  assert.deepEqual(h.of('disconnected').map(({ type, ...d }) => d), [
    { reason: 'ClientQuit', detail: '', willReconnect: false, retryInMs: null },
  ]);
  assert.deepEqual(h.of('left').map((e) => e.id).sort(), [7, 9]);
  assert.equal(h.client.sample().length, 0);
  const datagrams = h.t.datagrams.length;
  h.timers.advance(60000);
  await flush();
  assert.equal(h.joins(), 1);
  assert.equal(h.t.datagrams.length, datagrams);
  assert.equal(h.timers.pending.size, 0, 'no timers left running');
  h.client.close(); // twice is fine
});

test('close() while waiting to reconnect or while joining stops the attempt', async () => {
  const h = await connected();
  h.t.lose();
  h.client.close();
  h.timers.advance(60000);
  await flush();
  assert.equal(h.joins(), 1);

  let release;
  const slow = setup({ client: { join: () => new Promise((r) => (release = r)) } });
  const done = slow.client.connect();
  await flush();
  slow.client.close();
  await assert.rejects(done, (e) => e.code === 'Closed');
  release({ token: 't', websocket_url: 'ws://x', webtransport_url: 'https://x' });
  await flush();
  assert.equal(slow.transports.length, 0);
  // connect() may start again after close().
  const again = setup();
  again.client.close();
  const p = again.client.connect();
  await flush();
  again.last().deliver(WELCOME);
  await p;
});

test('a garbled stream message or an early message breaks the connection', async () => {
  const h = await connected();
  h.t.onStream(Uint8Array.of(0x63));
  assert.equal(h.of('disconnected')[0].reason, 'ProtocolError');
  assert.equal(h.of('disconnected')[0].willReconnect, true);

  const e = setup();
  e.client.connect();
  await flush();
  e.last().deliver({ type: 'Chat', from: 1, channel: 'Zone', text: 'too early' });
  assert.equal(e.of('disconnected')[0].reason, 'ProtocolError');
});

test('a new zone on reconnect clears the old world', async () => {
  const h = await connected();
  h.t.deliver(snapshot(10, [entity(7, 0, 0), entity(9, 0, 0)]));
  h.t.deliver({ type: 'Disconnect', reason: 'ServerShutdown' });
  h.timers.advance(1000);
  await flush();
  h.last().deliver({ ...WELCOME, zoneId: 4, avatarId: 21 });
  assert.deepEqual(h.of('left').map((e) => e.id).sort(), [7, 9]);
  assert.equal(h.client.avatarId, 21);
  h.last().deliver(snapshot(3, [entity(21, 0, 0)]));
  assert.deepEqual(h.of('entered').map((e) => [e.id, e.self]), [[7, true], [9, false], [21, true]]);
});

// ---------------------------------------------------------------------------
// The browser transports, against stand-ins for WebSocket and WebTransport

class StubWebSocket {
  static instances = [];
  static refuse = false;
  constructor(url) {
    this.url = url;
    this.sent = [];
    this.bufferedAmount = 0;
    this.closedWith = null;
    StubWebSocket.instances.push(this);
    setImmediate(() => (StubWebSocket.refuse ? this.onerror?.({}) : this.onopen?.({})));
  }
  send(data) {
    this.sent.push(new Uint8Array(data));
  }
  close(code) {
    this.closedWith = code ?? 1005;
  }
  /** The server sends one binary message. */
  receive(bytes) {
    this.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
  }
}

class StubWebTransport {
  static instances = [];
  static fail = false;
  constructor(url, options) {
    this.url = url;
    this.options = options;
    this.streamChunks = [];
    this.datagramsOut = [];
    this.closeCalls = 0;
    let resolveClosed;
    this.closed = new Promise((r) => (resolveClosed = r));
    this.resolveClosed = resolveClosed;
    this.ready = StubWebTransport.fail ? Promise.reject(new Error('QUIC handshake failed')) : Promise.resolve();
    this.datagrams = {
      readable: new ReadableStream({ start: (c) => (this.datagramIn = c) }),
      writable: new WritableStream({ write: (chunk) => void this.datagramsOut.push(chunk) }),
    };
    StubWebTransport.instances.push(this);
  }
  async createBidirectionalStream() {
    return {
      readable: new ReadableStream({ start: (c) => (this.streamIn = c) }),
      writable: new WritableStream({ write: (chunk) => void this.streamChunks.push(chunk) }),
    };
  }
  close() {
    this.closeCalls++;
    this.resolveClosed({ closeCode: 0, reason: '' });
  }
  /** What the client wrote on the stream, as messages. */
  streamMessages() {
    const frames = new FrameDecoder();
    return this.streamChunks.flatMap((c) => frames.push(c)).map((m) => decodeClientMessage(m, 'stream'));
  }
}

function withGlobals(globals, fn) {
  return async () => {
    const saved = {};
    for (const [k, v] of Object.entries(globals)) {
      saved[k] = Object.getOwnPropertyDescriptor(globalThis, k);
      Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
    }
    try {
      await fn();
    } finally {
      for (const [k, d] of Object.entries(saved)) {
        if (d) Object.defineProperty(globalThis, k, d);
        else delete globalThis[k];
      }
    }
  };
}

const JOIN = {
  token: 'realtime-token',
  webtransport_url: 'https://127.0.0.1:4433/meridian',
  websocket_url: 'ws://127.0.0.1:8080/api/v1/ws',
  certificate_sha256: '00ff10'.padEnd(64, 'a'),
};

test('WebSocket transport: a channel byte, then one message', withGlobals({ WebSocket: StubWebSocket }, async () => {
  StubWebSocket.instances = [];
  const timers = new FakeTimers();
  const client = new MeridianClient({ join: async () => JOIN, transport: 'websocket', now: () => timers.now, timers });
  const done = client.connect();
  await flush();
  await flush();
  const ws = StubWebSocket.instances[0];
  assert.equal(ws.url, JOIN.websocket_url);
  assert.equal(ws.binaryType, 'arraybuffer');
  const hello = encodeClientMessage({ type: 'Hello', protocolVersion: PROTOCOL_VERSION, authToken: 'realtime-token' });
  assert.deepEqual(ws.sent, [Uint8Array.of(0, ...hello)]);
  ws.receive(Uint8Array.of(0, ...encodeServerMessage(WELCOME)));
  assert.equal((await done).transport, 'websocket');
  ws.receive(Uint8Array.of(1, ...encodeServerMessage(snapshot(9, [entity(7, 64, 0)]))));
  assert.equal(client.entity(7).x, 1);
  const ack = encodeClientMessage({ type: 'Ack', snapshotTick: 9 });
  assert.deepEqual(ws.sent.at(-1), Uint8Array.of(1, ...ack));
  // A stream message on the datagram channel byte is refused by the codec and dropped.
  ws.receive(Uint8Array.of(1, ...encodeServerMessage({ type: 'Chat', from: 7, channel: 'Zone', text: 'x' })));
  assert.equal(client.stats().decodeErrors, 1);
  // An unknown channel byte breaks the connection.
  const lost = new Promise((r) => client.addEventListener('disconnected', (e) => r(e.detail), { once: true }));
  ws.receive(Uint8Array.of(2, 0));
  const d = await lost;
  assert.equal(d.reason, 'ProtocolError');
  assert.equal(d.willReconnect, true);
  client.close();
}));

test('WebTransport transport: pinned certificate, framed stream, datagrams', withGlobals({ WebTransport: StubWebTransport }, async () => {
  StubWebTransport.instances = [];
  StubWebTransport.fail = false;
  const timers = new FakeTimers();
  const client = new MeridianClient({ join: async () => JOIN, now: () => timers.now, timers });
  const done = client.connect();
  await flush();
  await flush();
  const wt = StubWebTransport.instances[0];
  assert.equal(wt.url, JOIN.webtransport_url);
  const pin = wt.options.serverCertificateHashes;
  assert.equal(pin.length, 1);
  assert.equal(pin[0].algorithm, 'sha-256');
  assert.equal(pin[0].value.length, 32);
  assert.deepEqual([...pin[0].value.slice(0, 4)], [0x00, 0xff, 0x10, 0xaa]);
  assert.deepEqual(wt.streamMessages(), [{ type: 'Hello', protocolVersion: PROTOCOL_VERSION, authToken: 'realtime-token' }]);
  assert.deepEqual(wt.streamChunks[0], encodeFrame(encodeClientMessage({ type: 'Hello', protocolVersion: PROTOCOL_VERSION, authToken: 'realtime-token' })));

  // The Welcome and a Presence arrive split across chunks.
  const bytes = Uint8Array.of(...encodeFrame(encodeServerMessage(WELCOME)), ...encodeFrame(encodeServerMessage({ type: 'Presence', avatar: 7, name: 'Ada' })));
  wt.streamIn.enqueue(bytes.slice(0, 3));
  wt.streamIn.enqueue(bytes.slice(3));
  assert.equal((await done).transport, 'webtransport');
  await flush();
  assert.equal(client.names.get(7), 'Ada');

  wt.datagramIn.enqueue(encodeServerMessage(snapshot(4, [entity(7, 128, 64)])));
  await flush();
  assert.equal(client.entity(7).x, 2);
  assert.equal(client.entity(7).name, 'Ada');
  assert.deepEqual(decodeClientMessage(wt.datagramsOut.at(-1), 'datagram'), { type: 'Ack', snapshotTick: 4 });

  client.say('bye');
  client.close();
  await flush();
  const sent = wt.streamMessages();
  assert.deepEqual(sent.slice(-2), [{ type: 'Chat', channel: 'Zone', text: 'bye' }, { type: 'Disconnect', reason: 'ClientQuit' }]);
  assert.ok(wt.closeCalls >= 1);
}));

test('auto: a failing WebTransport falls back to WebSocket', withGlobals({ WebTransport: StubWebTransport, WebSocket: StubWebSocket }, async () => {
  StubWebTransport.instances = [];
  StubWebSocket.instances = [];
  StubWebTransport.fail = true;
  const timers = new FakeTimers();
  const client = new MeridianClient({ join: async () => JOIN, now: () => timers.now, timers });
  const done = client.connect();
  for (let i = 0; i < 5 && StubWebSocket.instances.length === 0; i++) await flush();
  await flush();
  assert.equal(StubWebTransport.instances.length, 1);
  const ws = StubWebSocket.instances[0];
  ws.receive(Uint8Array.of(0, ...encodeServerMessage(WELCOME)));
  assert.equal((await done).transport, 'websocket');
  client.close();
  assert.equal(ws.closedWith, 1000);
  StubWebTransport.fail = false;
}));

test('the server closing the WebTransport session is a loss, and is retried', withGlobals({ WebTransport: StubWebTransport }, async () => {
  StubWebTransport.instances = [];
  const timers = new FakeTimers();
  const client = new MeridianClient({ join: async () => JOIN, now: () => timers.now, timers, random: () => 0 });
  const done = client.connect();
  await flush();
  await flush();
  const wt = StubWebTransport.instances[0];
  wt.streamIn.enqueue(encodeFrame(encodeServerMessage(WELCOME)));
  await done;
  const lost = new Promise((r) => client.addEventListener('disconnected', (e) => r(e.detail), { once: true }));
  wt.streamIn.close();
  const d = await lost;
  assert.equal(d.reason, 'TransportClosed');
  assert.deepEqual([d.willReconnect, d.retryInMs], [true, 250]);
  timers.advance(250);
  await flush();
  await flush();
  assert.equal(StubWebTransport.instances.length, 2);
  client.close();
}));

test('voice messages go to client.voice and keep the connection (they ended it before protocol 5 was read)', async () => {
  const h = await connected();
  h.t.deliver({ type: 'VoiceLines', lines: [{ slot: '3', speaker: 9, distance: 6 }] });
  h.t.deliver({ type: 'VoiceRefused', reason: 'VoiceDisabled', detail: '' });
  await flush();
  assert.equal(h.client.state, 'connected');
  assert.equal(h.of('disconnected').length, 0);
  assert.deepEqual(h.client.voice.lines().map((l) => [l.slot, l.speaker, l.distance]), [['3', 9, 6]]);
});
