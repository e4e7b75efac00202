// Meridian web client library.
//
// MeridianClient joins a space, connects over WebTransport (or WebSocket as a
// fallback), keeps the world view up to date from snapshots, and hands the
// game interpolated entity states to draw. It does no rendering itself.
//
// Layers, bottom up:
// - transports (client/transports.js): a tiny interface, {sendStream(bytes),
//   sendDatagram(bytes), onStream, onDatagram, onClose, close()}, carrying whole
//   encoded messages. WebTransport frames stream messages with a varint length;
//   WebSocket puts a channel byte in front of each message. Tests plug in an
//   in-memory one.
// - the session (MeridianClient, here): handshake, snapshots and acks, events,
//   inputs, stats and reconnection. Its parts have files of their own: the
//   options (client/options.js), one connection's state (client/connection.js),
//   the world it keeps (client/world.js), the intent (client/intent.js),
//   inventory requests (client/inventory.js) and traffic statistics
//   (client/stats.js).

import {
  ANIMATIONS,
  CHAT_CHANNELS,
  PROTOCOL_VERSION,
  ProtocolError,
  encodeClientMessage,
  decodeServerMessage,
} from './protocol.js';
import { TickClock } from './interpolation.js';
import { MeridianError } from './client/errors.js';
import { openBrowserTransport, openChosenTransport } from './client/transports.js';
import { connectionOptions, boundTimers } from './client/options.js';
import { TrafficStats } from './client/stats.js';
import { checkInventoryChange, InventoryRequests } from './client/inventory.js';
import { mergeIntent, standingIntent } from './client/intent.js';
import { applyView, sampleEntities, newestEntity, rememberName } from './client/world.js';
import { newConnection, takeSequence, rememberInput, inputRoundTrip } from './client/connection.js';
import { VoiceChannel, voiceGain } from './client/voice.js';

export { ANIMATIONS, CHAT_CHANNELS, PROTOCOL_VERSION, ProtocolError };
export { MeridianError, openBrowserTransport, VoiceChannel, voiceGain };

/**
 * Server Disconnect reasons after which the client does not come back. A
 * replaced session is final too: coming back would end the newer session,
 * which would come back in turn.
 */
const FINAL_DISCONNECTS = new Set(['ClientQuit', 'Kicked', 'SessionReplaced']);

/** The `detail` of a 'disconnected' event, for reasons that have one. */
const DISCONNECT_DETAILS = {
  SessionReplaced: 'this account connected again elsewhere (another tab or device); this session ended',
  Moved: 'the room moved to another server; joining again',
};

// ---- types (JSDoc; TypeScript reads them, npm run types makes types/) --------

/** @typedef {import('./client/world.js').EntityView} EntityView */
/** @typedef {import('./client/world.js').EntityMove} EntityMove */
/** @typedef {import('./client/transports.js').OpenTransport} OpenTransport */
/** @typedef {import('./client/transports.js').Transport} Transport */
/** @typedef {import('./client/options.js').MeridianClientOptions} MeridianClientOptions */
/** @typedef {import('./client/options.js').JoinResponse} JoinResponse */
/** @typedef {import('./client/options.js').Timers} Timers */
/** @typedef {import('./client/stats.js').ClientStats} ClientStats */
/** @typedef {import('./client/inventory.js').InventoryResult} InventoryResult */
/** @typedef {import('./client/errors.js').MeridianErrorCode} MeridianErrorCode */
/** @typedef {import('./protocol.js').MovementIntent} MovementIntent */
/** @typedef {import('./protocol.js').Animation} Animation */
/** @typedef {import('./protocol.js').ChatChannel} ChatChannel */
/** @typedef {import('./protocol.js').RefusalReason} RefusalReason */
/** @typedef {import('./protocol.js').SessionLimits} SessionLimits */

/** @typedef {'idle'|'connecting'|'connected'|'waiting'|'closed'} ClientState */

/**
 * What the last Welcome said (the client keeps it across reconnects).
 * @typedef {{avatarId: number, zoneId: number, zoneWidth: number, zoneHeight: number, tickRateHz: number,
 *   limits: SessionLimits}} WelcomedWorld
 */

/**
 * The 'connected' event's detail, and what connect() resolves with.
 * @typedef {object} ConnectedDetail
 * @property {'webtransport'|'websocket'} transport
 * @property {number} avatarId the own avatar's entity id
 * @property {number} zoneId
 * @property {number} zoneWidth metres
 * @property {number} zoneHeight metres
 * @property {number} tickRateHz
 * @property {SessionLimits} limits what the server holds this client to (see `limits`)
 */

