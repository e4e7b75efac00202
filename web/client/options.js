// Meridian web client: MeridianClient's options, checked and with their defaults.

import { openBrowserTransport } from './transports.js';

/**
 * The answer of `POST /api/v1/space/{id}/join` (other fields are ignored).
 * @typedef {object} JoinResponse
 * @property {string} token the realtime token, admitted once: fetch a new one for every attempt
 * @property {string} [webtransport_url] where to open the WebTransport session
 * @property {string} [websocket_url] the WebSocket fallback (relative or absolute)
 * @property {string} [certificate_sha256] hex SHA-256 of the server's certificate, pinned by WebTransport
 * @property {string} [game_address] host:port of raw QUIC, for native clients
 * @property {number} [space_id]
 * @property {number} [expires_at] when the token expires, in Unix seconds
 */

/**
 * What MeridianClient's constructor takes. Only `join` is required.
 * @typedef {object} MeridianClientOptions
 * @property {() => Promise<JoinResponse>} join fetches a join response; called
 *   before every (re)connect. An error it throws with `retry === false` stops
 *   reconnecting.
 * @property {'auto'|'webtransport'|'websocket'} [transport='auto']
 * @property {number} [interpolationDelayMs] default two tick intervals
 * @property {{initialDelayMs?: number, maxDelayMs?: number, maxAttempts?: number,
 *   retryRefusals?: string[]}} [reconnect] backoff (default 500 ms doubling to
 *   8000 ms, no limit on attempts) and the refusals worth another try
 * @property {number} [connectTimeoutMs=3000] per transport attempt
 * @property {number} [handshakeTimeoutMs=10000] Hello to Welcome
 * @property {number} [idleTimeoutMs=10000] silence that counts as a lost connection
 * @property {number} [heartbeatMs=1000] resend the newest Ack after this long without a datagram
 * @property {number} [inventoryTimeoutMs=15000]
 * @property {{maxSamples?: number, maxExtrapolationMs?: number, snapDistance?: number}} [interpolation]
 * @property {import('./transports.js').OpenTransport} [openTransport] replaces the browser transports (tests)
 * @property {boolean} [webTransportAvailable] default: globalThis.WebTransport exists
 * @property {() => number} [now] clock in ms, default performance.now()
 * @property {() => number} [random] in [0, 1), default Math.random (backoff jitter)
 * @property {Timers} [timers] default the global timer functions
 */

/**
 * @typedef {object} Timers
 * @property {(callback: () => void, ms: number) => any} setTimeout
 * @property {(timer: any) => void} clearTimeout
 * @property {(callback: () => void, ms: number) => any} setInterval
 * @property {(timer: any) => void} clearInterval
 */

/** Refusals after which trying again with a fresh join can succeed. */
const DEFAULT_RETRY_REFUSALS = ['TokenExpired', 'ServerFull', 'TooManyConnections', 'Draining'];

/**
 * The connection settings of the options MeridianClient was given (see its
 * constructor). Throws a TypeError without a join() or for an unknown transport.
 * @param {MeridianClientOptions} options
 */
export function connectionOptions(options) {
  if (!options || typeof options.join !== 'function') throw new TypeError('MeridianClient needs a join() function');
  const transport = options.transport ?? 'auto';
  if (!['auto', 'webtransport', 'websocket'].includes(transport)) {
    throw new TypeError(`unknown transport ${transport}`);
  }
  const rc = options.reconnect ?? {};
  return {
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
}

/**
 * The timer functions, bound to their owner (globalThis by default).
 * @param {Timers} t
 * @returns {Timers}
 */
export function boundTimers(t) {
  return {
    setTimeout: t.setTimeout.bind(t),
    clearTimeout: t.clearTimeout.bind(t),
    setInterval: t.setInterval.bind(t),
    clearInterval: t.clearInterval.bind(t),
  };
}
