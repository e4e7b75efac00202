// Meridian web client library.
//
// MeridianClient joins a space, connects over WebTransport (or WebSocket as a
// fallback), keeps the world view up to date from snapshots, and hands the
// game interpolated entity states to draw. It does no rendering itself.
//
// Layers, bottom up:
// - transports: a tiny interface, {sendStream(bytes), sendDatagram(bytes),
//   onStream, onDatagram, onClose, close()}, carrying whole encoded messages.
//   WebTransport frames stream messages with a varint length; WebSocket puts
//   a channel byte in front of each message. Tests plug in an in-memory one.
// - the session (MeridianClient): handshake, snapshots and acks, events,
//   inputs, stats and reconnection.

import {
  ANIMATIONS,
  CHAT_CHANNELS,
  PROTOCOL_VERSION,
  ProtocolError,
  encodeClientMessage,
  decodeServerMessage,
  encodeFrame,
  FrameDecoder,
  SnapshotRing,
  dequantizePosition,
  dequantizeHeading,
} from './protocol.js';
import { InterpolationBuffer, TickClock } from './interpolation.js';

export { ANIMATIONS, CHAT_CHANNELS, PROTOCOL_VERSION, ProtocolError };

/** Refusals after which trying again with a fresh join can succeed. */
const DEFAULT_RETRY_REFUSALS = ['TokenExpired', 'ServerFull', 'TooManyConnections', 'Draining'];
/** Server Disconnect reasons after which the client does not come back. */
const FINAL_DISCONNECTS = new Set(['ClientQuit', 'Kicked']);

const STATS_WINDOW_MS = 2000;
const MAX_NAMES = 4096;
const MAX_PENDING_RTT = 256;
const WS_MAX_BUFFERED = 256 * 1024;

/** An error from the client, with a short `code` ('NotConnected', 'Refused', ...). */
export class MeridianError extends Error {
  /**
   * @param {string} code
   * @param {string} [message]
   * @param {object} [extra] copied onto the error (reason, detail, ...)
   */
  constructor(code, message, extra) {
    super(message || code);
    this.name = 'MeridianError';
    this.code = code;
    if (extra) Object.assign(this, extra);
  }
}

// ---------------------------------------------------------------------------
// Transports

/**
 * The interface every transport offers. Messages are whole encoded protocol
 * messages (no length prefix, no channel byte): the transport adds and strips
 * its own framing.
 *
 * @typedef {object} Transport
 * @property {string} kind 'webtransport' | 'websocket' | anything a test uses
 * @property {(bytes: Uint8Array) => void} sendStream reliable, ordered
 * @property {(bytes: Uint8Array) => void} sendDatagram unreliable; may be dropped
 * @property {((bytes: Uint8Array) => void) | null} onStream one call per message
 * @property {((bytes: Uint8Array) => void) | null} onDatagram one call per message
 * @property {((info: {reason: string, detail: string}) => void) | null} onClose
 *   called once when the connection ends without close() having been called;
 *   reason 'ProtocolError' for bad framing, otherwise 'TransportClosed'
 * @property {() => void} close ends the connection after what was already sent;
 *   no callback follows
 *
 * The server speaks only after the client's Hello, so the session can set the
 * callbacks after open resolves and before it sends anything.
 */

/**
 * Opens a transport. Resolves when it can carry messages.
 * @callback OpenTransport
 * @param {'webtransport'|'websocket'} kind
 * @param {object} join the join response
 * @param {{timeoutMs: number}} options
 * @returns {Promise<Transport>}
 */