/**
 * The 'settings' event's detail: what holds from `tick` on (PROTOCOL.md
 * section 6.8); `tickRateHz` and `limits` read the same afterwards.
 * @typedef {object} SettingsDetail
 * @property {number} tick the first server tick with the new settings
 * @property {number} tickRateHz
 * @property {SessionLimits} limits
 */

/**
 * @typedef {object} ChatDetail
 * @property {number} from the speaker's avatar id
 * @property {string|null} name the speaker's display name, if known
 * @property {ChatChannel} channel
 * @property {string} text
 */

/**
 * @typedef {object} DisconnectedDetail
 * @property {string} reason a server DisconnectReason, a RefusalReason, or the
 *   client's own: 'TransportClosed', 'ConnectFailed', 'JoinFailed',
 *   'HandshakeTimeout', 'Timeout', 'ProtocolError', 'ClientQuit'
 * @property {string} detail
 * @property {boolean} willReconnect
 * @property {number|null} retryInMs the wait before the next attempt, when there is one
 */

/**
 * The client's events by name: each a CustomEvent with its data in `detail`.
 * @typedef {object} MeridianClientEvents
 * @property {CustomEvent<ConnectedDetail>} connected each Welcome (also after a reconnect)
 * @property {CustomEvent<EntityView>} entered an entity entered the view
 * @property {CustomEvent<EntityMove>} moved an entity's state changed (newest, not interpolated)
 * @property {CustomEvent<{id: number}>} left an entity left the view
 * @property {CustomEvent<{id: number, name: string}>} presence an avatar's display name
 * @property {CustomEvent<ChatDetail>} chat a chat line, your own included
 * @property {CustomEvent<InventoryResult>} inventory an inventory answer
 * @property {CustomEvent<SettingsDetail>} settings an operator changed the tick rate or the limits
 * @property {CustomEvent<{reason: RefusalReason, detail: string}>} refused the server refused the Hello
 * @property {CustomEvent<DisconnectedDetail>} disconnected a connection or an attempt ended
 */

/**
 * EventTarget, with the listeners of the client's events typed for TypeScript.
 * At run time it is EventTarget itself.
 * @type {new () => {
 *   addEventListener<K extends keyof MeridianClientEvents>(type: K,
 *     listener: (event: MeridianClientEvents[K]) => void, options?: boolean | AddEventListenerOptions): void;
 *   removeEventListener<K extends keyof MeridianClientEvents>(type: K,
 *     listener: (event: MeridianClientEvents[K]) => void, options?: boolean | EventListenerOptions): void;
 * } & EventTarget}
 */
const ClientEventTarget = /** @type {any} */ (EventTarget);

/**
 * A connection to one Meridian space, with automatic reconnection.
 * Events (CustomEvent, data in `event.detail`): connected, entered, left,
 * moved, presence, chat, inventory, settings, refused, disconnected
 * (MeridianClientEvents).
 */
export class MeridianClient extends ClientEventTarget {
  /**
   * @param {MeridianClientOptions} options only `join` is required
   */
  constructor(options) {
    super();
    /** @private */
    this._opts = connectionOptions(options);
    /** @private */
    this._now = options.now ?? (() => globalThis.performance.now());
    /** @private */
    this._random = options.random ?? Math.random;
    /** @private */
    this._timers = boundTimers(options.timers ?? globalThis);
    /** @private @type {number|undefined} */
    this._delayOverride = options.interpolationDelayMs;

    /** @private @type {ClientState} */
    this._state = 'idle';
    /** @private */
    this._generation = 0;
    /** @private */
    this._failures = 0; // consecutive failed attempts since the last Welcome
    /** @private */
    this._conn = null;
    /** @private */
    this._retryTimer = null;
    /** @private */
    this._connectWaiters = [];
    /** Transport auto mode fell back to WebSocket and WebSocket worked: stay there. @private */
    this._preferWebSocket = false;

    /** @private @type {Map<number, any>} id -> entity record */
    this._entities = new Map();
    /** @type {Map<number, string>} */
    this.names = new Map();
    /** @private @type {WelcomedWorld | null} */
    this._world = null;
    /** @private */
    this._intent = null;
    /** @private */
    this._inventory = new InventoryRequests(this._timers);

    /** @private */
    this._traffic = new TrafficStats();
    /** @private */
    this._counters = { snapshots: 0, decodeErrors: 0, staleSnapshots: 0, reconnects: 0 };

    /**
     * Proximity voice through the server: enable(), mute(), disable(),
     * onSpeaking() (client/voice.js, docs/WEB_CLIENT.md). It ends with the
     * connection; enable it again after a reconnect.
     * @type {VoiceChannel}
     */
    this.voice = new VoiceChannel({
      send: (msg) => {
        const conn = this._openConn();
        if (!conn) throw new MeridianError('NotConnected', 'not connected');
        this._sendStream(conn, msg);
      },
      now: () => this._now(),
    });
  }

