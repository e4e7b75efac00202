// Meridian web client: MeridianClient's options, checked and with their defaults.

import { openBrowserTransport } from './transports.js';

/** Refusals after which trying again with a fresh join can succeed. */
const DEFAULT_RETRY_REFUSALS = ['TokenExpired', 'ServerFull', 'TooManyConnections', 'Draining'];

/**
 * The connection settings of the options MeridianClient was given (see its
 * constructor). Throws a TypeError without a join() or for an unknown transport.
 * @param {any} options
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
 * @param {{setTimeout: Function, clearTimeout: Function, setInterval: Function, clearInterval: Function}} t
 */
export function boundTimers(t) {
  return {
    setTimeout: t.setTimeout.bind(t),
    clearTimeout: t.clearTimeout.bind(t),
    setInterval: t.setInterval.bind(t),
    clearInterval: t.clearInterval.bind(t),
  };
}