/** @param {string} hex */
function hexToBytes(hex) {
  const clean = String(hex).replace(/[^0-9a-fA-F]/g, '');
  if (clean.length % 2) throw new MeridianError('BadJoin', 'certificate hash has an odd number of hex digits');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * Rejects if `promise` does not settle within `ms`.
 * @template T @param {Promise<T>} promise @param {number} ms @param {string} what
 * @returns {Promise<T>}
 */
function withTimeout(promise, ms, what) {
  if (!(ms > 0 && ms < Infinity)) return promise;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new MeridianError('Timeout', `${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

class WebTransportChannel {
  /** @param {any} session a WebTransport @param {any} stream its bidirectional stream */
  constructor(session, stream) {
    this.kind = 'webtransport';
    this.onStream = null;
    this.onDatagram = null;
    this.onClose = null;
    this._session = session;
    this._ended = false;
    this._writer = stream.writable.getWriter();
    const datagrams = session.datagrams;
    // createWritable() is the newer API; `writable` the one most browsers ship.
    const out = typeof datagrams.createWritable === 'function' ? datagrams.createWritable() : datagrams.writable;
    this._datagrams = out.getWriter();
    this._readStream(stream.readable.getReader());
    this._readDatagrams(session.datagrams.readable.getReader());
    session.closed.then(
      (info) => this._fail('TransportClosed', (info && info.reason) || 'session closed'),
      (err) => this._fail('TransportClosed', String((err && err.message) || err)),
    );
  }

  sendStream(bytes) {
    if (this._ended) return;
    this._writer.write(encodeFrame(bytes)).catch((err) => this._fail('TransportClosed', String(err)));
  }

  sendDatagram(bytes) {
    if (this._ended) return;
    // Datagrams are fire and forget; a full queue drops them, as the network would.
    this._datagrams.write(bytes).catch(() => {});
  }

  close() {
    if (this._ended) return;
    this._ended = true;
    const session = this._session;
    const shut = () => {
      try {
        session.close({ closeCode: 0, reason: '' });
      } catch {
        // already closed
      }
    };
    // Let queued frames (a Disconnect) leave before the session closes.
    withTimeout(this._writer.close(), 500, 'stream close').then(shut, shut);
  }

  async _readStream(reader) {
    const frames = new FrameDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return this._fail('TransportClosed', 'the server closed the stream');
        if (this._ended) return;
        for (const message of frames.push(value)) {
          if (this._ended) return;
          this.onStream?.(message);
        }
      }
    } catch (err) {
      if (err instanceof ProtocolError) {
        // Deliver the frames completed before the bad prefix, then give up.
        for (const message of err.frames ?? []) {
          if (this._ended) return;
          this.onStream?.(message);
        }
        this._fail('ProtocolError', err.message);
      } else {
        this._fail('TransportClosed', String((err && err.message) || err));
      }
    }
  }

  async _readDatagrams(reader) {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || this._ended) return;
        this.onDatagram?.(value);
      }
    } catch {
      // the session's closed promise reports the end
    }
  }

  _fail(reason, detail) {
    if (this._ended) return;
    this._ended = true;
    try {
      this._session.close();
    } catch {
      // already closed
    }
    this.onClose?.({ reason, detail });
  }
}

/** @type {OpenTransport} */
async function openWebTransport(kind, join, { timeoutMs }) {
  const WT = globalThis.WebTransport;
  if (typeof WT !== 'function') throw new MeridianError('Unsupported', 'this browser has no WebTransport');
  if (!join.webtransport_url) throw new MeridianError('BadJoin', 'the join response has no webtransport_url');
  const options = {};
  if (join.certificate_sha256) {
    options.serverCertificateHashes = [{ algorithm: 'sha-256', value: hexToBytes(join.certificate_sha256) }];
  }
  const session = new WT(join.webtransport_url, options);
  session.ready.catch(() => {});
  session.closed.catch(() => {});
  try {
    await withTimeout(session.ready, timeoutMs, 'WebTransport connect');
    const stream = await withTimeout(session.createBidirectionalStream(), timeoutMs, 'opening the stream');
    return new WebTransportChannel(session, stream);
  } catch (err) {
    try {
      session.close();
    } catch {
      // never opened
    }
    throw err;
  }
}

class WebSocketChannel {
  /** @param {WebSocket} socket an open WebSocket */
  constructor(socket) {
    this.kind = 'websocket';
    this.onStream = null;
    this.onDatagram = null;
    this.onClose = null;
    this._socket = socket;
    this._ended = false;
    socket.onmessage = (event) => this._receive(event.data);
    socket.onclose = (event) => this._fail('TransportClosed', `WebSocket closed (${event.code})`);
    socket.onerror = () => this._fail('TransportClosed', 'WebSocket error');
  }

  sendStream(bytes) {
    this._send(0, bytes, false);
  }

  sendDatagram(bytes) {
    this._send(1, bytes, true);
  }

  _send(channel, bytes, droppable) {
    if (this._ended) return;
    // A stalled socket would queue stale inputs; drop "datagrams" instead.
    if (droppable && this._socket.bufferedAmount > WS_MAX_BUFFERED) return;
    const out = new Uint8Array(bytes.length + 1);
    out[0] = channel;
    out.set(bytes, 1);
    try {
      this._socket.send(out);
    } catch (err) {
      this._fail('TransportClosed', String(err));
    }
  }

  _receive(data) {
    if (this._ended) return;
    if (!(data instanceof ArrayBuffer) || data.byteLength < 1) {
      return this._fail('ProtocolError', 'expected a binary WebSocket message with a channel byte');
    }
    const bytes = new Uint8Array(data);
    const body = bytes.subarray(1);
    if (bytes[0] === 0) this.onStream?.(body);
    else if (bytes[0] === 1) this.onDatagram?.(body);
    else this._fail('ProtocolError', `unknown WebSocket channel byte ${bytes[0]}`);
  }

  close() {
    if (this._ended) return;
    this._ended = true;
    // close() lets already queued messages go first.
    try {
      this._socket.close(1000);
    } catch {
      // already closed
    }
  }

  _fail(reason, detail) {
    if (this._ended) return;
    this._ended = true;
    try {
      this._socket.close();
    } catch {
      // already closed
    }
    this.onClose?.({ reason, detail });
  }
}

/** Turns a relative or http(s) URL into a ws(s) one. @param {string} url */
function webSocketUrl(url) {
  const base = globalThis.location ? globalThis.location.href : undefined;
  const u = new URL(url, base);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  return u.toString();
}

/** @type {OpenTransport} */
async function openWebSocket(kind, join, { timeoutMs }) {
  const WS = globalThis.WebSocket;
  if (typeof WS !== 'function') throw new MeridianError('Unsupported', 'this environment has no WebSocket');
  if (!join.websocket_url) throw new MeridianError('BadJoin', 'the join response has no websocket_url');
  const socket = new WS(webSocketUrl(join.websocket_url));
  socket.binaryType = 'arraybuffer';
  const opened = new Promise((resolve, reject) => {
    socket.onopen = () => resolve(undefined);
    socket.onerror = () => reject(new MeridianError('ConnectFailed', 'WebSocket connection failed'));
    socket.onclose = (e) => reject(new MeridianError('ConnectFailed', `WebSocket closed (${e.code})`));
  });
  try {
    await withTimeout(opened, timeoutMs, 'WebSocket connect');
  } catch (err) {
    try {
      socket.close();
    } catch {
      // never opened
    }
    throw err;
  }
  return new WebSocketChannel(socket);
}

/** The browser transports. @type {OpenTransport} */
export function openBrowserTransport(kind, join, options) {
  return kind === 'webtransport' ? openWebTransport(kind, join, options) : openWebSocket(kind, join, options);
}

// ---------------------------------------------------------------------------
// Small helpers

/** Sums values over a sliding time window. */
class Window {
  constructor(ms) {
    this.ms = ms;
    /** @type {number[]} */ this.times = [];
    /** @type {number[]} */ this.values = [];
    this.total = 0;
  }
  add(now, value) {
    this.times.push(now);
    this.values.push(value);
    this.total += value;
    this.trim(now);
  }
  trim(now) {
    let n = 0;
    while (n < this.times.length && this.times[n] <= now - this.ms) {
      this.total -= this.values[n];
      n++;
    }
    if (n) {
      this.times.splice(0, n);
      this.values.splice(0, n);
    }
  }
  sum(now) {
    this.trim(now);
    return this.total;
  }
  count(now) {
    this.trim(now);
    return this.times.length;
  }
  clear() {
    this.times.length = 0;
    this.values.length = 0;
    this.total = 0;
  }
}

const utf8 = new TextEncoder();

function isFiniteNumber(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

// ---------------------------------------------------------------------------
// The client

/**
 * @typedef {object} EntityView
 * @property {number} id
 * @property {string} kind 'Avatar' | 'Element' | 'Npc'
 * @property {number} appearance
 * @property {number} x metres
 * @property {number} y metres
 * @property {number} heading radians in [0, 2π)
 * @property {string} animation
 * @property {string|null} name the avatar's display name, once known
 * @property {boolean} self true for the client's own avatar
 */

/**
 * A connection to one Meridian space, with automatic reconnection.
 * Events (CustomEvent, data in `event.detail`): connected, entered, left,
 * moved, presence, chat, inventory, refused, disconnected.
 */
export class MeridianClient extends EventTarget {
  /**
   * @param {object} options
   * @param {() => Promise<object>} options.join fetches a join response; called
   *   before every (re)connect. An error it throws with `retry === false` stops
   *   reconnecting.
   * @param {'auto'|'webtransport'|'websocket'} [options.transport='auto']
   * @param {number} [options.interpolationDelayMs] default two tick intervals
   * @param {{initialDelayMs?: number, maxDelayMs?: number, maxAttempts?: number,
   *   retryRefusals?: string[]}} [options.reconnect]
   * @param {number} [options.connectTimeoutMs=3000] per transport attempt
   * @param {number} [options.handshakeTimeoutMs=10000] Hello to Welcome
   * @param {number} [options.idleTimeoutMs=10000] silence that counts as a lost connection
   * @param {number} [options.heartbeatMs=1000] resend the newest Ack after this long without a datagram
   * @param {number} [options.inventoryTimeoutMs=15000]
   * @param {{maxSamples?: number, maxExtrapolationMs?: number, snapDistance?: number}} [options.interpolation]
   * @param {OpenTransport} [options.openTransport] replaces the browser transports (tests)
   * @param {boolean} [options.webTransportAvailable] default: globalThis.WebTransport exists
   * @param {() => number} [options.now] clock in ms, default performance.now()
   * @param {() => number} [options.random] in [0, 1), default Math.random (backoff jitter)
   * @param {{setTimeout: Function, clearTimeout: Function, setInterval: Function, clearInterval: Function}} [options.timers]
   */
  constructor(options) {
    super();
    if (!options || typeof options.join !== 'function') throw new TypeError('MeridianClient needs a join() function');
    const transport = options.transport ?? 'auto';
    if (!['auto', 'webtransport', 'websocket'].includes(transport)) {
      throw new TypeError(`unknown transport ${transport}`);
    }
    const rc = options.reconnect ?? {};
    this._opts = {
      join: options.join,
      transport,
      reconnect: {
        initialDelayMs: rc.initialDelayMs ?? 500,
        maxDelayMs: rc.maxDelayMs ?? 8000,
        maxAttempts: rc.maxAttempts ?? Infinity,
        retryRefusals: new Set(rc.retryRefusals ?? DEFAULT_RETRY_REFUSALS),
      },
      connectTimeoutMs: options.connectTimeoutMs ?? 3000,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10000,
      idleTimeoutMs: options.idleTimeoutMs ?? 10000,
      heartbeatMs: options.heartbeatMs ?? 1000,
      inventoryTimeoutMs: options.inventoryTimeoutMs ?? 15000,
      interpolation: options.interpolation ?? {},
      openTransport: options.openTransport ?? openBrowserTransport,
      webTransportAvailable: options.webTransportAvailable ?? typeof globalThis.WebTransport === 'function',
    };
    this._now = options.now ?? (() => globalThis.performance.now());
    this._random = options.random ?? Math.random;
    const t = options.timers ?? globalThis;
    this._timers = {
      setTimeout: t.setTimeout.bind(t),
      clearTimeout: t.clearTimeout.bind(t),
      setInterval: t.setInterval.bind(t),
      clearInterval: t.clearInterval.bind(t),
    };
    /** @type {number|undefined} */
    this._delayOverride = options.interpolationDelayMs;

    /** 'idle' | 'connecting' | 'connected' | 'waiting' | 'closed' */
    this._state = 'idle';
    this._generation = 0;
    this._failures = 0; // consecutive failed attempts since the last Welcome
    this._conn = null;
    this._retryTimer = null;
    this._connectWaiters = [];
    /** Transport auto mode fell back to WebSocket and WebSocket worked: stay there. */
    this._preferWebSocket = false;

    /** @type {Map<number, any>} id -> entity record */
    this._entities = new Map();
    /** @type {Map<number, string>} */
    this.names = new Map();
    this._world = null; // {avatarId, zoneId, zoneWidth, zoneHeight, tickRateHz}
    this._intent = null;
    this._nextRequest = 1;
    this._pending = new Map();

    this._in = new Window(STATS_WINDOW_MS);
    this._out = new Window(STATS_WINDOW_MS);
    this._snaps = new Window(STATS_WINDOW_MS);
    this._rtt = new Window(STATS_WINDOW_MS);
    this._lastRtt = null;
    this._counters = { snapshots: 0, decodeErrors: 0, staleSnapshots: 0, reconnects: 0 };
  }

  // ---- public API --------------------------------------------------------

  /** 'idle' | 'connecting' | 'connected' | 'waiting' (to reconnect) | 'closed' */
  get state() {
    return this._state;
  }

  /** True while a connection is open (welcomed). */
  get connected() {
    return this._state === 'connected';
  }

  /** The own avatar's network id, or null before the first Welcome. */
  get avatarId() {
    return this._world ? this._world.avatarId : null;
  }

  /** The interpolation delay in ms (explicit, or two tick intervals). */
  get interpolationDelayMs() {
    if (this._delayOverride !== undefined) return this._delayOverride;
    return this._world ? 2000 / this._world.tickRateHz : 100;
  }

  set interpolationDelayMs(ms) {
    this._delayOverride = ms === undefined || ms === null ? undefined : Math.max(0, Number(ms));
  }

  /**
   * Connects (joining first). Resolves with the 'connected' detail at the first
   * Welcome; rejects with a MeridianError if the server refuses for good, the
   * attempts run out, or close() is called first. Lost connections are
   * re-established automatically afterwards.
   * @returns {Promise<object>}
   */
  connect() {
    return new Promise((resolve, reject) => {
      if (this._state === 'connected') {
        resolve(this._connectedDetail());
        return;
      }
      this._connectWaiters.push({ resolve, reject });
      if (this._state === 'idle' || this._state === 'closed') {
        this._failures = 0;
        this._startAttempt();
      }
    });
  }

  /**
   * Sets the movement intent, sent as an Input every tick while connected.
   * moveX/moveY: direction (scaled down to length 1 if longer); speed in m/s;
   * heading in radians; animation one of ANIMATIONS.
   * @param {{moveX?: number, moveY?: number, speed?: number, heading?: number, animation?: string}} intent
   */
  setIntent(intent) {
    const prev = this._intent ?? this._defaultIntent() ?? { moveX: 0, moveY: 0, speed: 0, heading: 0, animation: 'Idle' };
    let moveX = intent.moveX ?? prev.moveX;
    let moveY = intent.moveY ?? prev.moveY;
    const speed = intent.speed ?? prev.speed;
    const heading = intent.heading ?? prev.heading;
    const animation = intent.animation ?? prev.animation;
    for (const [k, v] of [['moveX', moveX], ['moveY', moveY], ['speed', speed], ['heading', heading]]) {
      if (!isFiniteNumber(v)) throw new TypeError(`intent.${k} must be a finite number`);
    }
    if (!ANIMATIONS.includes(animation)) throw new TypeError(`unknown animation ${animation}`);
    const len = Math.hypot(moveX, moveY);
    if (len > 1) {
      moveX /= len;
      moveY /= len;
    }
    this._intent = { moveX, moveY, speed, heading, animation };
  }

  /** The intent being sent, or null if none was set. */
  get intent() {
    return this._intent ? { ...this._intent } : null;
  }

  /**
   * Sends a chat line. Throws a MeridianError('NotConnected') when not
   * connected, and a ProtocolError for text the server would refuse
   * (empty, only whitespace, over 512 bytes, control characters).
   * The line comes back as a 'chat' event when the server relays it.
   * @param {string} text
   * @param {'Zone'|'Proximity'} [channel='Zone']
   */
  say(text, channel = 'Zone') {
    if (!CHAT_CHANNELS.includes(channel)) throw new TypeError(`unknown chat channel ${channel}`);
    const conn = this._openConn();
    if (!conn) throw new MeridianError('NotConnected', 'not connected');
    this._sendStream(conn, { type: 'Chat', channel, text: String(text) });
  }

  /**
   * Asks the server to add `delta` (non-zero integer, -1000..=1000) of `item`.
   * Resolves with {request, item, quantity, status} once the server answers
   * (status 'Applied' or why not). Rejects with MeridianError 'NotConnected',
   * 'Disconnected' (the outcome is unknown: check the inventory again later),
   * 'Timeout' or 'Closed'.
   * @param {string} item
   * @param {number} delta
   */
  changeInventory(item, delta) {
    try {
      item = String(item);
      const itemBytes = utf8.encode(item).length;
      if (itemBytes < 1 || itemBytes > 64) throw new RangeError('item must be 1 to 64 bytes of UTF-8');
      if (!Number.isInteger(delta) || delta === 0 || delta < -1000 || delta > 1000) {
        throw new RangeError('delta must be a non-zero integer from -1000 to 1000');
      }
      const conn = this._openConn();
      if (!conn) throw new MeridianError('NotConnected', 'not connected');
      const request = this._nextRequest;
      // Encode first: the codec refuses what the server would (a blank item...).
      const bytes = encodeClientMessage({ type: 'Inventory', request, item, delta });
      this._nextRequest = request >= 0xffffffff ? 1 : request + 1;
      const promise = new Promise((resolve, reject) => {
        const timer = this._timers.setTimeout(() => {
          this._pending.delete(request);
          reject(new MeridianError('Timeout', `no answer to inventory request ${request}`, { request }));
        }, this._opts.inventoryTimeoutMs);
        this._pending.set(request, { resolve, reject, timer });
      });
      this._writeStream(conn, bytes);
      return promise;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Every entity in view, ready to draw: others interpolated at
   * `nowMs - interpolationDelayMs`, the own avatar at its newest state.
   * Call once per animation frame.
   * @param {number} [nowMs] same clock as performance.now()
   * @returns {EntityView[]}
   */
  sample(nowMs = this._now()) {
    const renderTime = nowMs - this.interpolationDelayMs;
    const selfId = this.avatarId;
    const out = [];
    for (const rec of this._entities.values()) {
      const self = rec.id === selfId;
      const pose = (!self && rec.buffer.sample(renderTime)) || rec.state;
      out.push({
        id: rec.id,
        kind: rec.kind,
        appearance: rec.appearance,
        x: pose.x,
        y: pose.y,
        heading: pose.heading,
        animation: pose.animation,
        name: this.names.get(rec.id) ?? null,
        self,
      });
    }
    return out;
  }

  /** The newest (not interpolated) state of one entity, or null. @param {number} id */
  entity(id) {
    const rec = this._entities.get(id);
    if (!rec) return null;
    return {
      id,
      kind: rec.kind,
      appearance: rec.appearance,
      ...rec.state,
      name: this.names.get(id) ?? null,
      self: id === this.avatarId,
    };
  }

  /**
   * Connection statistics over the last two seconds.
   */
  stats() {
    const now = this._now();
    const conn = this._conn;
    const span = conn && conn.openedAt !== null ? Math.min(STATS_WINDOW_MS, Math.max(1, now - conn.openedAt)) : STATS_WINDOW_MS;
    const perSecond = (v) => (v * 1000) / span;
    const rttCount = this._rtt.count(now);
    return {
      state: this._state,
      transport: conn && this._state === 'connected' ? conn.kind : null,
      connected: this._state === 'connected',
      avatarId: this.avatarId,
      rttMs: rttCount ? this._rtt.sum(now) / rttCount : this._lastRtt,
      snapshotsPerSecond: perSecond(this._snaps.count(now)),
      bytesInPerSecond: perSecond(this._in.sum(now)),
      bytesOutPerSecond: perSecond(this._out.sum(now)),
      tick: conn ? conn.newestTick : null,
      snapshots: this._counters.snapshots,
      decodeErrors: this._counters.decodeErrors,
      staleSnapshots: this._counters.staleSnapshots,
      reconnects: this._counters.reconnects,
    };
  }

  /**
   * Leaves: sends Disconnect(ClientQuit) if connected and closes. No
   * reconnection follows; connect() may be called again later.
   */
  close() {
    if (this._state === 'closed' || this._state === 'idle') {
      this._state = 'closed';
      return;
    }
    const conn = this._conn;
    if (conn && conn.open) {
      try {
        this._sendStream(conn, { type: 'Disconnect', reason: 'ClientQuit' });
      } catch {
        // closing anyway
      }
    }
    this._end('ClientQuit', '', false, new MeridianError('Closed', 'the client was closed'));
  }

  // ---- connection attempts --------------------------------------------------

  _startAttempt() {
    const generation = ++this._generation;
    this._state = 'connecting';
    this._retryTimer = null;
    this._attempt(generation).catch((err) => {
      // A bug, not a network problem: report it as a failed attempt.
      if (generation === this._generation) this._end('ClientError', String((err && err.stack) || err), true);
    });
  }

  async _attempt(generation) {
    let join;
    try {
      join = await this._opts.join();
      if (!join || typeof join.token !== 'string') throw new MeridianError('BadJoin', 'the join response has no token');
    } catch (err) {
      if (generation !== this._generation) return;
      return this._end('JoinFailed', String((err && err.message) || err), !(err && err.retry === false));
    }
    if (generation !== this._generation) return;

    let opened;
    try {
      opened = await this._openTransport(join, generation);
    } catch (err) {
      if (generation !== this._generation) return;
      return this._end('ConnectFailed', String((err && err.message) || err), true);
    }
    if (generation !== this._generation) {
      opened.close();
      return;
    }
    this._beginSession(opened, join);
  }

  /** Picks and opens the transport, falling back from WebTransport in auto mode. */
  async _openTransport(join, generation) {
    const { transport: mode, connectTimeoutMs, openTransport } = this._opts;
    const options = { timeoutMs: connectTimeoutMs };
    const open = async (kind) => {
      const t = await openTransport(kind, join, options);
      if (!t.kind) t.kind = kind;
      return t;
    };
    if (mode !== 'auto') return open(mode);
    const tryWebTransport = this._opts.webTransportAvailable && !this._preferWebSocket && join.webtransport_url;
    if (tryWebTransport) {
      try {
        return await open('webtransport');
      } catch {
        if (generation !== this._generation) throw new MeridianError('Closed', 'closed');
        const ws = await open('websocket');
        this._preferWebSocket = true;
        return ws;
      }
    }
    return open('websocket');
  }

  _beginSession(transport, join) {
    const conn = {
      transport,
      kind: transport.kind,
      open: false,
      welcome: null,
      ring: new SnapshotRing(),
      clock: null,
      newestTick: null,
      nextSequence: 1,
      inputTimes: new Map(),
      rttSequence: 0,
      lastHeard: this._now(),
      lastDatagramSent: this._now(),
      openedAt: null,
      handshakeTimer: null,
      tickTimer: null,
    };
    this._conn = conn;
    transport.onStream = (bytes) => this._conn === conn && this._onStream(conn, bytes);
    transport.onDatagram = (bytes) => this._conn === conn && this._onDatagram(conn, bytes);
    transport.onClose = (info) => {
      if (this._conn !== conn) return;
      this._end(info && info.reason ? info.reason : 'TransportClosed', (info && info.detail) || '', true);
    };
    conn.handshakeTimer = this._timers.setTimeout(() => {
      if (this._conn === conn && !conn.open) this._end('HandshakeTimeout', 'no Welcome from the server', true);
    }, this._opts.handshakeTimeoutMs);
    this._sendStream(conn, { type: 'Hello', protocolVersion: PROTOCOL_VERSION, authToken: join.token });
  }

  /**
   * Ends the current connection or attempt. Schedules the next attempt when
   * `retry` allows and attempts remain; otherwise the client is closed.
   * @param {string} reason @param {string} detail @param {boolean} retry
   * @param {Error} [error] what a pending connect() rejects with
   */
  _end(reason, detail, retry, error) {
    const conn = this._conn;
    this._conn = null;
    this._generation++;
    if (conn) {
      if (conn.handshakeTimer !== null) this._timers.clearTimeout(conn.handshakeTimer);
      if (conn.tickTimer !== null) this._timers.clearInterval(conn.tickTimer);
      conn.transport.onStream = conn.transport.onDatagram = conn.transport.onClose = null;
      try {
        conn.transport.close();
      } catch {
        // already gone
      }
    }
    if (this._retryTimer !== null) {
      this._timers.clearTimeout(this._retryTimer);
      this._retryTimer = null;
    }
    this._rejectPending(
      reason === 'ClientQuit'
        ? new MeridianError('Closed', 'the client was closed')
        : new MeridianError('Disconnected', `connection lost (${reason}) before the answer; the outcome is unknown`),
    );

    const { maxAttempts, initialDelayMs, maxDelayMs } = this._opts.reconnect;
    if (retry && this._failures < maxAttempts) {
      const n = this._failures++;
      const base = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(n, 30));
      // Equal jitter: half fixed, half random, so clients that lost the same
      // server do not all come back at the same moment.
      const delay = Math.round(base / 2 + (this._random() * base) / 2);
      this._state = 'waiting';
      this._retryTimer = this._timers.setTimeout(() => {
        this._counters.reconnects++;
        this._startAttempt();
      }, delay);
      this._emit('disconnected', { reason, detail, willReconnect: true, retryInMs: delay });
      return;
    }

    this._state = 'closed';
    this._clearWorld();
    this._emit('disconnected', { reason, detail, willReconnect: false, retryInMs: null });
    const code = reason === 'ClientQuit' ? 'Closed' : 'Disconnected';
    const failure = error ?? new MeridianError(code, detail || reason, { reason, detail });
    const waiters = this._connectWaiters;
    this._connectWaiters = [];
    for (const w of waiters) w.reject(failure);
  }

  _rejectPending(error) {
    const pending = this._pending;
    this._pending = new Map();
    for (const p of pending.values()) {
      this._timers.clearTimeout(p.timer);
      p.reject(error);
    }
  }

  // ---- receiving --------------------------------------------------------------

  _onStream(conn, bytes) {
    conn.lastHeard = this._now();
    this._in.add(conn.lastHeard, bytes.length);
    let msg;
    try {
      msg = decodeServerMessage(bytes, 'stream');
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      // The server sent something this client cannot read: the stream is no
      // longer trustworthy.
      return this._end('ProtocolError', err.message, true);
    }
    if (!conn.open) {
      if (msg.type === 'Welcome') return this._onWelcome(conn, msg);
      if (msg.type === 'Refusal') return this._onRefusal(msg);
      if (msg.type === 'Disconnect') return this._onServerDisconnect(msg);
      return this._end('ProtocolError', `${msg.type} before Welcome`, true);
    }
    switch (msg.type) {
      case 'Chat':
        return this._emit('chat', {
          from: msg.from,
          name: this.names.get(msg.from) ?? null,
          channel: msg.channel,
          text: msg.text,
        });
      case 'Presence':
        return this._onPresence(msg);
      case 'Inventory':
        return this._onInventory(msg);
      case 'Disconnect':
        return this._onServerDisconnect(msg);
      default:
        // A second Welcome or a Refusal after Welcome breaks the handshake rules.
        return this._end('ProtocolError', `unexpected ${msg.type}`, true);
    }
  }

  _onDatagram(conn, bytes) {
    const now = this._now();
    conn.lastHeard = now;
    this._in.add(now, bytes.length);
    if (!conn.open) return; // nothing is expected before Welcome
    let msg;
    try {
      msg = decodeServerMessage(bytes, 'datagram');
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this._counters.decodeErrors++;
      return;
    }
    if (msg.type === 'Snapshot') this._onSnapshot(conn, msg, now);
  }

  _onWelcome(conn, msg) {
    if (msg.protocolVersion !== PROTOCOL_VERSION) {
      return this._end('VersionMismatch', `the server speaks protocol ${msg.protocolVersion}`, false);
    }
    this._timers.clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = null;
    conn.open = true;
    conn.welcome = msg;
    conn.openedAt = this._now();
    conn.clock = new TickClock(msg.tickRateHz);
    const old = this._world;
    if (old && (old.zoneId !== msg.zoneId || old.avatarId !== msg.avatarId)) this._clearWorld();
    this._world = {
      avatarId: msg.avatarId,
      zoneId: msg.zoneId,
      zoneWidth: msg.zoneWidth,
      zoneHeight: msg.zoneHeight,
      tickRateHz: msg.tickRateHz,
    };
    this._failures = 0;
    this._state = 'connected';
    this._snaps.clear();
    this._in.clear();
    this._out.clear();
    this._rtt.clear();
    conn.tickTimer = this._timers.setInterval(() => this._onTick(conn), 1000 / msg.tickRateHz);
    const detail = this._connectedDetail();
    const waiters = this._connectWaiters;
    this._connectWaiters = [];
    for (const w of waiters) w.resolve(detail);
    this._emit('connected', detail);
  }

  _connectedDetail() {
    const w = this._world;
    return {
      transport: this._conn ? this._conn.kind : null,
      avatarId: w.avatarId,
      zoneId: w.zoneId,
      zoneWidth: w.zoneWidth,
      zoneHeight: w.zoneHeight,
      tickRateHz: w.tickRateHz,
    };
  }

  _onRefusal(msg) {
    this._emit('refused', { reason: msg.reason, detail: msg.detail });
    const retry = this._opts.reconnect.retryRefusals.has(msg.reason);
    const text = `refused: ${msg.reason}${msg.detail ? ` (${msg.detail})` : ''}`;
    const error = new MeridianError('Refused', text, { reason: msg.reason, detail: msg.detail });
    this._end(msg.reason, msg.detail, retry, error);
  }

  _onServerDisconnect(msg) {
    this._end(msg.reason, '', !FINAL_DISCONNECTS.has(msg.reason));
  }

  _onPresence(msg) {
    this.names.delete(msg.avatar);
    this.names.set(msg.avatar, msg.name);
    if (this.names.size > MAX_NAMES) {
      for (const id of this.names.keys()) {
        if (this.names.size <= MAX_NAMES) break;
        if (!this._entities.has(id)) this.names.delete(id);
      }
    }
    this._emit('presence', { id: msg.avatar, name: msg.name });
  }

  _onInventory(msg) {
    const result = { request: msg.request, item: msg.item, quantity: msg.quantity, status: msg.status };
    const p = this._pending.get(msg.request);
    if (p) {
      this._pending.delete(msg.request);
      this._timers.clearTimeout(p.timer);
      p.resolve(result);
    }
    this._emit('inventory', result);
  }

  _onSnapshot(conn, msg, now) {
    // RTT: the first snapshot that includes input n answers it.
    const seq = msg.lastInputSequence;
    if (seq > conn.rttSequence) {
      const sentAt = conn.inputTimes.get(seq);
      if (sentAt !== undefined) {
        this._lastRtt = now - sentAt;
        this._rtt.add(now, this._lastRtt);
      }
      conn.rttSequence = seq;
      for (const s of conn.inputTimes.keys()) {
        if (s > seq) break;
        conn.inputTimes.delete(s);
      }
    }

    let view;
    try {
      view = conn.ring.receive(msg);
      if (!view) this._counters.staleSnapshots++;
    } catch (err) {
      // An unknown baseline or a bad body: drop it, change nothing.
      if (!(err instanceof ProtocolError)) throw err;
      this._counters.decodeErrors++;
    }
    if (view) {
      conn.newestTick = view.tick;
      this._counters.snapshots++;
      this._snaps.add(now, 1);
      this._applyView(conn, view, now);
    }
    // Ack every snapshot with the newest decoded tick (a lost ack is covered by the next).
    if (conn.newestTick !== null && this._conn === conn) {
      this._sendDatagram(conn, { type: 'Ack', snapshotTick: conn.newestTick });
    }
  }

  _applyView(conn, view, now) {
    const time = conn.clock.observe(view.tick, now);
    const selfId = this._world.avatarId;
    const left = [];
    const entered = [];
    const moved = [];
    const seen = new Set();
    for (const e of view.entities) {
      seen.add(e.id);
      let rec = this._entities.get(e.id);
      if (rec && rec.kind !== e.kind) {
        // A kind change is a leave and an enter.
        this._entities.delete(e.id);
        left.push({ id: e.id });
        rec = undefined;
      }
      const state = {
        x: dequantizePosition(e.x),
        y: dequantizePosition(e.y),
        heading: dequantizeHeading(e.heading),
        animation: e.animation,
      };
      if (!rec) {
        const buffer = new InterpolationBuffer(this._opts.interpolation);
        rec = { id: e.id, kind: e.kind, appearance: e.appearance, q: e, state, buffer };
        rec.buffer.push(time, state);
        this._entities.set(e.id, rec);
        entered.push({
          id: e.id,
          kind: e.kind,
          appearance: e.appearance,
          ...state,
          name: this.names.get(e.id) ?? null,
          self: e.id === selfId,
        });
        continue;
      }
      const q = rec.q;
      const changed = q.x !== e.x || q.y !== e.y || q.heading !== e.heading
        || q.animation !== e.animation || q.appearance !== e.appearance;
      rec.q = e;
      rec.state = state;
      rec.appearance = e.appearance;
      // Unchanged entities get a sample too, so a stop is held, not smeared.
      rec.buffer.push(time, state);
      if (changed) moved.push({ id: e.id, ...state, appearance: e.appearance });
    }
    for (const id of [...this._entities.keys()]) {
      if (!seen.has(id)) {
        this._entities.delete(id);
        left.push({ id });
      }
    }
    for (const d of left) this._emit('left', d);
    for (const d of entered) this._emit('entered', d);
    for (const d of moved) this._emit('moved', d);
  }

  /** Emits 'left' for everything in view and forgets it. */
  _clearWorld() {
    const ids = [...this._entities.keys()];
    this._entities.clear();
    for (const id of ids) this._emit('left', { id });
  }

  // ---- sending ------------------------------------------------------------------

  _openConn() {
    const conn = this._conn;
    return conn && conn.open ? conn : null;
  }

  _sendStream(conn, msg) {
    this._writeStream(conn, encodeClientMessage(msg));
  }

  _writeStream(conn, bytes) {
    this._out.add(this._now(), bytes.length);
    conn.transport.sendStream(bytes);
  }

  _sendDatagram(conn, msg) {
    const bytes = encodeClientMessage(msg);
    const now = this._now();
    this._out.add(now, bytes.length);
    conn.lastDatagramSent = now;
    conn.transport.sendDatagram(bytes);
  }

  /** The intent before setIntent: stand still, as the own avatar stands now. */
  _defaultIntent() {
    const own = this._world && this._entities.get(this._world.avatarId);
    if (!own) return null;
    const anim = own.state.animation;
    return {
      moveX: 0,
      moveY: 0,
      speed: 0,
      heading: own.state.heading,
      animation: anim === 'Walk' || anim === 'Run' ? 'Idle' : anim,
    };
  }

  _onTick(conn) {
    if (this._conn !== conn || !conn.open) return;
    const now = this._now();
    if (now - conn.lastHeard > this._opts.idleTimeoutMs) {
      return this._end('Timeout', `nothing heard for ${Math.round(now - conn.lastHeard)} ms`, true);
    }
    const intent = this._intent ?? this._defaultIntent();
    if (intent) {
      const sequence = conn.nextSequence;
      conn.nextSequence = sequence >= 0xffffffff ? 1 : sequence + 1;
      this._sendDatagram(conn, { type: 'Input', sequence, intent });
      conn.inputTimes.set(sequence, now);
      if (conn.inputTimes.size > MAX_PENDING_RTT) {
        conn.inputTimes.delete(conn.inputTimes.keys().next().value);
      }
    } else if (conn.newestTick !== null && now - conn.lastDatagramSent >= this._opts.heartbeatMs) {
      this._sendDatagram(conn, { type: 'Ack', snapshotTick: conn.newestTick });
    }
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