  // ---- public API --------------------------------------------------------

  /** 'idle' | 'connecting' | 'connected' | 'waiting' (to reconnect) | 'closed' @returns {ClientState} */
  get state() {
    return this._state;
  }

  /** True while a connection is open (welcomed). */
  get connected() {
    return this._state === 'connected';
  }

  /** The own avatar's network id, or null before the first Welcome. @returns {number|null} */
  get avatarId() {
    return this._world ? this._world.avatarId : null;
  }

  /**
   * Every limit the server holds this client to, from the last Welcome or
   * SettingsChanged (PROTOCOL.md sections 6.1 and 6.8), or null before the
   * first Welcome: maxSpeed, walkSpeed,
   * avatarRadius, interestRadius, interestHysteresis, chatHearingRadius
   * (metres, metres per second), inputBurst, inputHoldTicks,
   * datagramsPerSecond, chatLinesPer10s, inventoryInFlight,
   * strikesBeforeDisconnect, idleTimeoutMs, heartbeatIntervalMs. A copy.
   * @returns {SessionLimits | null}
   */
  get limits() {
    return this._world ? { ...this._world.limits } : null;
  }

  /**
   * The server's ticks per second, from the last Welcome or SettingsChanged,
   * or null before the first Welcome.
   * @returns {number | null}
   */
  get tickRateHz() {
    return this._world ? this._world.tickRateHz : null;
  }

  /** The interpolation delay in ms (explicit, or two tick intervals). @returns {number} */
  get interpolationDelayMs() {
    if (this._delayOverride !== undefined) return this._delayOverride;
    return this._world ? 2000 / this._world.tickRateHz : 100;
  }

  /** @param {number} ms undefined or null goes back to the default */
  set interpolationDelayMs(ms) {
    this._delayOverride = ms === undefined || ms === null ? undefined : Math.max(0, Number(ms));
  }

  /**
   * Connects (joining first). Resolves with the 'connected' detail at the first
   * Welcome; rejects with a MeridianError if the server refuses for good, the
   * attempts run out, or close() is called first. Lost connections are
   * re-established automatically afterwards.
   * @returns {Promise<ConnectedDetail>}
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
   * moveX/moveY: direction (scaled down to length 1 if longer: the server
   * refuses a longer one); speed in m/s, sent as at most `limits.maxSpeed`
   * (the server refuses a faster input and the avatar stops); heading in
   * radians; animation one of ANIMATIONS.
   * @param {Partial<MovementIntent>} intent fields left out keep their value
   */
  setIntent(intent) {
    const prev = this._intent ?? this._defaultIntent() ?? { moveX: 0, moveY: 0, speed: 0, heading: 0, animation: 'Idle' };
    this._intent = mergeIntent(intent, prev);
  }

  /** The intent being sent, or null if none was set. @returns {MovementIntent|null} */
  get intent() {
    return this._intent ? { ...this._intent } : null;
  }

  /**
   * Sends a chat line. Throws a MeridianError('NotConnected') when not
   * connected, and a ProtocolError for text the server would refuse
   * (empty, only whitespace, over 512 bytes, control characters).
   * The line comes back as a 'chat' event when the server relays it.
   * @param {string} text
   * @param {ChatChannel} [channel='Zone']
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
   * @returns {Promise<InventoryResult>}
   */
  changeInventory(item, delta) {
    try {
      item = checkInventoryChange(item, delta);
      const conn = this._openConn();
      if (!conn) throw new MeridianError('NotConnected', 'not connected');
      const request = this._inventory.nextRequest;
      // Encode first: the codec refuses what the server would (a blank item...).
      const bytes = encodeClientMessage({ type: 'Inventory', request, item, delta });
      const promise = this._inventory.track(request, this._opts.inventoryTimeoutMs);
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
    return sampleEntities(this._entities, this.names, this.avatarId, renderTime);
  }

  /**
   * The newest (not interpolated) state of one entity, or null.
   * @param {number} id
   * @returns {EntityView|null}
   */
  entity(id) {
    return newestEntity(this._entities, this.names, id, this.avatarId);
  }

  /**
   * Connection statistics over the last two seconds.
   * @returns {ClientStats}
   */
  stats() {
    const now = this._now();
    const conn = this._conn;
    const rates = this._traffic.rates(now, conn ? conn.openedAt : null);
    return {
      state: this._state,
      transport: conn && this._state === 'connected' ? conn.kind : null,
      connected: this._state === 'connected',
      avatarId: this.avatarId,
      rttMs: rates.rttMs,
      snapshotsPerSecond: rates.snapshotsPerSecond,
      bytesInPerSecond: rates.bytesInPerSecond,
      bytesOutPerSecond: rates.bytesOutPerSecond,
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

  /** @private */
  _startAttempt() {
    const generation = ++this._generation;
    this._state = 'connecting';
    this._retryTimer = null;
    this._attempt(generation).catch((err) => {
      // A bug, not a network problem: report it as a failed attempt.
      if (generation === this._generation) this._end('ClientError', String((err && err.stack) || err), true);
    });
  }

  /** @private */
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

  /** Picks and opens the transport, falling back from WebTransport in auto mode. @private */
  _openTransport(join, generation) {
    return openChosenTransport(this._opts, join, {
      preferWebSocket: this._preferWebSocket,
      stillWanted: () => generation === this._generation,
      fellBack: () => {
        this._preferWebSocket = true;
      },
    });
  }

  /** @private */
  _beginSession(transport, join) {
    const conn = newConnection(transport, () => this._now());
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
   * @private
   */
  _end(reason, detail, retry, error) {
    const conn = this._conn;
    this._conn = null;
    this._generation++;
    if (conn?.open) this.voice.connectionLost();
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
    this._inventory.rejectAll(
      reason === 'ClientQuit'
        ? new MeridianError('Closed', 'the client was closed')
        : new MeridianError('Disconnected', `connection lost (${reason}) before the answer; the outcome is unknown`),
    );

    const { maxAttempts, initialDelayMs, maxDelayMs } = this._opts.reconnect;
    if (retry && this._failures < maxAttempts) {
      // A room handed on by a draining shard (Moved) waits for no one: its
      // players' places are saved and the next join finds where it runs.
      const moved = reason === 'Moved';
      const n = moved ? 0 : this._failures++;
      const base = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(n, 30));
      // Equal jitter: half fixed, half random, so clients that lost the same
      // server do not all come back at the same moment.
      const delay = moved ? 0 : Math.round(base / 2 + (this._random() * base) / 2);
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

  // ---- receiving --------------------------------------------------------------

  /** @private */
  _onStream(conn, bytes) {
    conn.lastHeard = this._now();
    this._traffic.bytesIn.add(conn.lastHeard, bytes.length);
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
      case 'SettingsChanged':
        return this._onSettingsChanged(conn, msg);
      case 'VoiceAnswer':
      case 'VoiceLines':
      case 'VoiceRefused':
        return this.voice.handle(msg);
      default:
        // A second Welcome or a Refusal after Welcome breaks the handshake rules.
        return this._end('ProtocolError', `unexpected ${msg.type}`, true);
    }
  }

  /** @private */
  _onDatagram(conn, bytes) {
    const now = this._now();
    conn.lastHeard = now;
    this._traffic.bytesIn.add(now, bytes.length);
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

  /** @private */
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
      limits: msg.limits,
    };
    this._failures = 0;
    this._state = 'connected';
    this._traffic.clear();
    conn.tickTimer = this._timers.setInterval(() => this._onTick(conn), 1000 / msg.tickRateHz);
    const detail = this._connectedDetail();
    const waiters = this._connectWaiters;
    this._connectWaiters = [];
    for (const w of waiters) w.resolve(detail);
    this._emit('connected', detail);
  }

  /** @private */
  _connectedDetail() {
    const w = /** @type {WelcomedWorld} */ (this._world); // called once welcomed
    return {
      transport: this._conn ? this._conn.kind : null,
      avatarId: w.avatarId,
      zoneId: w.zoneId,
      zoneWidth: w.zoneWidth,
      zoneHeight: w.zoneHeight,
      tickRateHz: w.tickRateHz,
      limits: { ...w.limits },
    };
  }

  /**
   * An operator changed the server's settings: the tick rate and the limits
   * hold from `msg.tick` on. Inputs follow the new rate at once, the tick
   * clock starts over at the next snapshot, and `limits` reads the new ones.
   * @private
   */
  _onSettingsChanged(conn, msg) {
    const w = /** @type {WelcomedWorld} */ (this._world); // open, so welcomed
    w.tickRateHz = msg.tickRateHz;
    w.limits = msg.limits;
    conn.clock = new TickClock(msg.tickRateHz);
    if (conn.tickTimer !== null) this._timers.clearInterval(conn.tickTimer);
    conn.tickTimer = this._timers.setInterval(() => this._onTick(conn), 1000 / msg.tickRateHz);
    this._emit('settings', { tick: msg.tick, tickRateHz: msg.tickRateHz, limits: { ...msg.limits } });
  }

  /** @private */
  _onRefusal(msg) {
    this._emit('refused', { reason: msg.reason, detail: msg.detail });
    const retry = this._opts.reconnect.retryRefusals.has(msg.reason);
    const text = `refused: ${msg.reason}${msg.detail ? ` (${msg.detail})` : ''}`;
    const error = new MeridianError('Refused', text, { reason: msg.reason, detail: msg.detail });
    this._end(msg.reason, msg.detail, retry, error);
  }

  /** @private */
  _onServerDisconnect(msg) {
    this._end(msg.reason, DISCONNECT_DETAILS[msg.reason] ?? '', !FINAL_DISCONNECTS.has(msg.reason));
  }

  /** @private */
  _onPresence(msg) {
    rememberName(this.names, this._entities, msg.avatar, msg.name);
    this._emit('presence', { id: msg.avatar, name: msg.name });
  }

  /** @private */
  _onInventory(msg) {
    const result = { request: msg.request, item: msg.item, quantity: msg.quantity, status: msg.status };
    this._inventory.settle(msg.request, result);
    this._emit('inventory', result);
  }

  /** @private */
  _onSnapshot(conn, msg, now) {
    const rtt = inputRoundTrip(conn, msg.lastInputSequence, now);
    if (rtt !== null) this._traffic.addRtt(now, rtt);

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
      this._traffic.snapshots.add(now, 1);
      this._applyView(conn, view, now);
    }
    // Ack every snapshot with the newest decoded tick (a lost ack is covered by the next).
    if (conn.newestTick !== null && this._conn === conn) {
      this._sendDatagram(conn, { type: 'Ack', snapshotTick: conn.newestTick });
    }
  }

  /** @private */
  _applyView(conn, view, now) {
    const time = conn.clock.observe(view.tick, now);
    const selfId = /** @type {WelcomedWorld} */ (this._world).avatarId;
    const { left, entered, moved } = applyView(this._entities, this.names, view, time, selfId, this._opts.interpolation);
    for (const d of left) this._emit('left', d);
    for (const d of entered) this._emit('entered', d);
    for (const d of moved) this._emit('moved', d);
  }

  /** Emits 'left' for everything in view and forgets it. @private */
  _clearWorld() {
    const ids = [...this._entities.keys()];
    this._entities.clear();
    for (const id of ids) this._emit('left', { id });
  }

  // ---- sending ------------------------------------------------------------------

  /** @private */
  _openConn() {
    const conn = this._conn;
    return conn && conn.open ? conn : null;
  }

  /** @private */
  _sendStream(conn, msg) {
    this._writeStream(conn, encodeClientMessage(msg));
  }

  /** @private */
  _writeStream(conn, bytes) {
    this._traffic.bytesOut.add(this._now(), bytes.length);
    conn.transport.sendStream(bytes);
  }

  /** @private */
  _sendDatagram(conn, msg) {
    const bytes = encodeClientMessage(msg);
    const now = this._now();
    this._traffic.bytesOut.add(now, bytes.length);
    conn.lastDatagramSent = now;
    conn.transport.sendDatagram(bytes);
  }

  /** The intent before setIntent: stand still, as the own avatar stands now. @private */
  _defaultIntent() {
    return standingIntent(this._world && this._entities.get(this._world.avatarId));
  }

  /** @private */
  _onTick(conn) {
    if (this._conn !== conn || !conn.open) return;
    const now = this._now();
    if (now - conn.lastHeard > this._opts.idleTimeoutMs) {
      return this._end('Timeout', `nothing heard for ${Math.round(now - conn.lastHeard)} ms`, true);
    }
    const wanted = this._intent ?? this._defaultIntent();
    if (wanted) {
      const limits = /** @type {WelcomedWorld} */ (this._world).limits;
      const intent = { ...wanted, speed: Math.min(wanted.speed, limits.maxSpeed) };
      const sequence = takeSequence(conn);
      this._sendDatagram(conn, { type: 'Input', sequence, intent });
      rememberInput(conn, sequence, now);
    } else if (conn.newestTick !== null && now - conn.lastDatagramSent >= this._opts.heartbeatMs) {
      this._sendDatagram(conn, { type: 'Ack', snapshotTick: conn.newestTick });
    }
  }

  /** @private */
  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
